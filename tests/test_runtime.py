"""desktop.runtime: the real LiteRT interpreter, threads, XNNPACK, delegates, batch resizing."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from desktop.bundle import load_bundle
from desktop.runtime import Model, RuntimeOptions, backend

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bundle(default_model_dir):
    return load_bundle(default_model_dir)


@pytest.fixture(scope="module")
def pixels(captioner, samples):
    return captioner.pixels(samples[0])


def test_backend_is_ai_edge_litert():
    assert backend().name == "ai-edge-litert"


def test_thread_counts_agree(bundle, pixels):
    one = Model(bundle.encoder.path, "encode", RuntimeOptions(threads=1))(pixels=pixels)["features"]
    two = Model(bundle.encoder.path, "encode", RuntimeOptions(threads=2))(pixels=pixels)["features"]
    assert one.shape == (1, bundle.positions, bundle.feature_dim)
    np.testing.assert_allclose(one, two, rtol=1e-4, atol=1e-4)


def test_without_xnnpack_agrees(bundle, pixels):
    model = Model(bundle.encoder.path, "encode")
    fast = model(pixels=pixels)["features"]
    plain = Model(bundle.encoder.path, "encode", RuntimeOptions(xnnpack=False))(pixels=pixels)
    if bundle.quantization in ("float32", "float16"):
        np.testing.assert_allclose(fast, plain["features"], rtol=1e-3, atol=1e-3)
    else:  # integer kernels round differently (measured: correlation ~0.99 for int8)
        assert np.corrcoef(fast.ravel(), plain["features"].ravel())[0, 1] > 0.97


def test_unloadable_delegate_falls_back_to_cpu_with_a_warning(bundle, pixels, tmp_path):
    fake = tmp_path / "libnot_a_delegate.so"
    fake.write_bytes(b"\x7fELF not really")
    with pytest.warns(RuntimeWarning, match="could not be loaded.*CPU"):
        model = Model(bundle.encoder.path, "encode", RuntimeOptions(delegate=str(fake)))
    assert not model.delegate_active
    cpu = Model(bundle.encoder.path, "encode")(pixels=pixels)["features"]
    np.testing.assert_allclose(model(pixels=pixels)["features"], cpu, rtol=1e-4, atol=1e-4)


def test_decoder_batch_resizes_only_when_it_changes(bundle, captioner, pixels):
    features = captioner.encode(pixels)
    step = Model(bundle.decoder.path, "step")
    rng = np.random.default_rng(0)
    hidden = rng.standard_normal((3, bundle.units)).astype(np.float32)
    tokens = np.array([bundle.tokens.start, 10, 20], dtype=np.int32)

    def run(rows):
        return step(
            token=tokens[rows], hidden=hidden[rows], features=np.repeat(features, len(rows), axis=0)
        )

    singles = [run([i]) for i in range(3)]
    resizes = step.resizes
    assert run([0])["logits"].shape == (1, bundle.vocab_size)
    assert step.resizes == resizes  # same batch: no re-plan
    batch = run([0, 1, 2])
    assert step.resizes == resizes + 1
    run([0, 1, 2])
    assert step.resizes == resizes + 1
    assert batch["logits"].shape == (3, bundle.vocab_size)
    assert batch["attention"].shape == (3, bundle.positions)
    # Each row of the batched call is the same computation as the call for that beam alone.
    for i, single in enumerate(singles):
        for name in ("logits", "new_hidden", "attention"):
            np.testing.assert_allclose(batch[name][i], single[name][0], rtol=1e-4, atol=1e-4)
    run([1])
    assert step.resizes == resizes + 2


def test_attention_is_a_distribution(bundle, captioner, pixels):
    features = captioner.encode(pixels)
    out = captioner.decoder.step(
        np.array([bundle.tokens.start], np.int32), np.zeros((1, bundle.units), np.float32), features
    )
    attention = out[2]
    assert attention.shape == (1, bundle.positions)
    assert np.all(attention >= 0)
    np.testing.assert_allclose(attention.sum(), 1.0, rtol=1e-4)


def test_no_warnings_on_a_plain_load(bundle):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Model(bundle.decoder.path, "step")


def test_library_that_is_not_a_delegate_falls_back(bundle):
    # A real shared library without the delegate entry point.
    import ctypes.util

    libm = ctypes.util.find_library("m")
    if libm is None:
        pytest.skip("no libm to stand in for a non-delegate library")
    with pytest.warns(RuntimeWarning, match="not a LiteRT external delegate"):
        model = Model(bundle.decoder.path, "step", RuntimeOptions(delegate=libm))
    assert not model.delegate_active


def test_falls_back_to_tensorflow_lite_when_litert_is_absent(default_model_dir):
    """On a platform without ai-edge-litert or tflite-runtime wheels, tf.lite still runs
    the bundle (in a subprocess: the fallback imports TensorFlow)."""
    pytest.importorskip("tensorflow", reason="the fallback needs tensorflow installed")
    code = (
        "import sys; sys.modules['ai_edge_litert'] = None; sys.modules['tflite_runtime'] = None\n"
        "from desktop import runtime\n"
        "from desktop.captioner import Captioner\n"
        f"result = Captioner.load({str(default_model_dir)!r}).caption('samples/chelsea.jpg')\n"
        "print(runtime.backend().name, '|', result.text)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    name, _, text = done.stdout.strip().splitlines()[-1].partition(" | ")
    assert name == "tensorflow.lite" and text.endswith(".") and len(text.split()) >= 3
