"""F1: every keyboard shortcut, from the one table of the window's actions (actions.py), so
the help can never drift from what the keys do.

F1 shows the table as a list, one shortcut a row ("F9: Caption again, …"): a screen reader
reads a list line by line with the arrows, where a message box's rich text was one block.
"""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.gui.actions import ACTIONS, ActionSpec


def written_keys(shortcut: ActionSpec) -> str:
    """ "F5 or Ctrl+R", as the platform writes them."""
    if shortcut.written:
        return shortcut.written
    names: list[str] = []
    for key in shortcut.keys:
        bindings = (
            QKeySequence.keyBindings(key)
            if isinstance(key, QKeySequence.StandardKey)
            else [QKeySequence(key)]
        )
        text = bindings[0].toString(QKeySequence.SequenceFormat.NativeText) if bindings else ""
        if text and text not in names:
            names.append(text)
    return " or ".join(names)


def help_lines() -> list[str]:
    return [f"{written_keys(s)}: {s.help}" for s in ACTIONS.values() if written_keys(s)]


class ShortcutsDialog(QDialog):
    """F1: the table as a list a screen reader reads line by line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.setMinimumSize(560, 460)
        layout = QVBoxLayout(self)
        label = QLabel("&Shortcuts (up and down arrows read them one by one):", self)
        layout.addWidget(label)
        self.list = QListWidget(self)
        self.list.setAccessibleName("Keyboard shortcuts")
        self.list.addItems(help_lines())
        self.list.setCurrentRow(0)
        label.setBuddy(self.list)
        layout.addWidget(self.list, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.list.setFocus()
