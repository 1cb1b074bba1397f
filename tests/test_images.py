"""desktop.images: any photo becomes the encoder's RGB pixels, or a specific PhotoError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop import PhotoError
from desktop.images import load_pixels, open_photo, to_pixels
from tests.support.photo_bytes import jpeg_bytes, png_claiming

SIZE = (224, 224)


def _check_pixels(px: np.ndarray, size=SIZE) -> None:
    assert px.shape == (1, *size, 3)
    assert px.dtype == np.float32
    assert px.min() >= 0.0 and px.max() <= 255.0


def test_matches_the_training_preprocessing(flickr_photos, samples):
    # converter/features.py load_pixels: convert("RGB").resize((s, s), BILINEAR), float32.
    for path in [*flickr_photos[:3], *samples]:
        with Image.open(path) as img:
            expected = np.asarray(img.convert("RGB").resize(SIZE, Image.BILINEAR), np.float32)
        np.testing.assert_array_equal(load_pixels(path, SIZE)[0], expected)


def test_non_square_input_size(samples):
    px = load_pixels(samples[0], (100, 160))
    _check_pixels(px, (100, 160))


def test_exif_orientation_is_applied(tmp_path):
    # Stored landscape, left half red, right half blue; Orientation 6 = "rotate 90° CW to view".
    stored = Image.new("RGB", (80, 40), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 40, 40))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    stored.save(path, exif=exif, quality=95)
    upright = open_photo(path)
    assert upright.size == (40, 80)  # portrait after rotation
    top = np.asarray(upright)[:20].reshape(-1, 3).mean(axis=0)
    bottom = np.asarray(upright)[-20:].reshape(-1, 3).mean(axis=0)
    assert top[0] > 200 and top[2] < 60  # the stored left (red) side is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_big_jpeg_decodes_reduced_but_the_same(tmp_path):
    # A smooth 3000x2000 photo-like gradient; draft() decodes it at 1/4 scale.
    y, x = np.mgrid[0:2000, 0:3000]
    arr = np.stack([x * 255 // 3000, y * 255 // 2000, (x + y) * 255 // 5000], -1).astype(np.uint8)
    path = tmp_path / "big.jpg"
    Image.fromarray(arr).save(path, quality=90)
    full = np.asarray(Image.open(path).convert("RGB").resize(SIZE, Image.BILINEAR), np.float32)
    px = load_pixels(path, SIZE)[0]
    assert np.abs(px - full).mean() < 1.0


def test_big_jpeg_is_decoded_at_a_reduced_scale(tmp_path):
    # Noise, so that a reduced-scale decode gives other pixels than a full one.
    arr = np.random.default_rng(0).integers(0, 256, (2000, 3000, 3), dtype=np.uint8)
    path = tmp_path / "noisy.jpg"
    Image.fromarray(arr).save(path, quality=90)
    reduced = open_photo(path, min_size=(448, 448))
    # draft() picks the smallest DCT scale (1/2, 1/4, 1/8) that keeps both sides >= 448.
    assert reduced.size == (750, 500)
    # …and it is the JPEG decoder's own reduced decode (cheap), not a full decode shrunk after.
    with Image.open(path) as direct:
        direct.draft(None, (448, 448))
        np.testing.assert_array_equal(np.asarray(reduced), np.asarray(direct.convert("RGB")))
    assert open_photo(path).size == (3000, 2000)  # no min_size: full decode
    # load_pixels asks for twice the input size, and resizes what that decode gives.
    expected = to_pixels(open_photo(path, min_size=(2 * SIZE[1], 2 * SIZE[0])), SIZE)
    np.testing.assert_array_equal(load_pixels(path, SIZE), expected)
    assert not np.array_equal(to_pixels(open_photo(path), SIZE), expected)
    # A non-square input: both sides count ((height, width) = (100, 300) → at least 600).
    wide = to_pixels(open_photo(path, min_size=(600, 200)), (100, 300))
    np.testing.assert_array_equal(load_pixels(path, (100, 300)), wide)
    tall = to_pixels(open_photo(path, min_size=(200, 600)), (300, 100))
    np.testing.assert_array_equal(load_pixels(path, (300, 100)), tall)
    assert not np.array_equal(to_pixels(open_photo(path, min_size=(200, 1)), (300, 100)), tall)


RAMP = np.tile(np.arange(256, dtype=np.uint8), (4, 1))  # one grey level per column


def _frombytes(mode: str, arr: np.ndarray) -> Image.Image:
    return Image.frombytes(mode, (arr.shape[1], arr.shape[0]), arr.tobytes())


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Image.fromarray(RAMP, "L"), id="L"),
        pytest.param(lambda: Image.fromarray(RAMP, "L").convert("I"), id="I 0..255"),
        pytest.param(lambda: Image.fromarray(RAMP.astype(np.int32) * 257, "I"), id="I 0..65535"),
        pytest.param(lambda: Image.fromarray(RAMP.astype(np.uint16) * 257), id="I;16"),
        pytest.param(lambda: _frombytes("I;16B", RAMP.astype(">u2") * 257), id="I;16B"),
        pytest.param(lambda: _frombytes("I;16L", RAMP.astype("<u2") * 257), id="I;16L"),
        pytest.param(lambda: Image.fromarray(RAMP.astype(np.float32) / 255, "F"), id="F 0..1"),
        pytest.param(
            lambda: Image.fromarray(RAMP.astype(np.float32) / 127.5 - 1, "F"), id="F -1..1"
        ),
        pytest.param(lambda: Image.fromarray(RAMP, "L").convert("RGBA"), id="RGBA opaque"),
    ],
)
def test_pixel_values_per_mode(make):
    """Each mode's full range becomes black..white: a grey ramp stays the same ramp."""
    img = make()
    px = load_pixels(img, (4, 256))[0]
    # Integer modes map exactly (65535 / 257 = 255); floats may round down by one level.
    tolerance = 1.0 if img.mode == "F" else 0.0
    assert np.abs(px - RAMP[..., None].astype(np.float32)).max() <= tolerance, img.mode


