"""Tampered bundles and a misbehaving model (issue 11, findings 8 and 9): refused by name,
never a traceback, never a made-up caption."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from desktop import BundleError, CaptionerError
from desktop.bundle import load_bundle
from desktop.captioner import CaptionOptions


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


def test_nan_from_the_model_is_an_error_not_pad_words(captioner):
    # NaN pixels make the real encoder produce NaN features: the argmax of NaN is <pad>.
    pixels = np.full((1, *captioner.bundle.input_size, 3), np.nan, np.float32)
    for beam in (1, 3):
        with pytest.raises(CaptionerError, match="invalid numbers"):
            captioner.caption_pixels(pixels, CaptionOptions(beam_width=beam))
