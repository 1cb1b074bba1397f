"""Screen-reader round 2 (issue 22), through Qt's accessibility interface, headless: what a
screen reader is given for menus, choices, the caption's state, the launch, confirmations,
and the lesser findings. tests/test_gui_atspi.py checks the menus on the real AT-SPI bus,
tests/test_speech.py that the app's speech never cancels the screen reader's."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QStatusTipEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QComboBox, QFileDialog

from desktop.gui import actions, main_window, shortcuts
from desktop.gui.photo_model import PhotoListModel, Status
from desktop.gui.settings_dialog import SettingsDialog
from desktop.gui.thumbnails import ThumbnailLoader
from desktop.settings import Settings
from desktop.speech import Voice
from desktop.walk import Found
from tests import test_gui as gui
from tests.test_gui_accessibility import focus_and_wait, record_announcements

qapp, private_config, make_window, photo_folder = (
    gui.qapp, gui.private_config, gui.make_window, gui.photo_folder)
open_and_wait, pump_until = gui.open_and_wait, gui.pump_until


# -- 1: menus -----------------------------------------------------------------------------------
def test_menu_status_tips_leave_the_status_line_alone(make_window) -> None:
    """Hovering a menu item put its status tip in the status bar, which hid the status line;
    shown again, it re-announced "Settings saved." with the Edit menu open."""
    window = make_window()
    window.announce("Settings saved")
    window.announcer.flush()
    QApplication.sendEvent(window, QStatusTipEvent("Copy the caption to the clipboard"))
    QApplication.processEvents()
    assert window.statusBar().currentMessage() == ""
    assert window.status_notice.isVisible()
    assert window.status_notice.text() == "Settings saved"


# -- 2: choices -----------------------------------------------------------------------------------
def test_settings_choices_say_their_value(make_window) -> None:
    window = make_window()
    voices = [Voice("English (America)", "English (America) (en-US)"),
              Voice("German", "German (de)")]
    dialog = SettingsDialog(Settings(), voices, default_model="models/default",
                            speech_backend="speech-dispatcher", parent=window)
    assert dialog.voice.accessibleDescription() == "A voice of speech-dispatcher."
    dialog.voice.setCurrentIndex(2)  # what the arrows do on a closed combo box
    assert dialog.voice.accessibleDescription().startswith("German (de).")
    dialog.auto_read.setCurrentIndex(2)
    assert dialog.auto_read.accessibleDescription() == "As each caption arrives."
    dialog.accelerator.setCurrentIndex(dialog.accelerator.count() - 1)
    assert dialog.accelerator.accessibleDescription().startswith("Delegate library")
    # A check box's help is true in both states ("Off: …" was read while it was on).
    assert not dialog.with_screen_reader.accessibleDescription().startswith(("Off", "On"))
    dialog.deleteLater()


def test_export_file_type_says_its_value(make_window, photo_folder: Path,
                                         monkeypatch) -> None:
    window = make_window()
    open_and_wait(window, photo_folder)
    seen: list[str] = []

    def look(dialog: QFileDialog) -> int:
        combo = dialog.findChild(QComboBox, "fileTypeCombo")
        assert combo is not None, "Qt's own file dialog (offscreen) has a file-type box"
        combo.setCurrentIndex(1)
        seen.append(combo.accessibleDescription())
        return QFileDialog.DialogCode.Rejected

    monkeypatch.setattr(QFileDialog, "exec", look)
    window.export_dialog()
    assert seen == ["JSON (*.json)."]


# -- 3 and 4: the caption's state ------------------------------------------------------------------
def test_unsure_edited_and_reviewed_are_said(make_window, photo_folder: Path) -> None:
    window = make_window()
    open_and_wait(window, photo_folder)
    record = window.model.record(1)
    window.model.set_result(1, dataclasses.replace(record.result, unsure=True))
    window.select_row(1)
    caption = window.inspector.caption
    # Ctrl+3 on an unsure photo: the field says so, not only the list.
    assert caption.accessibleDescription().startswith("Not sure:")
    assert window.model.record(1).description.startswith("Not sure: ")
    # Edited: the list item, the announcement and the field say it is the user's.
    window.select_row(0)
    caption.setPlainText("An astronaut in an orange suit.")
    edited = window.model.record(0)
    assert edited.description.endswith("Edited by you, reviewed.")
    assert caption.accessibleDescription().startswith("Edited by you, reviewed.")
    assert gui.accessible_items(window)[0][1] == edited.description
    focus_and_wait(window, caption)
    window.select_row(1)
    said = record_announcements(window)
    before = caption.accessibleDescription()
    window.move_and_tell(-1)  # Alt+Up onto the edited photo, from the caption field
    assert said == [f"{edited.name}: {edited.description}"]
    # Said once: the field's own description follows only once the focus leaves it.
    assert caption.accessibleDescription() == before
    focus_and_wait(window, window.list)
    assert caption.accessibleDescription().startswith("Edited by you, reviewed.")
    # Reviewed by ticking: said too; the box's help matches its state.
    window.select_row(2)
    box = window.inspector.reviewed
    box.setChecked(True)
    assert window.model.record(2).description.endswith(" Reviewed.")
    assert box.accessibleDescription().startswith("Ticked means")


# -- 5: the launch --------------------------------------------------------------------------------
def test_launch_speech_reads_no_brackets_or_paths(make_window, photo_folder: Path) -> None:
    window = make_window(share_captioner=False)  # the model loads, as at launch
    said = record_announcements(window)
    open_and_wait(window, photo_folder)
    assert said[0] == "4 photos. Captioning 4 photos."
    assert not any(c in text for text in said for c in "()/"), said
    # "Loading…" only while it is still true (a slow load on a busy machine says it): after
    # the captions it was stale.
    loading = [i for i, text in enumerate(said) if text.startswith("Loading")]
    done = [i for i, text in enumerate(said) if text.startswith("Done")]
    assert done and all(i < done[0] for i in loading), said


def test_a_caption_the_screen_reader_has_read_is_not_told_again(make_window,
                                                                photo_folder: Path) -> None:
    """At launch Orca read the focused photo once its caption was there ("astronaut.jpg. A
    man in a red shirt…"), then heard the same caption again as the item's change."""
    window = make_window()
    focus_and_wait(window, window.list)
    open_and_wait(window, photo_folder)
    told: list[int] = []
    window.photo_told.connect(told.append)
    # The launch: a photo just focused, its caption arrives, and the screen reader, still
    # behind, fetches the item's text (with the caption) after that.
    window.select_row(1)
    window._tell_current_photo()  # the caption arrives
    window.model.index(1).data(Qt.ItemDataRole.AccessibleDescriptionRole)  # Orca reads
    pump_until(lambda: False, main_window.FOCUS_SETTLE_S + 0.5)
    assert told == []
    # New text it has not fetched: told (at once, the focus being old by now).
    window.model.set_reviewed(1, True)
    window._tell_current_photo()
    QApplication.processEvents()
    window.announcer.flush()
    assert told == [1]


def test_many_rows_change_in_one_event(qapp, tmp_path: Path, samples: list[Path]) -> None:
    """One dataChanged is one accessibility event: 150 of them flooded Orca, which dropped
    the "Captioning 150 photos" line (a queue over 50 is pruned)."""
    model = PhotoListModel()
    model.set_photos([Found(path=str(tmp_path / f"{i}.jpg")) for i in range(150)])
    changes: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda top, bottom, *_: changes.append((top.row(), bottom.row())))
    model.set_pending(range(150))
    assert changes == [(0, 149)]
    changes.clear()
    assert model.skip_pending("cancelled") == 150
    assert changes == [(0, 149)]
    changes.clear()
    model.set_thumbnails([(row, QImage(4, 4, QImage.Format.Format_RGB32)) for row in range(150)])
    assert changes == [(0, 149)]
    # The thumbnail thread hands them over in batches, not one signal per photo.
    folder = tmp_path / "many"
    folder.mkdir()
    paths = []
    for i in range(10):
        for photo in samples:
            paths.append(folder / f"{i}-{photo.name}")
            shutil.copy(photo, paths[-1])
    loader = ThumbnailLoader(paths)
    batches: list[int] = []
    loader.loaded.connect(lambda batch: batches.append(len(batch)))
    loader.start()
    assert pump_until(lambda: loader.isFinished() and sum(batches) == len(paths))
    assert len(batches) < len(paths) / 4, batches