def test_a_flat_float_image_is_black_not_nan():
    px = load_pixels(Image.new("F", (8, 8), 0.7), (8, 8))
    assert (px == 0).all()


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda a: Image.fromarray(a, "RGBA"), id="RGBA"),
        pytest.param(lambda a: Image.fromarray(a, "RGBA").convert("RGBa"), id="RGBa"),
        pytest.param(lambda a: Image.fromarray(a[..., [0, 3]], "LA"), id="LA"),
        pytest.param(lambda a: Image.fromarray(a[..., [0, 3]], "LA").convert("La"), id="La"),
        pytest.param(lambda a: Image.fromarray(a, "RGBA").convert("PA"), id="PA"),
    ],
)
def test_transparent_pixels_are_white(make):
    """Transparent pixels hold arbitrary colour (here black): every viewer shows them white."""
    rgba = np.zeros((4, 8, 4), np.uint8)  # black everywhere
    rgba[:, 4:, 3] = 255  # right half opaque black, left half transparent black
    img = make(rgba)
    rgb = np.asarray(open_photo(img))
    assert (rgb[:, :4] == 255).all(), img.mode
    assert (rgb[:, 4:] == 0).all(), img.mode


def test_premultiplied_grey_alpha_is_the_same_photo():
    """An in-memory "La" image (grey premultiplied by alpha; Pillow converts it only to "LA")
    reads as its "LA" twin: half-transparent grey 200 over white, not "cannot decode"."""
    straight = Image.new("LA", (4, 4), (200, 128))
    premultiplied = straight.convert("La")
    assert premultiplied.getpixel((0, 0)) == (100, 128)
    expected = round(200 * 128 / 255 + 255 * 127 / 255)  # 227
    for img in (straight, premultiplied):
        assert (load_pixels(img, (2, 2)) == expected).all(), img.mode


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_a_transparent_colour_key_is_white(tmp_path, mode):
    path = tmp_path / "keyed.png"
    img = Image.new(mode, (8, 4), 0)
    img.paste(100 if mode == "L" else (100, 100, 100), (4, 0, 8, 4))
    img.save(path, transparency=0 if mode == "L" else (0, 0, 0))
    rgb = np.asarray(open_photo(path))
    assert (rgb[:, :4] == 255).all() and (rgb[:, 4:] == 100).all()


def test_the_callers_image_is_never_returned_or_changed():
    img = Image.new("RGB", (8, 8), (1, 2, 3))
    out = open_photo(img)
    assert out is not img
    out.paste((9, 9, 9), (0, 0, 8, 8))
    assert img.getpixel((0, 0)) == (1, 2, 3)


