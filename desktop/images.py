"""Photo loading with Pillow: any mode or orientation in, the encoder's RGB pixels out.

The pixels must match what the model saw in training (converter/features.py ``load_pixels``):
``img.convert("RGB").resize((w, h), Image.BILINEAR)`` as float32 0..255, aspect ratio not
kept. Deliberate additions for real-world photos, all no-ops on the training photos:

- EXIF orientation is applied, so a phone photo taken upright is seen upright.
- Big photos are decoded reduced, never larger than needed: JPEGs at a reduced DCT scale
  (``Image.draft``), other formats box-averaged (``Image.reduce``) right after decoding,
  before any conversion, each no smaller than twice the input size; the bilinear
  (area-averaging) downscale that follows then still averages at least 2x2 source pixels
  per output pixel, so the result is practically the same as from a full-size conversion,
  at a fraction of the time and memory.

Untrusted files (a folder, an upload) must not run anything or exhaust memory:

- Only photo formats are opened (``PHOTO_FORMATS``), whatever the file is named; never
  EPS/PS/PDF (Pillow would start Ghostscript on them) or other exotic plugins.
- The memory a photo needs is estimated from its header (size x mode) *before* decoding:
  past ``MAX_PHOTO_BYTES`` it is refused, and decodes running at once in one process share
  a ``MAX_PHOTO_BYTES`` budget (a big photo waits for the others instead of adding up).
  Pillow's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``) is kept as well.
- 16-bit and float images are scaled to 8 bits a band of rows at a time, never as one
  float64 copy of the whole photo.
- A photo file is opened once without blocking and checked (``fstat``) to be a regular
  file, so a FIFO put in its place after the folder was listed is refused, not waited on;
  only the first frame of an animation or multi-page TIFF is ever looked at.
- A photo gets ``MAX_DECODE_S`` to decode. Pillow cannot be interrupted from another
  thread, so the time is checked where the decode comes back to Python: at every read the
  decoder makes of the file (a progressive JPEG is handed over one scan at a time for this),
  between the stages (header, decode, reduce, convert), in the band-by-band conversions and
  while waiting for the memory budget. Past it the photo fails with "took too long to
  decode"; one call into a library that decodes a whole image at once (libwebp, libavif,
  libheif, libtiff) ends first, its size bounded by the memory budget.
"""

from __future__ import annotations

import bisect
import errno
import io
import os
import re
import stat
import threading
import time
import warnings
from contextlib import contextmanager

import numpy as np
from PIL import Image, UnidentifiedImageError

from desktop import PhotoError

PhotoSource = str | os.PathLike | bytes | bytearray | memoryview | Image.Image


def _heif_available() -> bool:
    # HEIF/HEIC is read only when the pillow-heif plugin is installed (it registers "HEIF").
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


_HEIF = _heif_available()

# The Pillow plugins a photo may be opened with. Everything else, above all EPS/PS/PDF
# (Ghostscript, an external program with no time limit), is "not a photo".
PHOTO_FORMATS: tuple[str, ...] = (
    "JPEG",  # also opens multi-picture JPEGs (format "MPO"), as many cameras write
    "PNG",
    "WEBP",
    "GIF",
    "BMP",
    "DIB",
    "TIFF",
    *(("AVIF",) if "AVIF" in Image.registered_extensions().values() else ()),  # loads plugins
    *(("HEIF",) if _HEIF else ()),
)

# Names a folder walk treats as photos (compared lower-case). Files named on the command
# line are tried whatever their name.
PHOTO_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".mpo",
        ".png",
        ".gif",
        ".bmp",
        ".dib",
        ".tif",
        ".tiff",
        ".webp",
        *((".avif",) if "AVIF" in PHOTO_FORMATS else ()),
        *((".heic", ".heif") if _HEIF else ()),
    }
)

# Most memory one photo may take while it is decoded and converted (estimated from its
# header), and the budget the decodes running at once in one process share.
MAX_PHOTO_BYTES = 768 * 2**20
# Longest one photo may take to decode (seconds): the largest real photos the budget lets
# in decode in under 10 s on a slow shared 2-core machine (a 75 MP WebP: 9 s, a 157 MB PNG:
# 5 s), while a 25 KB JPEG of 100 scans took 20 s and held the service's captioner.
MAX_DECODE_S = 30.0

_WHITE = (255, 255, 255, 255)


def source_name(source: PhotoSource) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fsencode(source).decode("utf-8", errors="backslashreplace")
    if isinstance(source, Image.Image):
        return getattr(source, "filename", "") or "<image>"
    return "<bytes>"


