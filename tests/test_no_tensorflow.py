"""desktop/ must never import TensorFlow (nor Keras): it ships without them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

PROBE = r"""
import importlib, json, pkgutil, sys
import desktop

HEAVY = ("tensorflow", "keras", "tf_keras")

try:
    import PySide6.QtWidgets  # noqa: F401
    gui = True
except ImportError:  # no PySide6 (or no system Qt libraries): the GUI modules are skipped
    gui = False

imported, failed = [], {}
for info in pkgutil.walk_packages(desktop.__path__, "desktop."):
    if info.name.startswith("desktop.gui") and not gui:
        continue
    try:
        importlib.import_module(info.name)
        imported.append(info.name)
    except Exception as e:
        failed[info.name] = f"{type(e).__name__}: {e}"

# Running the model must not pull TensorFlow in lazily either.
model = sys.argv[1]
captioned = None
if model:
    from desktop.captioner import Captioner, CaptionOptions
    captioned = Captioner.load(model).caption(sys.argv[2], CaptionOptions(beam_width=2)).text
print(json.dumps({
    "imported": imported, "failed": failed, "gui": gui, "captioned": captioned,
    "heavy": sorted(m for m in sys.modules if m.split(".")[0] in HEAVY),
}))
"""


def test_no_desktop_module_imports_tensorflow():
    model = REPO / "models" / "default"
    sample = next(iter(sorted((REPO / "samples").glob("*.jpg"))), None)
    use_model = (model / "manifest.json").is_file() and sample is not None
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(model) if use_model else "", str(sample or "")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["failed"] == {}
    assert "desktop.captioner" in report["imported"] and "desktop.cli" in report["imported"]
    assert report["heavy"] == [], f"desktop pulled in {report['heavy']}"
    if use_model:
        assert report["captioned"]
