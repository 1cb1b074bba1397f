"""Shared fixtures: the shipped model bundle, one Captioner per session, sample photos."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# $CAPTIONER_MODEL runs the suite against another bundle (e.g. an int8 export).
MODEL_DIR = Path(os.environ.get("CAPTIONER_MODEL", REPO / "models" / "default"))
SAMPLES_DIR = REPO / "samples"
# Read-only Flickr8k photos beside the checkout (never copied into the repo).
FLICKR8K_DIR = Path(
    os.environ.get(
        "FLICKR8K_PHOTOS", REPO.parent / "shared" / "datasets" / "flickr8k" / "Flicker8k_Dataset"
    )
)


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """models/default; tests that need it skip (with the reason) while it is absent."""
    if not (MODEL_DIR / "manifest.json").is_file():
        pytest.skip(
            f"no model bundle at {MODEL_DIR} (export one with `python -m converter export`)"
        )
    return MODEL_DIR


@pytest.fixture(scope="session")
def captioner(default_model_dir):
    """One Captioner for the whole session (loading costs ~0.1 s, and LiteRT is the same)."""
    from desktop.captioner import Captioner

    return Captioner.load(default_model_dir)


@pytest.fixture(scope="session")
def samples() -> list[Path]:
    """The repo's sample photos (samples/*.jpg|png), sorted."""
    photos = sorted(
        p for p in SAMPLES_DIR.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")
    )
    if not photos:
        pytest.skip(f"no sample photos in {SAMPLES_DIR}")
    return photos


@pytest.fixture(scope="session")
def flickr_photos() -> list[Path]:
    """The first 60 Flickr8k photos (224x224 JPEGs, as in training); skips if absent."""
    if not FLICKR8K_DIR.is_dir():
        pytest.skip(f"Flickr8k photos not found at {FLICKR8K_DIR}")
    photos = sorted(FLICKR8K_DIR.glob("*.jpg"))[:60]
    if len(photos) < 60:
        pytest.skip(f"fewer than 60 photos in {FLICKR8K_DIR}")
    return photos


@pytest.fixture(scope="session")
def frozen_app(tmp_path_factory: pytest.TempPathFactory, default_model_dir: Path) -> Path:
    """The PyInstaller app (``dist/captioner``), built once per test run into a temporary
    folder for tests/test_dist.py and tests/test_installers.py."""
    from frozen_app import build

    return build(tmp_path_factory.mktemp("pyinstaller"))
