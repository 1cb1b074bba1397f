"""``captioner bench``: latency, throughput and memory of the runtime on this computer.

Figures (all wall-clock, after a warm-up), one per stage of a photo:

- ``read_ms``, ``resize_ms``: reading and decoding the file (reduced where JPEG draft mode
  can), then resizing to the model's input: done once for every model.
- ``detector_ms`` (format 4): the COCO detector, box decoding and NMS included;
  ``encoder_ms``: the encoder (backbone, classifier, Dense encoders); both from
  ``CaptionResult.timings`` of the end-to-end runs.
- ``decoder_step_ms``: one decoder step at batch 1 (greedy) and at the beam width.
- ``decode_loop_ms``: the whole decode loop per photo, greedy and beam.
- ``greedy_ms`` / ``beam3_ms``: one photo end to end through ``Captioner.caption``
  (read + decode + resize + encode + decode loop), p50 / p95.
- ``objects_ms``: naming the objects and computing the confidence from the encoder's class
  probabilities, per photo (the classifier itself is part of ``encoder_ms``: one pooled
  1280 × 1000 layer after the backbone, well under 1 % of its arithmetic).
- ``text``: the text reader (bundles that have one): ``gate_ms``, the gate alone on a
  photo's encoder pixels (the fast path: all that a photo without text costs more), and
  ``text_ms`` per photo through ``Captioner.caption`` (greedy), for the photos where no
  text was read and those where some was, with how many of each.
- ``throughput``: photos per second through ``caption_many`` (the CLI's path: photos decoded
  on a thread pool while the model runs), greedy and beam 3.
- ``rss_mb``: resident memory before and after the throughput runs, and the peak.
- ``machine.accelerator``: the accelerator asked for (``--accelerator``), the one in use, and
  where each model runs; run ``captioner bench --accelerator X`` once per X to compare.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

from desktop.captioner import Captioner, CaptionOptions
from desktop.images import open_photo, to_pixels
from desktop.paths import app_roots
from desktop.runtime import default_threads
from desktop.walk import find_photos


def _rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:  # psutil is a test extra; Linux has /proc
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except OSError:
            return float("nan")


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _stats(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {
        "p50": round(float(np.percentile(a, 50)), 2),
        "p95": round(float(np.percentile(a, 95)), 2),
        "n": len(ms),
    }


def default_images() -> Path:
    return app_roots()[0] / "samples"


def run_bench(
    captioner: Captioner,
    images: str | os.PathLike | None = None,
    limit: int = 500,
    repeat: int = 30,
    beam: int = 3,
) -> dict:
    folder = Path(images) if images else default_images()
    photos = [f.path for f in find_photos([folder], recursive=True) if f.error is None][:limit]
    if not photos:
        raise ValueError(f"no photos found in {folder} (use --images DIR)")
    sample = photos[: max(1, repeat)]
    b = captioner.bundle

    # Warm-up: first calls allocate and let XNNPACK pack weights.
    for width in (1, beam):
        captioner.caption(sample[0], CaptionOptions(beam_width=width))

    # The photo's two stages before any model: reading + decoding (JPEG draft mode decodes a
    # big photo reduced, straight to about twice the model's size), then the resize.
    height, width = b.input_size
    read_ms, resize_ms, pixels = [], [], []
    for p in sample:
        t = time.perf_counter()
        img = open_photo(p, min_size=(2 * width, 2 * height))
        t1 = time.perf_counter()
        pixels.append(to_pixels(img, b.input_size))
        read_ms.append((t1 - t) * 1e3)
        resize_ms.append((time.perf_counter() - t1) * 1e3)
    features = captioner.encode(pixels[0])

    step_ms = {}
    for batch in (1, beam):
        token = np.full(batch, b.tokens.start, dtype=np.int32)
        hidden = np.zeros((batch, b.units), dtype=np.float32)
        feats = np.repeat(features, batch, axis=0)
        times = []
        for _ in range(100):
            t = time.perf_counter()
            captioner.decoder.step(token, hidden, feats)
            times.append((time.perf_counter() - t) * 1e3)
        step_ms[f"batch{batch}"] = _stats(times)

    text = None
    reader = captioner.text_reader
    if reader is not None:
        gate_ms = []
        for px in pixels:
            t = time.perf_counter()
            with captioner._lock:
                reader.gate(px)
            gate_ms.append((time.perf_counter() - t) * 1e3)
        text = {"gate_ms": _stats(gate_ms)}

    end_to_end = {}
    words = {}
    # Each model's share of a photo, from the captioner's own timings (greedy and beam).
    stages: dict[str, list[float]] = {"detector": [], "encoder": [], "objects": []}
    decode_ms: dict[str, dict[str, float]] = {}
    text_ms: dict[str, list[float]] = {"none": [], "read": []}
    for name, width in (("greedy", 1), (f"beam{beam}", beam)):
        times, lengths, loops = [], [], []
        for p in sample:
            t = time.perf_counter()
            result = captioner.caption(p, CaptionOptions(beam_width=width))
            times.append((time.perf_counter() - t) * 1e3)
            lengths.append(len(result.words))
            timings = result.timings
            stages["detector"].append(timings.detect_ms)
            stages["encoder"].append(timings.encode_ms)
            stages["objects"].append(timings.objects_ms)
            loops.append(timings.decode_ms)
            if width == 1:
                text_ms["read" if result.text_lines else "none"].append(timings.text_ms)
        end_to_end[name] = _stats(times)
        decode_ms[name] = _stats(loops)
        words[name] = round(float(np.mean(lengths)), 1)

    rss_before = _rss_mb()
    throughput = {}
    rss_samples = []
    for name, width in (("greedy", 1), (f"beam{beam}", beam)):
        options = CaptionOptions(beam_width=width, with_attention=False)
        t = time.perf_counter()
        count = 0
        for item in captioner.caption_many(photos, options=options):
            count += 1
            if count % 100 == 0:
                rss_samples.append(round(_rss_mb(), 1))
            del item
        throughput[name] = round(count / (time.perf_counter() - t), 1)

    rss_after = _rss_mb()
    return {
        "model": {
            "name": b.name,
            "backbone": b.backbone,
            "input_size": list(b.input_size),
            "quantization": b.quantization,
            "path": str(b.path),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "threads": captioner.options.threads or default_threads(),
            "decoder_threads": captioner.options.decoder_threads,
            "delegate": captioner.options.delegate if captioner.delegate_active else None,
            # Asked for and got: `auto` → cpu on a machine with no usable GPU/NPU.
            "accelerator": {
                "asked": captioner.options.accelerator,
                "in_use": captioner.accelerator,
                "models": captioner.placement(),
            },
        },
        "photos": {"folder": str(folder), "count": len(photos), "latency_sample": len(sample)},
        "read_ms": _stats(read_ms),
        "resize_ms": _stats(resize_ms),
        "detector_ms": _stats(stages["detector"]) if b.detector is not None else None,
        "encoder_ms": _stats(stages["encoder"]),
        "decoder_step_ms": step_ms,
        "decode_loop_ms": decode_ms,
        "end_to_end_ms": end_to_end,
        "objects_ms": _stats(stages["objects"]),
        "objects": b.namer is not None,
        "text": None
        if text is None
        else {**text, **{f"text_ms_{k}": _stats(v) for k, v in text_ms.items() if v}},
        "mean_words": words,
        "photos_per_s": throughput,
        "rss_mb": {
            "before_throughput": round(rss_before, 1),
            "after": round(rss_after, 1),
            "every_100_photos": rss_samples,
            # getrusage and /proc count slightly differently; a peak is never below a sample.
            "peak": round(max(_peak_rss_mb(), rss_after, *rss_samples), 1),
        },
    }


def format_report(r: dict) -> str:
    m, e2e, step = r["model"], r["end_to_end_ms"], r["decoder_step_ms"]
    lines = [
        f"model      {m['name']} ({m['backbone']}, {m['input_size'][0]}px, {m['quantization']})",
        f"machine    {r['machine']['cpus']} CPUs, {r['machine']['platform']}",
        f"runs on    {_accelerator_line(r['machine'].get('accelerator'))}",
        f"photos     {r['photos']['count']} from {r['photos']['folder']}",
        f"read       p50 {r['read_ms']['p50']} ms   p95 {r['read_ms']['p95']} ms (file + decode)",
        f"resize     p50 {r['resize_ms']['p50']} ms   p95 {r['resize_ms']['p95']} ms",
    ]
    detector = r.get("detector_ms")
    if detector is not None:
        lines.append(f"detector   p50 {detector['p50']} ms   p95 {detector['p95']} ms")
    lines.append(f"encoder    p50 {r['encoder_ms']['p50']} ms   p95 {r['encoder_ms']['p95']} ms")
    for name, s in step.items():
        lines.append(f"step {name:<6} p50 {s['p50']} ms   p95 {s['p95']} ms")
    for name, s in r.get("decode_loop_ms", {}).items():
        lines.append(f"loop {name:<6} p50 {s['p50']} ms   p95 {s['p95']} ms (decoder steps)")
    objects = r.get("objects_ms")
    if objects is not None:
        what = "in the encoder pass" if r.get("objects") else "none: format-1 bundle"
        lines.append(
            f"objects    p50 {objects['p50']} ms   p95 {objects['p95']} ms per photo "
            f"(naming + confidence; the classifier runs {what})"
        )
    text = r.get("text")
    if text:
        lines.append(
            f"text gate  p50 {text['gate_ms']['p50']} ms   p95 {text['gate_ms']['p95']} ms per "
            "photo (the fast path)"
        )
        for key, what in (("none", "no text read"), ("read", "text read")):
            s = text.get(f"text_ms_{key}")
            if s:
                lines.append(
                    f"text       p50 {s['p50']} ms   p95 {s['p95']} ms per photo, {what} "
                    f"({s['n']} photos)"
                )
    for name, s in e2e.items():
        lines.append(
            f"{name:<10} p50 {s['p50']} ms   p95 {s['p95']} ms per photo "
            f"({r['mean_words'][name]} words on average)"
        )
    for name, rate in r["photos_per_s"].items():
        lines.append(f"throughput {name}: {rate} photos/s")
    rss = r["rss_mb"]
    lines.append(
        f"memory     RSS {rss['before_throughput']} → {rss['after']} MB over the throughput runs, "
        f"peak {rss['peak']} MB"
    )
    return "\n".join(lines)


def _accelerator_line(a: dict | None) -> str:
    if not a:
        return "cpu"
    asked = "" if a["asked"] == a["in_use"] else f" (asked: {a['asked']})"
    return f"{a['in_use']}{asked}: {a['models']}"
