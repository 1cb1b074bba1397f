"""How much faster the desktop runtime captions than the seed tutorial's pipeline.

One training run, the same photos, two pipelines, greedy decoding in both:

- **seed-style**: what the seed tutorial's ``evaluate()`` does, with this run's Keras
  models. Per photo: load + resize (``converter.features.load_pixels``, the training
  preprocessing), the Keras backbone called eagerly, the Keras ``CaptionModel.encode``, then
  one eager ``CaptionModel.step`` per word from a Python loop, ``tf.argmax`` on each step's
  logits and ``.numpy()`` of the attention, no ``tf.function``.
- **runtime**: ``desktop.captioner.Captioner`` on the LiteRT bundle exported from the same
  run (``Captioner.caption`` with ``beam_width=1``), one photo at a time.

Both apply the runtime's token rules (``<pad>``, ``<start>``, ``<unk>`` never emitted,
``<end>`` not as the first word) so that "same caption" compares the two pipelines'
arithmetic, not two decoding rules. Both also collect the attention maps, as ``evaluate()``
does. Each pipeline captions one warm-up photo first (reported as ``first_ms``, not in the
percentiles); the photos are read once beforehand so neither pipeline pays for a cold disk.
The pipelines alternate photo by photo, so a background load (another program, a training
run) slows both alike.

Needs the training extra (TensorFlow): ``pip install '.[train]'``.

Run from the repository root::

    python -m benchmarks.vs_seed --run runs/lite2 --bundle models/default -n 50
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a file: make converter/ and desktop/ importable
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from desktop.cli import positive_int  # noqa: E402 - needs the sys.path line above

TARGET_SPEEDUP = 25.0  # from the issue: the runtime at least 25x the seed-style photos/s
EXIT_OK, EXIT_USAGE = 0, 2
TRAINING_EXTRA = "needs the training extra (TensorFlow): pip install '.[train]'"


class BenchError(Exception):
    """A run, bundle or photo folder that cannot be compared; the message says why."""


# -- inputs ------------------------------------------------------------------------------------


def resolve_data_dir(data_dir: str) -> Path:
    """The run's data_dir: relative paths were relative to where training ran (the root)."""
    path = Path(data_dir)
    if path.is_absolute() or path.is_dir():
        return path
    return ROOT / path


def dev_photos(info: dict, count: int) -> list[Path]:
    """The first ``count`` photos of the dev split of the run's dataset."""
    from converter import datasets

    train = info["train"]
    data_dir = resolve_data_dir(train["data_dir"])
    try:
        data = datasets.load(train["dataset"], data_dir)
        return [e.path for e in data.split("dev")[:count]]
    except datasets.DatasetError as e:
        raise BenchError(f"cannot find the run's dev photos ({e}); pass --images DIR") from e


def folder_photos(folder: Path, count: int) -> list[Path]:
    from desktop.walk import find_photos

    if not folder.is_dir():
        raise BenchError(f"--images: not a folder: {folder}")
    found = [Path(f.path) for f in find_photos([folder], recursive=True) if f.error is None]
    if not found:
        raise BenchError(f"--images: no photos in {folder}")
    return found[:count]


def readable(photos: Sequence[Path], size: int) -> tuple[list[Path], dict[str, str]]:
    """Photos both pipelines can load; reading them also puts them in the page cache."""
    from converter.features import load_pixels

    good, skipped = [], {}
    for path in photos:
        try:
            load_pixels(path, size)
        except Exception as e:  # any unreadable photo is left out, and reported
            skipped[str(path)] = f"{type(e).__name__}: {e}"
        else:
            good.append(path)
    return good, skipped


@dataclass(frozen=True)
class RunInfo:
    path: Path
    info: dict  # config.json
    words: tuple[str, ...]  # vocab.json
    best_epoch: int | None  # best.json


def read_run(run: Path) -> RunInfo:
    """The run's settings and vocabulary, without building any model (fails fast)."""
    run = Path(run)
    for name in ("config.json", "vocab.json", "best.weights.h5"):
        if not (run / name).is_file():
            raise BenchError(f"--run {run}: no {name} (a training run folder after one epoch)")
    try:
        info = json.loads((run / "config.json").read_text(encoding="utf-8"))
        words = tuple(json.loads((run / "vocab.json").read_text(encoding="utf-8")))
        best = run / "best.json"
        best_epoch = json.loads(best.read_text())["epoch"] if best.is_file() else None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BenchError(f"--run {run}: cannot read the run: {type(e).__name__}: {e}") from e
    return RunInfo(run, info, words, best_epoch)


