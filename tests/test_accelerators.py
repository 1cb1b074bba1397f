"""desktop.runtime's accelerators (tests/support/accelerator_cases.py), run in a process of
their own.

LiteRT's CompiledModel (the GPU and NPU path) crashes the process (segfault) when
TensorFlow is loaded beside it, and the suite loads TensorFlow while collecting the
converter's tests; the app itself never loads TensorFlow (tests/test_no_tensorflow.py). So
the cases run in a fresh interpreter, with the same strict-skip rule as this run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_accelerator_cases_pass_in_a_process_without_tensorflow():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(HERE / "support" / "accelerator_cases.py"),
        ],
        cwd=HERE.parent,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    # The summary line, not any line: a warning's text may say "it failed on the GPU".
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and " failed" not in summary, proc.stdout[-3000:]
    # A GPU that gave up mid-run leaves the CPU comparing with itself: say so, loudly.
    assert "FallbackWarning" not in proc.stdout, proc.stdout[-3000:]
