"""Read captions aloud: the platform's speech engine through QtTextToSpeech, espeak-ng otherwise.

``Speech`` is what the GUI uses. On Linux it talks to speech-dispatcher itself
(``desktop.ssip``: Qt's speech-dispatcher engine cancels every client's speech, the screen
reader's too, whenever it stops its own). Elsewhere it picks the first QtTextToSpeech engine
that initialises (SAPI / WinRT on Windows, AVFoundation on macOS), and it falls back to an
``espeak-ng`` subprocess when there is none, so reading aloud works on a bare Linux box too.
Qt's ``mock`` engine (shipped for Qt's own tests) is never picked automatically.

``synthesize_to_wav`` writes a caption to a WAV file with ``espeak-ng -w``; it needs no Qt.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QProcess, Signal

from desktop import ssip
from desktop.ssip import SsipClient

if TYPE_CHECKING:  # imported where used: QtTextToSpeech is optional (its libraries may lack)
    from PySide6.QtTextToSpeech import QTextToSpeech

ESPEAK = "espeak-ng"
NORMAL_WPM = 175  # espeak-ng's own default speed
MIN_WPM, MAX_WPM = 80, 450
BACKEND_ESPEAK = "espeak-ng"
BACKEND_NONE = "none"
BACKEND_SPEECHD = "speech-dispatcher"
QT_PREFIX = "qt:"
# Never picked automatically: "mock" makes no sound (Qt ships it for its own tests);
# "speechd" sends CANCEL ALL, silencing the screen reader (BACKEND_SPEECHD replaces it).
_UNPICKED_QT_ENGINES = frozenset({"mock", "speechd"})


class SpeechError(Exception):
    """Speech could not be produced (no engine, espeak-ng failed, file not writable)."""


@dataclass(frozen=True)
class Voice:
    id: str  # what Settings.voice stores and the engine accepts
    name: str  # what a person reads in the settings dialog


def espeak_executable() -> str | None:
    return shutil.which(ESPEAK)


def rate_to_wpm(rate: float) -> int:
    """QTextToSpeech's rate (-1 … 1, 0 normal) as espeak-ng words per minute (half … double)."""
    rate = min(1.0, max(-1.0, float(rate)))
    return int(min(MAX_WPM, max(MIN_WPM, round(NORMAL_WPM * 2.0**rate))))


def _espeak_args(voice: str, rate: float) -> list[str]:
    args = ["-s", str(rate_to_wpm(rate))]
    if voice:
        args += ["-v", voice]
    # --stdin: the caption never becomes a command-line argument (a leading "-" is harmless).
    return [*args, "--stdin"]


_VOICE_LINE = re.compile(r"^\s*\d+\s+(\S+)\s+\S+\s+(\S+)")


