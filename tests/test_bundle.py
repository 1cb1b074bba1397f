"""desktop.bundle: the shipped bundle loads; tampered or foreign ones are refused by name."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from desktop import BundleError, CaptionerError
from desktop.bundle import Tokens, load_bundle
from desktop.captioner import Captioner


@pytest.fixture
def bundle_copy(default_model_dir, tmp_path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(default_model_dir, copy)
    return copy


# Every file the shipped bundle's manifest must list a checksum for (format 4, and the
# optional text reader).
BUNDLE_FILES = (
    "decoder_step.tflite",
    "encoder.tflite",
    "vocab.json",
    "labels.json",
    "detector.tflite",
    "anchors.npy",
    "NOTICE.md",
    "LICENSE-Apache-2.0.txt",
    "text_gate.tflite",
    "text_detector.tflite",
    "text_recognizer.tflite",
    "text_keys.json",
)

def _edit_manifest(bundle: Path, **changes) -> None:
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def _rehash(bundle: Path, name: str) -> None:
    """Update the manifest's checksum after a deliberate edit (to reach later checks)."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    data = (bundle / name).read_bytes()
    manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def test_default_bundle_matches_the_format(default_model_dir):
    b = load_bundle(default_model_dir)
    assert b.manifest["format"] == "show-attend-tell-bundle"
    assert b.manifest["format_version"] == b.format_version == 4
    assert b.concept_slots == 5 and b.positions == b.grid_cells + 5
    # Format 4: the COCO detector, its anchors and the notices ship inside the bundle.
    assert b.detector is not None and b.detector.model.path.is_file()
    assert b.detector.settings.labels[1] == "person" and 0 < b.detector.ground_floor < 1
    assert b.notice is not None and [p.name for p in b.licences] == ["LICENSE-Apache-2.0.txt"]
    assert b.word_bonus == b.manifest["objects"]["word_bonus"] > 0
    assert b.namer is not None and b.namer.classes == 1000 and b.objects_output == "classes"
    assert b.calibration is not None and 0 < b.calibration.unsure_below < 1
    assert b.objects_note is None
    assert len(b.vocabulary) == b.vocab_size
    assert b.vocabulary[:4] == ("<pad>", "<start>", "<end>", "<unk>")
    assert b.grid_cells == b.feature_grid[0] * b.feature_grid[1]
    assert b.encoder.path.is_file() and b.decoder.path.is_file()
    assert (b.encoder.signature, b.decoder.signature) == ("encode", "step")


@pytest.mark.parametrize("name", ["encoder.tflite", "decoder_step.tflite", "vocab.json"])
def test_flipped_byte_is_refused_naming_the_file(bundle_copy, name):
    path = bundle_copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=rf"^{name}: sha256 does not match"):
        load_bundle(bundle_copy)
    # The facade refuses it the same way, before any interpreter is built.
    with pytest.raises(CaptionerError, match=name):
        Captioner.load(bundle_copy)


