"""Hostile files for the hardening tests, built in code at test time (tiny, or compressed
bombs written a strip at a time so a test never holds the decoded size in memory)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

# A 57-byte EPS that loops forever in Ghostscript (issue 11, finding 1).
EPS_LOOP = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n{} loop\n"
PDF_TINY = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png(
    path: Path,
    width: int,
    height: int,
    *,
    bit_depth: int = 8,
    colour: int = 0,
    palette=None,
    transparency: bytes | None = None,
) -> Path:
    """A real, all-zero PNG of any size (colour 0 grey, 2 RGB, 3 palette), streamed to disk;
    ``transparency`` is a tRNS chunk's data (for a palette: one alpha per entry)."""
    channels = {0: 1, 2: 3, 3: 1}[colour]
    row = b"\0" * (1 + width * channels * bit_depth // 8)  # filter byte + pixels
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    z = zlib.compressobj(9)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr))
        if colour == 3:
            f.write(_chunk(b"PLTE", bytes(palette or [0, 0, 0, 255, 255, 255])))
        if transparency is not None:
            f.write(_chunk(b"tRNS", transparency))
        block = row * max(1, 2**22 // len(row))
        rows_per_block = len(block) // len(row)
        done = 0
        while done < height:
            n = min(rows_per_block, height - done)
            data = z.compress(block if n == rows_per_block else row * n)
            if data:
                f.write(_chunk(b"IDAT", data))
            done += n
        f.write(_chunk(b"IDAT", z.flush()) + _chunk(b"IEND", b""))
    return path


def webp_lossless(width: int, height: int) -> bytes:
    """A valid lossless WebP of one colour at any size in 28 bytes: five one-symbol prefix
    codes, so every pixel takes no bits at all (issue 21, finding 3)."""
    bits, count = 0, 0

    def put(value: int, n: int) -> None:
        nonlocal bits, count
        bits |= value << count
        count += n

    put(width - 1, 14)
    put(height - 1, 14)
    put(0, 4)  # no alpha hint, version 0
    put(0, 3)  # no transform, no colour cache, no meta prefix codes
    for _ in range(5):  # green, red, blue, alpha, distance: simple code, 1 symbol (0)
        put(0b0001, 4)
    payload = b"\x2f" + bits.to_bytes((count + 7) // 8, "little")
    payload += b"\0" * (len(payload) % 2)
    chunk = b"VP8L" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def claiming_size(data: bytes, box: bytes, offset: int, fmt: str, *size: int) -> bytes:
    """A real small photo whose header claims another size: ``size`` packed as ``fmt`` at
    ``offset`` bytes after the first ``box`` (a JPEG SOF marker, an AVIF 'ispe' box)."""
    out = bytearray(data)
    at = out.index(box) + offset
    out[at : at + struct.calcsize(fmt)] = struct.pack(fmt, *size)
    return bytes(out)
