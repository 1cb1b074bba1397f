"""Compare exported bundles on dev quality, latency and size: the model card's table.

    python benchmarks/compare_models.py --data-dir ../shared/datasets/flickr8k \
        runs/lite2/bundle-float16 runs/lite0/bundle-float16 … [--limit 1000] [--beam 3]

For each bundle: ``converter evaluate`` (pycocoevalcap on the dev split, through the desktop
runtime) and ``captioner bench`` (latency on dev photos), then one markdown table row.
Needs the training extra (for the metrics). Bundles are evaluated one after another so the
timings do not disturb each other.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def bundle_mb(bundle: Path) -> float:
    manifest = json.loads((bundle / "manifest.json").read_text())
    return sum(f["bytes"] for f in manifest["files"].values() if f) / 1e6


def bench(bundle: Path, images: Path, limit: int) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "desktop.cli",
            "bench",
            "--model",
            str(bundle),
            "--images",
            str(images),
            "--limit",
            str(limit),
            "--repeat",
            "30",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="+", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--beam", type=int, default=3)
    parser.add_argument("--limit", type=int, help="first N dev photos (default: all)")
    parser.add_argument("--bench-photos", type=int, default=200)
    args = parser.parse_args()

    from converter.evaluate import evaluate

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for bundle in args.bundles:
            report = evaluate(
                bundle=bundle,
                split="dev",
                beam=args.beam,
                limit=args.limit,
                plots=0,
                out=Path(tmp) / bundle.name,
                data_dir=args.data_dir,
            )
            manifest = json.loads((bundle / "manifest.json").read_text())
            figures = bench(bundle, args.data_dir / "Flicker8k_Dataset", args.bench_photos)
            m, e2e = report["metrics"], figures["end_to_end_ms"]
            rows.append(
                f"| {bundle} | {manifest['backbone']} | {manifest['quantization']} | "
                f"{m['BLEU-4']:.3f} | {m['METEOR']:.3f} | {m['CIDEr']:.3f} | "
                f"{e2e['greedy']['p50']:.0f} | {e2e['beam3']['p50']:.0f} | "
                f"{figures['encoder_ms']['p50']:.0f} | {bundle_mb(bundle):.1f} |"
            )
            print(rows[-1], flush=True)
            (Path(tmp) / f"{bundle.name}.bench.json").write_text(json.dumps(figures))
    columns = [
        "bundle",
        "backbone",
        "weights",
        "BLEU-4",
        "METEOR",
        "CIDEr",
        "greedy_ms",
        "beam3_ms",
        "encoder_ms",
        "MB",
    ]
    print("| " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
