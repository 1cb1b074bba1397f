"""Photo files built in memory for tests: real JPEGs and hostile PNG headers."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def jpeg_bytes(img: Image.Image, **save_options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **save_options)
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge size (a decompression bomb without the payload)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
