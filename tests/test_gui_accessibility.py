"""What a screen reader gets from the window, through Qt's accessibility interface (issue 10):
the tree in screen order, the status line as a notification, what is said when a caption
arrives or Alt+Down moves on, the status on demand, word buttons that say where the model
looked, mnemonics that do not collide, F10, and automatic reading that steps aside for a
screen reader. tests/test_gui_atspi.py checks the same on the real AT-SPI bus."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QWidget

from desktop.gui import heatmap
from desktop.gui import main_window as main_window_module
from desktop.gui.main_window import MainWindow
from desktop.settings import Settings
from tests import test_gui as gui

# The GUI tests' fixtures and helpers.
qapp, private_config, make_window, photo_folder = (
    gui.qapp, gui.private_config, gui.make_window, gui.photo_folder)
open_and_wait, pump_until = gui.open_and_wait, gui.pump_until


def record_announcements(window: MainWindow) -> list[str]:
    said: list[str] = []
    window.announcer.announced.connect(said.append)
    return said


def focus_and_wait(window: MainWindow, widget: QWidget) -> None:
    window.activateWindow()
    assert QTest.qWaitForWindowActive(window)
    widget.setFocus()
    assert pump_until(widget.hasFocus)


def tree_order(iface, names: list[str]) -> None:
    """Depth-first names of the accessible tree, as a screen reader's review walks it."""
    for i in range(iface.childCount()):
        child = iface.child(i)
        if child is None:
            continue
        name = child.text(QAccessible.Text.Name)
        if name:
            names.append(name)
        if child.role() not in (QAccessible.Role.List, QAccessible.Role.MenuBar):
            tree_order(child, names)


def test_tree_and_tab_order_follow_the_screen(make_window, photo_folder: Path) -> None:
    window = make_window()
    open_and_wait(window, photo_folder)
    window.report("Something to dismiss")
    names: list[str] = []
    tree_order(QAccessible.queryAccessibleInterface(window), names)
    order = [names.index(n) for n in ("Dismiss message", "Photos", "Photo preview",
                                      "Words of the caption", "Caption")]
    assert order == sorted(order), names
    # Tab order: Dismiss (top of the window), the list, the photo, ..., the caption.
    chain, widget = [], window.message_bar.close_button
    for _ in range(12):
        chain.append(widget)
        widget = widget.nextInFocusChain()
        while not (widget.focusPolicy() & Qt.FocusPolicy.TabFocus and widget.isVisible()):
            widget = widget.nextInFocusChain()
    assert chain.index(window.list) < chain.index(window.inspector.view) < chain.index(
        window.inspector.caption)
    assert chain[0] is window.message_bar.close_button and chain[1] is window.list


def test_status_line_is_a_notification_with_every_announcement(
        make_window, photo_folder: Path) -> None:
    window = make_window()
    said = record_announcements(window)
    open_and_wait(window, photo_folder)
    assert said[0] == "4 photos. Captioning 4 photos."
    assert said[-1] == "Done: 4 captioned"
    iface = QAccessible.queryAccessibleInterface(window.status_notice)
    assert iface.role() == QAccessible.Role.Notification  # what Orca speaks when shown
    # (Texts within a moment of each other are said as one line.)
    assert iface.text(QAccessible.Text.Name).endswith("Done: 4 captioned")
    # The progress bar is out of the status bar (Orca ignores progress bars in one).
    parent = window.progress.parentWidget()
    while parent is not None:
        assert parent is not window.statusBar()
        parent = parent.parentWidget()


def test_announcements_close_together_are_said_as_one(make_window) -> None:
    window = make_window()
    notice, announcer = window.status_notice, window.announcer
    announcer.say("rocket.jpg: A rocket.")
    announcer.say("Done: 4 captioned")
    # Orca reads the line when it gets to the event: the first must still be in it.
    assert notice.text() == "rocket.jpg: A rocket. Done: 4 captioned"
    assert announcer.last == "Done: 4 captioned"  # what F8 says again
    announcer.flush()
    announcer.say("Caption copied")
    assert notice.text() == "Caption copied"
    announcer.say("Caption copied")  # not "Caption copied Caption copied"
    assert notice.text() == "Caption copied"


def test_f8_says_the_status(make_window, photo_folder: Path) -> None:
    window = make_window()
    said = record_announcements(window)
    open_and_wait(window, photo_folder)
    focus_and_wait(window, window.list)
    QTest.keyClick(window.list, Qt.Key.Key_F8)
    assert said[-1] == "Done: 4 captioned"
    window.caption_again()
    assert window.is_busy()
    QTest.keyClick(window.list, Qt.Key.Key_F8)
    assert re.fullmatch(r"Captioning: \d of 4 photos done", said[-1]), said[-1]
    assert pump_until(lambda: not window.is_busy())