def test_truncated_file_is_refused(bundle_copy):
    path = bundle_copy / "decoder_step.tflite"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(BundleError, match=r"^decoder_step.tflite: is 1000 bytes"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize(
    "name", ["encoder.tflite", "decoder_step.tflite", "vocab.json", "manifest.json"]
)
def test_missing_file_is_named(bundle_copy, name):
    (bundle_copy / name).unlink()
    with pytest.raises(BundleError, match=rf"^{name}: missing"):
        load_bundle(bundle_copy)


def test_missing_folder(tmp_path):
    with pytest.raises(BundleError, match="model folder not found"):
        load_bundle(tmp_path / "nowhere")


@pytest.mark.parametrize("version", [5, 0, "1", None, True])
def test_unknown_format_version_is_refused(bundle_copy, version):
    _edit_manifest(bundle_copy, format_version=version)
    with pytest.raises(BundleError, match="format_version"):
        load_bundle(bundle_copy)


def test_foreign_format_is_refused(bundle_copy):
    _edit_manifest(bundle_copy, format="some-other-bundle")
    with pytest.raises(BundleError, match="'format'"):
        load_bundle(bundle_copy)


def test_vocabulary_size_must_match(bundle_copy):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    _edit_manifest(bundle_copy, vocab_size=manifest["vocab_size"] + 1)
    with pytest.raises(BundleError, match=r"^vocab.json: has \d+ words, manifest says"):
        load_bundle(bundle_copy)


def test_special_tokens_must_be_where_the_manifest_says(bundle_copy):
    words = json.loads((bundle_copy / "vocab.json").read_text())
    words[2], words[5] = words[5], words[2]  # <end> moved
    (bundle_copy / "vocab.json").write_text(json.dumps(words))
    _rehash(bundle_copy, "vocab.json")
    with pytest.raises(BundleError, match=r"token 2 should be <end>"):
        load_bundle(bundle_copy)


def test_vocabulary_must_be_a_word_list(bundle_copy):
    (bundle_copy / "vocab.json").write_text('{"a": 1}')
    _rehash(bundle_copy, "vocab.json")
    with pytest.raises(BundleError, match="vocab.json: must be a JSON list of strings"):
        load_bundle(bundle_copy)


def test_manifest_cannot_point_outside_the_bundle(bundle_copy):
    _edit_manifest(bundle_copy, encoder={"file": "../encoder.tflite", "signature": "encode"})
    with pytest.raises(BundleError, match="must be a file name inside the bundle"):
        load_bundle(bundle_copy)


def test_unlisted_model_file_is_refused(bundle_copy):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    del manifest["files"]["encoder.tflite"]
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="no checksum listed for encoder.tflite"):
        load_bundle(bundle_copy)


def test_broken_manifest_json(bundle_copy):
    (bundle_copy / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="manifest.json: not readable JSON"):
        load_bundle(bundle_copy)


def test_manifest_shapes_must_match_the_models(bundle_copy):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    _edit_manifest(bundle_copy, units=manifest["units"] + 1)
    with pytest.raises(BundleError, match=r"decoder_step.tflite: hidden has shape"):
        Captioner.load(bundle_copy)


def test_wrong_signature_name_is_refused(bundle_copy):
    _edit_manifest(bundle_copy, decoder={"file": "decoder_step.tflite", "signature": "decode"})
    with pytest.raises(BundleError, match=r"decoder_step.tflite: has no signature 'decode'"):
        Captioner.load(bundle_copy)


def test_default_model_dir_in_checkout_and_frozen_app(monkeypatch, tmp_path):
    import sys

    from desktop import paths

    monkeypatch.delenv(paths.MODEL_ENV, raising=False)
    checkout = Path(__file__).resolve().parent.parent
    assert paths.default_model_dir() == checkout / "models" / "default"
    # A PyInstaller build: data unpacked under sys._MEIPASS, executable elsewhere.
    bundled = tmp_path / "meipass" / "models" / "default"
    bundled.mkdir(parents=True)
    (bundled / "manifest.json").write_text("{}")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "meipass"), raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "app" / "captioner"))
    assert paths.default_model_dir() == bundled
    # One-folder build with models/ beside the executable instead.
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "empty"), raising=False)
    beside = tmp_path / "app" / "models" / "default"
    beside.mkdir(parents=True)
    (beside / "manifest.json").write_text("{}")
    assert paths.default_model_dir() == beside
    monkeypatch.setenv(paths.MODEL_ENV, str(tmp_path / "mine"))
    assert paths.default_model_dir() == tmp_path / "mine"


def _as_format_1(bundle: Path) -> None:
    """Turn a copy of the shipped bundle into what a format-1 export looked like: no objects,
    no confidence, no label table. (Its encoder keeps the extra `classes` output, which a
    format-1 reader never asks for, and its concept positions, which the manifest's
    `concepts` entry still counts.)"""
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    for key in ("objects", "confidence", "upgrades"):
        manifest.pop(key, None)
    manifest["format_version"] = 1
    del manifest["files"]["labels.json"]
    (bundle / "labels.json").unlink()
    path.write_text(json.dumps(manifest))


