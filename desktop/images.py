"""Photo loading with Pillow: any mode or orientation in, the encoder's RGB pixels out.

The pixels must match what the model saw in training (converter/features.py ``load_pixels``):
``img.convert("RGB").resize((w, h), Image.BILINEAR)`` as float32 0..255, aspect ratio not
kept. Two deliberate additions for real-world photos, both no-ops on the training photos:

- EXIF orientation is applied, so a phone photo taken upright is seen upright.
- Big JPEGs are decoded at a reduced DCT scale (``Image.draft``) no smaller than twice the
  input size; the bilinear (area-averaging) downscale that follows then still averages at
  least 2x2 source pixels per output pixel, so the result is practically the same as from a
  full decode, at a fraction of the time and memory.

Pillow's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``) is kept as is.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from desktop import PhotoError

PhotoSource = str | os.PathLike | bytes | bytearray | memoryview | Image.Image

# Names a folder walk treats as photos (compared lower-case). Files named on the command
# line are tried whatever their name.
PHOTO_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".gif",
        ".bmp",
        ".dib",
        ".tif",
        ".tiff",
        ".webp",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pnm",
        ".tga",
        ".jp2",
        ".j2k",
        ".ico",
        ".avif",
    }
)

_WHITE = (255, 255, 255, 255)


def source_name(source: PhotoSource) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fsencode(source).decode("utf-8", errors="backslashreplace")
    if isinstance(source, Image.Image):
        return getattr(source, "filename", "") or "<image>"
    return "<bytes>"


def _describe(e: BaseException) -> str:
    if isinstance(e, FileNotFoundError):
        return "file not found"
    if isinstance(e, IsADirectoryError):
        return "is a folder, not a photo"
    if isinstance(e, PermissionError):
        return "permission denied"
    if isinstance(e, Image.DecompressionBombError):
        return f"image too large to decode safely ({e})"
    if isinstance(e, UnidentifiedImageError):
        return "not an image, or a format Pillow cannot read"
    if isinstance(e, OSError) and "truncated" in str(e).lower():
        return "truncated or damaged image file"
    if isinstance(e, MemoryError):
        return "not enough memory to decode this image"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror.lower()
    text = str(e).strip()
    return f"cannot decode image ({text})" if text else f"cannot decode image ({type(e).__name__})"


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # Pillow clips wide integers to 0..255 when converting, which whitens a 16-bit photo;
        # scale the full range down instead.
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        return Image.fromarray(np.nan_to_num(scaled).astype(np.uint8), "L").convert("RGB")
    has_alpha = (
        mode in ("RGBA", "LA", "La", "RGBa", "PA")
        or (mode == "P" and "transparency" in img.info)
        or (mode in ("L", "RGB") and "transparency" in img.info)
    )
    if has_alpha:
        # Transparent pixels have arbitrary colour values (often black); show them as white,
        # as every viewer does.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE)
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def open_photo(source: PhotoSource, min_size: tuple[int, int] | None = None) -> Image.Image:
    """The photo as an upright RGB image (first frame of an animation), detached from any file.

    ``min_size`` (width, height) lets a big JPEG decode at a reduced scale no smaller than
    it. Raises ``PhotoError`` naming the photo and the reason.
    """
    name = source_name(source)
    try:
        if isinstance(source, Image.Image):
            # The caller's image: never draft, close or modify it.
            return _upright_rgb(source, copy=True)
        fp = (
            io.BytesIO(bytes(source))
            if isinstance(source, bytes | bytearray | memoryview)
            else source
        )
        with warnings.catch_warnings():
            # The bomb *warning* band (1-2x the limit) is allowed, as in Pillow itself; past
            # it Pillow raises DecompressionBombError.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fp) as img:
                if img.format == "JPEG" and min_size is not None:
                    # draft() only reduces by 1/2, 1/4 or 1/8, staying >= the requested size.
                    # Orientation may swap the sides, so ask for the longer side both ways.
                    side = max(min_size)
                    img.draft(None, (side, side))
                if getattr(img, "n_frames", 1) > 1:
                    img.seek(0)
                img.load()
                # Closing the file destroys the image it was read into: keep a copy.
                return _upright_rgb(img, copy=True)
    except Exception as e:  # Pillow raises many types for broken files; all mean "cannot read"
        raise PhotoError(name, _describe(e)) from e


def _upright_rgb(img: Image.Image, copy: bool) -> Image.Image:
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # damaged EXIF must not make an otherwise fine photo unreadable
        orientation = 1
    if orientation not in (1, None):
        img = ImageOps.exif_transpose(img)
        copy = False
    rgb = _to_rgb(img)
    return rgb.copy() if copy and rgb is img else rgb


def to_pixels(img: Image.Image, input_size: tuple[int, int]) -> np.ndarray:
    """float32 ``[1, H, W, 3]`` 0..255 from an RGB image; ``input_size`` is (height, width)."""
    height, width = input_size
    resized = img.resize((width, height), Image.BILINEAR)
    return np.asarray(resized, dtype=np.float32)[np.newaxis]


def load_pixels(source: PhotoSource, input_size: tuple[int, int]) -> np.ndarray:
    height, width = input_size
    img = open_photo(source, min_size=(2 * width, 2 * height))
    name = source_name(source)
    try:
        return to_pixels(img, input_size)
    except Exception as e:
        raise PhotoError(name, _describe(e)) from e
