"""The training half end to end: a tiny real run on Flickr8k photos, export, LiteRT parity."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.support.converter_cli import FLICKR, ROOT, run_converter, tiny_train_args

tf = pytest.importorskip(
    "tensorflow", reason="the training extra (tensorflow-cpu) is not installed"
)

from converter.model import CaptionModel, ModelConfig  # noqa: E402

needs_flickr = pytest.mark.skipif(
    not (FLICKR / "Flickr8k.token.txt").is_file(), reason=f"Flickr8k not found at {FLICKR}"
)


def test_loss_falls_when_overfitting_a_tiny_set():
    rng = np.random.default_rng(0)
    model = CaptionModel(ModelConfig(vocab_size=30, feature_channels=64, dropout=0.0))
    model.build_all()
    features = tf.constant(rng.normal(size=(8, 9, 64)), tf.float32)
    tokens = rng.integers(4, 30, size=(8, 7)).astype(np.int32)
    inputs = tf.constant(np.concatenate([np.ones((8, 1), np.int32), tokens], axis=1))
    targets = tf.constant(np.concatenate([tokens, np.full((8, 1), 2, np.int32)], axis=1))
    optimizer = tf.keras.optimizers.Adam(3e-3)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            xent, total = model.caption_loss(
                features, model.no_concepts(8), inputs, targets, training=True
            )
        grads = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return xent

    first = float(step())
    for _ in range(80):
        last = float(step())
    assert last < 0.2 * first, (first, last)


def test_exported_step_matches_the_keras_step(tmp_path):
    """The decoder step the bundle holds is numerically the model's step, at any batch size."""
    from ai_edge_litert.interpreter import Interpreter

    from converter import tflite

    model = CaptionModel(ModelConfig(vocab_size=40, feature_channels=32))
    model.build_all()

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.int32, name="token"),
            tf.TensorSpec([None, 512], tf.float32, name="hidden"),
            tf.TensorSpec([None, None, 256], tf.float32, name="features"),
        ]
    )
    def step(token, hidden, features):
        logits, new_hidden, attention = model.step(token, hidden, features)
        return {"logits": logits, "new_hidden": new_hidden, "attention": attention}

    runner = Interpreter(
        model_content=tflite.convert({"step": step}, [model])
    ).get_signature_runner("step")
    rng = np.random.default_rng(1)
    for batch in (1, 3):
        token = rng.integers(0, 40, batch).astype(np.int32)
        hidden = rng.normal(size=(batch, 512)).astype(np.float32)
        features = rng.random((batch, 9, 256)).astype(np.float32)
        got = runner(token=token, hidden=hidden, features=features)
        want = step(token, hidden, features)
        for key in ("logits", "new_hidden", "attention"):
            np.testing.assert_allclose(got[key], want[key].numpy(), rtol=1e-4, atol=1e-4)


