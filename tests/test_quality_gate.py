"""The quantization step and its quality gate (converter/quantize.py, converter/quality_gate.py).

The gate's arithmetic is checked on made-up captions; the step itself runs for real on the
tests' tiny float model (the shipped one is already quantized): its encoder made full-integer
by the AI Edge Quantizer on Flickr8k training photos, then judged on dev photos against the
float bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ai_edge_quantizer", reason="the train extra (ai-edge-quantizer)")

from converter.quality_gate import (  # noqa: E402
    GateReport,
    Said,
    SetComparison,
    SetFigures,
    Tolerances,
    compare,
)
from tests.support.converter_cli import FLICKR  # noqa: E402

pytestmark = pytest.mark.training


def figures(bleu4=0.2, cider=0.5, ece=0.03) -> SetFigures:
    return SetFigures(photos=100, bleu4=bleu4, cider=cider, ece=ece, encode_ms_median=10.0)


def comparison(candidate: SetFigures, objects_equal=1.0) -> SetComparison:
    return SetComparison(figures(), candidate, objects_equal=objects_equal, captions_equal=0.9)


@pytest.mark.parametrize(
    ("candidate", "objects_equal", "failed"),
    [
        (figures(), 1.0, []),
        (figures(bleu4=0.2049, cider=0.5149, ece=0.0399), 0.95, []),  # inside every bound
        (figures(bleu4=0.1949), 1.0, ["BLEU-4"]),
        (figures(cider=0.4849), 1.0, ["CIDEr"]),
        (figures(ece=0.0401), 1.0, ["ECE"]),
        (figures(ece=None), 1.0, ["ECE"]),  # the float bundle had a confidence, this has none
        (figures(), 0.949, ["object lists"]),
        (figures(bleu4=0.1, cider=0.1), 0.5, ["BLEU-4", "CIDEr", "object lists"]),
    ],
)
def test_each_tolerance_refuses_on_its_own(candidate, objects_equal, failed):
    report = GateReport({"dev": comparison(candidate, objects_equal)}, Tolerances())
    assert [next(w for w in ("BLEU-4", "CIDEr", "object lists", "ECE") if w in f)
            for f in report.failures] == failed  # fmt: skip
    assert report.passed == (not failed)
    assert report.to_manifest()["passed"] == report.passed


def test_object_lists_compare_names_counts_and_order():
    photos = {k: (Path(f"{k}.jpg"), ["a dog on the grass"] * 5) for k in "abcd"}

    def said(objects):
        return Said("A dog on the grass.", objects, 0.9, 1.0)

    reference = {k: said((("dog", 1), ("grass", None))) for k in photos}
    candidate = {
        "a": said((("dog", 1), ("grass", None))),
        "b": said((("dog", 2), ("grass", None))),  # counted differently
        "c": said((("grass", None), ("dog", 1))),  # read in another order
        "d": said((("dog", 1),)),  # one missing
    }
    result = compare(reference, candidate, photos, terms=None)
    assert result.objects_equal == 0.25 and result.captions_equal == 1.0
    assert result.reference.bleu4 == pytest.approx(result.candidate.bleu4)


@pytest.fixture(scope="module")
def flickr8k() -> Path:
    if not (FLICKR / "Flickr_8k.trainImages.txt").is_file():
        pytest.skip(f"Flickr8k not found at {FLICKR}")
    return FLICKR


@pytest.fixture(scope="module")
def float_bundle(flickr8k) -> Path:
    from tests.support.tiny_model import tiny_model

    return tiny_model()[1]


@pytest.fixture(scope="module")
def float16_export(tmp_path_factory, float_bundle) -> tuple[Path, Path]:
    """(folder it was exported in, bundle): the tiny model exported with float16 weights."""
    from tests.support.converter_cli import run_converter

    folder = tmp_path_factory.mktemp("f16")
    out = folder / "f16"
    done = run_converter(
        "export", "--run", str(float_bundle.parent / "run"), "--out", str(out),
        "--quantize", "float16", "--parity-photos", "2", "--gate-photos", "8", cwd=folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return folder, out


def test_quantized_encoder_is_integer_calibrated_on_training_photos_and_judged(
    tmp_path, float_bundle, flickr8k
):
    from converter.quantize import QuantizeError, calibration_photos, quantize_bundle
    from desktop.captioner import Captioner
    from desktop.runtime import backend

    out = tmp_path / "int8"
    lenient = Tolerances(bleu4=1.0, cider=10.0, objects_equal=0.0, ece=1.0)
    manifest, report = quantize_bundle(
        float_bundle, out, flickr8k, parts=("encoder",), calibration=6, gate_limit=6,
        tolerances=lenient,
    )  # fmt: skip
    train = set((flickr8k / "Flickr_8k.trainImages.txt").read_text().split())
    assert all(p.name in train for p in calibration_photos(flickr8k, 6))
    assert manifest["quantization"] == "int8"
    assert manifest["quantized_from"]["calibration"] == {
        "photos": 6, "split": "flickr8k train", "seed": 0,
    }  # fmt: skip
    assert json.loads((out / "manifest.json").read_text())["quality_check"]["passed"]
    (only,) = report.sets.values()
    assert only.reference.photos == only.candidate.photos == 6
    assert 0 <= only.captions_equal <= 1 and 0 <= only.objects_equal <= 1
    # The trunk computes in int8; the edges stay float (the runtime feeds 0-255 pixels).
    interpreter = backend().interpreter(model_path=str(out / "encoder.tflite"))
    types = {np.dtype(t["dtype"]) for t in interpreter.get_tensor_details()}
    assert np.dtype(np.int8) in types
    assert {np.dtype(d["dtype"]) for d in interpreter.get_input_details()} == {np.dtype("float32")}
    # Decoder and vocabulary are untouched; the bundle loads and captions.
    for name in ("decoder_step.tflite", "vocab.json"):
        assert (out / name).read_bytes() == (float_bundle / name).read_bytes()
    result = Captioner.load(out).caption(Path(__file__).parent.parent / "samples" / "chelsea.jpg")
    assert result.words and result.text.endswith(".")
    # A quantized bundle is never quantized again (its float source is what is judged).
    with pytest.raises(QuantizeError, match="already quantized"):
        quantize_bundle(out, tmp_path / "again", flickr8k, parts=("encoder",), calibration=6)

    # The same step with a bound nothing can meet is refused, and nothing replaces `out`.
    refused = tmp_path / "refused"
    with pytest.raises(QuantizeError, match="BLEU-4"):
        quantize_bundle(
            float_bundle, refused, flickr8k, parts=("encoder",), calibration=6,
            gate_limit=6, tolerances=Tolerances(bleu4=-1.0),
        )  # fmt: skip
    assert not refused.exists()
    assert (tmp_path / ".refused.partial" / "manifest.json").is_file()


def test_a_float16_export_is_judged_against_its_float32_twin(float16_export):
    folder, out = float16_export
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["quantization"] == manifest["decoder_quantization"] == "float16"
    check = manifest["quality_check"]
    assert check["passed"] and check["sets"]["dev"]["reference"]["photos"] == 8
    assert "parity" not in manifest  # the float32 twin's, not this bundle's
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []


def test_float16_weights_widen_exactly_so_the_decoder_can_be_quantized(float16_export):
    from converter.quantize import widen_float16
    from desktop.runtime import backend

    original = (float16_export[1] / "decoder_step.tflite").read_bytes()
    wide = widen_float16(original)
    outputs = []
    rng = np.random.default_rng(0)
    shapes = {
        name: detail["shape"]
        for name, detail in backend()
        .interpreter(model_content=original)
        .get_signature_runner("step")
        .get_input_details()
        .items()
    }
    inputs = {
        "features": rng.uniform(0, 2, (3, *shapes["features"][1:])).astype(np.float32),
        "token": np.array([1, 5, 9], np.int32),
        "hidden": rng.normal(size=(3, *shapes["hidden"][1:])).astype(np.float32),
    }
    for model in (original, wide):
        interpreter = backend().interpreter(model_content=model)
        kinds = {op["op_name"] for op in interpreter._get_ops_details()}
        step = interpreter.get_signature_runner("step")  # resizes to the inputs' shapes
        outputs.append((kinds, step(**inputs)))
    (kinds16, out16), (kinds32, out32) = outputs
    assert "DEQUANTIZE" in kinds16 and "DEQUANTIZE" not in kinds32
    for name in ("logits", "new_hidden", "attention"):
        np.testing.assert_array_equal(out16[name], out32[name])  # every float16 is a float32
