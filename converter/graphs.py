"""The traced TensorFlow graphs a bundle is made of: the encoder (backbone, classifier,
concept slots, the trained Dense encoders) and the decoder step. Export, upgrade and the
parity check build them here, so no converter module imports another's private helpers."""

from __future__ import annotations

from pathlib import Path

from converter.backbones import registry


class GraphError(Exception):
    pass


def build_graphs(model, backbone: str, weights: Path | None = None, detector: bool = False):
    """The two traced functions the bundle is made of, the Keras feature extractor (grid only)
    and every Keras model the encoder uses."""
    import tensorflow as tf

    c = model.config
    encode, cnn, models = encoder_graph(
        backbone, weights, concept_encoder(model, detector), detector
    )

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.int32, name="token"),
            tf.TensorSpec([None, c.units], tf.float32, name="hidden"),
            tf.TensorSpec([None, None, c.feature_dim], tf.float32, name="features"),
        ]
    )
    def step(token, hidden, features):
        logits, new_hidden, attention = model.step(token, hidden, features)
        return {"logits": logits, "new_hidden": new_hidden, "attention": attention}

    return encode, step, cnn, [*models, model]


def concept_slots(model, detector: bool = False):
    """``(classes [B, 1000], detections [B, 91] or None) → (ids, scores) [B, K]``: the
    concept slots the model is given, the best-scored label-table groups, computed in the
    graph (K = 0: none). With ``detector`` a group scores the classifier's sum or the
    detector's best class of the group, whichever is higher (``ConceptTable.scores``)."""
    import tensorflow as tf

    k = model.config.concepts
    if not k:
        return lambda classes, detections=None: model.no_concepts(1)
    from converter.concepts import ConceptTable

    table = ConceptTable(detector=detector)
    matrix = tf.constant(table.matrix)
    detector_matrix = tf.constant(table.detector_matrix)

    def slots(classes, detections=None):
        if classes is None:
            raise GraphError("a concept model needs a backbone with its ImageNet classifier")
        scores = tf.clip_by_value(tf.matmul(classes, matrix), 0.0, 1.0)
        if detector:
            found = tf.reduce_max(detections[:, :, None] * detector_matrix[None], axis=1)
            scores = tf.maximum(scores, found)
        top = tf.math.top_k(scores, k=k)
        return top.indices, top.values

    return slots


def concept_encoder(model, detector: bool = False):
    """``(grid [1, L, C], classes [1, 1000] or None, detections [1, 91] or None) →
    features``: the model's encoder."""
    if not model.config.concepts:
        return lambda flat, classes, detections=None: model.encode(flat)
    slots = concept_slots(model, detector)
    return lambda flat, classes, detections=None: model.encode(flat, slots(classes, detections))


def encoder_graph(backbone: str, weights: Path | None, encode_features, detector: bool = False):
    """The traced encoder ``pixels → features`` (+ ``classes``, the backbone's ImageNet class
    probabilities, where its weights include the classifier: same pass, one more output).
    ``encode_features(grid, classes or None, detections or None)`` makes the features; with
    ``detector`` the encoder takes a second input, ``detections [1, 91]`` (the detector
    model's per-class best scores, format 4).

    Returns the function, the feature extractor ``pixels → (grid, classes or None)``, and
    the Keras models it uses.
    """
    import keras
    import tensorflow as tf

    size = registry.spec(backbone).input_size
    if registry.has_classifier(backbone):
        trunk = registry.build_with_classifier(backbone, weights)
        cnn = keras.Model(trunk.input, trunk.outputs[0], name=backbone)
    else:
        trunk = cnn = registry.build(backbone, weights)

    def extract(pixels):
        out = trunk(pixels, training=False)
        grid, logits = out if trunk is not cnn else (out, None)
        flat = tf.reshape(grid, [-1, grid.shape[1] * grid.shape[2], grid.shape[-1]])
        return flat, (tf.nn.softmax(logits) if logits is not None else None)

    pixels_spec = tf.TensorSpec([1, size, size, 3], tf.float32, name="pixels")
    if detector:
        from converter.detector import CLASSES

        spec = tf.TensorSpec([1, CLASSES], tf.float32, name="detections")

        @tf.function(input_signature=[pixels_spec, spec])
        def encode(pixels, detections):
            flat, classes = extract(pixels)
            return {"features": encode_features(flat, classes, detections), "classes": classes}

        return encode, extract, [trunk]

    @tf.function(input_signature=[pixels_spec])
    def encode(pixels):
        flat, classes = extract(pixels)
        result = {"features": encode_features(flat, classes)}
        if classes is not None:
            result["classes"] = classes
        return result

    return encode, extract, [trunk]
