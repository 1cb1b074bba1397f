"""The menu bar and the toolbar: which of the window's actions (actions.py, by name) go where,
in the order they appear. ``None`` is a separator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow, QMenuBar, QToolBar

READ_AUTOMATICALLY = "Read &Automatically"  # Speech's submenu of the auto-read choices

MENUS: tuple[tuple[str, tuple[str | None, ...]], ...] = (
    (
        "&File",
        ("open", "open_files", None, "export", "xmp", None, "settings", None, "quit"),
    ),
    ("&Edit", ("copy",)),  # search.py adds Find Photos… here
    ("&Captions", ("recaption", "cancel")),
    ("&Speech", ("speak", "speak_text", "stop", READ_AUTOMATICALLY)),
    (
        "&Go",
        ("next", "previous", None, "focus_list", "focus_photo", "focus_caption", None, "status"),
    ),
    ("&View", ("contrast",)),
    ("&Help", ("help", "about")),
)

TOOLBAR: tuple[str | None, ...] = (
    "open",
    "recaption",
    "cancel",
    None,
    "speak",
    "stop",
    None,
    "export",
    "settings",
)


def fill_menu_bar(
    bar: QMenuBar,
    actions: Mapping[str, QAction],
    submenus: Mapping[str, Sequence[QAction]],
) -> None:
    """``MENUS`` into ``bar``; an entry named in ``submenus`` becomes a submenu of those."""
    for title, entries in MENUS:
        menu = bar.addMenu(title)
        for entry in entries:
            if entry is None:
                menu.addSeparator()
            elif entry in submenus:
                submenu = menu.addMenu(entry)
                for action in submenus[entry]:
                    submenu.addAction(action)
            else:
                menu.addAction(actions[entry])


def make_toolbar(window: QMainWindow, actions: Mapping[str, QAction]) -> QToolBar:
    """``TOOLBAR``, added to ``window``."""
    tools = QToolBar("Main toolbar", window)
    tools.setObjectName("mainToolbar")
    tools.setAccessibleName("Main toolbar")
    tools.setMovable(False)
    tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for entry in TOOLBAR:
        if entry is None:
            tools.addSeparator()
        else:
            tools.addAction(actions[entry])
    window.addToolBar(tools)
    return tools
