"""A small speech-dispatcher client (its SSIP protocol over the local socket).

Why not Qt's speech-dispatcher engine: ``QTextToSpeech.stop()``, ``say()`` while speaking and
the engine's destructor all call ``spd_cancel_all``, which sends ``CANCEL ALL`` and silences
*every* client of speech-dispatcher, Orca among them, mid-sentence (issue 22, finding 7). This
client only ever sends ``CANCEL SELF``: it stops its own message and nothing else.

It also picks the language itself: Qt takes ``QLocale.system()``, which under the C/POSIX
locale is language "c", and speech-dispatcher then chose an unrelated voice ("Bishnupriya
Manipuri"). Here the language is the user's (``LC_ALL``/``LC_MESSAGES``/``LANG``) when a voice
speaks it, else English (``speaking_language``).

Protocol (SSIP, speech-dispatcher's manual): one command per line ending in CR LF; a reply is
lines ``NNN-text`` then ``NNN text``; codes 2xx succeed. ``SPEAK`` is followed by the text and
a line holding a single dot. With ``NOTIFICATION`` on, 7xx replies arrive on their own:
``701`` begin, ``702`` end, ``703`` cancelled, each with the message id first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtNetwork import QLocalSocket

REPLY_MS = 2000  # a local daemon answers in milliseconds; this bounds a hung one
CONNECT_MS = 1000
EVENT_BEGIN, EVENT_END, EVENT_CANCELLED = 701, 702, 703
FALLBACK_LANGUAGE = "en"  # the captions are English


class SsipError(Exception):
    """speech-dispatcher cannot be reached or refused a command."""


@dataclass(frozen=True)
class SynthesisVoice:
    name: str
    language: str  # "en", "en-US", "de"…
    variant: str = ""


def socket_path(env: Mapping[str, str] | None = None) -> Path | None:
    """Where speech-dispatcher listens, as libspeechd finds it: ``$SPEECHD_ADDRESS``
    (``unix_socket:PATH``; TCP addresses are not supported here: None), else
    ``$XDG_RUNTIME_DIR/speech-dispatcher/speechd.sock`` (``~/.cache`` without a runtime dir)."""
    env = os.environ if env is None else env
    address = env.get("SPEECHD_ADDRESS", "")
    if address:
        method, _, rest = address.partition(":")
        if method != "unix_socket":
            return None
        if rest:
            return Path(rest)
    runtime = env.get("XDG_RUNTIME_DIR") or str(Path(env.get("HOME", "~")).expanduser() / ".cache")
    return Path(runtime) / "speech-dispatcher" / "speechd.sock"


def locale_language(env: Mapping[str, str] | None = None) -> str:
    """The user's language ("de" for de_DE.UTF-8) from the locale variables in POSIX order,
    or "" for the C/POSIX locale or none set."""
    env = os.environ if env is None else env
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            language = value.split(".")[0].split("@")[0].split("_")[0].lower()
            return "" if language in ("c", "posix") else language
    return ""


def speaking_language(voices: list[SynthesisVoice], env: Mapping[str, str] | None = None) -> str:
    """The language to ask for: the user's if some voice speaks it, else English."""
    wanted = locale_language(env)
    spoken = {v.language.lower().split("-")[0] for v in voices}
    return wanted if wanted and (not voices or wanted in spoken) else FALLBACK_LANGUAGE


