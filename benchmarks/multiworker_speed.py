"""Training speed with 1 and 2 workers (``--strategy multiworker``) on this machine.

Trains the same small Flickr8k run as one process (``--strategy default``) and as N worker
processes on loopback ports, and prints captions per second (training steps only, mean
over the epochs after the first, whose time is mostly tracing)::

    nice -n 10 python benchmarks/multiworker_speed.py --data-dir ../shared/datasets/flickr8k \\
        --out /tmp/mw-bench --workers 1 2

Workers here share this machine's cores, so more workers cannot be faster; on separate
machines or GPUs they are (docs/scale.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from statistics import mean

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from converter.distribute import loopback_tf_configs  # noqa: E402


def train(workers: int, args, out: Path) -> list[dict]:
    common = [
        *("train", "--dataset", "flickr8k", "--data-dir", str(args.data_dir)),
        *("--backbone", "efficientnet_lite0", "--out", str(out)),
        *("--max-examples", str(args.max_examples), "--dev-limit", "20"),
        *("--batch-size", str(args.batch_size), "--epochs", str(args.epochs)),
        *("--cache-dir", str(args.out / "cache")),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    if workers == 1:
        commands = [(common + ["--strategy", "default"], env)]
    else:
        commands = [
            (common + ["--strategy", "multiworker"], {**env, "TF_CONFIG": tf_config})
            for tf_config in loopback_tf_configs(workers)
        ]
    logs = [(args.out / f"{out.name}-worker{i}.log").open("w") for i in range(len(commands))]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "converter", *command], env=env, stdout=log, stderr=log
        )
        for (command, env), log in zip(commands, logs, strict=True)
    ]
    codes = [p.wait() for p in procs]
    for log in logs:
        log.close()
    if any(codes):
        raise SystemExit(f"training with {workers} worker(s) failed: see {args.out}/*.log")
    return json.loads((out / "history.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="scratch folder")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--max-examples", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for workers in args.workers:
        out = args.out / f"run-{workers}w"
        if out.exists():
            raise SystemExit(f"{out} exists: give another --out")
        history = train(workers, args, out)
        later = history[1:] or history
        print(
            json.dumps(
                {
                    "workers": workers,
                    "captions_per_second": round(
                        mean(h["train_captions_per_second"] for h in later), 1
                    ),
                    "epoch_seconds": [h["train_seconds"] for h in history],
                    "train_loss": [round(h["train_loss"], 4) for h in history],
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
