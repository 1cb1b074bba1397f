"""Where the shipped model lives: in a source checkout or beside a PyInstaller-frozen app."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Overrides the shipped model without editing anything (tests, packagers, power users).
MODEL_ENV = "CAPTIONER_MODEL"


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def app_roots() -> list[Path]:
    """Folders that may hold ``models/``, most specific first."""
    if is_frozen():
        roots = []
        # One-file builds unpack data into _MEIPASS; one-folder builds put it there too
        # (``_internal``) or, if the packager chose so, beside the executable.
        meipass = getattr(sys, "_MEIPASS", None)
        if meipass:
            roots.append(Path(meipass))
        exe_dir = Path(sys.executable).resolve().parent
        roots.append(exe_dir)
        # macOS .app bundles keep data in Contents/Resources next to Contents/MacOS.
        roots.append(exe_dir.parent / "Resources")
        return roots
    return [Path(__file__).resolve().parent.parent]


def default_model_dir() -> Path:
    """``models/default`` of the checkout or frozen app (``$CAPTIONER_MODEL`` wins)."""
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env)
    candidates = [root / "models" / "default" for root in app_roots()]
    for candidate in candidates:
        if (candidate / "manifest.json").is_file():
            return candidate
    # Not found anywhere: name the first place so the error message is useful.
    return candidates[0]
