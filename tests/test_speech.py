"""desktop/speech.py: espeak-ng WAV synthesis and the Speech reader on real engines."""

from __future__ import annotations

import os
import time
import wave
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

try:
    from PySide6.QtCore import QCoreApplication
except ImportError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"PySide6 cannot be imported: {exc}", allow_module_level=True)

from desktop import speech
from desktop.speech import Speech, SpeechError

needs_espeak = pytest.mark.skipif(
    speech.espeak_executable() is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng; listed in .ci/apt-packages.txt)",
)

CAPTION = "A dog runs through the grass."


@pytest.fixture(scope="module")
def app() -> QCoreApplication:
    # A QApplication, not a bare QCoreApplication: the one instance lives for the whole run,
    # and the GUI tests after this file need a widget application (style, palette).
    from PySide6.QtWidgets import QApplication

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    return QCoreApplication.instance() or QApplication([])


def wait_for(condition, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        QCoreApplication.processEvents()
        if condition():
            return True
        time.sleep(0.01)
    return condition()


class Recorder:
    """Collects a Speech object's signals."""

    def __init__(self, reader: Speech) -> None:
        self.started: list[str] = []
        self.finished = 0
        self.failed: list[str] = []
        reader.started.connect(self.started.append)
        reader.finished.connect(self._finished)
        reader.failed.connect(self.failed.append)

    def _finished(self) -> None:
        self.finished += 1


def test_rate_maps_to_espeak_words_per_minute() -> None:
    assert speech.rate_to_wpm(0.0) == 175
    assert speech.rate_to_wpm(-1.0) == 88
    assert speech.rate_to_wpm(1.0) == 350
    assert speech.rate_to_wpm(5.0) == 350  # clamped like QTextToSpeech


@needs_espeak
def test_synthesize_to_wav_writes_audio(tmp_path: Path) -> None:
    out = speech.synthesize_to_wav(CAPTION, tmp_path / "sub" / "caption.wav")
    assert out == tmp_path / "sub" / "caption.wav"
    with wave.open(str(out)) as wav:
        frames = wav.getnframes()
        rate = wav.getframerate()
    # A spoken sentence lasts well over a tenth of a second.
    assert frames > rate // 10
    assert [p.name for p in out.parent.iterdir()] == ["caption.wav"]  # no temp file left


@needs_espeak
def test_faster_rate_gives_shorter_audio(tmp_path: Path) -> None:
    slow = speech.synthesize_to_wav(CAPTION, tmp_path / "slow.wav", rate=-1.0)
    fast = speech.synthesize_to_wav(CAPTION, tmp_path / "fast.wav", rate=1.0)
    with wave.open(str(slow)) as s, wave.open(str(fast)) as f:
        assert f.getnframes() < s.getnframes()


@needs_espeak
def test_synthesize_rejects_empty_text_and_bad_voice(tmp_path: Path) -> None:
    with pytest.raises(SpeechError, match="no text"):
        speech.synthesize_to_wav("   ", tmp_path / "x.wav")
    with pytest.raises(SpeechError):
        speech.synthesize_to_wav(CAPTION, tmp_path / "y.wav", voice="no-such-voice-xx")
    assert list(tmp_path.iterdir()) == []


@needs_espeak
def test_espeak_voices_list_english_first() -> None:
    voices = speech.espeak_voices()
    assert voices, "espeak-ng lists no voices"
    assert voices[0].id.startswith("en")
    assert any(v.id == "en-us" for v in voices)


@needs_espeak
def test_espeak_reader_speaks_and_finishes(app: QCoreApplication) -> None:
    reader = Speech(engine="espeak-ng")
    rec = Recorder(reader)
    assert reader.backend == "espeak-ng" and reader.available
    assert reader.say(CAPTION)
    assert rec.started == [CAPTION] and reader.speaking
    assert wait_for(lambda: rec.finished == 1)
    assert not reader.speaking and rec.failed == []


@needs_espeak
def test_espeak_reader_queues_then_stops(app: QCoreApplication) -> None:
    reader = Speech(engine="espeak-ng")
    rec = Recorder(reader)
    reader.say("First caption.")
    reader.say("Second caption.", queue=True)
    assert wait_for(lambda: rec.finished == 1)
    assert rec.started == ["First caption.", "Second caption."]
    reader.say("Third caption.")
    reader.stop()
    assert not reader.speaking
    assert rec.finished == 2
    assert reader.last_text == "Third caption."


def test_no_engine_reports_instead_of_raising(app: QCoreApplication) -> None:
    reader = Speech(engine="none")
    rec = Recorder(reader)
    assert not reader.available
    assert reader.say(CAPTION) is False
    assert rec.failed and rec.started == []


def test_qt_engine_path(app: QCoreApplication) -> None:
    if "mock" not in speech.qt_engines():
        pytest.skip("QtTextToSpeech or its silent 'mock' engine is not available here")
    reader = Speech(engine="qt:mock", rate=0.5)
    rec = Recorder(reader)
    assert reader.backend == "qt:mock"
    voices = reader.voices()
    assert voices
    reader.set_voice(voices[-1].id)
    assert reader.say(CAPTION)
    assert rec.started == [CAPTION]
    assert wait_for(lambda: rec.finished == 1)
    assert rec.failed == []


def test_automatic_choice_never_picks_the_silent_mock(app: QCoreApplication) -> None:
    reader = Speech()
    assert reader.backend != "qt:mock"
    if not reader.available:
        assert reader.problem


# -- speech-dispatcher (issue 22, finding 7) ---------------------------------------------------
@pytest.fixture()
def speechd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from tests.support import fake_speechd

    daemon = fake_speechd.start(tmp_path)
    monkeypatch.setenv("SPEECHD_ADDRESS", daemon.address)
    yield daemon
    daemon.close()


def test_speech_dispatcher_cancels_only_its_own_speech(app: QCoreApplication, speechd,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """F5 and quitting used to send CANCEL ALL (Qt's engine), which also stopped Orca."""
    monkeypatch.setenv("LANG", "en_GB.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    reader = Speech()  # chosen automatically, as the app does
    rec = Recorder(reader)
    assert reader.backend == speech.BACKEND_SPEECHD
    assert reader.say("First caption.")
    assert reader.say("Second caption.")  # F5 again: interrupts our own text
    reader.say("Third caption.", queue=True)
    assert wait_for(lambda: rec.finished == 1)
    assert rec.started == ["First caption.", "Second caption.", "Third caption."]
    reader.say("Fourth caption.")
    reader.stop()  # Shift+F5
    reader.close()  # quitting
    assert wait_for(lambda: "QUIT" in speechd.commands)
    cancels = [c for c in speechd.commands if c.upper().startswith("CANCEL")]
    assert cancels and set(cancels) == {"CANCEL SELF"}, speechd.commands
    assert "SET SELF LANGUAGE en" in speechd.commands


@pytest.mark.parametrize(("env", "language"), [
    ({"LANG": "C"}, "en"), ({"LC_ALL": "POSIX"}, "en"), ({}, "en"),
    ({"LANG": "de_DE.UTF-8"}, "de"), ({"LANG": "sw_KE.UTF-8"}, "en"),  # no Swahili voice
    ({"LC_ALL": "C", "LANG": "de_DE.UTF-8"}, "en"),
])
def test_default_voice_is_the_users_language_or_english(app: QCoreApplication, speechd,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        env: dict, language: str) -> None:
    """Under the C locale Qt asked for language "c" and got "Bishnupriya Manipuri"."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reader = Speech(engine=speech.BACKEND_SPEECHD)
    assert reader.available, reader.problem
    languages = [c for c in speechd.commands if c.startswith("SET SELF LANGUAGE")]
    assert languages == [f"SET SELF LANGUAGE {language}"]
    voices = reader.voices()  # the user's language and English, nothing unrelated
    assert voices[0].name.startswith("English")
    assert not any("Bishnupriya" in v.name for v in voices)
    assert any("German" in v.name for v in voices) == (language == "de")
    reader.close()


def test_no_speech_dispatcher_falls_back(app: QCoreApplication, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPEECHD_ADDRESS", f"unix_socket:{tmp_path / 'nobody-here.sock'}")
    reader = Speech()
    assert reader.backend not in (speech.BACKEND_SPEECHD, "qt:speechd", "qt:mock")
