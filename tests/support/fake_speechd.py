"""A stand-in speech-dispatcher for tests: speaks SSIP on a unix socket, records every
command of every client, and says each message begun and (after ``speak_s``) ended, as the
real daemon does with notifications on. Point clients at it with
``SPEECHD_ADDRESS=unix_socket:<path>`` (libspeechd, and so Qt's engine, read it too).

Run it as its own process (``python tests/support/fake_speechd.py SOCKET LOG``; ``start``
does): Qt's blocking socket waits keep Python's lock, so a daemon thread in the test's
process would not answer in time. Each command becomes one line of LOG."""

from __future__ import annotations

import contextlib
import itertools
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

VOICES = [("English (America)", "en-US", "none"), ("German", "de", "none"),
          ("Bishnupriya Manipuri", "bpy", "none")]


class FakeSpeechd:
    def __init__(self, path: Path, log: Path | None = None, *, speak_s: float = 0.3) -> None:
        self.path = path
        self.speak_s = speak_s
        self.commands: list[str] = []
        self._log = log.open("a", buffering=1, encoding="utf-8") if log else None
        self._ids = itertools.count(1)
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen()
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"unix_socket:{self.path}"

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._server.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        lock = threading.Lock()
        client = id(conn)

        def send(*lines: str) -> None:
            with lock, contextlib.suppress(OSError):
                conn.sendall("".join(f"{line}\r\n" for line in lines).encode())

        def finish(message: int, cancelled: threading.Event) -> None:
            time.sleep(self.speak_s)
            if not cancelled.is_set():
                send(f"702-{message}", f"702-{client}", "702 END")

        speaking: dict[int, threading.Event] = {}
        buffer, in_text = b"", False
        with conn:
            while True:
                try:
                    chunk = conn.recv(4096)
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
                while b"\r\n" in buffer:
                    raw, buffer = buffer.split(b"\r\n", 1)
                    line = raw.decode("utf-8", "replace")
                    if in_text:
                        if line != ".":
                            continue
                        in_text = False
                        message = next(self._ids)
                        send(f"225-{message}", "225 OK MESSAGE QUEUED")
                        send(f"701-{message}", f"701-{client}", "701 BEGIN")
                        speaking[message] = threading.Event()
                        threading.Thread(target=finish, args=(message, speaking[message]),
                                         daemon=True).start()
                        continue
                    self.commands.append(line)
                    if self._log is not None:
                        self._log.write(line + "\n")
                    word = line.upper()
                    if word == "SPEAK":
                        in_text = True
                        send("230 OK RECEIVING DATA")
                    elif word.startswith("CANCEL"):
                        # Only this connection's messages are known here; that is enough
                        # to see what was asked for.
                        for message, cancelled in speaking.items():
                            if not cancelled.is_set():
                                cancelled.set()
                                send(f"703-{message}", f"703-{client}", "703 CANCELED")
                        send("210 OK CANCELED")
                    elif word == "LIST SYNTHESIS_VOICES":
                        send(*(f"249-{n}\t{lang}\t{v}" for n, lang, v in VOICES),
                             "249 OK VOICE LIST SENT")
                    elif word == "LIST OUTPUT_MODULES":
                        send("250-espeak-ng", "250 OK MODULE LIST SENT")
                    elif word == "LIST VOICES":
                        send("249-MALE1", "249 OK VOICE LIST SENT")
                    elif word.startswith("GET "):
                        send("251-espeak-ng", "251 OK GET RETURNED")
                    elif word == "QUIT":
                        send("231 HAPPY HACKING")
                        return
                    elif word.startswith("HISTORY GET CLIENT_ID"):
                        send(f"240-{client}", "240 OK CLIENT ID SENT")
                    else:
                        send("200 OK")


class Daemon:
    """The fake in its own process; ``commands`` reads what it was sent so far."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "speechd.sock"
        self.log = folder / "speechd.log"
        self.log.touch()
        self.process = subprocess.Popen([sys.executable, __file__, str(self.path), str(self.log)])
        deadline = time.monotonic() + 20
        while not self.path.exists():
            assert self.process.poll() is None and time.monotonic() < deadline, "fake died"
            time.sleep(0.02)

    @property
    def address(self) -> str:
        return f"unix_socket:{self.path}"

    @property
    def commands(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines()

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start(folder: Path) -> Daemon:
    return Daemon(folder)


if __name__ == "__main__":
    FakeSpeechd(Path(sys.argv[1]), Path(sys.argv[2]))
    threading.Event().wait()