def test_a_caption_arriving_for_the_focused_photo_is_told(make_window,
                                                         photo_folder: Path) -> None:
    window = make_window()
    focus_and_wait(window, window.list)
    told: list[int] = []
    window.photo_told.connect(told.append)
    said = record_announcements(window)
    open_and_wait(window, photo_folder)
    # The list has the focus: its current item's description (the caption) changed.
    assert pump_until(lambda: told == [0]), told  # sent once the window settles
    assert window.model.index(0).data(Qt.ItemDataRole.AccessibleDescriptionRole) == \
        window.model.record(0).spoken  # the caption, then what the detector sees
    # With the focus in the caption field, the caption is announced instead.
    focus_and_wait(window, window.inspector.caption)
    said.clear()
    window.caption_again()
    assert pump_until(lambda: not window.is_busy())
    assert window.model.record(0).announcement in said


def test_alt_down_from_the_caption_field_says_the_new_photo(make_window,
                                                            photo_folder: Path) -> None:
    window = make_window()
    open_and_wait(window, photo_folder)
    caption = window.inspector.caption
    focus_and_wait(window, caption)
    said = record_announcements(window)
    QTest.keyClick(caption, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert window.current_row() == 1
    record = window.model.record(1)
    assert said == [record.announcement]
    assert record.announcement == f"{record.name}: {record.spoken}"  # as the list reads it
    assert caption.hasFocus() and window.menuBar().activeAction() is None
    QTest.keyClick(caption, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert said[-1] == window.model.record(0).announcement
    # From the list, the screen reader follows the focus: nothing extra is said.
    focus_and_wait(window, window.list)
    said.clear()
    QTest.keyClick(window.list, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert window.current_row() == 1 and said == []


def test_word_buttons_say_where_the_model_looked(make_window, photo_folder: Path) -> None:
    window = make_window()
    open_and_wait(window, photo_folder)
    result = window.model.record(0).result
    buttons = window.inspector.words.buttons()
    assert len(buttons) == len(result.words) + 1  # "Photo" and one per word
    for i, (button, word) in enumerate(zip(buttons[1:], result.words, strict=True)):
        iface = QAccessible.queryAccessibleInterface(button)
        assert iface.text(QAccessible.Text.Name) == word
        place = heatmap.describe_focus(result.attention[i])
        assert iface.text(QAccessible.Text.Description) == (
            f"Word {i + 1} of {len(result.words)}, '{word}': the model looked {place}")
    # A photo with a shorter caption reuses the buttons and hides the rest.
    shortest = min(range(4), key=lambda r: len(window.model.record(r).result.words))
    window.select_row(shortest)
    words = window.model.record(shortest).result.words
    assert [b.text() for b in window.inspector.words.buttons()] == ["Photo", *words]
    assert all(b.isVisible() for b in window.inspector.words.buttons())
    # On a narrow window the buttons wrap onto more lines; none is cut off.
    longest = max(range(4), key=lambda r: len(window.model.record(r).result.words))
    window.select_row(longest)
    window.resize(760, 780)
    QApplication.processEvents()
    strip = window.inspector.words
    buttons = strip.buttons()
    assert len({b.y() for b in buttons}) > 1  # more than one line
    for button in buttons:
        assert strip.rect().contains(button.geometry()), button.text()
        assert button.visibleRegion().boundingRect().size() == button.size(), button.text()


def test_mnemonics_do_not_collide_and_f10_opens_the_menu_bar(make_window) -> None:
    window = make_window()
    keys: dict[str, list[str]] = {}
    labels = [a.text() for a in window.menuBar().actions()]
    for widget in window.findChildren(QWidget):
        if isinstance(widget, QAbstractButton | QLabel) and widget.window() is window:
            labels.append(widget.text())
    for label in labels:
        match = re.search(r"&([^&])", label)
        if match:
            keys.setdefault(match.group(1).lower(), []).append(label)
    collisions = {k: v for k, v in keys.items() if len(v) > 1}
    assert collisions == {}
    focus_and_wait(window, window.list)
    QTest.keyClick(window.list, Qt.Key.Key_F10)
    assert pump_until(lambda: window.menuBar().activeAction() is not None)
    assert window.menuBar().activeAction().text() == "&File"
    menu = window.menuBar().activeAction().menu()
    menu.close()
    QApplication.processEvents()


def test_automatic_reading_defers_to_a_running_screen_reader(
        make_window, photo_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    window = make_window(Settings(auto_read="selection"))
    if not window.speech.available:
        pytest.skip("no speech engine here (espeak-ng missing and no Qt engine)")
    open_and_wait(window, photo_folder)
    spoken: list[str] = []
    window.speech.started.connect(spoken.append)
    monkeypatch.setattr(main_window_module, "screen_reader_running", lambda: True)
    window.select_row(1)
    assert spoken == []  # the screen reader reads the newly focused photo itself
    window.apply_settings(window.settings.replace(auto_read_with_screen_reader=True))
    window.select_row(2)
    assert spoken == [window.model.record(2).spoken]
    window.speech.stop()
