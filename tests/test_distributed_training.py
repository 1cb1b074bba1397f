"""tf.distribute for real: two worker processes on loopback ports (``--strategy multiworker``)
and two logical CPU devices (``--strategy mirrored``), each training a tiny run to the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from converter.distribute import loopback_tf_configs
from tests.support.converter_cli import FLICKR, ROOT, tiny_train_args

pytestmark = pytest.mark.training
pytest.importorskip("tensorflow", reason="the training extra (tensorflow-cpu) is not installed")

if not (FLICKR / "Flickr8k.token.txt").is_file():
    pytest.skip(f"Flickr8k not found at {FLICKR}", allow_module_level=True)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One feature cache for the module: the workers share it (as on a cluster's NFS)."""
    return tmp_path_factory.mktemp("features")


def tiny(out: Path, cache: Path, *extra: str) -> list[str]:
    return tiny_train_args(out, cache, 12, 4, *extra)


def run_cluster(args_of, tmp_path: Path, workers: int = 2) -> list[subprocess.CompletedProcess]:
    """Start ``workers`` processes of ``python -m converter`` with TF_CONFIG; wait for all."""
    scratch = tmp_path / "tmp"  # the non-chief's checkpoint folders go here (and must go)
    scratch.mkdir(exist_ok=True)
    procs = []
    for index, tf_config in enumerate(loopback_tf_configs(workers)):
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TF_CONFIG": tf_config,
            "TMPDIR": str(scratch),
            "CUDA_VISIBLE_DEVICES": "",
        }
        # Logs go to files: a worker blocked on a full pipe would stall the others too.
        log = (tmp_path / f"worker{index}.log").open("w+")
        procs.append(
            (
                subprocess.Popen(
                    [sys.executable, "-m", "converter", *args_of(index)],
                    cwd=tmp_path,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    text=True,
                ),
                log,
            )
        )
    results = []
    try:
        for proc, log in procs:
            proc.wait(timeout=600)
            log.seek(0)
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, "", log.read()))
    finally:
        for proc, log in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
    return results


def epoch_records(stderr: str) -> list[dict]:
    """The per-epoch records a worker logs (the non-chief has no history.json of its own)."""
    marker = "INFO converter.train: epoch "
    return [json.loads(line.split(": ", 2)[2]) for line in stderr.splitlines() if marker in line]


def test_two_workers_train_resume_and_agree(tmp_path, cache):
    run = tmp_path / "run"
    first = run_cluster(
        lambda i: tiny(run, cache, "--strategy", "multiworker", "--epochs", "1"), tmp_path
    )
    for worker in first:
        assert worker.returncode == 0, worker.stderr[-3000:]
    # Synchronous training: both workers saw the same (all-reduced) loss at every step.
    losses = [[r["train_loss"] for r in epoch_records(w.stderr)] for w in first]
    assert losses[0] == losses[1] and len(losses[0]) == 1, losses
    assert len(list((cache / "efficientnet_lite0").glob("*.npy"))) == 16  # 12 train + 4 dev
    history = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1] and "dev_BLEU-4" in history[0]  # the chief's

    resumed = run_cluster(
        lambda i: tiny(run, cache, "--strategy", "multiworker", "--epochs", "2", "--resume"),
        tmp_path,
    )
    for worker in resumed:
        assert worker.returncode == 0, worker.stderr[-3000:]
        assert "resumed from" in worker.stderr  # both from the chief's checkpoint
    history = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert (run / "ckpt" / "ckpt-2.index").is_file()
    assert not list((tmp_path / "tmp").glob("captioner-worker-*")), "worker temp left behind"

    # A worker that cannot see the chief's run folder would start over and hang the others at
    # the end: every worker refuses instead.
    apart = run_cluster(
        lambda i: tiny(
            run if i == 0 else tmp_path / "elsewhere",
            cache,
            "--strategy",
            "multiworker",
            "--epochs",
            "3",
            "--resume",
        ),
        tmp_path,
    )
    for worker in apart:
        assert worker.returncode == 2 and "shared by every worker" in worker.stderr, worker.stderr


def test_bad_tf_config_is_explained(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "converter",
            *tiny(tmp_path / "r", tmp_path / "c"),
            "--strategy",
            "multiworker",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CONFIG": '{"cluster": {}'},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and "TF_CONFIG must be JSON like" in result.stderr


def test_mirrored_strategy_trains_two_replicas_on_two_logical_cpus(tmp_path, cache):
    """Logical devices must be set before TensorFlow starts, hence a fresh process."""
    config = {
        "dataset": "flickr8k",
        "data_dir": str(FLICKR),
        "backbone": "efficientnet_lite0",
        "out": str(tmp_path / "run"),
        "epochs": 1,
        "batch_size": 16,
        "max_examples": 12,
        "dev_limit": 4,
        "min_count": 1,
        "strategy": "mirrored",
        "cache_dir": str(cache),
    }
    script = textwrap.dedent(
        f"""
        import json
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        two = [tf.config.LogicalDeviceConfiguration()] * 2
        tf.config.set_logical_device_configuration(cpu, two)
        from converter.train import TrainConfig, Trainer
        trainer = Trainer(TrainConfig(**{config!r}))
        history = trainer.run()
        print(json.dumps({{"replicas": trainer.strategy.num_replicas_in_sync, "history": history}}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["replicas"] == 2
    history = outcome["history"]
    assert len(history) == 1 and history[0]["train_loss"] > 0 and "dev_BLEU-4" in history[0]