def compare_with_bundle(run: RunInfo, bundle) -> tuple[list[str], list[str]]:
    """(mismatches, warnings) between a training run and a loaded ``desktop.bundle.Bundle``.

    A mismatch means the bundle cannot be this run's export (the comparison would be
    meaningless); a warning means it may be an older export of it.
    """
    info, words = run.info, run.words
    mismatches = []
    checks = (
        ("backbone", info["backbone"], bundle.backbone),
        ("vocab_size", len(words), bundle.vocab_size),
        ("input_size", (info["input_size"],) * 2, tuple(bundle.input_size)),
        ("feature_grid", tuple(info["feature_grid"]), tuple(bundle.feature_grid)),
        ("max_length", info["max_length"], bundle.max_length),
        ("units", info["model"]["units"], bundle.units),
    )
    for name, run_value, bundle_value in checks:
        if run_value != bundle_value:
            mismatches.append(f"{name}: run {run_value!r}, bundle {bundle_value!r}")
    if len(words) == bundle.vocab_size and words != tuple(bundle.vocabulary):
        first = next(
            i for i, (a, b) in enumerate(zip(words, bundle.vocabulary, strict=True)) if a != b
        )
        mismatches.append(
            f"vocabulary: word {first} is {words[first]!r} in the run, "
            f"{bundle.vocabulary[first]!r} in the bundle"
        )
    warnings = []
    epochs = bundle_epochs(bundle)
    if epochs is None:
        warnings.append(
            "the bundle does not say which epochs it was exported from: the run's best epoch "
            "is used, and captions differ if that is not the one exported"
        )
    else:
        missing = [
            e for e in epochs if not (run.path / "epochs" / f"epoch-{e:02d}.weights.h5").is_file()
        ]
        if missing:
            mismatches.append(
                f"epochs: the bundle holds epochs {list(epochs)}, the run lacks {missing}"
            )
        elif not _same_weights(run, epochs, bundle):
            mismatches.append(
                f"weights: the run's epochs {list(epochs)} are not the weights the bundle was "
                "exported from (another run with the same settings?)"
            )
    return mismatches, warnings


def _same_weights(run: RunInfo, epochs: tuple[int, ...], bundle) -> bool:
    """True unless the manifest's weight checksums (newer exports) name other weights."""
    expected = bundle.manifest.get("training", {}).get("weights_sha256")
    if expected is None:
        return True
    from desktop.bundle import sha256_file

    files = [run.path / "epochs" / f"epoch-{e:02d}.weights.h5" for e in epochs]
    return [sha256_file(f) for f in files] == list(expected)


def bundle_epochs(bundle) -> tuple[int, ...] | None:
    """The run epochs whose (averaged) weights the bundle holds, from its manifest."""
    epochs = bundle.manifest.get("training", {}).get("epochs")
    if not epochs or None in epochs:
        return None
    return tuple(int(e) for e in epochs)


# -- the two pipelines -------------------------------------------------------------------------


@dataclass(frozen=True)
class Captioned:
    words: tuple[str, ...]
    load_ms: float  # read + decode + resize the photo
    encode_ms: float  # backbone + Dense encoder
    decode_ms: float  # the greedy loop
    steps: int  # decoder calls


def _ms(seconds: float) -> float:
    return seconds * 1e3


