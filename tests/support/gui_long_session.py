"""A long session with the real window, run as its own process by test_gui_long_session.py.

A fatal error in the Qt binding (PySide6 6.12.0 on Python 3.11 drops a reference to ``None``
on every Qt call that returns nothing, until ``none_dealloc`` aborts the process) would kill
pytest itself, so the session runs here and the test only reads the exit code and the JSON
this prints last.

    python tests/support/gui_long_session.py FOLDER MODEL_DIR [--steps N] [--loads N] [--settings N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from desktop.captioner import Captioner  # noqa: E402
from desktop.gui.main_window import MainWindow  # noqa: E402
from desktop.gui.photo_model import Status  # noqa: E402
from desktop.settings import Settings  # noqa: E402
from desktop.speech import Speech  # noqa: E402
from tests.test_gui import pump_until  # noqa: E402

DEADLINE_S = 300.0  # bounds a hang only


def none_refs_lost_by_void_calls(calls: int) -> int:
    """How many references to None ``calls`` void Qt calls dropped (0 on a sound binding)."""
    label = QLabel()
    before = sys.getrefcount(None)
    for i in range(calls):
        label.setText("a" if i % 2 else "b")  # returns nothing: the call the bug hits
    return before - sys.getrefcount(None)


def open_settings_and(window: MainWindow, accept: bool) -> None:
    """Open Settings (modal, as Ctrl+, does) and close it from the event loop."""
    def close() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is not None:
            dialog.accept() if accept else dialog.reject()
    QTimer.singleShot(0, close)
    window.acts["settings"].trigger()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("model")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--settings", type=int, default=20)
    args = parser.parse_args()

    app = QApplication.instance() or QApplication([])
    refs_lost = none_refs_lost_by_void_calls(5_000)
    # Beam width 1: the session is about the window, not the captions; it halves the CPU.
    window = MainWindow(Settings(beam_width=1), speech=Speech(engine="none"),
                        captioner=Captioner.load(args.model), save_settings=False)
    window.resize(1200, 780)
    window.show()
    window.activateWindow()
    QTest.qWaitForWindowActive(window)

    keys = 0
    settings_opened = 0
    for load in range(args.loads):
        window.open_folder(args.folder)
        window.list.setFocus()
        # Arrow through the list while the model and the thumbnails are still at work...
        for i in range(min(200, args.steps)):
            QTest.keyClick(window.list, Qt.Key.Key_Down if (i // 50) % 2 == 0 else Qt.Key.Key_Up)
            keys += 1
            if i % 20 == 0:
                QApplication.processEvents()
        open_settings_and(window, accept=load % 2 == 1)
        settings_opened += 1
        if load < args.loads - 1:
            continue  # the next load cancels this run halfway, as a user opening another folder
        if not pump_until(lambda: not window.is_busy(), DEADLINE_S):
            print("captioning did not finish", file=sys.stderr)
            return 3

    # ...and then the long review: the list, the photo's words and the caption field in turn.
    rows = window.model.rowCount()
    window.select_row(0)
    window.list.setFocus()
    step = 0
    per_settings = max(1, args.steps // max(1, args.settings))
    while step < args.steps:
        down = (step // (rows - 1)) % 2 == 0
        QTest.keyClick(window.list, Qt.Key.Key_Down if down else Qt.Key.Key_Up)
        step += 1
        keys += 1
        if step % 97 == 0:
            view = window.inspector.view
            view.setFocus()
            for key in (Qt.Key.Key_Right, Qt.Key.Key_Right, Qt.Key.Key_End, Qt.Key.Key_Home):
                QTest.keyClick(view, key)
                keys += 1
            caption = window.inspector.caption
            caption.setFocus()
            QTest.keyClick(caption, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
            QTest.keyClick(caption, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
            keys += 2
            window.list.setFocus()
        if step % per_settings == 0 and settings_opened < args.settings + args.loads:
            open_settings_and(window, accept=step % 2 == 0)
            settings_opened += 1
        if step % 25 == 0:
            QApplication.processEvents()

    records = window.model.records
    state = {
        "rows": len(records),
        "done": sum(r.status is Status.DONE for r in records),
        "captioned": sum(bool(r.caption) for r in records),
        "current_row": window.current_row(),
        "inspector_title": window.inspector.title.text(),
        "current_name": records[window.current_row() or 0].name if records else None,
        "keys": keys,
        "settings_opened": settings_opened,
        "none_refs_lost": refs_lost,
    }
    window.close()
    app.processEvents()
    print(json.dumps(state))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
