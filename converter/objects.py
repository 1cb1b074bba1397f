"""The objects part of a bundle (format version 2): the ImageNet label table, its manifest
entry, and ``upgrade``, which adds both to a version-1 bundle without retraining.

The upgrade rebuilds the encoder from what is committed and what the bundle holds: the
backbone from ``converter/weights`` (the same file the run was trained on, classifier
included) and the trained Dense encoder from the bundle's own ``encoder.tflite`` (its kernel
and bias are constants in the flatbuffer). The new encoder computes the same ``features``
plus ``classes`` in one pass; the upgrade refuses to write the bundle unless its features
equal the old encoder's on the check photos, so ``decoder_step.tflite`` and ``vocab.json``
are kept byte for byte and the captions stay what they were.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from converter.backbones import registry
from converter.bundle_writer import (  # noqa: F401  (the label table lives with the writer)
    CLASSES_OUTPUT,
    LABELS_FILE,
    LABELS_SOURCE,
    MAX_OBJECTS,
    OBJECT_THRESHOLD,
    add_objects,
)

log = logging.getLogger(__name__)

# features of the upgraded encoder against the old one, max |difference|. The converter
# folds BatchNorm into the convolutions afresh, and about a quarter of the folded float16
# weights land one float16 step (2^-11 relative) away from the old bundle's: the features
# then differ by up to about 6e-4 (they range over 0..10). The captions must not change at
# all (checked greedy and beam 3 on the same photos).
FEATURE_TOLERANCE = 2e-3


class UpgradeError(Exception):
    pass


def dense_weights(encoder: Path, feature_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The trained Dense encoder's kernel ``[channels, feature_dim]`` and bias, read from the
    encoder flatbuffer's FULLY_CONNECTED op with ``feature_dim`` outputs (an upgraded
    encoder has a second one, the ImageNet classifier's). Float16 weights are stored as float16
    constants that a Dequantize op widens; the float16 values are returned as float32, which
    a float16 re-export stores again unchanged."""
    from desktop.runtime import backend

    interpreter = backend().interpreter(model_path=str(encoder))
    shapes = {int(d["index"]): tuple(d["shape"]) for d in interpreter.get_tensor_details()}
    ops = [
        op
        for op in interpreter._get_ops_details()
        if op["op_name"] == "FULLY_CONNECTED" and shapes[int(op["outputs"][0])][-1] == feature_dim
    ]
    if len(ops) != 1:
        raise UpgradeError(
            f"{encoder}: expected one fully connected layer with {feature_dim} outputs, "
            f"found {len(ops)} (not a bundle encoder?)"
        )
    _, kernel_index, bias_index = (int(i) for i in ops[0]["inputs"])
    producers = {
        int(op["outputs"][0]): int(op["inputs"][0])
        for op in interpreter._get_ops_details()
        if op["op_name"] == "DEQUANTIZE"
    }

    def constant(index: int) -> np.ndarray:
        index = producers.get(index, index)  # the float16 constant behind a Dequantize
        return np.asarray(interpreter.get_tensor(index), dtype=np.float32)

    kernel, bias = constant(kernel_index), constant(bias_index)
    return kernel.T, bias  # TFLite keeps [out, in]; Keras [in, out]


def upgrade(
    bundle: Path,
    out: Path | None = None,
    check_photos: list[Path] | None = None,
    threshold: float = OBJECT_THRESHOLD,
) -> dict:
    """Turn a version-1 bundle into a version-2 one with objects (``out`` None: in place)."""
    import keras

    from converter import tflite
    from converter.bundle_writer import FORMAT_VERSION, quantizer, replace_folder, write_manifest
    from converter.graphs import encoder_graph
    from desktop.bundle import load_bundle
    from desktop.runtime import Model

    bundle = Path(bundle)
    out = Path(out) if out is not None else bundle
    old = load_bundle(bundle)
    manifest = dict(old.manifest)
    backbone = manifest.get("backbone", "")
    if not registry.has_classifier(backbone):
        raise UpgradeError(f"{bundle}: backbone {backbone!r} has no ImageNet classifier to add")
    quantize = manifest.get("quantization", "float32")
    if quantize not in ("float32", "float16"):
        # A re-quantised integer encoder would not reproduce the old features exactly.
        raise UpgradeError(f"{bundle}: a {quantize} encoder cannot be rebuilt exactly")

    kernel, bias = dense_weights(old.encoder.path, old.feature_dim)
    dense = keras.layers.Dense(old.feature_dim, activation="relu", name="encoder")
    dense.build((None, None, kernel.shape[0]))
    dense.set_weights([kernel, bias])
    encode, _, models = encoder_graph(backbone, None, lambda flat, _classes: dense(flat))
    encoder_bytes = tflite.convert({"encode": encode}, [*models, dense], quantizer(quantize))

    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(bundle, staging)
    (staging / old.encoder.path.name).write_bytes(encoder_bytes)
    add_objects(staging, manifest, threshold)
    manifest["format_version"] = FORMAT_VERSION
    manifest.setdefault("upgrades", []).append(
        {"added": "objects", "backbone_weights": _weights_sha(backbone)}
    )
    checksummed = sorted({*old.manifest["files"], LABELS_FILE})
    write_manifest(staging, manifest, checksummed)

    photos = list(check_photos or [])
    if not photos:
        raise UpgradeError("the feature check needs photos (--check-photos)")
    worst = _feature_difference(Model, old, staging, photos)
    log.info("features of the new encoder: max |difference| %.3g on %d photos", worst, len(photos))
    if worst > FEATURE_TOLERANCE:
        raise UpgradeError(
            f"the rebuilt encoder's features differ from the old one's by {worst:.3g} "
            f"(allowed {FEATURE_TOLERANCE}); bundle left in {staging}"
        )
    changed = _changed_captions(bundle, staging, photos)
    if changed:
        raise UpgradeError(
            f"captions changed on {len(changed)} photos (first: {changed[0]}); "
            f"bundle left in {staging}"
        )
    manifest["upgrades"][-1]["feature_check"] = {
        "photos": len(photos),
        "max_abs_diff": round(worst, 8),
        "captions_equal": "greedy and beam 3",
    }
    write_manifest(staging, manifest, checksummed)
    replace_folder(staging, out)
    return manifest


def _weights_sha(backbone: str) -> str:
    from desktop.bundle import sha256_file

    return sha256_file(registry.weights_path(backbone))


def _feature_difference(model_cls, old, new_dir: Path, photos: list[Path]) -> float:
    from desktop.images import load_pixels

    before = model_cls(old.encoder.path, old.encoder.signature)
    after = model_cls(new_dir / old.encoder.path.name, old.encoder.signature)
    if set(after.outputs) != {"features", CLASSES_OUTPUT}:
        raise UpgradeError(f"the new encoder's outputs are {sorted(after.outputs)}")
    worst = 0.0
    for photo in photos:
        pixels = load_pixels(photo, old.input_size)
        a, b = before(pixels=pixels)["features"], after(pixels=pixels)["features"]
        worst = max(worst, float(np.abs(a - b).max()))
    return worst


def _changed_captions(old: Path, new: Path, photos: list[Path]) -> list[str]:
    from desktop.captioner import Captioner, CaptionOptions

    before, after = Captioner.load(old), Captioner.load(new)
    changed = []
    for photo in photos:
        for beam in (1, 3):
            options = CaptionOptions(beam_width=beam, with_attention=False)
            a, b = before.caption(photo, options), after.caption(photo, options)
            if a.words != b.words:
                changed.append(f"{photo.name} beam {beam}: {a.text!r} → {b.text!r}")
    return changed