class SeedPipeline:
    """The seed's ``evaluate()``: Keras models called eagerly, one Python step per word."""

    name = "seed-style"

    def __init__(self, run: Path, epochs: tuple[int, ...] | None = None):
        import tensorflow as tf

        from converter.backbones import registry
        from converter.train import load_run

        self.tf = tf
        self.model, self.vocab, self.info = load_run(run, epochs)
        weights = self.info["train"].get("backbone_weights")
        self.cnn = registry.build(self.info["backbone"], Path(weights) if weights else None)
        self.size = int(self.info["input_size"])
        self.max_length = int(self.info["max_length"])
        self.cells = int(np.prod(self.info["feature_grid"]))
        # The runtime's token rules (desktop/decoding.py), as additive logit masks.
        later = np.zeros(len(self.vocab), np.float32)
        later[[0, 1, 3]] = -np.inf  # <pad>, <start>, <unk>
        first = later.copy()
        first[2] = -np.inf  # <end> not as the first word
        self.first_mask, self.mask = tf.constant(first), tf.constant(later)

    def caption(self, path: Path) -> Captioned:
        from converter.features import load_pixels

        tf = self.tf
        t0 = time.perf_counter()
        attention_plot = np.zeros((self.max_length, self.cells), np.float32)
        hidden = tf.zeros((1, self.model.config.units))
        temp_input = tf.expand_dims(load_pixels(path, self.size), 0)
        t1 = time.perf_counter()
        img_tensor_val = self.cnn(temp_input, training=False)
        img_tensor_val = tf.reshape(
            img_tensor_val, (img_tensor_val.shape[0], -1, img_tensor_val.shape[3])
        )
        features = self.model.encode(img_tensor_val)
        t2 = time.perf_counter()  # eager ops on the CPU have finished when they return
        dec_input = tf.constant([1], tf.int32)  # <start>
        result = []
        steps = 0
        for i in range(self.max_length):
            steps += 1
            predictions, hidden, attention_weights = self.model.step(dec_input, hidden, features)
            attention_plot[i] = tf.reshape(attention_weights, (-1,)).numpy()
            mask = self.first_mask if i == 0 else self.mask
            predicted_id = int(tf.argmax(predictions[0] + mask).numpy())
            if predicted_id == 2:  # <end>
                break
            result.append(self.vocab.words[predicted_id])
            dec_input = tf.constant([predicted_id], tf.int32)
        t3 = time.perf_counter()
        return Captioned(tuple(result), _ms(t1 - t0), _ms(t2 - t1), _ms(t3 - t2), steps)


class RuntimePipeline:
    """The desktop runtime: ``Captioner.caption`` on the LiteRT bundle, greedy."""

    name = "runtime"

    def __init__(self, bundle: Path, threads: int | None = None):
        from desktop.captioner import Captioner, CaptionOptions

        self.captioner = Captioner.load(bundle, threads=threads)
        # The seed's plain greedy loop: the app's word filters (no repeats, grounding) off, so
        # both pipelines must say exactly the same words.
        self.options = CaptionOptions(
            beam_width=1, with_attention=True, no_repeat=0, ground_floor=0.0, gender_share=0.0
        )

    def caption(self, path: Path) -> Captioned:
        result = self.captioner.caption(path, self.options)
        t = result.timings
        # Greedy stops at <end> (one step more than the words) or at max_length.
        steps = min(len(result.words) + 1, self.captioner.bundle.max_length)
        return Captioned(result.words, t.load_ms, t.encode_ms, t.decode_ms, steps)

    def throughput(self, photos: Sequence[Path]) -> float:
        """Photos/s through ``caption_many`` (the CLI's path: photos decoded on a thread pool)."""
        start = time.perf_counter()
        count = sum(
            1
            for item in self.captioner.caption_many(photos, options=self.options)
            if item.result is not None
        )
        return count / (time.perf_counter() - start)


# -- measuring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    load_s: float  # building the models (seed: Keras; runtime: LiteRT interpreters)
    first_ms: float  # the warm-up photo
    p50_ms: float
    p95_ms: float
    mean_ms: float
    photos_per_s: float  # one photo at a time, as evaluate() is called
    # Where the time goes (medians over the photos):
    load_p50_ms: float
    encode_p50_ms: float
    decode_p50_ms: float
    step_p50_ms: float  # one decoder step
    words_mean: float


@dataclass(frozen=True)
class Difference:
    photo: str
    seed: str
    runtime: str


@dataclass(frozen=True)
class Comparison:
    run: str
    bundle: str
    backbone: str
    quantization: str
    photos: int
    threads: int | None
    seed: Figures
    runtime: Figures
    runtime_batch_photos_per_s: float | None  # caption_many, photos decoded ahead
    speedup: float  # runtime photos/s over seed-style photos/s
    speedup_p50: float
    target: float
    same_caption: float  # share of photos with word-for-word the same caption
    differences: tuple[Difference, ...]
    skipped: dict[str, str]
    warnings: tuple[str, ...]
    loadavg: tuple[float, float]  # 1-minute load average before and after (background load)

    def to_dict(self) -> dict:
        return asdict(self)


def _figures(
    load_s: float, first_ms: float, times_ms: list[float], parts: list[Captioned]
) -> Figures:
    a = np.asarray(times_ms)

    def median(values) -> float:
        return round(float(np.median(list(values))), 2)

    return Figures(
        load_s=round(load_s, 2),
        first_ms=round(first_ms, 1),
        p50_ms=round(float(np.percentile(a, 50)), 2),
        p95_ms=round(float(np.percentile(a, 95)), 2),
        mean_ms=round(float(a.mean()), 2),
        photos_per_s=round(len(a) / (a.sum() / 1e3), 3),
        load_p50_ms=median(c.load_ms for c in parts),
        encode_p50_ms=median(c.encode_ms for c in parts),
        decode_p50_ms=median(c.decode_ms for c in parts),
        step_p50_ms=median(c.decode_ms / c.steps for c in parts),
        words_mean=round(float(np.mean([len(c.words) for c in parts])), 1),
    )


