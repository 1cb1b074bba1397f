"""Run ``python -m converter`` from tests, as a user would, against this checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_converter(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "converter", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=600,
    )


FLICKR = ROOT.parent / "shared" / "datasets" / "flickr8k"


def tiny_train_args(out: Path, cache: Path, examples: int, dev: int, *extra: str) -> list[str]:
    """``train`` arguments of a tiny real run: EfficientNet-Lite0 features of ``examples``
    Flickr8k photos (scored on ``dev`` dev photos), batches of 16, every word kept."""
    return [
        *("train", "--dataset", "flickr8k", "--data-dir", str(FLICKR)),
        *("--backbone", "efficientnet_lite0", "--out", str(out)),
        *("--max-examples", str(examples), "--dev-limit", str(dev)),
        *("--batch-size", "16", "--min-count", "1", "--cache-dir", str(cache)),
        *extra,
    ]
