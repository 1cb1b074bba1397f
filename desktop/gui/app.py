"""Entry point of the desktop app: ``captioner gui [PATH ...] [--model DIR] [--screenshot PNG]
[--exit-when-done]`` calls ``run``. The paths are photos, folders or both: a file manager's
"Open with" passes the chosen photos (the menu entry runs ``captioner gui %F``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import cast

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from desktop import settings as settings_store
from desktop.gui.main_window import MainWindow
from desktop.gui.scripted import ScriptedRun

WINDOW_SIZE = (1280, 800)


def application(argv: Sequence[str] | None = None) -> QApplication:
    """The process's QApplication (created once)."""
    app = cast("QApplication | None", QApplication.instance())
    if app is None:
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setApplicationName("captioner")
    app.setApplicationDisplayName("Captioner")
    app.setDesktopFileName("captioner")
    return app


def open_window(
    paths: Sequence[str | os.PathLike[str]] = (),
    *,
    model_dir: str | os.PathLike[str] | None = None,
    screenshot: str | os.PathLike[str] | None = None,
    exit_when_done: bool = False,
) -> MainWindow:
    """Show the main window; once the event loop runs it opens ``paths`` (photos and folders,
    in the order given; folders are listed, each photo is taken once).

    ``model_dir`` overrides the model folder of the settings for this session only.
    ``screenshot``: once every caption is done, save the window to this PNG. With
    ``exit_when_done`` the app quits then (see ``run``).
    """
    return _open(paths, model_dir, screenshot, exit_when_done)[0]


def _open(
    paths: Sequence[str | os.PathLike[str]],
    model_dir: str | os.PathLike[str] | None,
    screenshot: str | os.PathLike[str] | None,
    exit_when_done: bool,
) -> tuple[MainWindow, ScriptedRun | None]:
    application()
    settings, problems = settings_store.load_with_problems()
    window = MainWindow(
        settings,
        settings_problems=problems,
        model_dir_override=os.fspath(model_dir) if model_dir else None,
    )
    scripted = None
    if screenshot or exit_when_done:
        scripted = ScriptedRun(window, screenshot=screenshot, exit_when_done=exit_when_done)
    window.resize(*WINDOW_SIZE)
    window.show()
    opened = [os.fspath(p) for p in paths]
    if opened:
        QTimer.singleShot(0, lambda: window.open_paths(opened))
    elif scripted is not None:
        QTimer.singleShot(0, window.tell_if_idle)
    return window, scripted


def run(
    paths: Sequence[str | os.PathLike[str]] = (),
    *,
    model_dir: str | os.PathLike[str] | None = None,
    screenshot: str | os.PathLike[str] | None = None,
    exit_when_done: bool = False,
) -> int:
    """Open the window on ``paths`` (see ``open_window``) and return the process exit code:
    with ``exit_when_done``, 0 if every photo was captioned, 1 if some could not be, 2 if the
    model could not be used or the screenshot not saved (gui/scripted.py)."""
    app = application()
    _window, scripted = _open(paths, model_dir, screenshot, exit_when_done)
    code = app.exec()
    return scripted.exit_code if exit_when_done and scripted is not None else int(code)


def main() -> int:
    """``python -m desktop.gui.app [PATH ...]`` without the CLI."""
    return run(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
