"""Caption a split with an exported bundle and score it with pycocoevalcap.

Evaluation always runs the bundle through the desktop runtime — the same decode loop, beam
search and photo loading the app uses — so the numbers are the numbers users get. ``--run``
exports the run's best weights to a float32 bundle first, and also scores the TF model's own
greedy captions (from the cached features) so that the export's cost can be read off.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from converter import datasets, text
from converter.export import export
from converter.train import epochs_label, run_weights
from desktop.files import write_atomic

log = logging.getLogger(__name__)


def evaluate(
    run: Path | None = None,
    bundle: Path | None = None,
    split: str = "dev",
    beam: int = 3,
    limit: int | None = None,
    plots: int = 4,
    out: Path | None = None,
    data_dir: Path | None = None,
    epochs: tuple[int, ...] | None = None,
    record: bool = False,
) -> dict:
    from desktop.captioner import Captioner, CaptionOptions

    tf_metrics, suffix = None, ""
    if run is not None:
        run = Path(run)
        info = json.loads((run / "config.json").read_text())
        suffix = epochs_label(epochs)
        bundle = run / f"bundle-float32{suffix}"
        manifest = bundle / "manifest.json"
        # Re-export when training has found a better epoch since the last export.
        if not manifest.is_file() or manifest.stat().st_mtime < max(
            p.stat().st_mtime for p in run_weights(run, epochs)
        ):
            export(run, bundle, quantize="float32", epochs=epochs)
        dataset, default_dir = info["train"]["dataset"], info["train"]["data_dir"]
    else:
        bundle = Path(bundle)
        manifest = json.loads((bundle / "manifest.json").read_text())
        dataset = manifest.get("training", {}).get("dataset", "flickr8k")
        default_dir = None
    if data_dir is None and default_dir is None:
        raise datasets.DatasetError("pass --data-dir: the bundle does not say where its data is")
    examples = datasets.load(dataset, Path(data_dir or default_dir)).split(split)
    if limit:
        examples = examples[:limit]
    references = {e.image_id: list(e.captions) for e in examples}

    captioner = Captioner.load(bundle, accelerator="cpu")  # beside TensorFlow: see export.py
    options = CaptionOptions(beam_width=beam, with_attention=True)
    hypotheses, captions, failures = {}, {}, {}
    started = time.perf_counter()
    results = captioner.caption_many([e.path for e in examples], options=options)
    for example, item in zip(examples, results, strict=True):
        if item.error:
            failures[example.image_id] = str(item.error)
            hypotheses[example.image_id] = ""
            continue
        hypotheses[example.image_id] = " ".join(item.result.words)
        captions[example.image_id] = item.result
    seconds = time.perf_counter() - started

    from converter import metrics as scoring

    scores = scoring.score(references, hypotheses)
    if run is not None and beam == 1:
        tf_metrics = scoring.score(references, _tf_greedy(run, examples, epochs))

    out = Path(out) if out else (run or bundle) / f"eval-{split}-beam{beam}{suffix}"
    out.mkdir(parents=True, exist_ok=True)
    lengths = [len(h.split()) for h in hypotheses.values() if h]
    report = {
        "bundle": str(bundle),
        "split": split,
        "beam": beam,
        "photos": len(examples),
        "failed": failures,
        "metrics": scores,
        "tf_greedy_metrics": tf_metrics,
        "mean_words": float(np.mean(lengths)) if lengths else 0.0,
        "mean_reference_words": float(
            np.mean([len(text.normalize(c)) for e in examples for c in e.captions])
        ),
        "distinct_captions": len(set(hypotheses.values())),
        "seconds": round(seconds, 1),
        "ms_per_photo": round(1000 * seconds / max(len(examples), 1), 1),
        "captions": {k: v for k, v in hypotheses.items()},
    }
    _write_json(out / "report.json", report)
    report["path"] = str(out / "report.json")
    if record:  # the bundle carries its own measured quality
        manifest_path = Path(bundle) / "manifest.json"
        manifest = json.loads(manifest_path.read_text())
        manifest.setdefault("metrics", {})[f"{split}-beam{beam}"] = {
            "split": split,
            "beam": beam,
            "photos": len(examples),
            **scores,
        }
        _write_json(manifest_path, manifest)
    _plot_some(examples, captions, plots, out)
    return report


def _tf_greedy(
    run: Path, examples: list[datasets.Example], epochs: tuple[int, ...] | None
) -> dict[str, str]:
    """Greedy captions of the TF model itself, from the cached backbone features."""
    import tensorflow as tf

    from converter.concepts import ConceptTable, cached_slots
    from converter.features import FeatureCache
    from converter.train import load_run

    model, vocab, info = load_run(run, epochs)
    cache = FeatureCache(info["backbone"], Path(info["train"]["cache_dir"]))
    ids = [e.image_id for e in examples]
    banned = tf.constant(text.BANNED_IDS, tf.int32)
    hypotheses = {}
    k = model.config.concepts
    table = ConceptTable() if k else None
    for start in range(0, len(ids), 250):
        chunk = ids[start : start + 250]
        features = tf.constant(cache.load(chunk), tf.float32)
        slots = cached_slots(table, cache, chunk, k) if table else model.no_concepts(len(chunk))
        tokens = model.greedy_tokens(features, slots, info["max_length"], banned).numpy()
        for image_id, row in zip(chunk, tokens, strict=True):
            hypotheses[image_id] = " ".join(vocab.decode(row))
    return hypotheses


def _plot_some(examples, captions, count: int, out: Path) -> None:
    if not count:
        return
    from converter import plots

    for example in examples:
        if count <= 0:
            break
        result = captions.get(example.image_id)
        if result is None or result.attention is None:
            continue
        plots.plot_attention(
            example.path,
            list(result.words),
            result.attention,
            out / f"attention-{example.image_id}.png",
        )
        count -= 1


def _write_json(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=2))
