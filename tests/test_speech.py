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
    return QCoreApplication.instance() or QCoreApplication([])


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