def _timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args)
    return (time.perf_counter() - start) * 1e3, out


def measure(
    seed: SeedPipeline,
    runtime: RuntimePipeline,
    photos: Sequence[Path],
    load_s: tuple[float, float] = (0.0, 0.0),
    batch: bool = True,
) -> dict:
    """Caption every photo with both pipelines, alternating; the raw figures."""
    if not photos:
        raise BenchError("no photos to caption")
    first_seed, _ = _timed(seed.caption, photos[0])
    first_runtime, _ = _timed(runtime.caption, photos[0])
    times: dict[str, list[float]] = {"seed": [], "runtime": []}
    parts: dict[str, list[Captioned]] = {"seed": [], "runtime": []}
    for i, path in enumerate(photos):
        # Alternate who goes first, so neither always runs right after the other's work.
        order = (("seed", seed), ("runtime", runtime))
        for key, pipeline in order if i % 2 == 0 else order[::-1]:
            ms, captioned = _timed(pipeline.caption, path)
            times[key].append(ms)
            parts[key].append(captioned)
    return {
        "seed": _figures(load_s[0], first_seed, times["seed"], parts["seed"]),
        "runtime": _figures(load_s[1], first_runtime, times["runtime"], parts["runtime"]),
        "seed_captions": [c.words for c in parts["seed"]],
        "runtime_captions": [c.words for c in parts["runtime"]],
        "batch": runtime.throughput(photos) if batch else None,
    }


def compare(
    run: Path,
    bundle: Path,
    photos: Sequence[Path] | None = None,
    count: int = 50,
    threads: int | None = None,
    batch: bool = True,
) -> Comparison:
    """The whole benchmark: load both pipelines, check they hold the same model, measure."""
    from desktop import CaptionerError
    from desktop.bundle import load_bundle

    load_before = os.getloadavg()[0]
    info = read_run(run)
    try:
        loaded = load_bundle(bundle)
    except CaptionerError as e:
        raise BenchError(f"--bundle {bundle}: {e}") from e
    mismatches, warnings = compare_with_bundle(info, loaded)
    if mismatches:
        raise BenchError(
            f"{bundle} is not an export of {run}: "
            + "; ".join(mismatches)
            + f" (export it with `python -m converter export --run {run} --out DIR`)"
        )
    start = time.perf_counter()
    try:
        seed = SeedPipeline(run, bundle_epochs(loaded))
    except Exception as e:  # TrainingError, BackboneError, a damaged weights file
        raise BenchError(f"--run {run}: {type(e).__name__}: {e}") from e
    seed_load = time.perf_counter() - start
    start = time.perf_counter()
    try:
        runtime = RuntimePipeline(bundle, threads)
    except CaptionerError as e:
        raise BenchError(f"--bundle {bundle}: {e}") from e
    runtime_load = time.perf_counter() - start

    chosen = list(photos) if photos is not None else dev_photos(seed.info, count)
    chosen, skipped = readable(chosen[:count], seed.size)
    if not chosen:
        reasons = "; ".join(f"{Path(k).name}: {v}" for k, v in list(skipped.items())[:3])
        raise BenchError(f"none of the photos can be read ({reasons})")
    raw = measure(seed, runtime, chosen, (seed_load, runtime_load), batch)

    same = [a == b for a, b in zip(raw["seed_captions"], raw["runtime_captions"], strict=True)]
    differences = tuple(
        Difference(str(p), " ".join(a), " ".join(b))
        for p, a, b, ok in zip(
            chosen, raw["seed_captions"], raw["runtime_captions"], same, strict=True
        )
        if not ok
    )
    s, r = raw["seed"], raw["runtime"]
    return Comparison(
        run=str(run),
        bundle=str(bundle),
        backbone=loaded.backbone,
        quantization=loaded.quantization,
        photos=len(chosen),
        threads=threads,
        seed=s,
        runtime=r,
        runtime_batch_photos_per_s=None if raw["batch"] is None else round(raw["batch"], 2),
        speedup=round(r.photos_per_s / s.photos_per_s, 1),
        speedup_p50=round(s.p50_ms / r.p50_ms, 1),
        target=TARGET_SPEEDUP,
        same_caption=round(sum(same) / len(same), 3),
        differences=differences,
        skipped=skipped,
        warnings=tuple(warnings),
        loadavg=(round(load_before, 2), round(os.getloadavg()[0], 2)),
    )


