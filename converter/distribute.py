"""``--strategy default | mirrored | multiworker``: which devices and machines train together.

- ``mirrored``: every GPU of this machine (or, without GPUs, every logical CPU device, which
  the tests configure to run two replicas on one CPU).
- ``multiworker``: ``tf.distribute.MultiWorkerMirroredStrategy`` across machines, configured
  the standard way by the ``TF_CONFIG`` environment variable (docs/scale.md). Worker 0 (or
  the task of type ``chief``) is the chief: it alone writes the run folder; the others write
  their checkpoints to a private temporary folder that is deleted after each save, as
  TensorFlow's multi-worker guide prescribes (every worker must take part in a save).
  The run folder must be the same shared folder on every worker, so that a restarted
  cluster resumes every worker from the chief's checkpoint.

The strategy must exist before TensorFlow runs anything (the multi-worker one configures the
collective ops at start-up), so ``Trainer`` creates it first.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

STRATEGIES = ("default", "mirrored", "multiworker")


class DistributeError(Exception):
    pass


@dataclass(frozen=True)
class Role:
    """This process' place in the cluster."""

    index: int  # 0 .. count-1 among the workers
    count: int
    chief: bool  # writes the run folder (history, best weights, checkpoints)


def make_strategy(name: str):
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multiworker":
        _check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise DistributeError(f"unknown strategy {name!r} (choose from {', '.join(STRATEGIES)})")


def _check_tf_config() -> None:
    """Say clearly what is wrong with TF_CONFIG before TensorFlow fails obscurely (or hangs)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        log.warning("TF_CONFIG is not set: training as a single worker")
        return
    try:
        config = json.loads(raw)
        cluster, task = config["cluster"], config["task"]
        kind, index = task["type"], int(task["index"])
        members = cluster[kind]
    except (ValueError, KeyError, TypeError) as e:
        raise DistributeError(
            "TF_CONFIG must be JSON like "
            '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
            f'"task": {{"type": "worker", "index": 0}}}} ({type(e).__name__}: {e})'
        ) from None
    if not 0 <= index < len(members):
        raise DistributeError(
            f"TF_CONFIG task index {index} is not in the cluster's {len(members)} {kind}(s)"
        )


def role(strategy) -> Role:
    resolver = getattr(strategy, "cluster_resolver", None)
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    if not spec:
        return Role(0, 1, True)
    kinds = [k for k in ("chief", "worker") if k in spec]
    members = [(k, i) for k in kinds for i in range(len(spec[k]))]
    index = members.index((resolver.task_type, resolver.task_id))
    return Role(index, len(members), bool(strategy.extended.should_checkpoint))


def barrier(strategy) -> None:
    """Return once every worker got here (a collective sum of ones)."""
    import tensorflow as tf

    ones = strategy.run(tf.function(lambda: tf.constant(1.0)))
    strategy.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None)


def check_same_epoch(strategy, epoch) -> None:
    """Every worker must resume from the same epoch, or they would wait for each other forever
    at the end of the shorter run: compare them with two collective sums (n·Σe² = (Σe)²
    only when all are equal), so every worker reaches the same verdict."""
    import tensorflow as tf

    value = tf.cast(epoch, tf.float64)
    per_replica = strategy.run(tf.function(lambda: tf.stack([value, value * value])))
    total, squares = strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None).numpy()
    n = strategy.num_replicas_in_sync
    if abs(n * squares - total * total) > 1e-6:
        raise DistributeError(
            f"the workers resumed from different epochs (this one from {int(value)}, mean "
            f"{total / n:.2f}): the run folder must be one folder shared by every worker"
        )


def loopback_tf_configs(workers: int) -> list[str]:
    """``TF_CONFIG`` values for ``workers`` processes on this machine (free loopback ports),
    for tests and benchmarks. A port could be taken between this call and the workers'
    start; that fails loudly, it does not mix runs up."""
    sockets = [socket.socket() for _ in range(workers)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        hosts = [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    finally:
        for s in sockets:
            s.close()
    return [
        json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}})
        for i in range(workers)
    ]


class CheckpointDir:
    """Where this worker saves checkpoints: the run's ``ckpt/`` on the chief, a temporary
    folder elsewhere (deleted after each save)."""

    def __init__(self, run_ckpt: Path, chief: bool):
        self.run_ckpt = run_ckpt
        self.chief = chief
        self.path = run_ckpt if chief else Path(tempfile.mkdtemp(prefix="captioner-worker-"))

    def after_save(self) -> None:
        if not self.chief:
            shutil.rmtree(self.path, ignore_errors=True)
