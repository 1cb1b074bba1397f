"""What the app says to screen readers when something happens away from the focus.

Screen readers differ in what they speak (tried with Orca 43 on AT-SPI; see docs/gui.md):

- Orca ignores ``object:announcement`` events and updates inside a status bar, but speaks a
  *notification* that is shown. So the status line is a label with the accessible role
  Notification (``StatusNotice``), and each announcement changes its name (the text) and
  reports it shown again.
- On Windows and macOS Qt turns ``QAccessibleAnnouncementEvent`` into a UIA notification
  (NVDA, Narrator, JAWS) or an NSAccessibility announcement (VoiceOver); there that event is
  sent instead, so nothing is said twice.

Events reach a screen reader a moment late on purpose (``SETTLE_MS``): one photo change
rebuilds the word buttons, some fifty accessibility events, and Orca drops ("prunes") queued
events it is flooded with, a notification among them. Sent after the flood, it is spoken.

``Announcer.say`` is the one way the window announces and ``tell_item`` the way it reports a
focused item's new text; ``announced`` lets tests see what was said.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QObject, QRect, QTimer, Signal
from PySide6.QtGui import (
    QAccessible,
    QAccessibleAnnouncementEvent,
    QAccessibleEvent,
    QAccessibleInterface,
    QAccessibleObject,
)
from PySide6.QtWidgets import QLabel, QWidget

# AT-SPI (Linux, BSD): notifications. Elsewhere: the platform's announcement API.
USE_NOTIFICATION = sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd"))
SETTLE_MS = 250


class StatusNotice(QLabel):
    """The status line: what the app last said, visible, and readable by screen readers."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        install_accessibility()
        # No accessible name: then the text is the name, and QLabel reports each change of
        # it, which keeps screen readers' caches of the name fresh.
        self.setWordWrap(False)


class _NoticeAccessible(QAccessibleObject):
    """A label that reports the Notification role; its name is its text.

    Qt still asks an interface about its widget while destroying the widget, when the
    Python side of the widget is already gone; a Python exception then (in PySide6 6.11)
    crashes the process. So every method checks ``_alive()`` first and never raises.
    """

    def __init__(self, notice: StatusNotice) -> None:
        super().__init__(notice)
        self._notice = notice

    def _alive(self) -> bool:
        return shiboken6.isValid(self._notice)

    def role(self) -> QAccessible.Role:
        return QAccessible.Role.Notification

    def text(self, kind: QAccessible.Text) -> str:
        if not self._alive():
            return ""
        if kind == QAccessible.Text.Name:
            return self._notice.text() or "Status"  # "Status" until something is said
        if kind == QAccessible.Text.Description:
            return self._notice.accessibleDescription()
        return ""

    def state(self) -> QAccessible.State:
        state = QAccessible.State()
        state.invisible = not (self._alive() and self._notice.isVisible())
        return state

    def parent(self) -> QAccessibleInterface | None:  # type: ignore[override]  # Qt allows None
        parent = self._notice.parentWidget() if self._alive() else None
        return QAccessible.queryAccessibleInterface(parent) if parent is not None else None

    def childCount(self) -> int:
        return 0

    def child(self, _index: int) -> None:  # type: ignore[override]  # Qt allows None
        return None

    def indexOfChild(self, _child: QAccessibleInterface) -> int:
        return -1

    def window(self):
        return self._notice.window().windowHandle() if self._alive() else None

    def rect(self) -> QRect:
        if not (self._alive() and self._notice.isVisible()):
            return QRect()
        return QRect(self._notice.mapToGlobal(self._notice.rect().topLeft()), self._notice.size())


# Qt's accessibility cache owns the interfaces a factory returns and deletes them with their
# widget; Python keeps its wrappers too so that it never frees one Qt still holds.
_interfaces: list[_NoticeAccessible] = []
_installed = False


def _factory(_class_name: str, obj: QObject) -> QAccessibleInterface | None:
    if isinstance(obj, StatusNotice):
        interface = _NoticeAccessible(obj)
        _interfaces.append(interface)
        return interface
    return None


def install_accessibility() -> None:
    global _installed
    if not _installed:
        QAccessible.installFactory(_factory)
        _installed = True


class Announcer(QObject):
    """Says ``text`` through ``notice`` in the way the platform's screen readers listen."""

    announced = Signal(str)  # the text, as soon as it is shown
    sent = Signal()  # the deferred accessibility events have gone out

    def __init__(self, notice: StatusNotice, source: QWidget) -> None:
        super().__init__(source)
        self._notice = notice
        self._source = source
        self._pending: dict[str, Callable[[], None]] = {}
        self._waiting = ""  # what "say" has not yet sent: said together, none hidden
        self.last = ""  # the last text said on its own, for "say the status again"
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SETTLE_MS)
        self._timer.timeout.connect(self.flush)

    def _later(self, key: str, send: Callable[[], None]) -> None:
        self._pending[key] = send  # a newer one of the same kind replaces it
        self._timer.start()

    def flush(self) -> None:
        """Send what is waiting now (the timer does this ``SETTLE_MS`` after the last)."""
        self._timer.stop()
        pending, self._pending = self._pending, {}
        self._waiting = ""
        for send in pending.values():
            send()
        if pending:
            self.sent.emit()

    def tell_item(
        self,
        view: QWidget,
        child: int,
        *,
        unread: Callable[[], bool] = lambda: True,
        told: Callable[[], None] = lambda: None,
    ) -> None:
        """``view``'s item ``child`` has new text: its description changed (screen readers
        speak that for the focused item). Sent only if ``unread()`` still holds then: a
        screen reader that fetched the new text already (it reads the focused item when it
        gets round to it, the caption had arrived by then) would say it a second time."""

        def send() -> None:
            if not unread():
                return
            event = QAccessibleEvent(view, QAccessible.Event.DescriptionChanged)
            event.setChild(child)
            QAccessible.updateAccessibility(event)
            told()

        self._later("item", send)

    def say(self, text: str, *, assertive: bool = False) -> None:
        """Show ``text`` and have it said. Texts that come within ``SETTLE_MS`` of each
        other are said as one ("rocket.jpg: A man and a dog…. Done: 4 captioned"): a
        screen reader reads the line when it gets round to it, so a later text would
        otherwise hide an earlier one."""
        self.last = text
        if self._waiting and text not in self._waiting:
            text = f"{self._waiting} {text}"
        self._waiting = text
        notice = self._notice
        notice.setText(text)  # Qt reports the name change itself
        notice.setToolTip(text)  # the line may be cut short on a narrow window
        self._later("say", lambda: self._send(text, assertive))
        self.announced.emit(self.last)

    def _send(self, text: str, assertive: bool) -> None:
        if USE_NOTIFICATION:
            # "Shown" again: what Orca speaks, even when the text is the same as before.
            event = QAccessibleEvent(self._notice, QAccessible.Event.ObjectShow)
        else:
            event = QAccessibleAnnouncementEvent(self._source, text)
            if assertive:
                event.setPoliteness(QAccessible.AnnouncementPoliteness.Assertive)
        QAccessible.updateAccessibility(event)
