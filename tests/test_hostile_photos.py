"""Hostile photos (issue 11, findings 1 and 2): no external program, bounded memory."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from desktop import PhotoError
from desktop.images import MAX_PHOTO_BYTES, PHOTO_FORMATS, load_pixels, open_photo
from tests.hostile.files import EPS_LOOP, PDF_TINY, write_png

SIZE = (224, 224)


@pytest.mark.parametrize("data", [EPS_LOOP, PDF_TINY, b"%!PS-Adobe-3.0\n{} loop\n"])
def test_postscript_and_pdf_are_not_photos_whatever_their_name(tmp_path, data):
    # Pillow would hand EPS to Ghostscript (an external program, no time limit).
    path = tmp_path / "holiday.jpg"
    path.write_bytes(data)
    for source in (path, data):
        with pytest.raises(PhotoError) as info:
            load_pixels(source, SIZE)
        assert "not a photo format" in info.value.reason
        assert "ghostscript" not in str(info.value).lower()


def test_only_photo_formats_are_opened():
    assert "EPS" not in PHOTO_FORMATS and "PDF" not in PHOTO_FORMATS
    assert {"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"} <= set(PHOTO_FORMATS)


def test_a_photo_needing_more_than_the_budget_is_refused_before_decoding(tmp_path):
    # 12800x12800 palette PNG: under Pillow's pixel limit, but 1 + 4 bytes a pixel to bring
    # to RGB at full size is over the budget (open_photo without min_size cannot reduce).
    path = write_png(tmp_path / "wide.png", 12800, 12800, colour=3)
    with pytest.raises(PhotoError) as info:
        open_photo(path)
    assert "too large" in info.value.reason
    assert f"{MAX_PHOTO_BYTES // 2**20} MB per photo" in info.value.reason


# VmHWM is this process image's own peak (ru_maxrss would carry the parent's over exec).
_PEAK = textwrap.dedent(
    """
    import re, sys
    from desktop.images import load_pixels
    px = load_pixels(sys.argv[1], (224, 224))
    assert px.shape == (1, 224, 224, 3), px.shape
    status = open("/proc/self/status").read()
    print(int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) // 1024)
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_16_bit_grey_bomb_decodes_in_bounded_memory(tmp_path):
    # 13000x13000 16-bit grey: ~330 KB on disk, 338 MB decoded; it used to take 5-6 GB.
    path = write_png(tmp_path / "bomb.png", 13000, 13000, bit_depth=16)
    assert path.stat().st_size < 1_000_000
    out = subprocess.run(
        [sys.executable, "-c", _PEAK, str(path)], capture_output=True, text=True, check=True
    )
    peak_mb = int(out.stdout.split()[-1])
    assert peak_mb < 338 + 350, f"peak RSS {peak_mb} MB"


def test_float_and_16_bit_reduce_like_a_full_conversion():
    # A big float image and its 16-bit twin: reduced band by band, same picture as before.
    ramp = np.tile(np.linspace(-3.0, 5.0, 1200, dtype=np.float32), (900, 1))
    ramp[0, 0] = np.nan
    ramp[1, 1] = np.inf
    px = load_pixels(Image.fromarray(ramp, "F"), (64, 64))[0]
    assert np.isfinite(px).all()
    assert px[:, :4].mean() < 10 and px[:, -4:].mean() > 245
    deep = Image.fromarray((np.linspace(0, 65535, 1200)[None].repeat(900, 0)).astype(np.uint16))
    px16 = load_pixels(deep, (64, 64))[0]
    assert px16[:, :4].mean() < 10 and px16[:, -4:].mean() > 245
    assert np.abs(px16 - px).mean() < 3


def test_a_big_png_is_reduced_before_conversion_and_matches(tmp_path):
    rng = np.random.default_rng(1)
    small = rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)
    big = Image.fromarray(small).resize((3000, 4000), Image.NEAREST)
    path = tmp_path / "big.png"
    big.save(path)
    full = np.asarray(big.resize((224, 224), Image.BILINEAR), dtype=np.float32)
    assert np.abs(load_pixels(path, SIZE)[0] - full).mean() < 2.0


def test_exif_orientation_survives_reduction(tmp_path):
    img = Image.new("RGB", (2000, 1000), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 1000, 1000))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to show
    path = tmp_path / "turned.png"
    img.save(path, exif=exif)
    px = load_pixels(path, (32, 32))[0]
    assert px[:8, :, 2].mean() > 200  # the blue half is now on top