class SsipClient(QObject):
    """One connection to speech-dispatcher. Commands are answered synchronously (the daemon
    is local); message events arrive through the event loop as ``begun``/``ended`` (ended:
    finished or cancelled), with the message id."""

    begun = Signal(int)
    ended = Signal(int)
    lost = Signal(str)  # the connection went away

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._socket = QLocalSocket(self)
        self._buffer = b""
        self._lines: list[str] = []  # of the reply being read
        self._replies: list[tuple[int, list[str]]] = []
        self._events: list[tuple[int, int]] = []
        self._in_command = False
        self._socket.readyRead.connect(self._read)
        self._socket.disconnected.connect(self._disconnected)

    # -- connecting ----------------------------------------------------------------------
    def open(self, client_name: str = "captioner") -> None:
        """Connect (starting the daemon as libspeechd does when it is not running) and name
        this client. Raises SsipError."""
        path = socket_path()
        if path is None:
            raise SsipError("SPEECHD_ADDRESS is not a unix_socket: address")
        if not self._connect(path) and not os.environ.get("SPEECHD_ADDRESS"):
            daemon = shutil.which("speech-dispatcher")
            if daemon is not None:
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    subprocess.run([daemon, "--spawn"], capture_output=True, timeout=10)
                self._connect(path)
        if self._socket.state() != QLocalSocket.LocalSocketState.ConnectedState:
            raise SsipError(f"speech-dispatcher is not listening at {path}")
        user = os.environ.get("USER") or "user"
        self.command(f"SET SELF CLIENT_NAME {user}:{client_name}:main")
        self.command("SET SELF NOTIFICATION ALL on")

    def _disconnected(self) -> None:
        self.lost.emit("speech-dispatcher went away")

    def _connect(self, path: Path) -> bool:
        self._socket.connectToServer(str(path))
        return self._socket.waitForConnected(CONNECT_MS)

    def close(self) -> None:
        """Leave politely; speech-dispatcher drops this client's messages, no one else's."""
        self.blockSignals(True)  # going away on purpose is not "lost"
        if self._socket.state() == QLocalSocket.LocalSocketState.ConnectedState:
            with contextlib.suppress(SsipError):
                self.command("QUIT")
            self._socket.disconnectFromServer()

    # -- commands --------------------------------------------------------------------------
    def command(self, line: str) -> list[str]:
        """Send one command; return the reply's texts. Raises SsipError unless it is 2xx."""
        return self._exchange(line.encode("utf-8") + b"\r\n", line)

    def speak(self, text: str) -> int:
        """Queue ``text`` (one line); returns its message id."""
        self.command("SPEAK")
        line = " ".join(text.split())
        if line.startswith("."):
            line = "." + line  # a leading dot is doubled, or "." alone would end the text
        reply = self._exchange(line.encode("utf-8") + b"\r\n.\r\n", "the text")
        try:
            return int(reply[0])
        except (IndexError, ValueError) as exc:
            raise SsipError(f"speech-dispatcher gave no message id: {reply}") from exc

    def cancel_own(self) -> None:
        """Stop this client's message, and only this client's (never CANCEL ALL)."""
        self.command("CANCEL SELF")

    def voices(self) -> list[SynthesisVoice]:
        found = []
        for line in self.command("LIST SYNTHESIS_VOICES")[:-1]:
            parts = line.split("\t")
            if len(parts) >= 2:
                found.append(SynthesisVoice(parts[0], parts[1], parts[2] if len(parts) > 2 else ""))
        return found

    def _exchange(self, data: bytes, what: str) -> list[str]:
        if self._socket.state() != QLocalSocket.LocalSocketState.ConnectedState:
            raise SsipError("not connected to speech-dispatcher")
        self._in_command = True
        try:
            self._socket.write(data)
            self._socket.flush()
            while not self._replies:
                # Read here, not only from readyRead: Qt does not emit it while a wait runs.
                ready = self._socket.waitForReadyRead(REPLY_MS)
                self._read()
                if not ready and not self._replies:
                    raise SsipError(f"speech-dispatcher did not answer {what!r}")
            code, texts = self._replies.pop(0)
        finally:
            self._in_command = False
        if self._events:
            QTimer.singleShot(0, self._dispatch)  # never re-enter a caller mid-command
        if not 200 <= code < 300:
            raise SsipError(f"speech-dispatcher refused {what!r}: {code} {' '.join(texts)}")
        return texts

    # -- reading -----------------------------------------------------------------------------
    def _read(self) -> None:
        self._buffer += bytes(self._socket.readAll().data())
        while b"\r\n" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\r\n", 1)
            line = raw.decode("utf-8", "replace")
            if len(line) < 4 or not line[:3].isdigit():
                continue
            self._lines.append(line[4:])
            if line[3] == " ":  # the last line of a reply
                code, texts, self._lines = int(line[:3]), self._lines, []
                if 700 <= code < 800:
                    with contextlib.suppress(IndexError, ValueError):
                        self._events.append((code, int(texts[0])))
                else:
                    self._replies.append((code, texts))
        if self._events and not self._in_command:
            self._dispatch()

    def _dispatch(self) -> None:
        events, self._events = self._events, []
        for code, message in events:
            if code == EVENT_BEGIN:
                self.begun.emit(message)
            elif code in (EVENT_END, EVENT_CANCELLED):
                self.ended.emit(message)