@pytest.mark.parametrize(
    "mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "I", "F", "1", "YCbCr", "HSV", "RGBX"]
)
def test_every_mode_becomes_rgb(mode):
    img = Image.linear_gradient("L").resize((64, 48)).convert(mode)
    px = load_pixels(img, SIZE)
    _check_pixels(px)


def test_cmyk_jpeg(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (50, 40), (0, 255, 255, 0)).save(path)  # pure red in CMYK
    assert Image.open(path).mode == "CMYK"
    mean = load_pixels(path, SIZE)[0].reshape(-1, 3).mean(axis=0)
    assert mean[0] > 200 and mean[1] < 60 and mean[2] < 60


def test_16_bit_png_keeps_its_range(tmp_path):
    path = tmp_path / "deep.png"
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (16, 1))
    Image.fromarray(ramp).save(path)  # uint16 → mode I;16
    assert Image.open(path).mode in ("I;16", "I")
    px = load_pixels(path, (16, 256))[0]
    # A naive convert("RGB") clips to white; the ramp must stay a ramp from black to white.
    assert px[:, :8].mean() < 10 and px[:, -8:].mean() > 245
    assert 100 < px[:, 120:136].mean() < 155


def test_palette_transparency_is_white(tmp_path):
    path = tmp_path / "palette.png"
    img = Image.new("P", (20, 20), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (10, 0, 20, 20))  # right half red, left half index 0 (transparent black)
    img.save(path, transparency=0)
    rgb = np.asarray(open_photo(path))
    assert (rgb[:, :10] == 255).all()  # transparent → white, not black
    assert (rgb[:, 10:] == (255, 0, 0)).all()


def test_animated_gif_gives_the_first_frame(tmp_path):
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (30, 30), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(path).n_frames == 3
    mean = np.asarray(open_photo(path)).reshape(-1, 3).mean(axis=0)
    assert mean[0] > 200 and mean[1] < 60


@pytest.mark.parametrize("size", [(1, 1), (5000, 10), (10, 5000)])
def test_extreme_shapes(tmp_path, size):
    path = tmp_path / "odd.png"
    Image.new("RGB", size, (10, 200, 30)).save(path)
    px = load_pixels(path, SIZE)
    _check_pixels(px)
    np.testing.assert_allclose(px[0, 100, 100], (10, 200, 30))


def test_bytes_and_pil_sources(samples):
    data = samples[0].read_bytes()
    from_path = load_pixels(samples[0], SIZE)
    np.testing.assert_array_equal(load_pixels(data, SIZE), from_path)
    np.testing.assert_array_equal(load_pixels(bytearray(data), SIZE), from_path)
    with Image.open(samples[0]) as img:
        img.load()
        np.testing.assert_array_equal(load_pixels(img, SIZE), from_path)
        assert img.mode == "RGB" and img.size == Image.open(samples[0]).size  # untouched


# Followed by the formats this app reads, which depend on the Pillow build.
NOT_A_PHOTO = "not an image, or not a photo format this app reads ("


def _hostile(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    good = jpeg_bytes(Image.new("RGB", (300, 200), (90, 120, 150)))
    data = {
        "empty.jpg": b"",
        "truncated.jpg": good[: len(good) // 2],
        "random.jpg": np.random.default_rng(0).bytes(4096),
        "page.jpg": b"<!DOCTYPE html><html><body>Not found</body></html>",
        "bomb.png": png_claiming(40000, 40000),
    }[name]
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.jpg", NOT_A_PHOTO),
        ("truncated.jpg", "truncated or damaged image file"),
        ("random.jpg", NOT_A_PHOTO),
        ("page.jpg", NOT_A_PHOTO),
        ("bomb.png", "image too large to decode safely ("),
    ],
)
def test_bad_files_raise_a_specific_photo_error(tmp_path, name, reason):
    """The reason is read aloud after the file name: exact words, no exception class."""
    path = _hostile(tmp_path, name)
    with pytest.raises(PhotoError) as info:
        load_pixels(path, SIZE)
    assert str(path) in str(info.value)
    assert info.value.reason == reason or (
        reason.endswith("(") and info.value.reason.startswith(reason)
    )
    assert info.value.name == str(path)


def test_bad_bytes_are_named_as_bytes():
    with pytest.raises(PhotoError, match="^<bytes>: not an image"):
        load_pixels(b"GIF89a garbage", SIZE)


