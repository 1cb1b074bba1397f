"""Two bundles' speed, photo by photo in turn, so a busy machine slows both alike.

    nice -n 0 python benchmarks/ab_speed.py --a /tmp/float-default --b models/default \\
        --images ../shared/datasets/flickr8k/Flicker8k_Dataset --limit 200 [--beam 3]

``captioner bench`` measures one bundle at a time; on a shared machine two such runs minutes
apart see different loads and their difference means little. Here each photo is captioned
by A, then by B (greedy and beam), after a warm-up, and the report gives each stage's median
for both (``CaptionResult.timings``: detector, encoder, decode loop, objects, end to end) and
the ratio B / A, which is the figure to quote when the machine is busy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from desktop.captioner import Captioner, CaptionOptions  # noqa: E402
from desktop.walk import find_photos  # noqa: E402

STAGES = ("detect_ms", "encode_ms", "decode_ms", "objects_ms", "total_ms")


def measure(captioners: dict[str, Captioner], photos: list[Path], beam: int) -> dict:
    times: dict[tuple[str, str, str], list[float]] = {}
    for width, mode in ((1, "greedy"), (beam, f"beam{beam}")):
        options = CaptionOptions(beam_width=width, with_attention=False)
        for captioner in captioners.values():  # warm-up: XNNPACK packs weights once
            captioner.caption(photos[0], options)
        for photo in photos:
            for name, captioner in captioners.items():
                start = time.perf_counter()
                timings = captioner.caption(photo, options).timings
                wall = (time.perf_counter() - start) * 1e3
                for stage in STAGES:
                    times.setdefault((mode, stage, name), []).append(getattr(timings, stage))
                times.setdefault((mode, "wall_ms", name), []).append(wall)
    return {key: statistics.median(values) for key, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", type=Path, required=True, help="the reference bundle")
    parser.add_argument("--b", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--beam", type=int, default=3)
    args = parser.parse_args(argv)
    photos = [f.path for f in find_photos([args.images], recursive=True) if f.error is None]
    photos = photos[: args.limit]
    if not photos:
        print(f"no photos in {args.images}", file=sys.stderr)
        return 2
    captioners = {"A": Captioner.load(args.a), "B": Captioner.load(args.b)}
    medians = measure(captioners, photos, args.beam)
    print(f"A = {args.a} ({captioners['A'].bundle.quantization})")
    print(f"B = {args.b} ({captioners['B'].bundle.quantization}); {len(photos)} photos, p50 ms")
    print("| mode | stage | A | B | B / A |")
    print("| --- | --- | --- | --- | --- |")
    for mode, stage, name in medians:
        if name != "A":
            continue
        a, b = medians[(mode, stage, "A")], medians[(mode, stage, "B")]
        ratio = f"{b / a:.2f}" if a > 0 else "–"
        print(f"| {mode} | {stage.removesuffix('_ms')} | {a:.2f} | {b:.2f} | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
