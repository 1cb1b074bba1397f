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


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


class _Bits:
    """Huffman-coded bits, most significant first, with JPEG's 0xFF byte stuffing."""

    def __init__(self) -> None:
        self.out = bytearray()
        self._acc = 0
        self._count = 0

    def put(self, value: int, count: int) -> None:
        self._acc = (self._acc << count) | value
        self._count += count
        while self._count >= 8:
            self._count -= 8
            byte = (self._acc >> self._count) & 0xFF
            self.out += b"\xff\x00" if byte == 0xFF else bytes([byte])
        self._acc &= (1 << self._count) - 1

    def flush(self) -> bytes:
        if self._count:
            self.put((1 << (8 - self._count)) - 1, 8 - self._count)  # padded with 1s
        return bytes(self.out)


def slow_progressive_jpeg(width: int, height: int, scans: int = 100) -> bytes:
    """A grey progressive JPEG of ``scans`` AC refinement scans, within every structural
    limit the app has (issue 21, finding 4), that libjpeg takes seconds to decode.

    Each scan codes every block as part of end-of-band runs (32,767 blocks in 18 bits), so
    the whole file is a few KB, yet libjpeg looks at all 63 coefficients of every block in
    every scan: 12000² with 100 scans is 25 KB and took 20 s on a 2-core machine.
    """
    blocks = -(-width // 8) * -(-height // 8)
    bits = _Bits()
    left = blocks
    while left:  # EOBn symbols (n << 4, 4-bit codes), then n bits: runs of 2**n + bits
        run = min(left, 32767)
        left -= run
        n = run.bit_length() - 1
        bits.put(n, 4)
        if n:
            bits.put(run - (1 << n), n)
    code_lengths = bytes([0, 0, 0, 15] + [0] * 12)  # fifteen 4-bit codes
    ac_table = b"\x10" + code_lengths + bytes(n << 4 for n in range(15))
    # Component 1, AC table 0, coefficients 1..63, successive approximation 1 -> 0.
    scan = _segment(0xDA, bytes([1, 1, 0x00, 1, 63, 0x10])) + bits.flush()
    return (
        b"\xff\xd8"
        + _segment(0xDB, b"\x00" + b"\x01" * 64)  # quantisation table 0
        + _segment(0xC2, struct.pack(">BHHB", 8, height, width, 1) + bytes([1, 0x11, 0]))
        + _segment(0xC4, ac_table)
        + scan * scans
        + b"\xff\xd9"
    )