def test_progress_is_reported_at_most_twice_a_second(make_window) -> None:
    """Two accessibility events per photo captioned (value, description) flooded Orca."""
    window = make_window()
    values: list[int] = []
    window.progress.valueChanged.connect(values.append)
    for done in range(1, 151):
        window._progress(done, 150)
    assert values == [1]
    assert window.status_text() == "Captioning: 150 of 150 photos done" or not window.is_busy()
    assert pump_until(lambda: values[-1] == 150, 5.0)
    assert values == [1, 150]
    assert window.progress.accessibleDescription() == "150 of 150 photos captioned"


# -- 6: confirmations -----------------------------------------------------------------------------
def test_confirmations_say_the_file_name(make_window, photo_folder: Path,
                                         tmp_path: Path) -> None:
    window = make_window()
    open_and_wait(window, photo_folder)
    out = tmp_path / "trial" / "captions.csv"
    out.parent.mkdir()
    assert window.export_to(out)
    assert window.announcer.last == "Exported 4 captions to captions.csv"


def test_confirmations_go_out_before_the_dialog_closes(make_window, photo_folder: Path,
                                                      tmp_path: Path, monkeypatch) -> None:
    """Sent after the dialog closed, a confirmation waited behind the screen reader's re-read
    of the window and the focused photo (~10 s: Orca queues, it does not interrupt)."""
    window = make_window()
    open_and_wait(window, photo_folder)
    window.announcer.flush()
    sent_while_open: list[bool] = []
    dialogs = []

    def close_with_ok(dialog) -> int:
        dialogs.append(dialog)
        dialog.show()
        window.announcer.sent.connect(lambda: sent_while_open.append(dialog.isVisible()))
        if isinstance(dialog, QFileDialog):
            dialog.selectFile(str(tmp_path / "trial.csv"))
        dialog.accept()
        return dialog.result()

    monkeypatch.setattr(QFileDialog, "exec", close_with_ok)
    window.export_dialog()
    assert (tmp_path / "trial.csv").is_file()
    assert window.announcer.last == "Exported 4 captions to trial.csv"
    assert sent_while_open[:1] == [True]
    window.announcer.sent.disconnect()
    sent_while_open.clear()
    monkeypatch.setattr(SettingsDialog, "exec", close_with_ok)
    window.open_settings()
    assert window.announcer.last == "Settings saved"
    assert sent_while_open[:1] == [True]


