"""User settings of the desktop app, persisted as JSON in the platform config folder.

The file lives in ``platformdirs.user_config_dir("captioner")`` (``~/.config/captioner`` on
Linux, ``%LOCALAPPDATA%\\captioner`` on Windows, ``~/Library/Application Support/captioner`` on
macOS); ``CAPTIONER_CONFIG_DIR`` overrides it (tests, portable installs).

Reading never fails: a missing file gives the defaults, a corrupt file is moved aside to
``settings.json.corrupt`` (so nothing the user wrote is lost) and the defaults are used, and a
single bad value falls back to its default while the others are kept. Each problem is returned
as a message so the GUI can show it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_args

import platformdirs

from desktop.files import write_atomic
from desktop.runtime import ACCELERATORS, default_accelerator

APP_NAME = "captioner"
FILE_NAME = "settings.json"
CONFIG_DIR_ENV = "CAPTIONER_CONFIG_DIR"

AutoRead = Literal["off", "selection", "arrival"]
AUTO_READ_CHOICES: tuple[str, ...] = get_args(AutoRead)

MIN_BEAM, MAX_BEAM = 1, 10
MIN_RATE, MAX_RATE = -1.0, 1.0
MAX_THREADS = 256


@dataclass(frozen=True)
class Settings:
    """Everything the app remembers between runs. ``None`` means "use the default"."""

    model_dir: str | None = None  # model bundle folder; None → models/default
    threads: int | None = None  # CPU threads for LiteRT; None → the runtime decides
    delegate: str | None = None  # path to a LiteRT delegate library (GPU, NPU …)
    # auto, cpu, gpu or npu (desktop/runtime.py); a delegate wins. The default follows
    # $CAPTIONER_ACCELERATOR as the command line does (else auto).
    accelerator: str = dataclasses.field(default_factory=default_accelerator)
    beam_width: int = 3
    auto_read: AutoRead = "off"  # read captions aloud: never, on selection, as they arrive
    # Automatic reading steps aside while a screen reader runs (it reads the focused photo
    # itself); True reads anyway.
    auto_read_with_screen_reader: bool = False
    voice: str = ""  # "" → the speech engine's default voice
    rate: float = 0.0  # speaking rate, -1 (slow) … 0 (normal) … 1 (fast), as QTextToSpeech
    high_contrast: bool = False
    last_folder: str | None = None

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied and validated (raises ValueError on a bad value)."""
        updated = dataclasses.replace(self, **changes)
        problems = _problems(updated)
        if problems:
            raise ValueError("; ".join(problems))
        return updated


def config_dir() -> Path:
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def settings_path() -> Path:
    return config_dir() / FILE_NAME


def _check_field(name: str, value: Any) -> str | None:
    """Why ``value`` is not acceptable for field ``name``, or None if it is."""
    optional_str = ("model_dir", "delegate", "last_folder")
    if name in optional_str:
        if value is not None and not isinstance(value, str):
            return f"{name} must be a path or null, not {value!r}"
    elif name == "threads":
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_THREADS
        ):
            return f"threads must be null or a whole number from 1 to {MAX_THREADS}, not {value!r}"
    elif name == "beam_width":
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not (MIN_BEAM <= value <= MAX_BEAM)
        ):
            return f"beam_width must be a whole number from {MIN_BEAM} to {MAX_BEAM}, not {value!r}"
    elif name == "accelerator":
        if value not in ACCELERATORS:
            return f"accelerator must be one of {', '.join(ACCELERATORS)}, not {value!r}"
    elif name == "auto_read":
        if value not in AUTO_READ_CHOICES:
            return f"auto_read must be one of {', '.join(AUTO_READ_CHOICES)}, not {value!r}"
    elif name == "voice":
        if not isinstance(value, str):
            return f"voice must be text, not {value!r}"
    elif name == "rate":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (MIN_RATE <= value <= MAX_RATE)
        ):
            return f"rate must be a number from {MIN_RATE} to {MAX_RATE}, not {value!r}"
    elif name in ("high_contrast", "auto_read_with_screen_reader") and not isinstance(value, bool):
        return f"{name} must be true or false, not {value!r}"
    return None


def _problems(settings: Settings) -> list[str]:
    return [
        problem
        for f in fields(Settings)
        if (problem := _check_field(f.name, getattr(settings, f.name))) is not None
    ]


def from_dict(data: dict[str, Any]) -> tuple[Settings, list[str]]:
    """Settings from a decoded JSON object: bad values fall back to defaults, with a message."""
    defaults = Settings()
    values: dict[str, Any] = {}
    problems: list[str] = []
    known = {f.name for f in fields(Settings)}
    for name, value in data.items():
        if name not in known:
            # A newer version may have written it; ignoring keeps this one working.
            continue
        if name == "rate" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        problem = _check_field(name, value)
        if problem:
            problems.append(f"{problem}; using {getattr(defaults, name)!r}")
        else:
            values[name] = value
    return dataclasses.replace(defaults, **values), problems


def to_dict(settings: Settings) -> dict[str, Any]:
    return dataclasses.asdict(settings)


def load_with_problems(path: Path | None = None) -> tuple[Settings, list[str]]:
    """Read the settings file; never raises. Returns the settings and what was wrong, if any."""
    path = path or settings_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings(), []
    except OSError as exc:
        return Settings(), [f"Could not read settings file {path}: {exc.strerror or exc}"]
    try:
        data = json.loads(raw.decode("utf-8"))  # UnicodeDecodeError is a ValueError
        if not isinstance(data, dict):
            raise ValueError("the top level is not a JSON object")
    except RecursionError:
        # 100,000 '[' make json recurse past the limit: as corrupt as any, not a crash at
        # every start.
        return _moved_aside(path, "nested too deeply")
    except ValueError as exc:
        return _moved_aside(path, exc)
    return from_dict(data)


def _moved_aside(path: Path, reason: object) -> tuple[Settings, list[str]]:
    """Defaults, after moving a corrupt file to ``settings.json.corrupt`` (nothing lost)."""
    aside = path.with_name(path.name + ".corrupt")
    moved = ""
    with contextlib.suppress(OSError):
        os.replace(path, aside)
        moved = f"; it was moved to {aside}"
    return Settings(), [f"Settings file {path} is corrupt ({reason}){moved}; using defaults"]


def load(path: Path | None = None) -> Settings:
    return load_with_problems(path)[0]


def save(settings: Settings, path: Path | None = None) -> Path:
    """Write atomically (temp file in the same folder + os.replace) so a crash never truncates."""
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(to_dict(settings), indent=2, sort_keys=True) + "\n")
    return path
