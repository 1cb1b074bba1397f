"""Thumbnails made off the UI thread, so a big folder lists at once and fills in."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QThread, Signal
from PySide6.QtGui import QImage

from desktop import PhotoError
from desktop.gui.images_qt import pil_to_qimage
from desktop.images import open_photo

THUMB_SIZE = 112
BATCH_S = 0.3  # thumbnails are handed over in batches at most this far apart


class ThumbnailLoader(QThread):
    """Emits ``loaded([(row, image), ...])`` for the readable photos, a batch at a time;
    unreadable ones are skipped (the caption worker reports why). One signal per photo was
    one accessibility event per photo: with 150 photos Orca dropped its flooded queue, and
    the announcement in it. QImage, unlike QPixmap, may cross threads."""

    loaded = Signal(list)

    def __init__(self, paths: Sequence[Path], size: int = THUMB_SIZE, parent=None) -> None:
        super().__init__(parent)
        self._paths = list(paths)
        self._size = size

    def run(self) -> None:
        batch: list[tuple[int, QImage]] = []
        sent = time.monotonic()
        for row, path in enumerate(self._paths):
            if self.isInterruptionRequested():
                return
            if batch and time.monotonic() - sent >= BATCH_S:
                self.loaded.emit(batch)
                batch, sent = [], time.monotonic()
            try:
                # Upright, as the model sees it; JPEGs decode at a reduced scale (draft).
                img = open_photo(path, min_size=(self._size, self._size))
                img.thumbnail((self._size, self._size))
            except (PhotoError, OSError, ValueError):
                continue
            batch.append((row, pil_to_qimage(img)))
        if batch:
            self.loaded.emit(batch)