@needs_flickr
def test_tiny_run_trains_resumes_and_exports_a_bundle_with_litert_parity(tmp_path):
    run, bundle, cache = tmp_path / "run", tmp_path / "bundle", tmp_path / "cache"
    common = tiny_train_args(run, cache, 40, 10)
    first = run_converter(*common, "--epochs", "1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert (
        len(list((cache / "efficientnet_lite0").glob("*.npy"))) == 50
    )  # 40 train + the 10 dev photos scored

    refused = run_converter(*common, "--epochs", "2", cwd=tmp_path)
    assert refused.returncode == 2 and "--resume" in refused.stderr

    resumed = run_converter(*common, "--epochs", "2", "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    history = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[1]["train_loss"] < history[0]["train_loss"]
    assert (run / "loss.png").stat().st_size > 1000

    exported = run_converter(
        "export",
        "--run",
        str(run),
        "--out",
        str(bundle),
        "--quantize",
        "float32",
        "--parity-photos",
        "4",
        cwd=tmp_path,
    )
    assert exported.returncode == 0, exported.stderr[-3000:]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["parity"] == {"photos": 4, "agreement": 1.0}
    assert manifest["backbone"] == "efficientnet_lite0" and manifest["feature_grid"] == [7, 7]
    assert set(manifest["files"]) >= {"encoder.tflite", "decoder_step.tflite", "vocab.json"}
    assert not list(tmp_path.glob(".bundle*")), "staging folder left behind"

    # Format 2: the backbone's ImageNet classifier is a second encoder output, named by the
    # label table; a fresh export has no calibration yet, so no confidence.
    from desktop.captioner import Captioner

    assert manifest["format_version"] == 2 and manifest["objects"]["labels"] == "labels.json"
    chelsea = ROOT / "samples" / "chelsea.jpg"
    result = Captioner.load(bundle).caption(chelsea)
    assert result.objects and result.objects[0].name == "cat"
    assert result.confidence is None and not result.unsure

    # `converter upgrade` rebuilds that encoder from the committed backbone and the bundle's
    # own Dense weights: same features, same captions, decoder and vocabulary untouched.
    upgraded = run_converter(
        "upgrade",
        "--bundle",
        str(bundle),
        "--out",
        str(tmp_path / "upgraded"),
        "--check-photos",
        str(ROOT / "samples"),
        cwd=tmp_path,
    )
    assert upgraded.returncode == 0, upgraded.stderr[-3000:]
    up = json.loads((tmp_path / "upgraded" / "manifest.json").read_text())
    check = up["upgrades"][-1]["feature_check"]
    assert check["photos"] == 4 and check["max_abs_diff"] <= 1e-4  # float32: no re-rounding
    for name in ("decoder_step.tflite", "vocab.json"):
        assert (tmp_path / "upgraded" / name).read_bytes() == (bundle / name).read_bytes()
    again = Captioner.load(tmp_path / "upgraded").caption(chelsea)
    assert again.words == result.words and again.objects == result.objects


def test_cli_reports_bad_input_clearly(tmp_path):
    missing = run_converter(
        "train",
        "--dataset",
        "flickr8k",
        "--data-dir",
        str(tmp_path / "nope"),
        "--out",
        str(tmp_path / "r"),
        cwd=tmp_path,
    )
    assert missing.returncode == 2 and "dataset folder not found" in missing.stderr
    unknown = run_converter(
        "train",
        "--dataset",
        "flickr8k",
        "--data-dir",
        str(tmp_path),
        "--backbone",
        "resnet9000",
        "--out",
        str(tmp_path / "r"),
        cwd=tmp_path,
    )
    assert unknown.returncode == 2 and "resnet9000" in unknown.stderr
    for command in ("train", "evaluate", "export"):
        helped = run_converter(command, "--help", cwd=tmp_path)
        assert helped.returncode == 0 and "usage" in helped.stdout


_SEEDED = """
import hashlib
from converter.train import seed_everything
seed_everything(1, True)
import tensorflow as tf
from converter.model import CaptionModel, ModelConfig
model = CaptionModel(ModelConfig(vocab_size=30, feature_channels=16, dropout=0.5))
model.build_all()
digest = hashlib.sha256()
for variable in model.trainable_variables:
    digest.update(variable.numpy().tobytes())
digest.update(tf.keras.layers.Dropout(0.5)(tf.ones((4, 64)), training=True).numpy().tobytes())
from tensorflow.python.framework import config  # the public API has no getter
print(digest.hexdigest(), config.is_op_determinism_enabled())
"""


def test_a_deterministic_run_starts_from_the_same_weights_and_dropout(tmp_path):
    """Issue 21, item 14: the tiny model's training was not repeatable (unseeded initial
    weights and dropout, ops in no fixed order on 2 threads). Two fresh processes, with
    different thread counts, must agree bit for bit."""
    import os
    import subprocess
    import sys

    outputs = []
    for threads in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", _SEEDED],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=300,
            env={**os.environ, "PYTHONPATH": str(ROOT), "TF_NUM_INTRAOP_THREADS": threads},
        )
        assert done.returncode == 0, done.stderr[-2000:]
        outputs.append(done.stdout.split()[-2:])
    assert outputs[0] == outputs[1] and outputs[0][1] == "True", outputs


def test_the_tiny_model_is_deterministic_and_exported_from_its_last_epoch():
    from tests.support.tiny_model import EPOCHS, EXPORT, TRAIN

    assert "--deterministic" in TRAIN
    assert EXPORT[EXPORT.index("--epoch") + 1] == str(EPOCHS) == TRAIN[TRAIN.index("--epochs") + 1]