def test_format_1_bundle_still_captions_without_objects(bundle_copy, samples):
    _as_format_1(bundle_copy)
    b = load_bundle(bundle_copy)
    assert b.format_version == 1 and b.namer is None and b.calibration is None
    assert "format 1" in b.objects_note and "converter upgrade" in b.objects_note
    result = Captioner(b).caption(samples[1])
    assert result.text.endswith(".") and result.words
    assert result.objects == () and result.confidence is None and not result.unsure
    assert result.spoken_text == result.text  # nothing added, nothing marked


def test_format_2_without_calibration_gives_objects_and_no_confidence(bundle_copy, samples):
    path = bundle_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["confidence"]
    path.write_text(json.dumps(manifest))
    b = load_bundle(bundle_copy)
    assert "no calibrated confidence" in b.objects_note
    result = Captioner(b).caption(samples[1])  # chelsea
    assert [o.name for o in result.objects] == ["cat"]
    assert result.confidence is None and not result.unsure


def test_tampered_label_table_is_refused(bundle_copy):
    path = bundle_copy / "labels.json"
    path.write_text(path.read_text().replace('"name": "cat"', '"name": "dog"'))
    with pytest.raises(BundleError, match=r"^labels.json: "):
        load_bundle(bundle_copy)


def test_label_table_must_cover_the_classifier(bundle_copy):
    path = bundle_copy / "labels.json"
    table = json.loads(path.read_text())
    table["classes"] = table["classes"][:999]
    path.write_text(json.dumps(table))
    _rehash(bundle_copy, "labels.json")
    b = load_bundle(bundle_copy)
    with pytest.raises(BundleError, match=r"classes has shape \[1, 1000\]"):
        Captioner(b)


@pytest.mark.parametrize(
    "confidence",
    [
        {"model": "forest"},
        {
            "model": "logistic",
            "features": ["score"],
            "weights": [1, 2],
            "bias": 0,
            "unsure_below": 0.5,
        },
        {
            "model": "logistic",
            "features": ["shoe size"],
            "weights": [1],
            "bias": 0,
            "unsure_below": 0.5,
        },
        {"model": "logistic", "features": ["score"], "weights": [1], "bias": 0, "unsure_below": 2},
    ],
)
def test_bad_calibration_is_refused(bundle_copy, confidence):
    _edit_manifest(bundle_copy, confidence=confidence)
    with pytest.raises(BundleError, match="confidence"):
        load_bundle(bundle_copy)


def test_every_field_comes_from_the_manifest(bundle_copy):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    _edit_manifest(
        bundle_copy, name="mine", backbone="x_net", input_size=[200, 300], quantization="dynamic"
    )
    b = load_bundle(bundle_copy)
    assert (b.path, b.name, b.backbone, b.quantization) == (bundle_copy, "mine", "x_net", "dynamic")
    assert (b.input_size, b.feature_grid) == ((200, 300), tuple(manifest["feature_grid"]))
    assert (b.feature_dim, b.units) == (manifest["feature_dim"], manifest["units"])
    assert (b.vocab_size, b.max_length) == (manifest["vocab_size"], manifest["max_length"])
    assert b.tokens == Tokens(**manifest["tokens"])
    assert b.manifest["name"] == "mine"


def test_informational_fields_have_defaults(bundle_copy):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    for key in ("name", "backbone", "quantization"):
        del manifest[key]
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    b = load_bundle(bundle_copy)
    assert (b.name, b.backbone, b.quantization) == ("bundle", "", "float32")


