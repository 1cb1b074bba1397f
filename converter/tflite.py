"""Keras 3 → LiteRT conversion helpers shared by feature extraction and the bundle export."""

from __future__ import annotations

import tempfile
from collections.abc import Callable

import tensorflow as tf


def convert(
    signatures: dict[str, tf.types.experimental.PolymorphicFunction],
    models: list,
    configure: Callable[[tf.lite.TFLiteConverter], None] | None = None,
) -> bytes:
    """Convert traced functions that call ``models`` into a LiteRT flatbuffer, one named
    signature each, builtin ops only.

    The converter freezes only the variables it can reach through the saved object; Keras 3
    wraps its ``tf.Variable`` s, so without listing them explicitly the flatbuffer ships
    uninitialised READ_VARIABLE ops and computes NaN instead of failing.
    """
    holder = tf.Module()
    holder.variables_ = [v.value for model in models for v in model.variables]
    with tempfile.TemporaryDirectory() as saved:
        tf.saved_model.save(
            holder, saved, signatures={k: f.get_concrete_function() for k, f in signatures.items()}
        )
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=list(signatures))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if configure is not None:
            configure(converter)
        return converter.convert()
