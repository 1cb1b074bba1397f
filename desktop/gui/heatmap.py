"""Attention heat maps: the seed's ``plot_attention`` for a live view, in numpy (no Qt here).

The decoder attends over a ``[grid_h, grid_w]`` grid of image cells for every word. As in the
seed notebook, a word's map is upsampled to the photo and laid over it; here the upsampling
is bilinear (so the map reads as a smooth glow, not blocks), low-attention parts of the photo
are dimmed and high ones tinted, so the photo stays recognisable under the map.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Stops of a perceptually ordered dark-to-bright map (close to matplotlib's "inferno"),
# readable by people with the common colour-vision deficiencies.
_STOPS = np.array(
    [
        [0, 0, 4],
        [40, 11, 84],
        [101, 21, 110],
        [159, 42, 99],
        [212, 72, 66],
        [245, 125, 21],
        [250, 193, 39],
        [252, 255, 164],
    ],
    dtype=np.float32,
)
LUT = np.stack(
    [
        np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_STOPS)), _STOPS[:, c])
        for c in range(3)
    ],
    axis=1,
).astype(np.float32)


def upsample(cell_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A ``[grid_h, grid_w]`` map as float32 ``[height, width]`` in 0..1 (peak = 1).

    ``size`` is (width, height), as in Pillow."""
    cells = np.asarray(cell_map, dtype=np.float32)
    if cells.ndim != 2:
        raise ValueError(f"an attention map is 2-D [grid_h, grid_w], got shape {cells.shape}")
    cells = np.nan_to_num(cells, nan=0.0, posinf=0.0, neginf=0.0)
    cells = cells - cells.min()
    peak = float(cells.max())
    if peak > 0:
        cells = cells / peak
    big = Image.fromarray(cells, mode="F").resize(size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(big, dtype=np.float32), 0.0, 1.0)


def overlay(photo: np.ndarray, cell_map: np.ndarray, strength: float = 0.6) -> np.ndarray:
    """``photo`` uint8 ``[h, w, 3]`` with ``cell_map`` laid over it, uint8 ``[h, w, 3]``."""
    if photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"photo must be [h, w, 3], got shape {photo.shape}")
    h, w = photo.shape[:2]
    weight = upsample(cell_map, (w, h))[..., np.newaxis]
    heat = LUT[np.round(weight[..., 0] * 255).astype(np.uint8)]
    base = photo.astype(np.float32) * (0.3 + 0.7 * weight)  # dim what the word ignores
    alpha = strength * np.sqrt(weight)  # tint reaches into the fringes of a peak
    out = base * (1.0 - alpha) + heat * alpha
    return np.clip(out, 0, 255).astype(np.uint8)


_ROWS = ("top", "middle", "bottom")
_COLS = ("left", "centre", "right")


def describe_focus(cell_map: np.ndarray) -> str:
    """Where a word's attention is strongest, in words, for people who cannot see the map."""
    cells = np.asarray(cell_map, dtype=np.float64)
    total = float(cells.sum())
    if cells.size == 0 or total <= 0 or not np.isfinite(total):
        return "no attention information"
    share = cells / total
    # Nearly uniform attention has no "place" to name.
    if float(share.max()) < 2.0 / cells.size:
        return "spread across the whole photo"
    gh, gw = cells.shape
    row, col = np.unravel_index(int(np.argmax(share)), share.shape)
    vertical = _ROWS[min(2, row * 3 // gh)]
    horizontal = _COLS[min(2, col * 3 // gw)]
    if vertical == "middle" and horizontal == "centre":
        return "in the centre"
    if vertical == "middle":
        return f"at the {horizontal}"
    if horizontal == "centre":
        return f"at the {vertical}"
    return f"at the {vertical} {horizontal}"