def test_without_verify_checksums_are_skipped_but_not_presence(bundle_copy):
    vocab = bundle_copy / "vocab.json"
    vocab.write_text(vocab.read_text().replace('"dog"', '"cat"', 1))  # checksum now wrong
    assert load_bundle(bundle_copy, verify=False).vocabulary.count("cat") == 2
    (bundle_copy / "encoder.tflite").unlink()
    with pytest.raises(BundleError) as info:
        load_bundle(bundle_copy, verify=False)
    assert str(info.value) == f"encoder.tflite: missing from the model bundle {bundle_copy}"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"format": "other"},
            "manifest.json: 'format' is 'other', expected 'show-attend-tell-bundle'",
        ),
        (
            {"format_version": 5},
            "manifest.json: format_version 5 is not supported by this app (it reads 1, 2, 3, 4); "
            "update the app or re-export the model",
        ),
        ({"units": 0}, "manifest.json: 'units' must be positive, got 0"),
        ({"units": "512"}, "manifest.json: 'units' has the wrong type (str)"),
        ({"units": True}, "manifest.json: 'units' has the wrong type (bool)"),
        ({"units": None}, "manifest.json: 'units' has the wrong type (NoneType)"),
        (
            {"input_size": [0, 260]},
            "manifest.json: 'input_size' must be two positive integers, got [0, 260]",
        ),
        (
            {"input_size": [260]},
            "manifest.json: 'input_size' must be two positive integers, got [260]",
        ),
        (
            {"input_size": [260, True]},
            "manifest.json: 'input_size' must be two positive integers, got [260, True]",
        ),
        ({"tokens": [0, 1, 2, 3]}, "manifest.json: 'tokens' has the wrong type (list)"),
        (
            {"tokens": {"pad": 0, "start": 1, "end": 2}},
            "manifest.json 'tokens': missing 'unk'",
        ),
        (
            {"tokens": {"pad": 0, "start": 1, "end": 2, "unk": 4004}},
            "manifest.json: tokens.unk = 4004 is outside the vocabulary",
        ),
        (
            {"tokens": {"pad": 0, "start": 1, "end": 1, "unk": 3}},
            "manifest.json: special tokens must be distinct, got "
            "{'pad': 0, 'start': 1, 'end': 1, 'unk': 3}",
        ),
        (
            {"encoder": {"file": "encoder.tflite", "signature": ""}},
            "manifest.json: encoder.signature must be a non-empty string",
        ),
        (
            {"encoder": {"file": "..\\encoder.tflite", "signature": "encode"}},
            "manifest.json: encoder.file must be a file name inside the bundle, "
            "got '..\\\\encoder.tflite'",
        ),
        (
            {"vocabulary": ".."},
            "manifest.json: 'vocabulary' must be a file name inside the bundle, got '..'",
        ),
        (
            {
                "files": {
                    n: {"bytes": 1}
                    for n in (*BUNDLE_FILES,)
                }
            },
            "manifest.json: 'files' entry for decoder_step.tflite lacks a sha256",
        ),
        (
            {
                "files": {
                    n: {"sha256": "0"}
                    for n in ("a\\b", *BUNDLE_FILES)
                }
            },
            "manifest.json: a 'files' entry must be a file name inside the bundle, got 'a\\\\b'",
        ),
    ],
)
def test_malformed_manifests_are_refused_saying_what_is_wrong(bundle_copy, changes, message):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    assert manifest["vocab_size"] == 4004  # the numbers in the messages above
    _edit_manifest(bundle_copy, **changes)
    with pytest.raises(BundleError) as info:
        load_bundle(bundle_copy)
    assert str(info.value) == message


@pytest.mark.parametrize("bonus", [-1, 21, "4", True, None])
def test_a_bad_word_bonus_is_refused(bundle_copy, bonus):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    _edit_manifest(bundle_copy, objects={**manifest["objects"], "word_bonus": bonus})
    with pytest.raises(BundleError, match="objects.word_bonus must be 0..20"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize("count", [0, 65, "5", True])
def test_a_bad_concept_count_is_refused(bundle_copy, count):
    _edit_manifest(bundle_copy, format_version=3, concepts={"count": count})
    with pytest.raises(BundleError, match="concepts"):
        load_bundle(bundle_copy)


def test_a_concept_count_that_the_encoder_does_not_produce_is_refused(bundle_copy):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    count = manifest.get("concepts", {}).get("count", 0) + 2
    _edit_manifest(bundle_copy, format_version=3, concepts={"count": count})
    with pytest.raises(CaptionerError, match="features has shape"):
        Captioner.load(bundle_copy)
