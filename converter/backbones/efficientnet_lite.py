"""EfficientNet-Lite0/1/2 in Keras 3.

EfficientNet-Lite is EfficientNet-B0's block table with the mobile-friendly changes: no
squeeze-and-excite, ReLU6 everywhere, a fixed stem (32) and head (1280) and unscaled first and
last stages. Padding is TensorFlow "same", which is what the original (TF-trained) weights
expect. Layer names follow the PyTorch state dict (``_blocks.N._expand_conv`` →
``blocks_N_expand_conv``) so that ``port_torch`` is a plain name mapping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
from keras import layers

BN_EPSILON = 1e-3

# repeats, kernel, stride, expand ratio, input filters, output filters
BLOCKS_B0 = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


@dataclass(frozen=True)
class LiteVariant:
    name: str
    width: float
    depth: float
    resolution: int


VARIANTS = {
    "efficientnet_lite0": LiteVariant("efficientnet_lite0", 1.0, 1.0, 224),
    "efficientnet_lite1": LiteVariant("efficientnet_lite1", 1.0, 1.1, 240),
    "efficientnet_lite2": LiteVariant("efficientnet_lite2", 1.1, 1.2, 260),
}


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:  # never round down by more than 10 %
        rounded += divisor
    return int(rounded)


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, bn_name: str, act: bool):
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=bn_name)(x)
    return layers.ReLU(6.0, name=f"{bn_name}_relu6")(x) if act else x


def build(variant: str, include_top: bool = False, input_size: int | None = None) -> keras.Model:
    """Build EfficientNet-Lite taking RGB pixels in 0..255 (normalisation is inside).

    Without the top the output is the last feature map ``[grid, grid, 1280]``.
    """
    spec = VARIANTS[variant]
    size = input_size or spec.resolution
    inputs = keras.Input((size, size, 3), name="pixels")
    x = layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="normalize")(inputs)
    x = _conv_bn(x, 32, 3, 2, "conv_stem", "bn0", act=True)

    index = 0
    last_stage = len(BLOCKS_B0) - 1
    for stage, (repeats, kernel, stride, expand, filters_in, filters_out) in enumerate(BLOCKS_B0):
        filters_in = filters_in if stage == 0 else round_filters(filters_in, spec.width)
        filters_out = round_filters(filters_out, spec.width)
        if stage not in (0, last_stage):
            repeats = int(math.ceil(spec.depth * repeats))
        for repeat in range(repeats):
            block_in = filters_in if repeat == 0 else filters_out
            block_stride = stride if repeat == 0 else 1
            x = _mbconv(x, index, block_in, filters_out, kernel, block_stride, expand)
            index += 1

    x = _conv_bn(x, 1280, 1, 1, "conv_head", "bn1", act=True)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(1000, name="fc")(x)
    return keras.Model(inputs, x, name=variant)


def _mbconv(
    x, index: int, filters_in: int, filters_out: int, kernel: int, stride: int, expand: int
):
    prefix = f"blocks_{index}"
    shortcut = x
    hidden = filters_in * expand
    if expand != 1:
        x = _conv_bn(x, hidden, 1, 1, f"{prefix}_expand_conv", f"{prefix}_bn0", act=True)
    x = layers.DepthwiseConv2D(
        kernel, strides=stride, padding="same", use_bias=False, name=f"{prefix}_depthwise_conv"
    )(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{prefix}_bn1")(x)
    x = layers.ReLU(6.0, name=f"{prefix}_bn1_relu6")(x)
    x = _conv_bn(x, filters_out, 1, 1, f"{prefix}_project_conv", f"{prefix}_bn2", act=False)
    if stride == 1 and filters_in == filters_out:
        x = layers.Add(name=f"{prefix}_add")([x, shortcut])
    return x


def port_torch_state_dict(model: keras.Model, state_dict: dict) -> None:
    """Copy a PyTorch EfficientNet-Lite state dict (numpy arrays) into ``model``.

    torch conv (O, I, k, k) → Keras (k, k, I, O); depthwise (C, 1, k, k) → (k, k, C, 1);
    BatchNorm [weight, bias, running_mean, running_var] → [gamma, beta, mean, variance].
    """
    used = set()

    def take(key):
        used.add(key)
        return state_dict[key]

    for layer in model.layers:
        torch_name = _torch_name(layer.name)
        if torch_name is None:
            continue
        if isinstance(layer, layers.DepthwiseConv2D):
            layer.set_weights([take(f"{torch_name}.weight").transpose(2, 3, 0, 1)])
        elif isinstance(layer, layers.Conv2D):
            layer.set_weights([take(f"{torch_name}.weight").transpose(2, 3, 1, 0)])
        elif isinstance(layer, layers.BatchNormalization):
            layer.set_weights(
                [
                    take(f"{torch_name}.{k}")
                    for k in ("weight", "bias", "running_mean", "running_var")
                ]
            )
        elif isinstance(layer, layers.Dense):
            layer.set_weights([take("_fc.weight").T, take("_fc.bias")])
    unused = {k for k in state_dict if k not in used and not k.endswith("num_batches_tracked")}
    if model.get_layer(index=-1).name != "fc":
        unused = {k for k in unused if not k.startswith("_fc.")}
    if unused:
        raise ValueError(f"state dict entries not ported: {sorted(unused)[:5]}…")


def _torch_name(keras_name: str) -> str | None:
    if keras_name in ("conv_stem", "bn0", "conv_head", "bn1"):
        return "_" + keras_name
    if keras_name == "fc":
        return "_fc"
    if keras_name.startswith("blocks_") and not keras_name.endswith(("_relu6", "_add")):
        _, index, rest = keras_name.split("_", 2)
        return f"_blocks.{index}._{rest}"
    return None
