"""Is a screen reader running? Then the app's own automatic reading steps aside.

A screen reader already reads the photo that gets the focus ("file name. caption"); the app
reading the caption as well would say everything twice. Linux: the AT-SPI bus's
``org.a11y.Status`` properties (Orca sets ``IsEnabled`` when it starts, GNOME's screen-reader
switch sets ``ScreenReaderEnabled``). Windows: ``SPI_GETSCREENREADER`` (NVDA, JAWS and
Narrator set it). Elsewhere: whether an assistive client is talking to Qt.
"""

from __future__ import annotations

import ctypes
import sys
import time

from PySide6.QtGui import QAccessible

_CACHE_S = 2.0  # a D-Bus round trip per arrow press is not needed; a change is rare
_cached: tuple[float, bool] | None = None


def _atspi_status() -> bool | None:
    try:
        from PySide6.QtDBus import QDBus, QDBusConnection, QDBusMessage
    except ImportError:
        return None
    bus = QDBusConnection.sessionBus()
    if not bus.isConnected():
        return None
    found = None
    for prop in ("ScreenReaderEnabled", "IsEnabled"):
        msg = QDBusMessage.createMethodCall(
            "org.a11y.Bus", "/org/a11y/bus", "org.freedesktop.DBus.Properties", "Get"
        )
        msg.setArguments(["org.a11y.Status", prop])
        reply = bus.call(msg, QDBus.CallMode.Block, 300)
        if reply.type() != QDBusMessage.MessageType.ReplyMessage or not reply.arguments():
            continue
        value = reply.arguments()[0]
        value = value.variant() if hasattr(value, "variant") else value
        if value is True:
            return True
        found = False
    return found


def _windows_status() -> bool | None:
    try:
        flag = ctypes.c_int(0)
        spi_getscreenreader = 0x0046
        ok = ctypes.windll.user32.SystemParametersInfoW(  # type: ignore[attr-defined]
            spi_getscreenreader, 0, ctypes.byref(flag), 0
        )
    except (AttributeError, OSError):
        return None
    return bool(flag.value) if ok else None


def screen_reader_running() -> bool:
    global _cached
    now = time.monotonic()
    if _cached is not None and now - _cached[0] < _CACHE_S:
        return _cached[1]
    if sys.platform == "win32":
        status = _windows_status()
    else:
        status = _atspi_status()
    # macOS: VoiceOver is the only client that turns Qt's accessibility on.
    running = QAccessible.isActive() if sys.platform == "darwin" else bool(status)
    _cached = (now, running)
    return running