# -- 8: the lesser findings ------------------------------------------------------------------------
def test_alt_down_on_the_last_photo_says_so(make_window, photo_folder: Path) -> None:
    window = make_window()
    open_and_wait(window, photo_folder)
    focus_and_wait(window, window.list)
    window.select_row(3)
    said = record_announcements(window)
    window.move_and_tell(1)
    assert said == ["Last photo"]
    window.select_row(0)
    window.move_and_tell(-1)
    assert said[-1] == "First photo"


def test_word_buttons_are_buttons_not_check_boxes(make_window, photo_folder: Path) -> None:
    """As check boxes, Orca said "check box not checked" before every word."""
    from PySide6.QtGui import QAccessible

    window = make_window()
    open_and_wait(window, photo_folder)
    strip = window.inspector.words
    strip.select(2, focus=True)
    for i, button in enumerate(strip.buttons()):
        iface = QAccessible.queryAccessibleInterface(button)
        assert iface.role() == QAccessible.Role.Button, button.text()
        assert not iface.state().checkable and not iface.state().checked
        assert button.property("current") == (i == 3)  # drawn highlighted, as before
    assert strip.buttons()[3].hasFocus()


def test_f1_lists_every_shortcut_one_per_line(make_window, monkeypatch) -> None:
    window = make_window()
    shown: list[list[str]] = []

    def look(dialog: shortcuts.ShortcutsDialog) -> int:
        shown.append([dialog.list.item(i).text() for i in range(dialog.list.count())])
        return 0

    monkeypatch.setattr(shortcuts.ShortcutsDialog, "exec", look)
    focus_and_wait(window, window.list)
    QTest.keyClick(window.list, Qt.Key.Key_F1)
    assert pump_until(lambda: bool(shown))
    lines = shown[0]
    assert "F9: " + actions.ACTIONS["recaption"].help in lines
    assert any(line.startswith("F5 or Ctrl+R: ") for line in lines)
    # Every shortcut the window has is in the list (the actions take their keys from it).
    listed = " ".join(lines)
    for action in window.actions():
        for key in action.shortcuts():
            assert key.toString(key.SequenceFormat.NativeText) in listed, action.text()


def test_f9_after_a_cancel_captions_the_rest(make_window, tmp_path: Path,
                                            samples: list[Path]) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(3):
        for photo in samples:
            shutil.copy(photo, folder / f"{i}-{photo.name}")
    window = make_window()

    def cancel_on_first_result(worker) -> None:
        worker.result.connect(lambda *_: worker.cancel(), Qt.ConnectionType.DirectConnection)

    window.captioning_started.connect(cancel_on_first_result)
    open_and_wait(window, folder)
    window.captioning_started.disconnect(cancel_on_first_result)
    left = window.model.count(Status.SKIPPED)
    assert 0 < left < 3 * len(samples)
    said = record_announcements(window)
    window.caption_again()
    assert said[0] == f"Captioning {left} photos."
    assert pump_until(lambda: not window.is_busy())
    # Once all are done, F9 captions every photo not marked reviewed again.
    said.clear()
    window.caption_again()
    assert said[0] == f"Captioning {3 * len(samples)} photos."
    assert pump_until(lambda: not window.is_busy())
