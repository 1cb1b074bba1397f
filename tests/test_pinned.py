"""The shipped model says exactly what tests/pinned/default.json pins about samples/.

A model, export, vocabulary, photo-loading or decoding change that alters any caption (or
score, or later objects/confidence) fails here, with the difference. If the change is meant,
re-pin with ``python -m tests.support.pin_captions`` in the same commit.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.support.pin_captions import (
    MODEL_DIR,
    PIN_FILE,
    capture,
    differences,
    model_files,
    sample_photos,
)

REPIN = "if the change is meant, re-pin: python -m tests.support.pin_captions"


@pytest.fixture(scope="module")
def pins() -> dict:
    assert PIN_FILE.is_file(), f"{PIN_FILE} is missing; {REPIN}"
    return json.loads(PIN_FILE.read_text(encoding="utf-8"))


def test_pins_cover_every_sample_photo(pins):
    assert sorted(pins["photos"]) == [p.name for p in sample_photos()], REPIN


def test_pins_are_for_the_shipped_bundle(pins):
    assert pins["model_files"] == model_files(MODEL_DIR), f"models/default changed; {REPIN}"


def test_the_shipped_model_says_what_is_pinned(pins):
    found = differences(pins["photos"], capture(MODEL_DIR, sample_photos())["photos"])
    assert not found, "\n".join([*found, REPIN])


def _swap_words(model_dir: Path, out: Path, first: str, second: str) -> Path:
    """A copy of the bundle with two words swapped in vocab.json and the manifest's checksum
    made consistent: a valid bundle that says "woman" for a man."""
    shutil.copytree(model_dir, out)
    words = json.loads((out / "vocab.json").read_text(encoding="utf-8"))
    i, j = words.index(first), words.index(second)
    words[i], words[j] = words[j], words[i]
    data = json.dumps(words).encode("utf-8")
    (out / "vocab.json").write_bytes(data)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["vocab.json"] = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return out


def test_a_valid_bundle_with_man_and_woman_swapped_is_caught(pins, tmp_path):
    from desktop.bundle import load_bundle

    swapped = _swap_words(MODEL_DIR, tmp_path / "swapped", "man", "woman")
    load_bundle(swapped, verify=True)  # the bundle itself is valid: only the pins can tell
    found = differences(pins["photos"], capture(swapped, sample_photos())["photos"])
    assert any("'A woman" in line for line in found), found
    assert model_files(swapped) != pins["model_files"]
