"""Seeded random mutations of real photos and of the shipped bundle's text files: the loaders
either succeed or raise their own error (PhotoError, BundleError), never anything else, never
hang. A few hundred cases, a few seconds; the seeds make every failure reproducible."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop import BundleError, PhotoError
from desktop.bundle import load_bundle
from desktop.images import load_pixels
from tests.hostile.files import EPS_LOOP

SIZE = (64, 64)
CASES = 300


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One of: flip bytes, overwrite a run, cut, duplicate a slice, splice in hostile bytes."""
    buf = bytearray(data)
    kind = rng.integers(5)
    if kind == 0:
        for _ in range(int(rng.integers(1, 9))):
            buf[int(rng.integers(len(buf)))] ^= 1 << int(rng.integers(8))
    elif kind == 1:
        at = int(rng.integers(len(buf)))
        buf[at : at + 16] = rng.bytes(16)
    elif kind == 2:
        del buf[int(rng.integers(1, len(buf))) :]
    elif kind == 3:
        at, n = int(rng.integers(len(buf))), int(rng.integers(1, 64))
        buf[at:at] = buf[at : at + n] * int(rng.integers(1, 4))
    else:
        at = int(rng.integers(len(buf)))
        buf[at:at] = [b"\xff\xff\xff\xff", b"\x00" * 8, EPS_LOOP, b"\x7f\xff\xff\xff"][
            int(rng.integers(4))
        ]
    return bytes(buf)


def _photos(samples: list[Path]) -> dict[str, bytes]:
    rng = np.random.default_rng(7)
    img = Image.fromarray(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8))
    made = {"jpeg": samples[0].read_bytes()}
    for fmt, mode in (
        ("PNG", "RGBA"),
        ("WEBP", "RGB"),
        ("GIF", "P"),
        ("TIFF", "RGB"),
        ("BMP", "L"),
    ):
        buf = io.BytesIO()
        img.convert(mode).save(buf, fmt)
        made[fmt.lower()] = buf.getvalue()
    deep = io.BytesIO()
    Image.fromarray(rng.integers(0, 65535, (30, 20), dtype=np.uint16)).save(deep, "PNG")
    made["png16"] = deep.getvalue()
    return made


def test_photo_loader_survives_mutated_photos(samples):
    rng = np.random.default_rng(20261130)
    photos = _photos(samples)
    outcomes = {"ok": 0, "refused": 0}
    for case in range(CASES * 2):
        name = list(photos)[case % len(photos)]
        data = mutate(photos[name], rng)
        try:
            px = load_pixels(data, SIZE)
        except PhotoError as e:
            assert e.reason and "Traceback" not in e.reason, (case, name)
            outcomes["refused"] += 1
            continue
        assert px.shape == (1, *SIZE, 3) and px.dtype == np.float32, (case, name)
        assert np.isfinite(px).all() and px.min() >= 0 and px.max() <= 255, (case, name)
        outcomes["ok"] += 1
    assert outcomes["ok"] and outcomes["refused"]  # both paths were exercised


@pytest.fixture
def bundle_copy(default_model_dir, tmp_path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(default_model_dir, copy)
    return copy


@pytest.mark.parametrize("name", ["manifest.json", "vocab.json"])
def test_bundle_loader_survives_mutated_files(bundle_copy, name):
    rng = np.random.default_rng(11 if name == "manifest.json" else 12)
    path = bundle_copy / name
    original = path.read_bytes()
    refused = 0
    for case in range(CASES):
        path.write_bytes(mutate(original, rng))
        try:
            # verify=False: the mutations must reach the parsing, not stop at the checksum.
            load_bundle(bundle_copy, verify=False)
        except BundleError as e:
            assert str(e), case
            refused += 1
    assert refused  # the loader did refuse some


def test_bundle_loader_survives_mutated_manifest_values(bundle_copy):
    rng = np.random.default_rng(13)
    path = bundle_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    hostile = [None, True, -1, 0, 2**70, 1.5, "", "x" * 300, [], [1], [3, 27], {}, "../x", "\n"]
    keys = [k for k in manifest if k != "format"]
    refused = 0
    for _case in range(CASES):
        edited = json.loads(json.dumps(manifest))
        key = keys[int(rng.integers(len(keys)))]
        value = hostile[int(rng.integers(len(hostile)))]
        if isinstance(edited[key], dict) and edited[key] and rng.integers(2):
            sub = list(edited[key])[int(rng.integers(len(edited[key])))]
            edited[key][sub] = value
        else:
            edited[key] = value
        path.write_text(json.dumps(edited))
        try:
            load_bundle(bundle_copy, verify=False)
        except BundleError:
            refused += 1
    assert refused
