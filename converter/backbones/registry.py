"""Backbone registry: name → Keras feature extractor taking RGB pixels 0..255.

Each extractor outputs the last convolutional grid ``[grid_h, grid_w, channels]``; the
normalisation each backbone expects is built in, so the exported encoder takes raw pixels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
SHARED_WEIGHTS = Path(__file__).resolve().parents[2].parent / "shared" / "weights"


class BackboneError(Exception):
    """Unknown backbone or weights that cannot be found offline."""


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    input_size: int
    channels: int
    licence: str


BACKBONES = {
    "efficientnet_lite0": BackboneSpec("efficientnet_lite0", 224, 1280, "Apache-2.0"),
    "efficientnet_lite1": BackboneSpec("efficientnet_lite1", 240, 1280, "Apache-2.0"),
    "efficientnet_lite2": BackboneSpec("efficientnet_lite2", 260, 1280, "Apache-2.0"),
    "mobilenet_v2": BackboneSpec("mobilenet_v2", 224, 1280, "Apache-2.0"),
    "inception_v3": BackboneSpec("inception_v3", 299, 2048, "Apache-2.0"),
}


def spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise BackboneError(f"unknown backbone {name!r}; choose from {', '.join(BACKBONES)}")
    return BACKBONES[name]


def grid_size(name: str) -> int:
    """Side of the feature grid: the input size after five stride-2 'same' stages."""
    size = spec(name).input_size
    if name == "inception_v3":  # valid padding: 299 → 8
        return 8
    for _ in range(5):
        size = -(-size // 2)
    return size


def weights_path(name: str, override: Path | None = None) -> Path | None:
    """Where the ImageNet weights of ``name`` are on this machine, or None to download."""
    if override is not None:
        if not Path(override).is_file():
            raise BackboneError(f"weights file not found: {override}")
        return Path(override)
    env = os.environ.get(f"CAPTIONER_{name.upper()}_WEIGHTS")
    if env:
        return Path(env)
    if name.startswith("efficientnet_lite"):
        path = WEIGHTS_DIR / f"{name}.weights.h5"
        if not path.is_file():
            port = f"python -m converter.backbones.port_efficientnet_lite {name}"
            raise BackboneError(f"{path} is missing: port it with `{port}`")
        return path
    if name == "mobilenet_v2":
        path = SHARED_WEIGHTS / "mobilenet_v2_1.0_224_no_top.weights.h5"
        return path if path.is_file() else None
    return None  # inception_v3: keras downloads ImageNet weights when online


def build(name: str, weights: Path | None = None, include_top: bool = False):
    """The frozen ImageNet feature extractor ``pixels (0..255) → [grid, grid, channels]``."""
    import keras
    from keras import layers

    info = spec(name)
    path = weights_path(name, weights)
    if name.startswith("efficientnet_lite"):
        from converter.backbones import efficientnet_lite

        model = efficientnet_lite.build(name, include_top=include_top)
        _load(model, path)
    else:
        size = info.input_size
        inputs = keras.Input((size, size, 3), name="pixels")
        # Both Keras models expect pixels scaled to [-1, 1].
        x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="normalize")(inputs)
        app = (
            keras.applications.MobileNetV2
            if name == "mobilenet_v2"
            else keras.applications.InceptionV3
        )
        kwargs = {"alpha": 1.0} if name == "mobilenet_v2" else {}
        try:
            base = app(
                include_top=False,
                weights=str(path) if path else "imagenet",
                input_shape=(size, size, 3),
                **kwargs,
            )
        except Exception as exc:  # keras raises several types when the download fails
            raise BackboneError(
                f"cannot load ImageNet weights for {name} (offline? pass --backbone-weights): {exc}"
            ) from exc
        model = keras.Model(inputs, base(x), name=name)
    model.trainable = False
    return model


def has_classifier(name: str) -> bool:
    """Whether the committed weights of ``name`` include its ImageNet classifier."""
    return name.startswith("efficientnet_lite")


def build_with_classifier(name: str, weights: Path | None = None):
    """``pixels → (grid [g, g, channels], ImageNet logits [1000])`` in one pass: the feature
    extractor and its own classifier head, which share everything up to the last grid."""
    import keras

    from converter.backbones import efficientnet_lite

    if not has_classifier(name):
        raise BackboneError(f"{name}: no ImageNet classifier weights to export")
    full = efficientnet_lite.build(name, include_top=True)
    full.load_weights(weights_path(name, weights))
    model = keras.Model(
        full.input, [full.get_layer("bn1_relu6").output, full.output], name=f"{name}_with_top"
    )
    model.trainable = False
    return model


def _load(model, path: Path) -> None:
    """Load committed weights (saved with the classifier) into a model with or without it."""
    from converter.backbones import efficientnet_lite

    if any(layer.name == "fc" for layer in model.layers):
        model.load_weights(path)
        return
    full = efficientnet_lite.build(model.name, include_top=True)
    full.load_weights(path)
    by_name = {layer.name: layer for layer in full.layers}
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(by_name[layer.name].get_weights())
