"""Tampered bundles and a misbehaving model (issue 11, findings 8 and 9): refused by name,
never a traceback, never a made-up caption."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from desktop import BundleError, CaptionerError
from desktop.bundle import load_bundle, sha256_file
from desktop.captioner import Captioner, CaptionOptions
from desktop.cli import main
from desktop.service import serve


@pytest.fixture
def bundle_copy(default_model_dir, tmp_path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(default_model_dir, copy)
    return copy


def _manifest(bundle: Path) -> dict:
    return json.loads((bundle / "manifest.json").read_text())


def _save(bundle: Path, manifest: dict) -> None:
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def test_deeply_nested_manifest_is_refused(bundle_copy):
    (bundle_copy / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(BundleError, match="manifest.json: not readable JSON"):
        load_bundle(bundle_copy)


def test_deeply_nested_vocabulary_is_refused(bundle_copy):
    (bundle_copy / "vocab.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(BundleError, match="vocab.json: not readable JSON"):
        load_bundle(bundle_copy, verify=False)


@pytest.mark.parametrize("where", ["vocabulary", "encoder", "files"])
def test_a_300_character_file_name_is_refused(bundle_copy, where):
    manifest = _manifest(bundle_copy)
    name = "v" * 300 + ".json"
    if where == "vocabulary":
        manifest["vocabulary"] = name
    elif where == "encoder":
        manifest["encoder"]["file"] = name
    else:
        manifest["files"][name] = {"sha256": "0" * 64}
    _save(bundle_copy, manifest)
    with pytest.raises(BundleError, match="must be a file name inside the bundle"):
        load_bundle(bundle_copy)


def test_a_feature_grid_of_the_wrong_shape_is_refused(bundle_copy):
    manifest = _manifest(bundle_copy)
    gh, gw = manifest["feature_grid"]
    manifest["feature_grid"] = [3, gh * gw // 3]  # [3, 27]: the same 81 cells, wrong shape
    _save(bundle_copy, manifest)
    with pytest.raises(BundleError, match="feature_grid .* does not have the shape"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize("word", ["two\nlines", "a b", "", "tab\there"])
def test_vocabulary_words_with_spaces_or_newlines_are_refused(bundle_copy, word):
    path = bundle_copy / "vocab.json"
    words = json.loads(path.read_text())
    words[10] = word
    path.write_text(json.dumps(words))
    with pytest.raises(BundleError, match="word 10"):
        load_bundle(bundle_copy, verify=False)


def test_pixels_holding_nan_are_refused_before_the_model(captioner):
    # The shipped encoder is full-integer: its first QUANTIZE turns NaN into a number, and
    # the photo would get a made-up caption. Pixels are checked before any model runs.
    pixels = np.full((1, *captioner.bundle.input_size, 3), np.nan, np.float32)
    for beam in (1, 3):
        with pytest.raises(CaptionerError, match="invalid numbers"):
            captioner.caption_pixels(pixels, CaptionOptions(beam_width=beam))


@pytest.mark.training
def test_nan_from_the_model_is_an_error_not_pad_words(tmp_path):
    # A broken export (NaN in the decoder's weights, checksums right): every logit is NaN,
    # and the argmax of NaN is <pad>. The decode loop's check says so instead.
    from tests.support.tiny_model import tiny_model

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_model()[1], bundle)
    _rewrite_decoder(bundle, _nan_weights)
    captioner = Captioner.load(bundle)
    pixels = np.zeros((1, *captioner.bundle.input_size, 3), np.float32)
    for beam in (1, 3):
        with pytest.raises(CaptionerError, match="the model produced invalid numbers"):
            captioner.caption_pixels(pixels, CaptionOptions(beam_width=beam))


def _nan_weights(model, schema) -> None:
    """Every float32 constant of the decoder becomes NaN."""
    graph = model.subgraphs[0]
    for tensor in graph.tensors:
        buffer = model.buffers[tensor.buffer]
        if tensor.type == schema.TensorType.FLOAT32 and buffer.data is not None:
            buffer.data = np.full(len(buffer.data) // 4, np.nan, np.float32).view(np.uint8)


def _rewrite_decoder(bundle: Path, change) -> None:
    """Rewrite the bundle's decoder with LiteRT's own schema (``change(model, schema)``)
    and put its right checksum in the manifest: it passes every file check."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    path = bundle / "decoder_step.tflite"
    data = path.read_bytes()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    for buffer in model.buffers:
        # A quantized model keeps its weights after the flatbuffer (offset and size): the
        # object API would repack the offsets and lose them. Put them inline.
        if buffer.offset:
            buffer.data = np.frombuffer(data, np.uint8, buffer.size, buffer.offset)
            buffer.offset = buffer.size = 0
    change(model, schema)
    builder = flatbuffers.Builder(len(data) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(bytes(builder.Output()))
    manifest = _manifest(bundle)
    manifest["files"][path.name].update(sha256=sha256_file(path), bytes=path.stat().st_size)
    _save(bundle, manifest)


def _tampered_decoder(bundle: Path, how: str) -> None:
    """A custom op nobody provides, or an operator input past the last tensor: a bundle
    that LiteRT cannot plan."""

    def change(model, schema) -> None:
        op = model.subgraphs[0].operators[0]
        if how == "custom op":
            code = schema.OperatorCodeT()
            code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
            code.customCode, code.version = b"NoSuchOp", 1
            model.operatorCodes.append(code)
            op.opcodeIndex = len(model.operatorCodes) - 1
        else:
            inputs = np.array(op.inputs).copy()
            inputs[0] = 999_999
            op.inputs = inputs

    _rewrite_decoder(bundle, change)


@pytest.mark.parametrize("how", ["custom op", "tensor index 999999"])
def test_a_model_litert_cannot_plan_is_an_unusable_model(bundle_copy, how, capsys, samples):
    """Issue 21, finding 9: a RuntimeError traceback from allocate_tensors and exit 1."""
    _tampered_decoder(bundle_copy, how)
    with pytest.raises(BundleError, match="decoder_step.tflite: LiteRT cannot run this model"):
        Captioner.load(bundle_copy)
    capsys.readouterr()
    code = main(["caption", str(samples[0]), "--model", str(bundle_copy), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "captioner: error: cannot use the model: decoder_step.tflite: LiteRT cannot" in err
    assert serve(host="127.0.0.1", port=0, model_dir=bundle_copy) == 2
    err = capsys.readouterr().err
    assert "error: cannot use the model: decoder_step.tflite: LiteRT cannot run" in err
