"""Alt+Down / Alt+Up, and the Alt+letter mnemonics (Alt+W: Reviewed), must not open the
File menu.

Qt's menu bar opens its first menu when Alt is pressed and released alone. It decides that
from the key events it sees, but the arrow of Alt+Down is taken by the shortcut and never
reaches it, so the Alt's release looks like a lone Alt. Worse, with the AT-SPI bridge active
(a screen reader running) Qt delivers the Alt key press only after the shortcut has fired.
After one of our Alt shortcuts, this guard tells the menu bar another key came (a key event
through the application's filters) and hides Alt's shortcut-override from it until Alt is
released (the one the screen reader has seen, with AT-SPI).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAccessible, QKeyEvent, QShortcutEvent
from PySide6.QtWidgets import QApplication

_ALT_KEYS = (Qt.Key.Key_Alt, Qt.Key.Key_Meta)


class AltReleaseGuard(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._armed = False

    def shortcut_used(self) -> None:
        """Call from an action whose shortcut holds Alt."""
        app = QApplication.instance()
        if app is None:
            return
        QApplication.sendEvent(
            self,
            QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_unknown, Qt.KeyboardModifier.NoModifier),
        )
        if not self._armed:
            self._armed = True
            app.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind not in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            return False
        key = event.key()  # type: ignore[attr-defined]
        if key in _ALT_KEYS:
            if kind == QEvent.Type.ShortcutOverride:
                return True  # the menu bar must not arm itself for this Alt
            # The AT-SPI bridge holds back spontaneous key events and sends them again
            # (not spontaneous) once the screen reader has seen them: wait for that one.
            if kind == QEvent.Type.KeyRelease and (
                not event.spontaneous() or not QAccessible.isActive()
            ):
                self._disarm()
        elif (
            kind == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and not event.modifiers() & Qt.KeyboardModifier.AltModifier
        ):
            self._disarm()  # typing went on: whatever Alt did is over
        return False

    def _disarm(self) -> None:
        self._armed = False
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)


class AltShortcutWatcher(QObject):
    """Arms ``guard`` after every shortcut that holds Alt, mnemonics included: under Orca,
    Alt+W ticked Reviewed and then the Alt's release opened the File menu (issue 22).
    Install on the application; it only looks."""

    def __init__(self, guard: AltReleaseGuard, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._guard = guard

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Shortcut and isinstance(event, QShortcutEvent):
            sequence = event.key()
            first = sequence[0] if sequence.count() else None  # type: ignore[index]  # no stub
            if first is not None and first.keyboardModifiers() & Qt.KeyboardModifier.AltModifier:
                self._guard.shortcut_used()
        return False