class _TooBig(Exception):
    pass


class _NotRegular(OSError):
    pass


class _TooSlow(Exception):  # not an OSError: Pillow's plugins catch those
    def __init__(self, limit_s: float, waiting: bool = False):
        super().__init__(limit_s, waiting)
        self.limit_s = limit_s
        self.waiting = waiting  # still waiting for the memory budget


class _Deadline:
    """When the decode of one photo must have ended (``time.monotonic``)."""

    def __init__(self, limit_s: float):
        self.limit_s = limit_s
        self._at = time.monotonic() + limit_s

    def remaining(self) -> float:
        return max(0.0, self._at - time.monotonic())

    def check(self) -> None:
        if time.monotonic() > self._at:
            raise _TooSlow(self.limit_s)


class _Timed:
    """The photo file as the decoder reads it: every read first checks the deadline, and
    once ``stops`` are set no read runs past the next of them (the start of a JPEG scan), so
    libjpeg gets a progressive JPEG one scan at a time and the check comes between scans:
    all 100 scans of a 25 KB file fit in one read, and libjpeg spent 20 s on them."""

    def __init__(self, fp: io.BytesIO | io.BufferedReader, deadline: _Deadline):
        self._fp = fp
        self._deadline = deadline
        self.stops: tuple[int, ...] = ()

    def read(self, size: int | None = -1) -> bytes:
        self._deadline.check()
        if self.stops:
            at = self._fp.tell()
            i = bisect.bisect_right(self.stops, at)
            if i < len(self.stops):
                room = self.stops[i] - at
                size = room if size is None or size < 0 else min(size, room)
        return self._fp.read(size)

    def __getattr__(self, name: str):  # seek, tell, fileno, getvalue … as the file's own
        return getattr(self._fp, name)


class _Budget:
    """Bytes of decoded photos in memory at once, shared by every thread of the process."""

    def __init__(self, limit: int):
        self.limit = limit
        self._used = 0
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, nbytes: int, deadline: _Deadline | None = None):
        if nbytes > self.limit:
            raise _TooBig(nbytes)
        with self._cond:
            fits = self._cond.wait_for(
                lambda: self._used + nbytes <= self.limit,
                timeout=None if deadline is None else deadline.remaining(),
            )
            if not fits:
                raise _TooSlow(deadline.limit_s if deadline else 0.0, waiting=True)
            self._used += nbytes
        try:
            yield
        finally:
            with self._cond:
                self._used -= nbytes
                self._cond.notify_all()


_budget = _Budget(MAX_PHOTO_BYTES)