def test_folder_and_missing_file(tmp_path):
    folder = tmp_path / "x.jpg"
    folder.mkdir()
    with pytest.raises(PhotoError) as info:
        load_pixels(folder, SIZE)
    assert info.value.reason == "is a folder, not a photo"
    with pytest.raises(PhotoError) as info:
        load_pixels(tmp_path / "gone.jpg", SIZE)
    assert info.value.reason == "file not found"


def test_non_utf8_file_name(tmp_path, samples):
    import os

    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.jpg")
    with open(raw, "wb") as f:
        f.write(samples[0].read_bytes())
    name = os.fsdecode(raw)  # surrogate-escaped str, as os.scandir returns it
    _check_pixels(load_pixels(name, SIZE))
    os.remove(raw)
    with pytest.raises(PhotoError) as info:
        load_pixels(name, SIZE)
    assert "caf\\xe9.jpg" in str(info.value)  # printable, no lone surrogate
    str(info.value).encode("utf-8")


@pytest.mark.parametrize("orientation", range(0, 10))
@pytest.mark.parametrize("reduced", [False, True], ids=["full", "reduced"])
def test_every_exif_orientation_as_pillow_applies_it(tmp_path, orientation, reduced):
    """Each of the 8 EXIF orientations turns the photo as ``ImageOps.exif_transpose`` does
    (also when it is decoded reduced, which reads the original's EXIF); 0 and 9 (invalid)
    leave it as stored."""
    from PIL import ImageOps

    rng = np.random.default_rng(orientation)
    stored = Image.fromarray(rng.integers(0, 256, (12, 20, 3), dtype=np.uint8))
    stored = stored.resize((240, 144), Image.NEAREST) if reduced else stored
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "turned.png"
    stored.save(path, exif=exif)
    with Image.open(path) as img:
        expected = ImageOps.exif_transpose(img) if 1 <= orientation <= 8 else img.copy()
    if reduced:
        expected = expected.reduce(6)
    got = open_photo(path, min_size=(24, 24) if reduced else None)  # 144 // 24 = 6
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected.convert("RGB")))
    # The same for the caller's in-memory image, which is left as it was.
    with Image.open(path) as img:
        img.load()
        got = open_photo(img)
        if not reduced:
            np.testing.assert_array_equal(np.asarray(got), np.asarray(expected.convert("RGB")))
        np.testing.assert_array_equal(np.asarray(img), np.asarray(stored))


def test_damaged_exif_leaves_the_photo_as_stored():
    class DamagedExif(Image.Image):
        def getexif(self):
            raise SyntaxError("bad EXIF")

    img = Image.new("RGB", (6, 4), (10, 20, 30))
    img.putpixel((0, 0), (200, 0, 0))  # a corner that any turn or flip would move
    img.__class__ = DamagedExif
    out = open_photo(img)
    assert out.size == (6, 4) and out is not img
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img))


@pytest.mark.parametrize(
    "size, min_size, factor",
    [
        ((1000, 800), None, 1),
        ((1000, 800), (448, 448), 1),
        ((1000, 900), (448, 448), 2),
        ((4000, 3000), (448, 448), 6),
        ((3000, 4000), (600, 200), 5),  # orientation may swap sides: the longer one counts
        ((100, 100), (0, 0), 100),
    ],
)
def test_the_reduce_factor_keeps_both_sides_at_least_the_minimum(size, min_size, factor):
    from desktop.images import _reduce_factor

    assert _reduce_factor(Image.new("L", size), min_size) == factor


def test_photo_extensions_a_folder_walk_takes():
    from desktop.images import PHOTO_EXTENSIONS

    common = {".jpg", ".jpeg", ".jpe", ".jfif", ".mpo", ".png", ".gif", ".bmp", ".dib"}
    assert common | {".tif", ".tiff", ".webp"} <= PHOTO_EXTENSIONS
    assert not {".eps", ".ps", ".pdf", ".svg", ".xmp", ".txt"} & PHOTO_EXTENSIONS
    assert all(e == e.lower() and e.startswith(".") for e in PHOTO_EXTENSIONS)


def test_an_animation_gives_its_first_frame_even_when_left_on_another(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with Image.open(path) as img:
        img.seek(2)
        assert open_photo(path).getpixel((0, 0)) == (255, 0, 0)
