"""The frozen app as the slow tests use it: one PyInstaller build of build.spec, and the
environment of a user's first run (no developer settings leaking in).

conftest.py's session fixture ``frozen_app`` builds it once per test run for both
tests/test_dist.py and tests/test_installers.py (the build is most of their time).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NAME = "captioner"
# Settings and model overrides of the developer running the tests must not leak in.
LEAKY_ENV = ("CAPTIONER_MODEL", "CAPTIONER_CONFIG_DIR", "PYTHONPATH", "PYTHONHOME")


def build(root: Path) -> Path:
    """``root/dist/captioner`` built from build.spec; skips when PyInstaller cannot run here."""
    pytest.importorskip(
        "PyInstaller", reason="PyInstaller is not installed (pip install '.[build]')"
    )
    pytest.importorskip(
        "PySide6", reason="PySide6 is not installed, so the app's GUI cannot be bundled"
    )
    if sys.platform.startswith("linux") and shutil.which("objdump") is None:
        pytest.skip("PyInstaller needs objdump on Linux: apt-get install binutils")
    done = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm",
         "--distpath", str(root / "dist"), "--workpath", str(root / "work"), "build.spec"],
        cwd=REPO, capture_output=True, text=True, timeout=900,  # a hang guard, not a speed test
    )
    assert done.returncode == 0, f"PyInstaller failed:\n{done.stderr[-4000:]}"
    folder = root / "dist" / NAME
    assert folder.is_dir(), f"no {folder} after the build"
    return folder


def executable(app: Path) -> Path:
    return app / (f"{NAME}.exe" if os.name == "nt" else NAME)


def first_run_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a first run on a fresh account (home and config under tmp_path)."""
    clean = {k: v for k, v in os.environ.items() if k not in LEAKY_ENV}
    clean.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    (tmp_path / "home").mkdir(exist_ok=True)
    return clean


def assert_captions_samples_like_the_source_tree(command: Path, env: dict[str, str],
                                                 cwd: Path, samples: list[Path],
                                                 captioner) -> None:
    """``command caption samples`` (a frozen or installed app) writes, for every sample photo,
    the very caption the checkout's runtime writes: an English sentence of the model's words."""
    from desktop.captioner import CaptionOptions

    done = subprocess.run(
        [str(command), "caption", str(REPO / "samples"), "--format", "jsonl", "--no-progress"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    records = {Path(r["path"]).name: r for r in map(json.loads, done.stdout.splitlines())}
    assert sorted(records) == sorted(p.name for p in samples)

    vocabulary = set(json.loads((REPO / "models" / "default" / "vocab.json").read_text()))
    for photo in samples:
        record = records[photo.name]
        caption = record["caption"]
        assert record["error"] is None and caption, record
        # An English sentence made of the model's own words, as the runtime formats it.
        assert re.fullmatch(r"[A-Z].*\.", caption), caption
        words = caption[:-1].lower().split()
        assert words and set(words) <= vocabulary, (caption, set(words) - vocabulary)
        # The same LiteRT and the same model as the checkout: the very same caption.
        expected = captioner.caption(photo, options=CaptionOptions(with_attention=False))
        assert caption == expected.text, photo.name


def assert_screenshot_shows_captioned_photos(shot: Path) -> None:
    """A window with photos, captions and a heat map in it, not a flat fill."""
    import numpy as np
    from PIL import Image

    image = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float32)
    assert image.shape[0] >= 600 and image.shape[1] >= 1000
    assert image.std() > 20
    assert len(np.unique(image.reshape(-1, 3)[::7], axis=0)) > 1000
