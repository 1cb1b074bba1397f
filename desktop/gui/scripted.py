"""Scripted runs of the window (``captioner gui PATH --screenshot PNG --exit-when-done``):
once every photo is captioned, save the window as a PNG and quit with an exit code, as
``captioner caption`` does (desktop/exit_codes.py). The installers' and the frozen app's
tests drive the app this way."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

from desktop.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from desktop.gui.photo_model import Status

if TYPE_CHECKING:
    from desktop.gui.main_window import MainWindow

SETTLE_MS = 150  # layouts and paints settle before the window is grabbed


class ScriptedRun(QObject):
    """Waits for ``window`` to have nothing left to do (its ``idle`` signal), then saves the
    screenshot and, with ``exit_when_done``, quits the event loop with ``exit_code``: 0 every
    photo captioned, 1 some could not be, 2 the model could not be used or the screenshot
    not saved."""

    def __init__(
        self,
        window: MainWindow,
        *,
        screenshot: str | os.PathLike[str] | None = None,
        exit_when_done: bool = False,
    ) -> None:
        super().__init__(window)
        self._window = window
        self._screenshot = Path(screenshot) if screenshot else None
        self._exit_when_done = exit_when_done
        self.exit_code = EXIT_OK
        self.screenshot_saved: Path | None = None
        window.idle.connect(self.maybe_finish)

    def maybe_finish(self) -> None:
        if not (self._screenshot or self._exit_when_done):
            return
        window = self._window
        if window.model.rowCount():
            window.select_row(0)
            # Show the heat map of the first noun-ish word so the screenshot shows it off.
            words = window.inspector.words.words
            if words:
                window.inspector.select_word(min(1, len(words) - 1))
        QTimer.singleShot(SETTLE_MS, self._finish)

    def _finish(self) -> None:
        window = self._window
        if window.model_failed:
            self.exit_code = EXIT_USAGE
        elif window.model.count(Status.FAILED):
            self.exit_code = EXIT_FAILED
        if self._screenshot is not None:
            image = window.grab().toImage()
            self._screenshot.parent.mkdir(parents=True, exist_ok=True)
            # A str format, as PySide6 takes it (its stubs say bytes, which it refuses).
            if image.save(str(self._screenshot), "PNG"):  # type: ignore[call-overload]
                self.screenshot_saved = self._screenshot
            else:
                self.exit_code = EXIT_USAGE
                window.report(f"Could not save the screenshot to {self._screenshot}")
            self._screenshot = None
        if self._exit_when_done:
            QTimer.singleShot(0, lambda: QApplication.exit(self.exit_code))
