"""desktop/settings.py: round trip, atomic save, tolerance of corrupt or odd files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from desktop import settings as settings_mod
from desktop.settings import Settings


@pytest.fixture()
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(settings_mod.CONFIG_DIR_ENV, str(tmp_path / "cfg"))
    return tmp_path / "cfg" / settings_mod.FILE_NAME


def test_missing_file_gives_defaults(cfg: Path) -> None:
    loaded, problems = settings_mod.load_with_problems()
    assert loaded == Settings()
    assert problems == []
    assert not cfg.exists()


def test_round_trip(cfg: Path) -> None:
    original = Settings(
        model_dir="/models/x",
        threads=4,
        delegate="/usr/lib/libdelegate.so",
        beam_width=5,
        auto_read="arrival",
        voice="en-gb",
        rate=-0.5,
        high_contrast=True,
        last_folder="/photos",
    )
    written = settings_mod.save(original)
    assert written == cfg
    assert settings_mod.load() == original
    # Saving leaves no temp files behind.
    assert sorted(p.name for p in cfg.parent.iterdir()) == [settings_mod.FILE_NAME]


def test_default_location_is_platform_config_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.delenv(settings_mod.CONFIG_DIR_ENV, raising=False)
    expected = Path(platformdirs.user_config_dir("captioner", appauthor=False))
    assert settings_mod.settings_path() == expected / "settings.json"


def test_corrupt_file_is_moved_aside_not_lost(cfg: Path) -> None:
    cfg.parent.mkdir(parents=True)
    cfg.write_text('{"beam_width": 4,', encoding="utf-8")
    loaded, problems = settings_mod.load_with_problems()
    assert loaded == Settings()
    assert len(problems) == 1 and "corrupt" in problems[0]
    aside = cfg.with_name("settings.json.corrupt")
    assert aside.read_text(encoding="utf-8") == '{"beam_width": 4,'
    assert not cfg.exists()


@pytest.mark.parametrize(
    "content, reason",
    [(b"[" * 100_000, "nested too deeply"), (b'{"voice": "caf\xe9"}', "utf-8")],
    ids=["100,000 [", "not UTF-8"],
)
def test_a_hostile_file_is_moved_aside_like_any_corrupt_one(
    cfg: Path, content: bytes, reason: str
) -> None:
    """Issue 21, finding 11: 100,000 '[' made the GUI die with RecursionError at every
    start (and bytes that are not UTF-8 with UnicodeDecodeError)."""
    cfg.parent.mkdir(parents=True)
    cfg.write_bytes(content)
    loaded, problems = settings_mod.load_with_problems()
    assert loaded == Settings()
    assert len(problems) == 1 and "corrupt" in problems[0] and reason in problems[0]
    assert cfg.with_name("settings.json.corrupt").read_bytes() == content
    assert not cfg.exists()
    assert settings_mod.load_with_problems() == (Settings(), [])  # the next start is clean


def test_non_object_json_is_corrupt(cfg: Path) -> None:
    cfg.parent.mkdir(parents=True)
    cfg.write_text("[1, 2, 3]", encoding="utf-8")
    loaded, problems = settings_mod.load_with_problems()
    assert loaded == Settings()
    assert "not a JSON object" in problems[0]


def test_bad_values_fall_back_one_by_one(cfg: Path) -> None:
    cfg.parent.mkdir(parents=True)
    cfg.write_text(
        json.dumps(
            {
                "beam_width": 99,
                "rate": 1,  # an int is a fine number
                "auto_read": "sometimes",
                "threads": True,
                "voice": "en-us",
                "from_a_newer_version": 1,
            }
        ),
        encoding="utf-8",
    )
    loaded, problems = settings_mod.load_with_problems()
    assert loaded.beam_width == 3
    assert loaded.auto_read == "off"
    assert loaded.threads is None
    assert loaded.rate == 1.0
    assert loaded.voice == "en-us"
    assert len(problems) == 3
    assert any("beam_width" in p and "99" in p for p in problems)


def test_replace_validates() -> None:
    s = Settings()
    assert s.replace(beam_width=7).beam_width == 7
    with pytest.raises(ValueError, match="beam_width"):
        s.replace(beam_width=0)
    with pytest.raises(ValueError, match="rate"):
        s.replace(rate=3.0)
    with pytest.raises(ValueError, match="auto_read"):
        s.replace(auto_read="loud")


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().beam_width = 2  # type: ignore[misc]


def test_failed_save_keeps_old_file(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings_mod.save(Settings(beam_width=2))

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", boom)
        with pytest.raises(OSError, match="disk full"):
            settings_mod.save(Settings(beam_width=9))
    assert settings_mod.load().beam_width == 2
    assert [p.name for p in cfg.parent.iterdir()] == [settings_mod.FILE_NAME]
