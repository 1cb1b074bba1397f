"""Training plots: loss/BLEU curves and the seed's per-word attention overlay.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, never pyplot: no
display, no global state, safe from a training thread. Files are written atomically.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageOps

# Accepted spellings of each history series; the first is the canonical one.
HISTORY_KEYS = {
    "train_loss": ("train_loss", "loss"),
    "dev_loss": ("dev_loss", "val_loss"),
    "dev_bleu4": ("dev_bleu4", "dev_BLEU-4", "BLEU-4", "bleu4"),
}
# Photos are shrunk to this longest side before plotting: the overlay needs no more.
_PHOTO_SIDE = 512
_COLUMNS = 4


def plot_loss(history: Sequence[Mapping[str, float | None]], path: Path | str) -> Path:
    """Train and dev loss per epoch (left axis) and dev BLEU-4 (right axis).

    Each entry is one epoch: ``{"epoch": 1, "train_loss": …, "dev_loss": …, "dev_bleu4": …}``
    (``epoch`` defaults to the position + 1; a series that is absent or None is not drawn).
    """
    if not history:
        raise ValueError("plot_loss: history is empty (no epoch finished yet)")
    epochs = [int(row.get("epoch", i + 1)) for i, row in enumerate(history)]
    series = {name: _series(history, epochs, keys) for name, keys in HISTORY_KEYS.items()}

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    lines = []
    for name, label, style in (("train_loss", "train loss", "-o"), ("dev_loss", "dev loss", "-s")):
        xs, ys = series[name]
        if xs:
            lines += ax.plot(xs, ys, style, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (cross-entropy per word)")
    ax.grid(True, alpha=0.3)
    xs, ys = series["dev_bleu4"]
    if xs:
        right = ax.twinx()
        lines += right.plot(xs, ys, "-^", color="tab:green", label="dev BLEU-4")
        right.set_ylabel("dev BLEU-4")
        right.margins(y=0.15)  # room for the best-epoch label
        best = int(np.argmax(ys))
        right.annotate(f"{ys[best]:.3f}", (xs[best], ys[best]), textcoords="offset points",
                       xytext=(0, 6), ha="center", color="tab:green")  # fmt: skip
    if not lines:
        raise ValueError(
            "plot_loss: history has none of the keys "
            + ", ".join(k for keys in HISTORY_KEYS.values() for k in keys)
        )
    ax.set_xticks(sorted(set(epochs)))
    fig.legend(lines, [line.get_label() for line in lines], loc="outside lower center",
               ncols=len(lines))  # fmt: skip
    ax.set_title("Training history")
    return _save(fig, path)


def _series(history, epochs, keys) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for epoch, row in zip(epochs, history, strict=True):
        value = next((row[k] for k in keys if row.get(k) is not None), None)
        if value is not None and math.isfinite(float(value)):
            xs.append(epoch)
            ys.append(float(value))
    return xs, ys


def plot_attention(
    image_path: Path | str, words: Sequence[str], attention: np.ndarray, path: Path | str
) -> Path:
    """The seed's overlay: one panel per word, the photo with that step's attention on top.

    ``attention`` is ``[n_words, grid_h, grid_w]`` (``[n_words, L]`` with square ``L`` is
    reshaped). The grid covers the whole photo because the model's input resize does not keep
    the aspect ratio; it is stretched over the photo's extent with bilinear interpolation.
    """
    attention = np.asarray(attention, dtype=np.float32)
    if attention.ndim == 2 and math.isqrt(attention.shape[1]) ** 2 == attention.shape[1]:
        side = math.isqrt(attention.shape[1])
        attention = attention.reshape(len(attention), side, side)
    if attention.ndim != 3:
        raise ValueError(f"attention must be [n_words, grid_h, grid_w], got {attention.shape}")
    if attention.shape[0] != len(words):
        raise ValueError(
            f"{len(words)} word(s) but {attention.shape[0]} attention map(s); they must match"
        )
    with Image.open(image_path) as opened:
        photo = ImageOps.exif_transpose(opened).convert("RGB")
    photo.thumbnail((_PHOTO_SIDE, _PHOTO_SIDE), Image.Resampling.BILINEAR)
    pixels = np.asarray(photo)
    extent = (0, pixels.shape[1], pixels.shape[0], 0)

    panels = max(1, len(words))
    columns = min(_COLUMNS, panels)
    rows = math.ceil(panels / columns)
    fig = Figure(figsize=(3 * columns, 3 * rows * pixels.shape[0] / pixels.shape[1] + 0.4 * rows),
                 layout="constrained")  # fmt: skip
    for i in range(panels):
        ax = fig.add_subplot(rows, columns, i + 1)
        ax.imshow(pixels, extent=extent)
        if words:
            ax.imshow(attention[i], cmap="gray", alpha=0.6, extent=extent,
                      interpolation="bilinear")  # fmt: skip
            ax.set_title(words[i])
        else:
            ax.set_title("(empty caption)")
        ax.set_axis_off()
    return _save(fig, path)


def _save(fig: Figure, path: Path | str) -> Path:
    """Render to a temp file beside ``path``, then rename: readers never see half a PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fmt = path.suffix.lstrip(".").lower() or "png"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            fig.savefig(handle, format=fmt, dpi=100)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
