"""Ctrl+F: find photos in the caption library by the words of their captions, the user's own
text and the objects seen (SQLite FTS5, desktop/library.py).

Built for the keyboard and screen readers first: the field has a label and an accessible
name; Down moves from the field into the results; each result reads as the photo list
does (the file name, then the caption as its description); the number found is announced
once typing pauses; Enter opens the photo (its folder is opened if it is not the one
shown) and Esc closes. Kept out of main_window.py: the window only calls
``install_search``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.gui.actions import ACTIONS, key_sequences
from desktop.library import LibraryError
from desktop.walk import display_path

# Long enough not to search (and announce) on every key of a word being typed.
TYPING_PAUSE_MS = 250
PathRole = Qt.ItemDataRole.UserRole + 1


class _Field(QLineEdit):
    """The search field: Down (or Page Down) goes to the results, as in a browser's."""

    def __init__(self, results: QListWidget, parent: QWidget) -> None:
        super().__init__(parent)
        self._results = results

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_PageDown) and self._results.count():
            self._results.setFocus()
            if self._results.currentRow() < 0:
                self._results.setCurrentRow(0)
            return
        super().keyPressEvent(event)


class SearchDialog(QDialog):
    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self._window = window
        self.setWindowTitle("Find Photos")
        self.setAccessibleName("Find photos")
        self.results = QListWidget(self)
        self.results.setAccessibleName("Photos found")
        self.field = _Field(self.results, self)
        self.field.setAccessibleName("Words to find")
        self.field.setAccessibleDescription(
            "Every word must appear in the caption, your own text or the objects seen; "
            "press Down for the photos found"
        )
        self.field.setPlaceholderText("e.g. cat suitcase")
        self.field.setClearButtonEnabled(True)
        label = QLabel("&Find photos by their words:", self)
        label.setBuddy(self.field)
        self.summary = QLabel("", self)
        self.summary.setAccessibleName("Search result")
        buttons = QDialogButtonBox(self)
        self.open_button = buttons.addButton("&Show Photo", QDialogButtonBox.ButtonRole.AcceptRole)
        self.open_button.setEnabled(False)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        buttons.accepted.connect(self.show_selected)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(self.field)
        layout.addWidget(self.summary)
        layout.addWidget(self.results, 1)
        layout.addWidget(buttons)
        self.resize(560, 420)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(TYPING_PAUSE_MS)
        self._timer.timeout.connect(self.run_search)
        self.field.textChanged.connect(lambda _text: self._timer.start())
        self.field.returnPressed.connect(self._enter_in_field)
        self.results.itemActivated.connect(lambda _item: self.show_selected())
        self.results.currentRowChanged.connect(lambda row: self.open_button.setEnabled(row >= 0))

    def _enter_in_field(self) -> None:
        self._timer.stop()
        self.run_search()
        if self.results.count() == 1:
            self.results.setCurrentRow(0)
            self.show_selected()
        elif self.results.count():
            self.results.setFocus()
            self.results.setCurrentRow(0)

    def run_search(self) -> int:
        """Search for the field's words now; returns how many photos were found."""
        self._timer.stop()
        words = self.field.text().strip()
        self.results.clear()
        if not words:
            self._say("", announce=False)
            return 0
        library = self._window.library.library
        try:
            hits = library.search(words) if library is not None else []
        except LibraryError as e:
            self._say(f"Cannot search: {e}")
            return 0
        for entry in hits:
            path = Path(entry.file or entry.path)
            item = QListWidgetItem(display_path(path.name), self.results)
            caption = entry.text or ""
            item.setData(Qt.ItemDataRole.AccessibleDescriptionRole, caption)
            item.setToolTip(f"{entry.path}\n{caption}")
            item.setData(PathRole, str(path))
        count = len(hits)
        if count == 0:
            self._say(f"No photos found for \u201c{words}\u201d")
        else:
            more = " (the best matches)" if count >= 200 else ""
            self._say(f"{count} photo{'' if count == 1 else 's'} found{more}")
        return count

    def _say(self, text: str, *, announce: bool = True) -> None:
        self.summary.setText(text)
        if announce and text:
            self._window.announce(text)

    def show_selected(self) -> None:
        item = self.results.currentItem()
        if item is None:
            return
        if reveal(self._window, Path(item.data(PathRole))):
            self.accept()
        else:
            self._say(f"{item.text()} is no longer where it was captioned")


def reveal(window: Any, path: Path) -> bool:
    """Select ``path`` in the window's list, opening its folder first if it is not shown."""
    row = window.model.row_of(path)
    if row is None:
        if not path.exists():
            return False
        window.open_paths([path.parent])
        row = window.model.row_of(path)
    if row is None:
        return False
    window.select_row(row)
    window.list.setFocus()
    return True


def install_search(window: Any) -> QAction:
    """Add *Edit → Find Photos… (Ctrl+F)* to ``window``; the dialog is made on first use."""
    action = QAction("&Find Photos\u2026", window)
    action.setShortcuts(key_sequences("find"))  # the one table F1 lists (actions.py)
    action.setStatusTip(ACTIONS["find"].help)
    action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    holder: dict[str, SearchDialog] = {}

    def open_dialog() -> None:
        dialog = holder.get("dialog")
        if dialog is None:
            dialog = holder["dialog"] = SearchDialog(window)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        dialog.field.setFocus()
        dialog.field.selectAll()

    action.triggered.connect(open_dialog)
    window.addAction(action)
    for menu_action in window.menuBar().actions():
        if menu_action.menu() is not None and menu_action.text().replace("&", "") == "Edit":
            menu_action.menu().addAction(action)
            break
    window.search_dialog = lambda: holder.get("dialog")
    window.acts["find"] = action  # beside the actions of the table (actions.py)
    return action
