"""The window and the caption library (desktop/gui/library_link.py, desktop/gui/search.py):
edits stored at once, reopening shows stored captions without a model run, Ctrl+F finds
photos. Real model, real SQLite, Qt's offscreen platform."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

os.environ["QT_QPA_PLATFORM"] = "offscreen"

try:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QAccessible
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication
except ImportError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"PySide6 cannot be loaded here: {exc}", allow_module_level=True)

import test_gui

from desktop.gui.library_link import StoredResult
from desktop.gui.photo_model import Status
from desktop.library import Library, library_path

# The window fixtures of test_gui.py (a real engine that makes no noise, the shared model).
qapp, make_window, pump_until = test_gui.qapp, test_gui.make_window, test_gui.pump_until


@pytest.fixture(autouse=True)
def private_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAPTIONER_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture()
def folder(tmp_path: Path, samples: list[Path]) -> Path:
    d = tmp_path / "photos"
    d.mkdir()
    for photo in samples:
        shutil.copy(photo, d / photo.name)
    return d


def open_and_wait(window, folder: Path) -> None:
    window.open_folder(folder)
    assert pump_until(lambda: not window.is_busy()), "captioning did not finish"


def test_edits_are_stored_at_once_and_reopening_runs_no_model(make_window, folder):
    window = make_window()
    open_and_wait(window, folder)
    first, second = window.model.records[0].path, window.model.records[1].path
    with Library() as lib:  # a second connection, as another process would see it
        assert lib.get(first).caption == window.model.records[0].caption
    window.select_row(0)
    window.inspector.caption.setPlainText("My own words about this photo")
    window.select_row(1)
    window.inspector.reviewed.setChecked(True)
    with Library() as lib:
        assert lib.get(first).user_caption == "My own words about this photo"
        assert lib.get(first).reviewed and lib.get(second).reviewed
    window.close()

    again = make_window()
    started = []
    again.captioning_started.connect(started.append)
    begin = time.perf_counter()
    again.open_folder(folder)
    elapsed = time.perf_counter() - begin
    records = again.model.records
    assert all(r.status is Status.DONE for r in records), [r.status for r in records]
    assert not again.is_busy() and started == []  # nothing left for the model
    assert records[0].caption == "My own words about this photo" and records[0].edited
    assert records[1].reviewed and isinstance(records[1].result, StoredResult)
    iface = QAccessible.queryAccessibleInterface(again.list)
    assert iface.child(0).text(QAccessible.Text.Description).startswith("My own words")
    print(f"\nreopened {len(records)} photos in {elapsed * 1000:.1f} ms")


def test_captions_restored_from_the_library_export(make_window, folder, tmp_path):
    # A StoredResult once lacked the text fields the export reads: Ctrl+E raised.
    window = make_window()
    open_and_wait(window, folder)
    window.close()
    again = make_window()
    again.open_folder(folder)
    assert all(isinstance(r.result, StoredResult) for r in again.model.records)
    out = tmp_path / "restored.csv"
    assert again.export_to(out)
    text = out.read_text(encoding="utf-8")
    assert all(r.caption in text for r in again.model.records)


def test_only_new_changed_or_other_model_photos_are_captioned(make_window, folder, samples):
    window = make_window()
    open_and_wait(window, folder)
    names = [r.path.name for r in window.model.records]
    window.select_row(0)
    window.inspector.caption.setPlainText("Never replaced")
    window.close()
    with sqlite3.connect(library_path()) as db:  # as if an older model captioned them all
        db.execute("UPDATE photos SET bundle = 'another model'")
    # A new photo (a copy would be known by its content and keep that photo's caption).
    (folder / "zz-new.jpg").write_bytes(samples[0].read_bytes() + b"new")

    again = make_window()
    workers = []
    again.captioning_started.connect(workers.append)
    open_and_wait(again, folder)
    (worker,) = workers
    captioned = {p.name for p in worker._paths}
    assert captioned == set(names[1:]) | {"zz-new.jpg"}  # not the one the user wrote
    assert again.model.records[0].caption == "Never replaced"
    with Library() as lib:
        assert lib.get(folder / "zz-new.jpg").caption  # stored as it arrived


def test_ctrl_f_finds_photos_by_their_words_and_shows_them(make_window, folder, qapp):
    window = make_window()
    open_and_wait(window, folder)
    window.select_row(1)
    window.inspector.caption.setPlainText("Grandmother's zeppelin collection")
    window.select_row(0)
    QTest.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert pump_until(lambda: window.search_dialog() is not None)
    dialog = window.search_dialog()
    assert pump_until(lambda: dialog.isVisible() and dialog.field.hasFocus())
    assert dialog.field.accessibleName() == "Words to find"
    QTest.keyClicks(dialog.field, "zeppelin")
    assert pump_until(lambda: dialog.results.count() == 1)
    item = dialog.results.item(0)
    assert item.text() == window.model.records[1].name
    assert item.data(Qt.ItemDataRole.AccessibleDescriptionRole).startswith("Grandmother")
    assert "1 photo found" in dialog.summary.text()
    QTest.keyClick(dialog.field, Qt.Key.Key_Down)
    assert dialog.results.hasFocus() and dialog.results.currentRow() == 0
    QTest.keyClick(dialog.results, Qt.Key.Key_Return)
    assert pump_until(lambda: not dialog.isVisible())
    assert window.current_row() == 1
    dialog.field.setText("nothingmatchesthis")
    assert dialog.run_search() == 0 and "No photos found" in dialog.summary.text()


def test_reopening_1000_photos(make_window, tmp_path, samples, captioner):
    """The time goes to docs/gui.md (not a timed assertion: the machine is shared)."""
    big = tmp_path / "many"
    big.mkdir()
    data = samples[0].read_bytes()
    with Library() as lib:
        for i in range(1000):
            p = big / f"{i:04d}.jpg"
            p.write_bytes(data + i.to_bytes(4, "big"))  # 1,000 different files
            lib.record(p, bundle=captioner.bundle.id, caption=f"Photo number {i}.", score=-1.0)
    window = make_window()
    started = []
    window.captioning_started.connect(started.append)
    begin = time.perf_counter()
    window.open_folder(big)
    QApplication.processEvents()
    elapsed = time.perf_counter() - begin
    assert started == [] and window.model.count(Status.DONE) == 1000
    print(f"\nreopened 1,000 captioned photos in {elapsed * 1000:.0f} ms (no model run)")


def test_a_corrupt_library_is_reported_in_the_window_and_work_goes_on(make_window, folder):
    path = library_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a library " * 300)
    window = make_window()
    open_and_wait(window, folder)
    assert window.message_bar.isVisible()
    assert "moved aside" in window.message_bar.text.text()
    assert all(r.status is Status.DONE for r in window.model.records)
    with Library() as lib:
        assert lib.count() == len(window.model.records)  # the new library has them


def test_a_failing_store_is_reported_once_not_per_keystroke(make_window, folder, monkeypatch):
    from desktop.library import LibraryFull

    window = make_window()
    open_and_wait(window, folder)
    said = []
    monkeypatch.setattr(window, "report", lambda text, **_: said.append(text))

    def full(*_args, **_kw):
        raise LibraryFull("the disk holding the caption library is full")

    monkeypatch.setattr(Library, "set_user_caption", full)
    window.select_row(0)
    for text in ("M", "My", "My w", "My words"):
        window.inspector.caption.setPlainText(text)
    assert len(said) == 1 and "not being saved" in said[0] and "full" in said[0]
    assert window.model.records[0].caption == "My words"  # shown and exported all the same
