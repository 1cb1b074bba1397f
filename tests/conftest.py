"""Shared fixtures: the shipped model bundle, one Captioner per session, sample photos."""

from __future__ import annotations

import os

# Before anything loads TensorFlow (the converter's tests do, while being collected): its
# libraries carry an SQLite without FTS5 whose symbols the sqlite3 module would otherwise
# bind to, and the caption library (desktop/library.py) needs FTS5. The app never loads
# TensorFlow; the suite does, so the module is loaded first here.
import sqlite3  # noqa: F401
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# $CAPTIONER_MODEL runs the suite against another bundle (e.g. an int8 export).
MODEL_DIR = Path(os.environ.get("CAPTIONER_MODEL", REPO / "models" / "default"))
SAMPLES_DIR = REPO / "samples"
# The suite's pinned captions are the CPU's; tests/test_accelerators.py asks for the others
# by name. (Also spares each CLI subprocess auto's ~0.7 s look for a GPU.)
os.environ.setdefault("CAPTIONER_ACCELERATOR", "cpu")
# Read-only Flickr8k photos beside the checkout (never copied into the repo).
FLICKR8K_DIR = Path(
    os.environ.get(
        "FLICKR8K_PHOTOS", REPO.parent / "shared" / "datasets" / "flickr8k" / "Flicker8k_Dataset"
    )
)


@pytest.fixture(autouse=True)
def _own_library(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test (and the processes it starts) records into a library of its own, never
    the user's (desktop/library.py; CAPTIONER_LIBRARY)."""
    folder = tmp_path_factory.mktemp("library")
    monkeypatch.setenv("CAPTIONER_LIBRARY", str(folder / "library.sqlite3"))


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
    from tests.support.frozen_app import build

    return build(tmp_path_factory.mktemp("pyinstaller"))


# -- CI fails on unexpected skips -------------------------------------------------------------
# Under CI (CI=true, as CI sets it, or CAPTIONER_STRICT_SKIPS=1) every skip must match one of
# these reasons, or the run fails: a skip for a missing package, file or data set in CI means
# the setup is broken and the test's guarantee is silently gone. CI installs every extra and
# the Debian packages in .ci/apt-packages.txt and has ../shared, so nothing is expected to
# skip; add a pattern here only with the reason it cannot run in CI.
EXPECTED_SKIPS_IN_CI: tuple[str, ...] = (
    # tests/test_accelerators.py: a CI host with a hardware GPU has no software one to test.
    r"^no software GPU adapter here",
)


def _strict_skips() -> bool:
    flag = os.environ.get("CAPTIONER_STRICT_SKIPS", os.environ.get("CI", ""))
    return flag.strip().lower() in ("1", "true", "yes")


_skips: list[tuple[str, str]] = []


def _record_skip(report) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        _skips.append((report.nodeid, reason.removeprefix("Skipped: ")))


def pytest_runtest_logreport(report) -> None:
    _record_skip(report)


def pytest_collectreport(report) -> None:
    _record_skip(report)


def unexpected_skips() -> list[tuple[str, str]]:
    import re

    return [
        (node, reason)
        for node, reason in _skips
        if not any(re.search(pattern, reason) for pattern in EXPECTED_SKIPS_IN_CI)
    ]


def pytest_sessionfinish(session, exitstatus) -> None:
    if _strict_skips() and unexpected_skips() and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter) -> None:
    found = unexpected_skips()
    if _strict_skips() and found:
        terminalreporter.section("unexpected skips (CI fails on these)", red=True)
        for node, reason in found:
            terminalreporter.line(f"{node}: {reason}")
        terminalreporter.line(
            "Install what is missing (.ci/apt-packages.txt, the extras), or add the reason to "
            "EXPECTED_SKIPS_IN_CI in tests/conftest.py with why it cannot run in CI."
        )
