"""Thumbnails made off the UI thread, so a big folder lists at once and fills in."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QThread, Signal
from PySide6.QtGui import QImage

from desktop import PhotoError
from desktop.gui.images_qt import pil_to_qimage
from desktop.images import open_photo

THUMB_SIZE = 112


class ThumbnailLoader(QThread):
    """Emits ``loaded(row, image)`` for each readable photo; unreadable ones are skipped
    (the caption worker reports why). QImage, unlike QPixmap, may cross threads."""

    loaded = Signal(int, QImage)

    def __init__(self, paths: Sequence[Path], size: int = THUMB_SIZE, parent=None) -> None:
        super().__init__(parent)
        self._paths = list(paths)
        self._size = size

    def run(self) -> None:
        for row, path in enumerate(self._paths):
            if self.isInterruptionRequested():
                return
            try:
                # Upright, as the model sees it; JPEGs decode at a reduced scale (draft).
                img = open_photo(path, min_size=(self._size, self._size))
                img.thumbnail((self._size, self._size))
            except (PhotoError, OSError, ValueError):
                continue
            self.loaded.emit(row, pil_to_qimage(img))