# -- output ------------------------------------------------------------------------------------


def format_report(c: Comparison) -> str:
    rows = [
        ("seed-style (Keras, eager)", c.seed),
        (f"runtime (LiteRT, {c.quantization})", c.runtime),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [
        f"run {c.run}  bundle {c.bundle}  backbone {c.backbone}  {c.photos} photos  "
        f"threads {c.threads or 'default'}  greedy",
        f"{'':{width}}  {'p50 ms':>9} {'p95 ms':>9} {'photos/s':>9} {'first ms':>9} {'load s':>7}",
    ]
    for name, f in rows:
        lines.append(
            f"{name:{width}}  {f.p50_ms:9.1f} {f.p95_ms:9.1f} {f.photos_per_s:9.2f} "
            f"{f.first_ms:9.0f} {f.load_s:7.1f}"
        )
    lines.append(
        f"{'median ms':{width}}  {'photo':>9} {'encoder':>9} {'decoding':>9} {'per step':>9} "
        f"{'words':>7}"
    )
    for name, f in rows:
        lines.append(
            f"{name:{width}}  {f.load_p50_ms:9.1f} {f.encode_p50_ms:9.1f} {f.decode_p50_ms:9.1f} "
            f"{f.step_p50_ms:9.2f} {f.words_mean:7.1f}"
        )
    verdict = "met" if c.speedup >= c.target else "NOT met"
    lines.append(
        f"speed-up: {c.speedup:.1f}x photos/s ({c.speedup_p50:.1f}x at p50); "
        f"target >= {c.target:.0f}x: {verdict}"
    )
    if c.runtime_batch_photos_per_s is not None:
        lines.append(f"runtime through caption_many: {c.runtime_batch_photos_per_s:.2f} photos/s")
    lines.append(
        f"same caption: {c.same_caption:.0%} ({c.photos - len(c.differences)}/{c.photos} photos)"
    )
    for d in c.differences[:5]:
        lines += [f"  {Path(d.photo).name}", f"    seed:    {d.seed}", f"    runtime: {d.runtime}"]
    if len(c.differences) > 5:
        lines.append(f"  … and {len(c.differences) - 5} more (--json lists them all)")
    for path, reason in c.skipped.items():
        lines.append(f"skipped {path}: {reason}")
    lines += [f"warning: {w}" for w in c.warnings]
    lines.append(f"load average (1 min) before/after: {c.loadavg[0]} / {c.loadavg[1]}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.vs_seed",
        description=(
            "Caption the same photos with the seed tutorial's pipeline (Keras models called "
            "eagerly, one Python step per word) and with the desktop runtime (LiteRT bundle "
            "of the same run); print ms per photo (p50/p95), photos/s, the speed-up and the "
            f"share of identical captions. This benchmark {TRAINING_EXTRA}."
        ),
    )
    p.add_argument(
        "--run",
        required=True,
        type=Path,
        metavar="RUN",
        help="training run folder with best.weights.h5 and config.json",
    )
    p.add_argument(
        "--bundle",
        type=Path,
        default=ROOT / "models" / "default",
        metavar="DIR",
        help="the LiteRT bundle exported from RUN (default: models/default)",
    )
    p.add_argument(
        "--images",
        type=Path,
        metavar="DIR",
        help="folder of photos (default: the Flickr8k dev photos of RUN's data_dir)",
    )
    p.add_argument(
        "-n", type=positive_int, default=50, metavar="N", help="number of photos (default: 50)"
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="CPU threads for both TensorFlow and LiteRT (default: each its own)",
    )
    p.add_argument(
        "--no-batch",
        action="store_true",
        help="skip the extra caption_many throughput run of the runtime",
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import tensorflow as tf
    except ImportError as e:
        print(f"vs_seed: error: this benchmark {TRAINING_EXTRA} ({e})", file=sys.stderr)
        return EXIT_USAGE
    if args.threads:  # before TensorFlow runs its first op
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    try:
        photos = folder_photos(args.images, args.n) if args.images else None
        result = compare(args.run, args.bundle, photos, args.n, args.threads, not args.no_batch)
    except BenchError as e:
        print(f"vs_seed: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_report(result))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
