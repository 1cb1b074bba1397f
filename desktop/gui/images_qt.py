"""Pillow / numpy pictures as Qt images (copies, so they outlive the buffers they came from)."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtGui import QImage


def array_to_qimage(rgb: np.ndarray) -> QImage:
    """uint8 ``[h, w, 3]`` RGB → QImage (deep copy)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 [h, w, 3], got {rgb.dtype} {rgb.shape}")
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    image = QImage(rgb.data, w, h, rgb.strides[0], QImage.Format.Format_RGB888)
    return image.copy()


def pil_to_qimage(img: Image.Image) -> QImage:
    return array_to_qimage(np.asarray(img.convert("RGB")))
