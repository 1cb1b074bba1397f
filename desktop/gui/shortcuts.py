"""Every keyboard shortcut in one table: the window's actions take their keys from it and F1
lists it, so the help can never drift from what the keys do.

F1 shows the table as a list, one shortcut a row ("F9: Caption again, …"): a screen reader
reads a list line by line with the arrows, where a message box's rich text was one block.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QVBoxLayout,
    QWidget,
)

Key = str | QKeySequence.StandardKey


@dataclass(frozen=True)
class Shortcut:
    keys: tuple[Key, ...]  # what the action is bound to (empty: a key handled by a widget)
    help: str  # what F1 says it does
    written: str = ""  # how F1 writes the keys, where they are not one action's


SHORTCUTS: dict[str, Shortcut] = {
    "open": Shortcut(("Ctrl+O",), "Open a folder of photos"),
    "open_files": Shortcut(("Ctrl+Shift+O",), "Open photos"),
    "recaption": Shortcut(
        ("F9",),
        "Caption again: the photos not yet captioned, or after a "
        "change of settings every photo not marked reviewed",
    ),
    "cancel": Shortcut(("Esc",), "Cancel captioning (keeps the captions done so far)"),
    "export": Shortcut(("Ctrl+E",), "Export captions (CSV, JSON, text)"),
    "xmp": Shortcut(("Ctrl+Shift+X",), "Write XMP sidecars beside the photos"),
    "copy": Shortcut(("Ctrl+Shift+C",), "Copy the caption"),
    "speak": Shortcut(("F5", "Ctrl+R"), "Read the caption aloud"),
    "stop": Shortcut(("Shift+F5", "Ctrl+Shift+R"), "Stop reading"),
    "speak_text": Shortcut(("Ctrl+T",), "Read aloud all the text read in the photo"),
    "find": Shortcut(
        (QKeySequence.StandardKey.Find,),
        "Find photos by the words of their captions, your own text and their objects",
    ),
    "focus_list": Shortcut(("Ctrl+1",), "Go to the photo list"),
    "focus_photo": Shortcut(("Ctrl+2",), "Go to the photo"),
    "focus_caption": Shortcut(("Ctrl+3",), "Go to the caption"),
    "next": Shortcut(("Alt+Down",), "Next photo, from anywhere"),
    "previous": Shortcut(("Alt+Up",), "Previous photo, from anywhere"),
    "words": Shortcut(
        (),
        "Step through the words' heat maps; Home: the plain photo",
        written="Left / Right on the photo or the words",
    ),
    "status": Shortcut(("F8",), "Say the status again (progress, the last message)"),
    "menu_bar": Shortcut(("F10",), "Go to the menu bar"),
    "contrast": Shortcut(("Ctrl+Shift+H",), "High-contrast colours on or off"),
    "settings": Shortcut(("Ctrl+,", QKeySequence.StandardKey.Preferences), "Settings"),
    "quit": Shortcut((QKeySequence.StandardKey.Quit,), "Quit"),
    # F1 itself: the platform's HelpContents is empty on some (Qt's offscreen platform).
    "help": Shortcut(("F1",), "This list of shortcuts"),
}


def key_sequences(name: str) -> list[QKeySequence]:
    return [QKeySequence(k) for k in SHORTCUTS[name].keys]


def written_keys(shortcut: Shortcut) -> str:
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
    return [f"{written_keys(s)}: {s.help}" for s in SHORTCUTS.values() if written_keys(s)]


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
