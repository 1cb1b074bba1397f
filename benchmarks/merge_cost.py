"""What ``captioner merge`` costs per million records: wall time and peak memory.

Writes a synthetic sharded run (N shard outputs with their ``.shard.json``, records shaped
like real ones) and times ``captioner merge`` on it in a fresh process::

    nice -n 10 python benchmarks/merge_cost.py --records 1000000 --shards 8 --out /tmp/merge-bench

Prints one JSON line per output format: records, wall and CPU seconds, peak RSS (MB) of the
merge process (including starting Python).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop.formats import jsonl_line  # noqa: E402
from desktop.records import Record  # noqa: E402
from desktop.shards import Shard, ShardInfo, info_path, shard_of  # noqa: E402

CAPTIONS = [
    "A dog runs through the grass.",
    "A man in a red shirt is climbing a rock wall.",
    "Two children play on the beach.",
    "A woman sits on a bench in front of a building.",
    "A group of people stand in the snow.",
]


def write_shards(folder: Path, records: int, shards: int, seed: int = 0) -> list[Path]:
    """``shards`` jsonl outputs over a fake archive of ``records`` photos (1% failures)."""
    rng = random.Random(seed)
    root = "/mnt/archive"
    outputs = [folder / f"shard-{k}.jsonl" for k in range(shards)]
    files = [open(p, "w", encoding="utf-8") for p in outputs]  # noqa: SIM115 - closed below
    keys: list[list[str]] = [[] for _ in range(shards)]
    try:
        for i in range(records):
            key = f"{2000 + i % 25}/{(i // 25) % 12 + 1:02d}/IMG_{i:08d}.jpg"
            k = shard_of(key, shards)
            keys[k].append(key)
            if rng.random() < 0.01:
                record = Record(f"{root}/{key}", None, None, "truncated or damaged image file")
            else:
                record = Record(
                    f"{root}/{key}", rng.choice(CAPTIONS), round(-rng.random() * 2, 4), None
                )
            files[k].write(jsonl_line(record))
    finally:
        for f in files:
            f.close()
    for k, output in enumerate(outputs):
        info = ShardInfo(Shard(k, shards), root, root, True, "jsonl", tuple(keys[k]))
        info_path(output).write_text(info.to_json() + "\n", encoding="utf-8")
    return outputs


# Runs the merge in a fresh process and reports that process' own peak RSS (KiB on Linux).
_MERGE = (
    "import resource, sys; from desktop.cli import main; code = main(sys.argv[1:]); "
    "r = resource.getrusage(resource.RUSAGE_SELF); "
    "print(r.ru_utime + r.ru_stime, r.ru_maxrss); sys.exit(code)"
)


def time_merge(out: Path, inputs: list[Path]) -> dict:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _MERGE, "merge", str(out), *map(str, inputs)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"merge failed ({result.returncode}): {result.stderr}")
    cpu, peak = result.stdout.split()[-2:]
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(float(cpu), 2),  # less sensitive to a busy machine than the wall
        "peak_rss_mb": round(int(peak) / 1024, 1),
        "output_mb": round(out.stat().st_size / 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--formats", nargs="+", default=["jsonl", "csv"])
    parser.add_argument("--out", type=Path, required=True, help="scratch folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    inputs = write_shards(args.out, args.records, args.shards)
    print(
        f"# wrote {args.records} records in {args.shards} shards "
        f"({time.perf_counter() - started:.1f} s)",
        file=sys.stderr,
    )
    for fmt in args.formats:
        figures = time_merge(args.out / f"merged.{fmt}", inputs)
        print(
            json.dumps({"records": args.records, "shards": args.shards, "format": fmt, **figures})
        )


if __name__ == "__main__":
    main()
