"""Pin what the shipped model says about the sample photos, so a change of behaviour is seen.

``python -m tests.support.pin_captions`` captions ``samples/`` with ``models/default`` at beam 1 and
beam 3 and rewrites ``tests/pinned/default.json``; ``tests/test_pinned.py`` then checks the
model still says exactly that. Re-pin deliberately, in the same commit as the model change,
and read the diff of the pin file: it is the change users will hear.

Every behaviour field of the result that exists is pinned (``PINNED_FIELDS``): the caption,
its score, and, once the result carries them, ``objects`` and ``confidence``. A field the
result has and the pin file lacks fails the test until it is re-pinned.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "models" / "default"
SAMPLES_DIR = ROOT / "samples"
PIN_FILE = ROOT / "tests" / "pinned" / "default.json"
BEAMS = (1, 3)
# Result fields that are behaviour (what the user hears or a program reads), in pin order.
# Not pinned: words (the text holds them), attention (a picture, checked elsewhere), timings.
PINNED_FIELDS = ("text", "score", "objects", "confidence", "text_lines", "text_kind")
FLOAT_DIGITS = 4  # scores are pinned to 1e-4 and compared to SCORE_TOLERANCE
SCORE_TOLERANCE = 2e-3  # float16 weights, XNNPACK on another CPU: last digits may differ


def sample_photos(folder: Path = SAMPLES_DIR) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def plain(value: Any) -> Any:
    """JSON-ready copy of a result field: dataclasses, tuples and arrays become dicts/lists,
    floats are rounded so the pin file diffs cleanly."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [plain(v) for v in value]
    if isinstance(value, float | np.floating):
        return round(float(value), FLOAT_DIGITS)
    if isinstance(value, np.integer):
        return int(value)
    return value


def pinned_view(result: Any) -> dict[str, Any]:
    """The fields of a CaptionResult that are pinned, those it has."""
    return {name: plain(getattr(result, name)) for name in PINNED_FIELDS if hasattr(result, name)}


def model_files(model_dir: Path) -> dict[str, str]:
    """sha256 of every file of the bundle, from its manifest: which model the pins are for."""
    manifest = json.loads((model_dir / "manifest.json").read_text(encoding="utf-8"))
    return {name: info["sha256"] for name, info in sorted(manifest["files"].items())}


def capture(model_dir: Path, photos: Sequence[Path]) -> dict[str, Any]:
    """What the model says about each photo at each beam width."""
    from desktop.captioner import Captioner, CaptionOptions

    captioner = Captioner.load(model_dir)
    pins: dict[str, Any] = {}
    for photo in photos:
        pins[photo.name] = {
            f"beam{width}": pinned_view(
                captioner.caption(photo, CaptionOptions(beam_width=width, with_attention=False))
            )
            for width in BEAMS
        }
    return {"model_files": model_files(model_dir), "photos": pins}


def differences(pinned: Any, actual: Any, where: str = "") -> list[str]:
    """Human-readable differences; floats within SCORE_TOLERANCE are equal."""
    if isinstance(pinned, dict) and isinstance(actual, dict):
        found = []
        for key in sorted(set(pinned) | set(actual)):
            if key not in actual:
                found.append(f"{where}/{key}: pinned, but the result has no such field")
            elif key not in pinned:
                found.append(f"{where}/{key}: new in the result, not pinned (re-pin)")
            else:
                found += differences(pinned[key], actual[key], f"{where}/{key}")
        return found
    if isinstance(pinned, list) and isinstance(actual, list) and len(pinned) == len(actual):
        return [
            d
            for i, (p, a) in enumerate(zip(pinned, actual, strict=True))
            for d in differences(p, a, f"{where}[{i}]")
        ]
    numbers = (int, float)
    if (
        isinstance(pinned, numbers)
        and isinstance(actual, numbers)
        and not isinstance(pinned, bool)
        and not isinstance(actual, bool)
    ):
        same = abs(pinned - actual) <= SCORE_TOLERANCE
    else:
        same = pinned == actual
    return [] if same else [f"{where}: pinned {pinned!r}, now {actual!r}"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.pin_captions", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--model", type=Path, default=MODEL_DIR)
    parser.add_argument("--out", type=Path, default=PIN_FILE)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    data = capture(args.model, sample_photos())
    old = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    changed = differences(old.get("photos", {}), data["photos"]) if old else ["(new file)"]
    print(f"pinned {len(data['photos'])} photos x beams {BEAMS} to {args.out}")
    for line in changed:
        print("  changed", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
