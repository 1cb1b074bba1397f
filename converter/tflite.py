"""Keras 3 → LiteRT conversion helpers shared by feature extraction and the bundle export."""

from __future__ import annotations

import tensorflow as tf


def convert(functions: list, models: list, optimize=None, configure=None) -> bytes:
    """Convert traced ``tf.function`` s that call ``models`` into a LiteRT flatbuffer.

    The converter only freezes variables it can reach through the trackable object; Keras 3
    wraps its ``tf.Variable`` s, so without listing them explicitly the flatbuffer ships
    uninitialised READ_VARIABLE ops and computes garbage (NaN) instead of failing.
    """
    holder = tf.Module()
    holder.variables_ = [v.value for model in models for v in model.variables]
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [f.get_concrete_function() for f in functions], holder
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if configure is not None:
        configure(converter)
    return converter.convert()
