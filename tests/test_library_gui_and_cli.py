"""The app and ``captioner caption`` writing one caption library at once, for 30 s: every
write of both is there afterwards and neither side hits "database is locked" (issue 23's
target). The real window on Qt's offscreen platform, real ``captioner caption`` processes,
real SQLite; the app's edits go through its caption field and *Reviewed* box."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

os.environ["QT_QPA_PLATFORM"] = "offscreen"

try:
    from PySide6.QtWidgets import QApplication
except ImportError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"PySide6 cannot be loaded here: {exc}", allow_module_level=True)

import test_gui

from desktop.library import Library
from desktop.outputs import read_records

qapp, make_window, pump_until = test_gui.qapp, test_gui.make_window, test_gui.pump_until
REPO = Path(__file__).resolve().parent.parent
SECONDS = 30.0
PER_RUN = 10  # photos per CLI run (each run also pays its start and model load)


@pytest.fixture(autouse=True)
def private_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAPTIONER_CONFIG_DIR", str(tmp_path / "config"))


def copies(folder: Path, samples: list[Path], tag: str, n: int) -> list[Path]:
    """``n`` photos of distinct content (a photo the library knows by its content would
    take that one's caption instead of being captioned: not what this test is about)."""
    folder.mkdir(parents=True)
    made = []
    for i in range(n):
        sample = samples[i % len(samples)]
        photo = folder / f"{tag}-{i:02d}{sample.suffix}"
        photo.write_bytes(sample.read_bytes() + f"{tag} {i}".encode())
        made.append(photo)
    return made


class CliRuns(threading.Thread):
    """``captioner caption`` over a new folder, again and again until the deadline."""

    def __init__(self, root: Path, samples: list[Path], model: Path, deadline: float) -> None:
        super().__init__(daemon=True)
        self.root, self.samples, self.model, self.deadline = root, samples, model, deadline
        self.runs: list[tuple[Path, subprocess.CompletedProcess]] = []

    def run(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}  # the test's CAPTIONER_LIBRARY too
        while time.monotonic() < self.deadline:
            k = len(self.runs)
            folder = self.root / f"run-{k}"
            copies(folder, self.samples, f"cli{k}", PER_RUN)
            out = self.root / f"run-{k}.jsonl"
            cmd = [
                *(sys.executable, "-m", "desktop", "caption", str(folder), "-o", str(out)),
                *("--beam", "1", "--threads", "1", "--no-progress", "--model", str(self.model)),
            ]
            done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
            self.runs.append((out, done))


def test_the_app_and_a_cli_run_writing_one_library_lose_nothing(
    make_window, tmp_path, samples, default_model_dir, monkeypatch
):
    photos = copies(tmp_path / "app", samples, "app", 6)
    start = time.monotonic()
    cli = CliRuns(tmp_path / "cli", samples, default_model_dir, start + SECONDS)
    cli.start()

    window = make_window()
    said: list[str] = []
    monkeypatch.setattr(window, "report", lambda text, **_: said.append(text))
    window.open_folder(tmp_path / "app")
    assert pump_until(lambda: not window.is_busy(), seconds=SECONDS), "captioning did not end"
    rows = len(window.model.records)
    assert rows == len(photos)

    # The user reviews while the batch runs: an edit and a tick every few milliseconds,
    # each read back at once through a second connection, as another process sees it.
    edits = 0
    with Library() as reader:
        while cli.is_alive() or edits < 10:
            row = edits % rows
            window.select_row(row)
            text = f"Edit number {edits} of row {row}"
            window.inspector.caption.setPlainText(text)
            tick = window.inspector.reviewed
            tick.setChecked(not tick.isChecked())
            QApplication.processEvents()
            time.sleep(0.002)  # a fast typist, not a loop that never lets go of the disk
            entry = reader.get(window.model.records[row].path)
            assert entry is not None and entry.user_caption == text, (edits, entry, said)
            assert entry.reviewed == tick.isChecked(), edits
            edits += 1
    cli.join()
    elapsed = time.monotonic() - start

    assert not [s for s in said if "not being saved" in s or "locked" in s], said
    assert len(cli.runs) >= 2, f"only {len(cli.runs)} CLI runs in {elapsed:.0f} s"
    with Library() as lib:
        for record in window.model.records:  # the app's last words on every photo
            entry = lib.get(record.path)
            assert entry.user_caption == record.caption and entry.reviewed == record.reviewed
            assert entry.caption and entry.bundle  # the model's caption, stored as it came
        stored = 0
        for out, done in cli.runs:
            assert done.returncode == 0, done.stderr
            assert "locked" not in done.stderr and "warning" not in done.stderr, done.stderr
            records = read_records(out, "jsonl")
            assert len(records) == PER_RUN
            for r in records:
                assert lib.get(r.path).caption == r.caption  # every CLI record in the library
                stored += 1
    print(
        f"\n{elapsed:.1f} s: {edits} app edits and ticks read back at once, "
        f"{len(cli.runs)} CLI runs storing {stored} captions, nothing lost"
    )
