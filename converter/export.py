"""Export a training run as a LiteRT model bundle (see docs/bundle-format.md).

The bundle is written into a temporary folder beside ``out`` and renamed into place only
after the parity check passed, so a failed export never leaves a half-written model where
the app would load it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from pathlib import Path

import numpy as np

from converter import datasets, quality_gate, text, tflite
from converter.backbones import registry
from converter.bundle_writer import (
    CONCEPTS_FORMAT_VERSION,
    FORMAT_VERSION,
    GROUNDED_FORMAT_VERSION,
    add_detector,
    add_notices,
    add_objects,
    concepts_entry,
    quantizer,
    replace_folder,
    write_manifest,
)
from converter.features import load_pixels
from converter.graphs import build_graphs, concept_slots
from converter.train import TrainingError, epochs_label, load_run, run_weights
from desktop.bundle import FORMAT, sha256_file

log = logging.getLogger(__name__)

GATE_PHOTOS = 200  # dev photos a quantized export is judged on (converter/quality_gate.py)


class ExportError(Exception):
    pass


def export(
    run: Path,
    out: Path,
    quantize: str = "float16",
    name: str | None = None,
    parity_photos: int = 8,
    representative: int = 100,
    epochs: tuple[int, ...] | None = None,
    decoder_quantize: str | None = None,
    word_bonus: float = 0.0,
    gate_photos: int = GATE_PHOTOS,
) -> dict:
    """Write the run's bundle to ``out``.

    The float32 bundle is written first and must caption the parity photos exactly as the TF
    model does (greedy). A quantized one is then made from the same graphs and judged against
    that float twin on ``gate_photos`` dev photos by quality, not parity (a near-tie flips a
    word and nothing is worse); the export is refused when it fails."""
    run, out = Path(run), Path(out)
    model, vocab, info = load_run(run, epochs)
    recorded = tuple(epochs) if epochs else (_best_epoch(run),)
    backbone = info["backbone"]
    train = info["train"]
    weights = Path(train["backbone_weights"]) if train.get("backbone_weights") else None
    grounded = bool(train.get("detector"))
    encode, step, cnn, models = build_graphs(model, backbone, weights, grounded)
    size = info["input_size"]

    photos = _dev_photos(train, parity_photos)
    # int8 activation ranges come from training photos: the dev photos judge the result.
    calibration = _photos(train, "train", representative) if quantize == "int8" else []

    def representative_data():
        for path in calibration:
            pixels = load_pixels(path, size)[None]
            if grounded:  # a plausible grounding input: the detector's typical background
                yield {"pixels": pixels, "detections": np.full((1, 91), 0.05, np.float32)}
            else:
                yield {"pixels": pixels}

    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    # The decoder follows the encoder, except that an int8 export keeps a weight-only int8
    # ("dynamic") decoder: full integer quantisation of its softmax over thousands of words
    # is where quality suffers most. `--decoder-quantize dynamic` makes a float16 bundle 4 MB
    # smaller and each step faster (XNNPACK) for about 0.001 dev BLEU-4 (MODEL_CARD.md).
    decoder_mode = decoder_quantize or ("dynamic" if quantize == "int8" else quantize)
    (staging / "encoder.tflite").write_bytes(
        tflite.convert({"encode": encode}, models, quantizer("float32"))
    )
    (staging / "decoder_step.tflite").write_bytes(
        tflite.convert({"step": step}, [model], quantizer("float32"))
    )
    vocab.save(staging / "vocab.json")
    for extra in ("MODEL_CARD.md",):
        if (run / extra).is_file():
            shutil.copy2(run / extra, staging / extra)

    manifest = {
        "format": FORMAT,
        "format_version": (
            GROUNDED_FORMAT_VERSION
            if grounded
            else CONCEPTS_FORMAT_VERSION
            if model.config.concepts
            else FORMAT_VERSION
        ),
        "name": name or out.name,
        "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "backbone": backbone,
        "input_size": [size, size],
        "feature_grid": info["feature_grid"],
        **(
            {"concepts": concepts_entry(model.config.concepts, grounded)}
            if model.config.concepts
            else {}
        ),
        "feature_dim": model.config.feature_dim,
        "units": model.config.units,
        "embedding_dim": model.config.embedding_dim,
        "vocab_size": len(vocab),
        "max_length": info["max_length"],
        "tokens": dict(text.TOKEN_IDS),
        "encoder": {"file": "encoder.tflite", "signature": "encode"},
        "decoder": {"file": "decoder_step.tflite", "signature": "step"},
        "vocabulary": "vocab.json",
        "quantization": "float32",
        "decoder_quantization": "float32",
        "files": {},
        "training": {
            "dataset": train["dataset"],
            "images": info.get("train_images"),
            "captions": info.get("train_captions"),
            "epochs": list(recorded),
            # Identifies the run's weights the bundle came from (runs of the same settings
            # share everything else), so a benchmark can pair a bundle with its run.
            "weights_sha256": _weights_sha256(run, recorded),
            "backbone_licence": registry.spec(backbone).licence,
        },
        "metrics": _metrics(run, epochs),
    }
    if registry.has_classifier(backbone):
        add_objects(staging, manifest, word_bonus=word_bonus)
    if grounded:
        add_detector(staging, manifest, size)
        add_notices(staging, manifest)
    write_manifest(staging, manifest)

    if parity_photos:
        agreement = parity_check(model, cnn, vocab, staging, photos[:parity_photos], size, info)
        manifest["parity"] = {"photos": min(parity_photos, len(photos)), "agreement": agreement}
        if agreement < 1.0:
            raise ExportError(
                f"LiteRT and TF greedy captions agree on {agreement:.0%} of photos "
                f"(float32 must agree on all); bundle left in {staging}"
            )
        write_manifest(staging, manifest)

    if (quantize, decoder_mode) != ("float32", "float32"):
        twin = staging
        staging = out.with_name(f".{out.name}.quantized.partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(twin, staging)
        (staging / "encoder.tflite").write_bytes(
            tflite.convert(
                {"encode": encode},
                models,
                quantizer(quantize, representative_data if quantize == "int8" else None),
            )
        )
        (staging / "decoder_step.tflite").write_bytes(
            tflite.convert({"step": step}, [model], quantizer(decoder_mode))
        )
        manifest.update(quantization=quantize, decoder_quantization=decoder_mode)
        manifest.pop("parity", None)  # that was the float twin's
        write_manifest(staging, manifest)
        report = quality_gate.check(twin, staging, {"dev": _gate_set(train, gate_photos)})
        manifest["quality_check"] = report.to_manifest()
        write_manifest(staging, manifest)
        if not report.passed:
            raise ExportError(
                f"the {quantize} bundle is not as good as its float32 twin: "
                + "; ".join(report.failures)
                + f" (bundle left in {staging})"
            )
        shutil.rmtree(twin)

    replace_folder(staging, out)
    return manifest


def _weights_sha256(run: Path, epochs: tuple) -> list[str] | None:
    """Checksums of the per-epoch weights files, or None for runs that predate them."""
    if None in epochs:
        return None
    try:
        return [sha256_file(p) for p in run_weights(run, epochs)]
    except TrainingError:
        return None


def _best_epoch(run: Path) -> int | None:
    best = run / "best.json"
    return json.loads(best.read_text())["epoch"] if best.is_file() else None


def _metrics(run: Path, epochs: tuple[int, ...] | None) -> dict:
    """Dev metrics of the exported weights: evaluate reports if present, else the history."""
    metrics = {}
    for report in sorted(run.glob(f"eval-*-beam?{epochs_label(epochs)}/report.json")):
        data = json.loads(report.read_text())
        metrics[report.parent.name] = {
            "split": data["split"],
            "beam": data["beam"],
            **data["metrics"],
        }
    history = run / "history.json"
    if not metrics and history.is_file():
        if epochs and len(epochs) > 1:
            return metrics  # an average of epochs has no training-time scores
        chosen = epochs[0] if epochs else _best_epoch(run)
        for record in json.loads(history.read_text()):
            if record["epoch"] == chosen:
                metrics["training-dev-greedy"] = {
                    k[4:]: v for k, v in record.items() if k.startswith("dev_")
                }
    return metrics


def _examples(train: dict, split: str, count: int, fallback: bool = False) -> list:
    if not count:
        return []
    try:
        data = datasets.load(train["dataset"], Path(train["data_dir"]))
        examples = data.splits.get(split) or (data.split("train") if fallback else None)
    except datasets.DatasetError as exc:
        raise ExportError(f"the export's checks need the training data: {exc}") from exc
    if not examples:
        raise ExportError(f"the export's checks need the {split} split of {train['dataset']}")
    return list(examples[:count])


def _dev_photos(train: dict, count: int) -> list[Path]:
    # Parity compares two runtimes on the same photos, so training photos serve where a
    # dataset has no dev split; the quality gate's references must be dev photos.
    return [e.path for e in _examples(train, "dev", count, fallback=True)]


def _photos(train: dict, split: str, count: int) -> list[Path]:
    return [e.path for e in _examples(train, split, count)]


def _gate_set(train: dict, count: int) -> dict[str, tuple[Path, list[str]]]:
    return {e.image_id: (e.path, list(e.captions)) for e in _examples(train, "dev", count)}


def parity_check(
    model, cnn, vocab, bundle: Path, photos: list[Path], size: int, info: dict
) -> float:
    """Share of photos whose greedy caption is identical under TF and under the LiteRT bundle."""
    import tensorflow as tf

    from desktop.captioner import Captioner, CaptionOptions

    # The CPU: the parity is with the TF model, and LiteRT's GPU probe beside TensorFlow in
    # one process crashed (segfault) where a software Vulkan driver was installed.
    captioner = Captioner.load(bundle, accelerator="cpu")
    banned = tf.constant(text.BANNED_IDS, tf.int32)
    grounded = captioner.bundle.detector is not None
    to_slots = concept_slots(model, grounded)
    same = 0
    for path in photos:
        pixels = load_pixels(path, size)[None]
        flat, classes = cnn(tf.constant(pixels))
        # The detector is not part of the TF model: both sides get the bundle's own output.
        found = captioner.detect(pixels).best[None] if grounded else None
        slots = to_slots(classes, found)
        tokens = model.greedy_tokens(flat, slots, info["max_length"], banned).numpy()[0]
        expected = vocab.decode(tokens)
        # The plain decoder: the word bonus is the runtime's guidance, not the TF model's.
        plain = CaptionOptions(
            beam_width=1, word_bonus=0.0, ground_floor=0.0, no_repeat=0, gender_share=0.0
        )
        got = list(captioner.caption(path, options=plain).words)
        if got == expected:
            same += 1
        else:
            log.warning(
                "parity: %s\n  TF:     %s\n  LiteRT: %s",
                path.name,
                " ".join(expected),
                " ".join(got),
            )
    return same / max(len(photos), 1)
