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
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QSocketNotifier, QTimer, Signal

REPLY_S = 2.0  # a local daemon answers in milliseconds; this bounds a hung one
CONNECT_S = 1.0
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
    finished or cancelled), with the message id.

    A plain socket watched by a QSocketNotifier, not QtNetwork: the frozen app leaves
    QtNetwork's Python module out (build.spec), and this needs nothing more."""

    begun = Signal(int)
    ended = Signal(int)
    lost = Signal(str)  # the connection went away

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._socket: socket.socket | None = None
        self._notifier: QSocketNotifier | None = None
        self._buffer = b""
        self._lines: list[str] = []  # of the reply being read
        self._replies: list[tuple[int, list[str]]] = []
        self._events: list[tuple[int, int]] = []

    # -- connecting ----------------------------------------------------------------------
    def open(self, client_name: str = "captioner") -> None:
        """Connect (starting the daemon as libspeechd does when it is not running) and name
        this client. Raises SsipError."""
        path = socket_path()
        if path is None:
            raise SsipError("SPEECHD_ADDRESS is not a unix_socket: address")
        if not hasattr(socket, "AF_UNIX"):
            raise SsipError("no local sockets on this system")
        if not self._connect(path) and not os.environ.get("SPEECHD_ADDRESS"):
            daemon = shutil.which("speech-dispatcher")
            if daemon is not None:
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    subprocess.run([daemon, "--spawn"], capture_output=True, timeout=10)
                self._connect(path)
        if self._socket is None:
            raise SsipError(f"speech-dispatcher is not listening at {path}")
        self._notifier = QSocketNotifier(self._socket.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._readable)
        user = os.environ.get("USER") or "user"
        self.command(f"SET SELF CLIENT_NAME {user}:{client_name}:main")
        self.command("SET SELF NOTIFICATION ALL on")

    def _connect(self, path: Path) -> bool:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(CONNECT_S)
        try:
            sock.connect(str(path))
        except OSError:
            sock.close()
            return False
        sock.settimeout(REPLY_S)
        self._socket = sock
        return True

    def close(self) -> None:
        """Leave politely; speech-dispatcher drops this client's messages, no one else's."""
        self.blockSignals(True)  # going away on purpose is not "lost"
        if self._socket is not None:
            with contextlib.suppress(SsipError):
                self.command("QUIT")
        self._drop()

    def _drop(self) -> None:
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

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
        sock = self._socket
        if sock is None:
            raise SsipError("not connected to speech-dispatcher")
        try:
            sock.sendall(data)
            while not self._replies:
                chunk = sock.recv(4096)  # blocking, up to REPLY_S
                if not chunk:
                    raise OSError("the connection closed")
                self._parse(chunk)
        except OSError as exc:  # socket.timeout is one
            self._lose(f"speech-dispatcher did not answer {what!r}: {exc}")
            raise SsipError(f"speech-dispatcher did not answer {what!r}: {exc}") from exc
        code, texts = self._replies.pop(0)
        if self._events:
            QTimer.singleShot(0, self._dispatch)  # never re-enter a caller mid-command
        if not 200 <= code < 300:
            raise SsipError(f"speech-dispatcher refused {what!r}: {code} {' '.join(texts)}")
        return texts

    def _lose(self, why: str) -> None:
        self._drop()
        self.lost.emit(why)

    # -- reading -----------------------------------------------------------------------------
    def _readable(self) -> None:
        """Events between commands (the notifier says there is something to read)."""
        if self._socket is None:
            return
        try:
            chunk = self._socket.recv(4096, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lose(f"speech-dispatcher went away: {exc}")
            return
        if not chunk:
            self._lose("speech-dispatcher went away")
            return
        self._parse(chunk)
        self._dispatch()

    def _parse(self, chunk: bytes) -> None:
        self._buffer += chunk
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

    def _dispatch(self) -> None:
        events, self._events = self._events, []
        for code, message in events:
            if code == EVENT_BEGIN:
                self.begun.emit(message)
            elif code in (EVENT_END, EVENT_CANCELLED):
                self.ended.emit(message)
