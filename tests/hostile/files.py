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
    path: Path, width: int, height: int, *, bit_depth: int = 8, colour: int = 0, palette=None
) -> Path:
    """A real, all-zero PNG of any size (colour 0 grey, 2 RGB, 3 palette), streamed to disk."""
    channels = {0: 1, 2: 3, 3: 1}[colour]
    row = b"\0" * (1 + width * channels * bit_depth // 8)  # filter byte + pixels
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    z = zlib.compressobj(9)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr))
        if colour == 3:
            f.write(_chunk(b"PLTE", bytes(palette or [0, 0, 0, 255, 255, 255])))
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
