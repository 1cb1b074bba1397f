"""Moving between menus must leave the screen reader in the menu that is open.

With the menu bar open (F10), Right/Left close one menu and open the next. On the way Qt
hands the focus back to the widget that had it before the menus (the photo list): the list
is reported focused *after* the new menu's first item (AT-SPI: "Copy Caption" focused, then
"Photos"). Orca follows the last focus, re-reads the list, and takes the open menu for gone:
Down said nothing (issue 22, finding 1). Qt sends that focus from inside its menu bar
(``QWidget.setFocus`` while a popup is open), out of reach of an event filter; so once a menu
has been shown and Qt is done, the guard reports the menu's current item focused again.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QAccessible, QAccessibleEvent
from PySide6.QtWidgets import QApplication, QMenu

# After Qt's own focus reports for the switch (they come within the same few events).
SETTLE_MS = 30


class MenuFocusGuard(QObject):
    """Install on the application (``QApplication.installEventFilter``)."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Show and isinstance(watched, QMenu):
            QTimer.singleShot(SETTLE_MS, lambda menu=watched: self.report_focus(menu))
        return False

    def report_focus(self, menu: QMenu) -> None:
        """Tell screen readers that ``menu``'s current item has the focus, if it is still
        the menu in front."""
        if QApplication.activePopupWidget() is not menu or not QAccessible.isActive():
            return
        action = menu.activeAction()
        if action is None:
            return
        event = QAccessibleEvent(menu, QAccessible.Event.Focus)
        event.setChild(menu.actions().index(action))
        QAccessible.updateAccessibility(event)
