"""Every action of the main window in one table: its menu text, its keys and what F1 says they
do, its tip and icon, and the window method it calls.

The window builds its QActions from the table (``make_actions``), F1 lists it (shortcuts.py)
and the menus and toolbar place the actions by name (menus.py), so the help can never drift
from what the keys do. The table's order is the order of F1's list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QStyle, QWidget

from desktop.gui.settings_dialog import AUTO_READ_LABELS

Key = str | QKeySequence.StandardKey
_Icon = QStyle.StandardPixmap


@dataclass(frozen=True)
class ActionSpec:
    keys: tuple[Key, ...] = ()  # what the action is bound to (empty: a key handled by a widget)
    help: str = ""  # what F1 says the keys do
    text: str = ""  # the menu item, mnemonic and all ("": not one of the window's actions)
    slot: str = ""  # what it calls: the window's method, or a dotted path ("list.setFocus")
    tip: str = ""  # the status tip; the tooltip adds the keys
    icon: QStyle.StandardPixmap | None = None
    checkable: bool = False  # a toggle: the slot gets the new state
    written: str = ""  # how F1 writes the keys, where they are not one action's


# ActionSpec(keys, what F1 says, menu text, slot, ...), in the order of F1's list.
ACTIONS: dict[str, ActionSpec] = {
    "open": ActionSpec(
        ("Ctrl+O",),
        "Open a folder of photos",
        "&Open Folder\u2026",
        "open_folder_dialog",
        tip="Open a folder of photos",
        icon=_Icon.SP_DirOpenIcon,
    ),
    "open_files": ActionSpec(
        ("Ctrl+Shift+O",),
        "Open photos",
        "Open &Photos\u2026",
        "open_files_dialog",
        tip="Open one or more photos",
        icon=_Icon.SP_FileIcon,
    ),
    "recaption": ActionSpec(
        ("F9",),
        "Caption again: the photos not yet captioned, or after a "
        "change of settings every photo not marked reviewed",
        "Caption &Again",
        "caption_again",
        tip="Caption every photo not marked reviewed",
        icon=_Icon.SP_BrowserReload,
    ),
    "cancel": ActionSpec(
        ("Esc",),
        "Cancel captioning (keeps the captions done so far)",
        "&Cancel Captioning",
        "cancel_captioning",
        tip="Stop after the current photo, keeping what is done",
        icon=_Icon.SP_BrowserStop,
    ),
    "export": ActionSpec(
        ("Ctrl+E",),
        "Export captions (CSV, JSON, text)",
        "&Export Captions\u2026",
        "export_dialog",
        tip="Save the captions as CSV, JSON or text",
        icon=_Icon.SP_DialogSaveButton,
    ),
    "xmp": ActionSpec(
        ("Ctrl+Shift+X",),
        "Write XMP sidecars beside the photos",
        "Write &XMP Sidecars",
        "write_sidecars",
        tip="Write each caption to an .xmp file beside its photo",
    ),
    "copy": ActionSpec(
        ("Ctrl+Shift+C",),
        "Copy the caption",
        "&Copy Caption",
        "copy_caption",
        tip="Copy the caption to the clipboard",
    ),
    "speak": ActionSpec(
        ("F5", "Ctrl+R"),
        "Read the caption aloud",
        "&Read Aloud",
        "speak_selected",
        tip="Read the caption aloud",
        icon=_Icon.SP_MediaPlay,
    ),
    "stop": ActionSpec(
        ("Shift+F5", "Ctrl+Shift+R"),
        "Stop reading",
        "S&top Reading",
        "stop_speaking",
        tip="Stop reading aloud",
        icon=_Icon.SP_MediaStop,
    ),
    "speak_text": ActionSpec(
        ("Ctrl+T",),
        "Read aloud all the text read in the photo",
        "Read the &Text in the Photo",
        "speak_text",
        tip="Read aloud all the text read in the photo (signs, screens, pages)",
    ),
    # Made by search.py (Edit → Find Photos…), which takes its keys and tip from here.
    "find": ActionSpec(
        (QKeySequence.StandardKey.Find,),
        "Find photos by the words of their captions, your own text and their objects",
    ),
    "focus_list": ActionSpec(("Ctrl+1",), "Go to the photo list", "Photo &List", "list.setFocus"),
    "focus_photo": ActionSpec(("Ctrl+2",), "Go to the photo", "P&hoto", "inspector.view.setFocus"),
    "focus_caption": ActionSpec(
        ("Ctrl+3",), "Go to the caption", "Ca&ption", "inspector.caption.setFocus"
    ),
    "next": ActionSpec(("Alt+Down",), "Next photo, from anywhere", "&Next Photo", "next_photo"),
    "previous": ActionSpec(
        ("Alt+Up",), "Previous photo, from anywhere", "&Previous Photo", "previous_photo"
    ),
    # Keys the photo and the words handle themselves (attention_view.py): F1 lists them.
    "words": ActionSpec(
        help="Step through the words' heat maps; Home: the plain photo",
        written="Left / Right on the photo or the words",
    ),
    "status": ActionSpec(
        ("F8",),
        "Say the status again (progress, the last message)",
        "Say &Status",
        "speak_status",
        tip="Say the progress and the last message again",
    ),
    "menu_bar": ActionSpec(("F10",), "Go to the menu bar", "Menu Bar", "open_menu_bar"),
    "contrast": ActionSpec(
        ("Ctrl+Shift+H",),
        "High-contrast colours on or off",
        "&High Contrast",
        "set_high_contrast",
        tip="White on black, yellow focus",
        checkable=True,
    ),
    "settings": ActionSpec(
        ("Ctrl+,", QKeySequence.StandardKey.Preferences),
        "Settings",
        "&Settings\u2026",
        "open_settings",
        tip="Model, accelerator, voice and appearance",
        icon=_Icon.SP_FileDialogDetailedView,
    ),
    "quit": ActionSpec((QKeySequence.StandardKey.Quit,), "Quit", "&Quit", "close"),
    # F1 itself: the platform's HelpContents is empty on some (Qt's offscreen platform).
    "help": ActionSpec(("F1",), "This list of shortcuts", "&Keyboard Shortcuts", "show_shortcuts"),
    "about": ActionSpec(text="&About Captioner", slot="show_about"),
}


def key_sequences(name: str) -> list[QKeySequence]:
    return [QKeySequence(k) for k in ACTIONS[name].keys]


def make_action(window: QWidget, name: str) -> QAction:
    """The QAction of ``ACTIONS[name]``, added to ``window`` so that its keys work even with
    the menu bar hidden."""
    spec = ACTIONS[name]
    slot: Callable[..., object] = attrgetter(spec.slot)(window)
    action = QAction(spec.text, window)
    if spec.keys:
        action.setShortcuts(key_sequences(name))
    if spec.tip:
        action.setStatusTip(spec.tip)
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        action.setToolTip(f"{spec.tip} ({keys})" if keys else spec.tip)
    if spec.icon is not None:
        action.setIcon(window.style().standardIcon(spec.icon))
    action.setCheckable(spec.checkable)
    if spec.checkable:
        action.toggled.connect(slot)
    else:
        action.triggered.connect(lambda _checked=False: slot())
    action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    window.addAction(action)
    return action


def make_actions(window: QWidget) -> dict[str, QAction]:
    """Every action of the table that is the window's, by name."""
    return {name: make_action(window, name) for name, spec in ACTIONS.items() if spec.text}


def make_auto_read_actions(
    parent: QWidget, current: str, choose: Callable[[str], None]
) -> tuple[QActionGroup, dict[str, QAction]]:
    """Speech → Read Automatically: one checkable choice per mode of AUTO_READ_LABELS."""
    group = QActionGroup(parent)
    actions: dict[str, QAction] = {}
    for key, label in AUTO_READ_LABELS.items():
        action = QAction(label, parent, checkable=True)
        action.setData(key)
        action.setChecked(key == current)
        action.triggered.connect(lambda _c=False, k=key: choose(k))
        group.addAction(action)
        actions[key] = action
    return group, actions