# Bytes per pixel Pillow stores for a mode (every multi-band 8-bit mode takes 4).
_ONE_BYTE = frozenset({"1", "L", "P"})
_WIDE = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
# Modes Image.reduce() works on directly (others are converted first).
_REDUCIBLE = frozenset({"L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "I", "F"})


def _bytes_per_pixel(mode: str) -> int:
    if mode in _ONE_BYTE:
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "RGBa", "PA", "La") or (
        img.mode in ("P", "L", "RGB") and "transparency" in img.info
    )


def _peak_bytes(img: Image.Image, factor: int, full_size: tuple[int, int] | None = None) -> int:
    """Memory to decode ``img`` and bring it to RGB at 1/``factor`` of its size (estimate).

    ``full_size`` is the size in the file where a JPEG is decoded reduced (``draft``): a
    progressive JPEG's decoder keeps every DCT coefficient of the full size all the same.
    """
    pixels = img.width * img.height
    raw = pixels * _bytes_per_pixel(img.mode)
    if img.mode in _WIDE or img.mode in _REDUCIBLE and factor > 1:
        peak = raw + 4 * pixels // (factor * factor) + 64 * 2**20  # plus one band of rows
    elif factor > 1:
        peak = raw + 4 * pixels // (factor * factor) + 5 * 2**24  # converted band by band
    elif not _has_alpha(img):
        peak = raw + 4 * pixels  # converted to RGB at full size
    else:
        peak = raw + 15 * pixels  # an RGBA copy, its white background, the composite, RGB
    return peak + _decoder_bytes(img, full_size or img.size)


def _decoder_bytes(img: Image.Image, full_size: tuple[int, int]) -> int:
    """What the decoding library holds beside the image Pillow fills."""
    if img.format in ("WEBP", "AVIF", "HEIF"):
        # libwebp, libavif and libheif decode into a buffer of their own (RGBA, or YUV
        # planes of up to 16 bits) that Pillow then copies.
        return 4 * img.width * img.height
    if img.format in ("JPEG", "MPO") and img.info.get("progressive"):
        # libjpeg's whole-image coefficient buffer: 2 bytes per coefficient, one per pixel
        # of each component at its sampling of the full size (4:4:4 is the worst case).
        layers = getattr(img, "layer", None) or [(0, 1, 1, 0)] * len(img.getbands())
        h_max = max(h for _, h, _, _ in layers)
        v_max = max(v for _, _, v, _ in layers)
        width, height = full_size
        return sum(2 * -(-width * h // h_max) * -(-height * v // v_max) for _, h, v, _ in layers)
    return 0


# JPEG structure checked before decoding (``_check_jpeg``): a real photo has a few dozen
# marker segments and at most a few dozen scans (mozjpeg's progressive files about 10);
# each scan of a progressive JPEG makes libjpeg pass over the whole image again.
MAX_JPEG_SCANS = 100
MAX_JPEG_SEGMENTS = 4096
# A marker inside entropy-coded data: 0xFF followed by neither a stuffed 0x00, a restart
# marker (0xD0-0xD7) nor another fill byte.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


class _BadStructure(Exception):
    pass


def _check_jpeg(fp: io.BytesIO | io.BufferedReader | _Timed) -> tuple[int, ...]:
    """Refuse, before any decoding (and before Pillow, which reads every segment before the
    frame header), a JPEG whose first image has more scans or marker segments than any
    real photo: a scan repeated 10,000 times held a captioner for 111 s, 7.9 M empty APP5
    segments took 9 s and 1.1 GB. Reads segment headers and skips the rest (no mmap: a
    file truncated meanwhile would kill the process with SIGBUS); ``fp`` is left at 0.
    Returns where each scan of the first image starts (none for another format)."""
    if fp.read(3) != b"\xff\xd8\xff":
        fp.seek(0)
        return ()
    fp.seek(2)
    scans: list[int] = []
    segments = 0
    while True:
        head = fp.read(2)
        if len(head) < 2 or head[0] != 0xFF:
            break  # the end, or no marker where one must be: the decoder will say
        marker = head[1]
        if marker == 0xFF:  # a fill byte before the marker
            fp.seek(-1, os.SEEK_CUR)
            continue
        if marker == 0xD9:  # the end of the first image (an MPO's others are never decoded)
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            continue
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise _BadStructure(f"over {MAX_JPEG_SEGMENTS} marker segments")
        length = fp.read(2)
        if len(length) < 2:
            break
        if marker == 0xDA:
            scans.append(fp.tell() - 4)
            if len(scans) > MAX_JPEG_SCANS:
                raise _BadStructure(f"over {MAX_JPEG_SCANS} scans")
        fp.seek(int.from_bytes(length, "big") - 2, os.SEEK_CUR)
        if marker == 0xDA and not _skip_entropy_coded(fp):
            break
    fp.seek(0)
    return tuple(scans)


def _skip_entropy_coded(fp: io.BytesIO | io.BufferedReader | _Timed) -> bool:
    """Move ``fp`` to the marker that ends a scan's data; False at the end of the file."""
    while True:
        start = fp.tell()
        chunk = fp.read(1 << 16)
        found = _SCAN_END.search(chunk)
        if found:
            fp.seek(start + found.start())
            return True
        if len(chunk) < 2:
            return False
        if chunk.endswith(b"\xff"):  # the marker may go on in the next chunk
            fp.seek(-1, os.SEEK_CUR)


def _describe(e: BaseException) -> str:
    if isinstance(e, FileNotFoundError):
        return "file not found"
    if isinstance(e, IsADirectoryError):
        return "is a folder, not a photo"
    if isinstance(e, PermissionError):
        return "permission denied"
    if isinstance(e, _BadStructure):
        return f"not a photo this app decodes (a JPEG with {e})"
    if isinstance(e, _NotRegular):
        return "not a regular file (device, FIFO or socket)"
    if isinstance(e, _TooSlow):
        if e.waiting:
            return (
                f"took too long to decode (waited over {e.limit_s:g} s for the memory "
                "other photos decoding at the same time held)"
            )
        return f"took too long to decode (stopped after {e.limit_s:g} s)"
    if isinstance(e, _TooBig):
        return (
            f"image too large to decode safely (it would take {e.args[0] / 2**20:.0f} MB, "
            f"over the {MAX_PHOTO_BYTES / 2**20:.0f} MB per photo)"
        )
    if isinstance(e, Image.DecompressionBombError):
        return f"image too large to decode safely ({e})"
    if isinstance(e, UnidentifiedImageError):
        return (
            "not an image, or not a photo format this app reads "
            f"({', '.join(f for f in PHOTO_FORMATS if f != 'DIB')})"
        )
    if isinstance(e, OSError) and "truncated" in str(e).lower():
        return "truncated or damaged image file"
    if isinstance(e, MemoryError):
        return "not enough memory to decode this image"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror.lower()
    text = str(e).strip()
    # Library messages may carry temp paths or command lines: a reason names no files.
    if not text or "/" in text or "\\" in text or len(text) > 200:
        return f"cannot decode image ({type(e).__name__})"
    return f"cannot decode image ({text})"


def _rows(img: Image.Image, step: int, deadline: _Deadline | None = None):
    """``img`` as float32 arrays of ``step`` rows at a time (bounded memory for any size)."""
    for top in range(0, img.height, step):
        if deadline is not None:
            deadline.check()
        band = img.crop((0, top, img.width, min(img.height, top + step)))
        yield np.asarray(band, dtype=np.float32)


def _wide_to_l(img: Image.Image, factor: int = 1, deadline: _Deadline | None = None) -> Image.Image:
    """A 16-bit, 32-bit or float image as 8-bit "L", its range scaled (not clipped), and
    box-averaged by ``factor``; a band of rows at a time, never one copy of the whole photo."""
    mode = img.mode
    step = max(factor, (2**22 // max(1, img.width)) // factor * factor)  # ~16 MB float32 bands
    if mode.startswith("I;16"):
        lo, hi = 0.0, 65535.0
    else:
        lo, hi = np.inf, -np.inf
        for rows in _rows(img, step, deadline):
            finite = rows[np.isfinite(rows)]
            if finite.size:
                lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
        if not np.isfinite(lo):
            lo, hi = 0.0, 0.0
        if mode == "I":  # 8-bit values kept as is; wider ones scaled from 0..65535
            lo, hi = 0.0, 65535.0 if hi > 255 else 255.0
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    width = img.width // factor if factor > 1 else img.width
    out = []
    for rows in _rows(img, step, deadline):
        if factor > 1:
            rows = rows[: rows.shape[0] // factor * factor, : width * factor]
            if not rows.size:
                continue
            rows = rows.reshape(rows.shape[0] // factor, factor, width, factor).mean(axis=(1, 3))
        rows = np.nan_to_num((rows - lo) * scale, nan=0.0, posinf=255.0, neginf=0.0)
        out.append(np.clip(rows, 0, 255).astype(np.uint8))
    return Image.fromarray(np.concatenate(out) if out else np.zeros((0, width), np.uint8), "L")


def _reduce_factor(img: Image.Image, min_size: tuple[int, int] | None) -> int:
    """How much ``img`` may be box-averaged and stay at least ``min_size`` either way round."""
    if min_size is None:
        return 1
    side = max(1, max(min_size))  # orientation may swap the sides
    return max(1, min(img.width, img.height) // side)


def _reduced(img: Image.Image, factor: int, deadline: _Deadline | None = None) -> Image.Image:
    if factor < 2:
        return img
    if img.mode in _WIDE:
        return _wide_to_l(img, factor, deadline)
    if img.mode not in _REDUCIBLE:
        return _converted_reduced(img, factor, deadline)
    return img.reduce(factor)


def _converted_reduced(
    img: Image.Image, factor: int, deadline: _Deadline | None = None
) -> Image.Image:
    """``_to_rgb(img).reduce(factor)``, a band of rows at a time: a transparent palette
    image laid on white at full size took an RGBA copy, its background and the composite
    (12000² from a 140 KB PNG: 2.4 GB). Bands are whole boxes high, so every box averages
    the same pixels as before."""
    step = max(factor, (2**22 // max(1, img.width)) // factor * factor)  # ~16 MB RGBA bands
    width, height = -(-img.width // factor), -(-img.height // factor)
    out = Image.new("RGB", (width, height))
    for top in range(0, img.height, step):
        if deadline is not None:
            deadline.check()
        band = img.crop((0, top, img.width, min(img.height, top + step)))  # keeps the palette
        out.paste(_to_rgb(band).reduce(factor), (0, top // factor))
    return out


def _to_rgb(img: Image.Image, deadline: _Deadline | None = None) -> Image.Image:
    if img.mode == "La":
        # Pillow converts premultiplied grey+alpha only to "LA" (not to RGBA or RGB).
        img = img.convert("LA")
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:  # an RGB PNG may key a colour out
        return img
    if mode in _WIDE:
        # Pillow clips wide integers to 0..255 when converting, which whitens a 16-bit photo;
        # scale the full range down instead.
        return _wide_to_l(img, deadline=deadline).convert("RGB")
    has_alpha = (
        mode in ("RGBA", "LA", "RGBa", "PA")
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


def _open_regular(path: str | os.PathLike) -> io.BufferedReader:
    """The photo file, opened once without blocking and checked by what was opened: a FIFO
    put where a photo was (after the folder was listed) would hang a blocking open for good,
    and a device would be read for ever."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder")
        if not stat.S_ISREG(mode):
            raise _NotRegular(errno.EINVAL, "not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_photo(
    source: PhotoSource,
    min_size: tuple[int, int] | None = None,
    time_limit_s: float | None = None,
) -> Image.Image:
    """The photo as an upright RGB image (first frame of an animation), detached from any file.

    ``min_size`` (width, height) lets a big photo decode reduced, no smaller than it either
    way round. ``time_limit_s`` (default ``MAX_DECODE_S``) is how long the decode may take.
    Raises ``PhotoError`` naming the photo and the reason.
    """
    name = source_name(source)
    deadline = _Deadline(MAX_DECODE_S if time_limit_s is None else time_limit_s)
    try:
        if isinstance(source, Image.Image):
            # The caller's image: never draft, close or modify it.
            return _upright_rgb(source, copy=True)
        fp: io.BytesIO | io.BufferedReader
        if isinstance(source, bytes | bytearray | memoryview):
            fp = io.BytesIO(bytes(source))
        else:
            fp = _open_regular(source)
        timed = _Timed(fp, deadline)
        with fp, warnings.catch_warnings():
            scans = _check_jpeg(timed)
            # The bomb *warning* band (1-2x the limit) is allowed, as in Pillow itself; past
            # it Pillow raises DecompressionBombError.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Frame 0 is the current one once opened; asking n_frames would walk every
            # page of a TIFF (20,000 one-pixel pages: 3 s, growing with the square).
            with Image.open(timed, formats=PHOTO_FORMATS) as img:
                deadline.check()
                full_size = img.size
                if img.format in ("JPEG", "MPO") and min_size is not None:
                    # draft() only reduces by 1/2, 1/4 or 1/8, staying >= the requested size.
                    side = max(min_size)
                    img.draft(None, (side, side))
                factor = _reduce_factor(img, min_size)
                with _budget.hold(_peak_bytes(img, factor, full_size), deadline):
                    if img.format in ("JPEG", "MPO"):
                        timed.stops = scans[1:]  # scan by scan; the header reads are done
                    img.load()
                    deadline.check()
                    # Closing the file destroys the image it was read into: keep a copy.
                    reduced = _reduced(img, factor, deadline)
                    deadline.check()
                    return _upright_rgb(
                        reduced, copy=reduced is img, exif=img.getexif, deadline=deadline
                    )
    except Exception as e:  # Pillow raises many types for broken files; all mean "cannot read"
        raise PhotoError(name, _describe(e)) from e


# EXIF orientation → the transpose that makes the photo upright (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _upright_rgb(
    img: Image.Image, copy: bool, exif=None, deadline: _Deadline | None = None
) -> Image.Image:
    try:
        # A reduced copy has no EXIF of its own: ``exif`` reads the original's.
        orientation = (exif or img.getexif)().get(0x0112, 1)
    except Exception:  # damaged EXIF must not make an otherwise fine photo unreadable
        orientation = 1
    rgb = _to_rgb(img, deadline)
    if orientation in _UPRIGHT:
        return rgb.transpose(_UPRIGHT[orientation])
    return rgb.copy() if copy and rgb is img else rgb


def to_pixels(img: Image.Image, input_size: tuple[int, int]) -> np.ndarray:
    """float32 ``[1, H, W, 3]`` 0..255 from an RGB image; ``input_size`` is (height, width)."""
    height, width = input_size
    resized = img.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32)[np.newaxis]


def load_pixels(
    source: PhotoSource, input_size: tuple[int, int], time_limit_s: float | None = None
) -> np.ndarray:
    """The encoder's input for a photo; ``time_limit_s`` as for :func:`open_photo`."""
    height, width = input_size
    img = open_photo(source, min_size=(2 * width, 2 * height), time_limit_s=time_limit_s)
    name = source_name(source)
    try:
        return to_pixels(img, input_size)
    except Exception as e:
        raise PhotoError(name, _describe(e)) from e