def espeak_voices() -> list[Voice]:
    """Voices espeak-ng knows, English first (the captions are English)."""
    exe = espeak_executable()
    if exe is None:
        return []
    try:
        listing = subprocess.run(
            [exe, "--voices"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    voices = []
    for line in listing.splitlines()[1:]:
        match = _VOICE_LINE.match(line)
        if match:
            language, name = match.groups()
            voices.append(Voice(id=language, name=f"{name.replace('_', ' ')} ({language})"))
    voices.sort(key=lambda v: (not v.id.startswith("en"), v.name.lower()))
    return voices


def synthesize_to_wav(
    text: str, path: str | os.PathLike[str], *, voice: str = "", rate: float = 0.0
) -> Path:
    """Speak ``text`` into a WAV file with espeak-ng; written atomically. Raises SpeechError."""
    if not text.strip():
        raise SpeechError("there is no text to speak")
    exe = espeak_executable()
    if exe is None:
        raise SpeechError(f"{ESPEAK} is not installed (Debian/Ubuntu: apt-get install espeak-ng)")
    if voice and voice.split("+")[0] not in {v.id for v in espeak_voices()}:
        # espeak-ng silently falls back to its default voice; say so instead.
        raise SpeechError(f"{ESPEAK} has no voice {voice!r} (see `espeak-ng --voices`)")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".wav", dir=target.parent)
    os.close(fd)
    try:
        done = subprocess.run(
            [exe, "-w", tmp, *_espeak_args(voice, rate)],
            input=text,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0 or os.path.getsize(tmp) <= 44:  # 44 bytes: a bare WAV header
            detail = done.stderr.strip().splitlines()[-1:] or ["no audio was produced"]
            raise SpeechError(f"{ESPEAK} could not speak into {target}: {detail[0]}")
        os.replace(tmp, target)
    except subprocess.TimeoutExpired as exc:
        raise SpeechError(f"{ESPEAK} took too long to speak into {target}") from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return target


def qt_engines() -> list[str]:
    """QtTextToSpeech engines installed (empty when the module or its libraries are missing)."""
    try:
        from PySide6.QtTextToSpeech import QTextToSpeech
    except ImportError:
        return []
    return list(QTextToSpeech.availableEngines())


class Speech(QObject):
    """Speaks one text at a time; ``say(queue=True)`` lines texts up behind the current one.

    Signals: ``started(text)`` when a text starts, ``finished()`` when the last one ends or is
    stopped, ``failed(message)`` when the engine cannot speak.
    """

    started = Signal(str)
    finished = Signal()
    failed = Signal(str)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        engine: str | None = None,
        voice: str = "",
        rate: float = 0.0,
    ) -> None:
        """``engine``: None picks automatically; ``"espeak-ng"``, ``"qt:<name>"`` or
        ``"none"`` force one."""
        super().__init__(parent)
        self._voice = voice
        self._rate = rate
        self._queue: deque[str] = deque()
        self._speaking = False
        self.last_text: str | None = None
        self.problem: str | None = None  # why no engine is available, for the status bar
        self._tts: QTextToSpeech | None = None
        self._process: QProcess | None = None
        self._ssip: SsipClient | None = None
        self._message: int | None = None  # speech-dispatcher's id of the text being spoken
        self._language = ssip.FALLBACK_LANGUAGE  # what speech-dispatcher was asked to speak
        self.backend = BACKEND_NONE
        self._choose(engine)

    # -- choosing an engine -------------------------------------------------------------
    def _choose(self, engine: str | None) -> None:
        if engine is None:
            if self._try_speechd():
                return
            for name in qt_engines():
                if name not in _UNPICKED_QT_ENGINES and self._try_qt(name):
                    return
            if self._try_espeak():
                return
            self.problem = (
                "No speech engine found: install speech-dispatcher or espeak-ng to read "
                "captions aloud"
            )
        elif engine == BACKEND_SPEECHD:
            if not self._try_speechd():
                self.problem = "speech-dispatcher is not running"
        elif engine == BACKEND_ESPEAK:
            if not self._try_espeak():
                self.problem = f"{ESPEAK} is not installed"
        elif engine.startswith(QT_PREFIX):
            if not self._try_qt(engine.removeprefix(QT_PREFIX)):
                self.problem = f"The speech engine {engine.removeprefix(QT_PREFIX)!r} did not start"
        elif engine != BACKEND_NONE:
            raise ValueError(f"unknown speech engine {engine!r}")

    def _try_qt(self, name: str) -> bool:
        try:
            from PySide6.QtTextToSpeech import QTextToSpeech
        except ImportError:
            return False
        tts = QTextToSpeech(name, self)
        if tts.state() == QTextToSpeech.State.Error:
            tts.deleteLater()
            return False
        self._tts = tts
        self.backend = QT_PREFIX + name
        tts.stateChanged.connect(self._qt_state_changed)
        tts.errorOccurred.connect(lambda _reason, message: self._fail(message))
        self._apply_qt_settings()
        return True

    def _try_speechd(self) -> bool:
        # speech-dispatcher is the Linux/BSD speech service; elsewhere Qt's engines serve.
        if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
            return False
        if ssip.socket_path() is None:
            return False
        client = SsipClient(self)
        try:
            client.open()
            self._language = ssip.speaking_language(client.voices())
            client.command(f"SET SELF LANGUAGE {self._language}")
        except ssip.SsipError:
            client.close()
            client.deleteLater()
            return False
        self._ssip = client
        self.backend = BACKEND_SPEECHD
        client.ended.connect(self._speechd_ended)
        client.lost.connect(self._fail)
        self._apply_speechd_settings()
        return True

    def _try_espeak(self) -> bool:
        if espeak_executable() is None:
            return False
        self.backend = BACKEND_ESPEAK
        return True

    # -- public API -----------------------------------------------------------------------
    @property
    def available(self) -> bool:
        return self.backend != BACKEND_NONE

    @property
    def speaking(self) -> bool:
        return self._speaking

    @property
    def voice(self) -> str:
        return self._voice

    @property
    def rate(self) -> float:
        return self._rate

    def voices(self) -> list[Voice]:
        if self._tts is not None:
            return [
                Voice(id=v.name(), name=f"{v.name()} ({v.locale().nativeLanguageName()})")
                for v in self._tts.availableVoices()
            ]
        if self._ssip is not None:
            try:
                found = self._ssip.voices()
            except ssip.SsipError:
                return []
            # The user's language and English (the captions'), without espeak-ng's variants
            # ("English (America)+Adam"): 8 voices to choose from, not 13,000.
            languages = {self._language, ssip.FALLBACK_LANGUAGE}
            found = [
                v
                for v in found
                if "+" not in v.name and v.language.lower().split("-")[0] in languages
            ]
            found.sort(key=lambda v: (not v.language.startswith("en"), v.name.lower()))
            return [Voice(id=v.name, name=f"{v.name} ({v.language})") for v in found]
        if self.backend == BACKEND_ESPEAK:
            return espeak_voices()
        return []

    def set_voice(self, voice: str) -> None:
        self._voice = voice
        self._apply_qt_settings()
        self._apply_speechd_settings()

    def set_rate(self, rate: float) -> None:
        self._rate = min(1.0, max(-1.0, float(rate)))
        self._apply_qt_settings()
        self._apply_speechd_settings()

    def close(self) -> None:
        """Stop this reader's own speech and let the engine go (on quitting)."""
        self.stop()
        if self._ssip is not None:
            self._ssip.close()

    def say(self, text: str, *, queue: bool = False) -> bool:
        """Start speaking ``text`` (interrupting, or after the current text with ``queue``).

        Returns False (and emits ``failed``) when nothing can speak."""
        text = text.strip()
        if not text:
            return False
        if not self.available:
            self.failed.emit(self.problem or "No speech engine")
            return False
        if queue and self._speaking:
            self._queue.append(text)
            return True
        self._queue.clear()
        self._halt()
        self._start(text)
        return True

    def stop(self) -> None:
        self._queue.clear()
        was_speaking = self._speaking
        self._halt()
        if was_speaking:
            self._speaking = False
            self.finished.emit()

    # -- engines --------------------------------------------------------------------------
    def _start(self, text: str) -> None:
        self.last_text = text
        self._speaking = True
        self.started.emit(text)
        if self._tts is not None:
            self._tts.say(text)
        elif self._ssip is not None:
            try:
                self._message = self._ssip.speak(text)
            except ssip.SsipError as exc:
                self._fail(str(exc))
        else:
            self._start_espeak(text)

    def _halt(self) -> None:
        """Silence the engine without reporting (say() replaces, stop() reports)."""
        if self._tts is not None:
            # Disconnect-free: a Ready state while not speaking is ignored in the handler.
            self._speaking = False
            self._tts.stop()
        if self._ssip is not None and self._message is not None:
            self._message = None  # its "cancelled" event, when it comes, is for no one
            with contextlib.suppress(ssip.SsipError):
                self._ssip.cancel_own()
        if self._process is not None:
            process, self._process = self._process, None
            process.finished.disconnect()
            process.errorOccurred.disconnect()
            process.kill()
            process.waitForFinished(1000)
            process.deleteLater()

    def _start_espeak(self, text: str) -> None:
        exe = espeak_executable()
        if exe is None:
            self._fail(f"{ESPEAK} is not installed")
            return
        process = QProcess(self)
        # Nothing useful is printed; stderr is ALSA chatter on machines without a sound card.
        process.setStandardOutputFile(QProcess.nullDevice())
        process.setStandardErrorFile(QProcess.nullDevice())
        process.finished.connect(self._espeak_finished)
        process.errorOccurred.connect(self._espeak_error)
        self._process = process
        process.start(exe, _espeak_args(self._voice, self._rate))
        process.write(text.encode("utf-8"))
        process.closeWriteChannel()

    def _espeak_finished(self, exit_code: int, _status: QProcess.ExitStatus) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.deleteLater()
        if exit_code != 0:
            self._fail(f"{ESPEAK} stopped with exit code {exit_code}")
            return
        self._next_or_finish()

    def _espeak_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            process, self._process = self._process, None
            if process is not None:
                process.deleteLater()
            self._fail(f"{ESPEAK} could not be started")

    def _qt_state_changed(self, state) -> None:
        from PySide6.QtTextToSpeech import QTextToSpeech

        if state == QTextToSpeech.State.Ready and self._speaking:
            self._next_or_finish()

    def _speechd_ended(self, message: int) -> None:
        if message == self._message and self._speaking:
            self._message = None
            self._next_or_finish()

    def _apply_speechd_settings(self) -> None:
        if self._ssip is None:
            return
        with contextlib.suppress(ssip.SsipError):
            self._ssip.command(f"SET SELF RATE {round(self._rate * 100)}")
            if self._voice:
                self._ssip.command(f"SET SELF SYNTHESIS_VOICE {self._voice}")

    def _apply_qt_settings(self) -> None:
        if self._tts is None:
            return
        self._tts.setRate(self._rate)
        if self._voice:
            for voice in self._tts.availableVoices():
                if voice.name() == self._voice:
                    self._tts.setVoice(voice)
                    break

    def _next_or_finish(self) -> None:
        if self._queue:
            self._start(self._queue.popleft())
            return
        self._speaking = False
        self.finished.emit()

    def _fail(self, message: str) -> None:
        self._queue.clear()
        self._speaking = False
        self.failed.emit(message)
