"""Training: cached backbone features in, checkpoints and a loss curve out.

A run folder holds everything needed to resume, evaluate and export::

    runs/x/config.json      dataset, backbone, vocabulary and model settings
    runs/x/vocab.json       the vocabulary (ids are the model's output classes)
    runs/x/ckpt/            a checkpoint per epoch (model + optimizer + epoch), for --resume
    runs/x/best.weights.h5  the weights of the best dev BLEU-4 epoch so far
    runs/x/history.json     per-epoch train / dev loss, dev BLEU-4 and CIDEr, seconds
    runs/x/loss.png         the loss curve
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from converter import concepts, datasets, distribute, text
from converter.backbones import registry
from converter.features import DEFAULT_CACHE, DetectionCache, FeatureCache
from desktop.files import write_atomic

log = logging.getLogger(__name__)


class TrainingError(Exception):
    pass


@dataclass(frozen=True)
class TrainConfig:
    dataset: str
    data_dir: str
    backbone: str
    out: str
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    lr_decay: float = 0.8  # per epoch after `decay_after`
    decay_after: int = 3
    clip_norm: float = 5.0
    top_k: int = 5000
    min_count: int = 5
    max_caption_words: int = 30
    max_examples: int | None = None
    dropout: float = 0.5
    attention_penalty: float = 1.0
    label_smoothing: float = 0.0
    seed: int = 0
    strategy: str = "default"
    cache_dir: str = str(DEFAULT_CACHE)
    backbone_weights: str | None = None
    dev_limit: int | None = None
    # Concept-conditioned training (converter/concepts.py): the classifier's best `concepts`
    # groups join the grid; caption-only text (`caption_text` JSONL files) trains the decoder
    # with an empty grid, `text_per_epoch` captions of it drawn afresh each epoch (0: all).
    concepts: int = 0
    caption_text: tuple[str, ...] = ()
    text_per_epoch: int = 0
    # Share of caption-only examples shown over the grid of the random training photo whose
    # classifier noise they carry (the rest: no photo). Over a real grid the decoder learns
    # that a confident concept outranks the grid, not only when there is no photo.
    text_photo_share: float = 0.0
    # Grounded concepts (format 4): the COCO detector's per-class scores join the
    # classifier's in the concept slots (person among them), and caption-only examples are
    # given a named concept as often as the detector finds it on training photos.
    detector: bool = False
    # The same run twice gives the same weights (seed_everything): initial weights and
    # dropout from `seed`, and TensorFlow's ops in a fixed order. Slower; for the tests.
    deterministic: bool = False


@dataclass
class Prepared:
    vocab: text.Vocabulary
    train_features: np.ndarray  # [N, L, C] float16
    train_captions: list[tuple[int, list[int]]]  # (photo row, token ids)
    dev_ids: list[str]
    dev_features: np.ndarray
    dev_captions: list[tuple[int, list[int]]]
    dev_references: dict[str, list[str]]
    # Concept slots (ids, scores) [N, K] per photo; K = 0 without concepts.
    train_concepts: tuple[np.ndarray, np.ndarray] | None = None
    dev_concepts: tuple[np.ndarray, np.ndarray] | None = None
    text_captions: list[list[int]] | None = None  # token ids of caption-only examples
    text_named: list[list[int]] | None = None  # concept groups each of them names
    text_keep: np.ndarray | None = None  # [groups] chance a named concept is given (measured)


def prepare(
    config: TrainConfig,
    vocab: text.Vocabulary | None = None,
    share: tuple[int, int] = (0, 1),
    barrier: Callable[[], None] | None = None,
) -> Prepared:
    """Features, vocabulary and encoded captions. With ``share=(i, n)`` (worker i of n) the
    worker first extracts every n-th missing photo, waits at ``barrier`` for the others, then
    extracts whatever it still lacks: on a cache folder the workers share, each computes 1/n
    of the features; on a cache of its own, each ends up computing them all."""
    data = datasets.load(config.dataset, Path(config.data_dir), config.max_examples, config.seed)
    train = data.split("train")
    dev = data.split("dev")
    if config.dev_limit:
        dev = dev[: config.dev_limit]
    cache = FeatureCache(config.backbone, Path(config.cache_dir))
    weights = Path(config.backbone_weights) if config.backbone_weights else None
    items = [(e.image_id, e.path) for e in train + dev]
    index, count = share
    if count > 1:
        cache.extract(items[index::count], weights=weights)
        if barrier is not None:
            barrier()
    errors = cache.extract(items, weights=weights)
    if errors:
        log.warning("%d photo(s) could not be read and are left out", len(errors))
        train = [e for e in train if e.image_id not in errors]
        dev = [e for e in dev if e.image_id not in errors]
    if config.caption_text and not config.concepts:
        raise TrainingError("caption-only text trains through the concepts: pass --concepts K")
    corpus = concepts.read_caption_text([Path(p) for p in config.caption_text])
    if vocab is None:
        vocab = text.Vocabulary.build(
            [*(c for e in train for c in e.captions), *corpus], config.top_k, config.min_count
        )

    def captions(examples):
        return [
            (row, vocab.encode(c, config.max_caption_words))
            for row, e in enumerate(examples)
            for c in e.captions
        ]

    train_slots = dev_slots = None
    text_captions = text_named = text_keep = None
    if config.concepts:
        if not cache.with_classes:
            raise TrainingError(f"{config.backbone} has no ImageNet classifier for concepts")
        table = concepts.ConceptTable(detector=config.detector)
        detections = None
        if config.detector:
            size = registry.spec(config.backbone).input_size
            detections = DetectionCache(size, Path(config.cache_dir))
            failed = detections.extract([(e.image_id, e.path) for e in train + dev])
            train = [e for e in train if e.image_id not in failed]
            dev = [e for e in dev if e.image_id not in failed]

        # The training photos' scores once: their slots, and the recall caption text imitates.
        train_scores = concepts.cached_scores(table, cache, [e.image_id for e in train], detections)
        train_slots = concepts.top_k(train_scores, config.concepts)
        dev_slots = concepts.cached_slots(
            table, cache, [e.image_id for e in dev], config.concepts, detections
        )
        text_captions = [vocab.encode(c, config.max_caption_words) for c in corpus]
        text_named = [table.in_caption(c) for c in corpus]
        if detections is not None:
            text_keep, report = concepts.recall_per_group(
                table, train_scores, [e.captions for e in train]
            )
            log.info(
                "concept recall on training photos (kept as often for caption text): %s",
                ", ".join(f"{g} {r:.2f} of {n}" for g, (r, n) in sorted(report.items())),
            )
        log.info("%d caption-only examples from %s", len(corpus), ", ".join(config.caption_text))

    return Prepared(
        vocab=vocab,
        train_concepts=train_slots,
        dev_concepts=dev_slots,
        text_captions=text_captions,
        text_named=text_named,
        text_keep=text_keep,
        train_features=cache.load([e.image_id for e in train]),
        train_captions=captions(train),
        dev_ids=[e.image_id for e in dev],
        dev_features=cache.load([e.image_id for e in dev]),
        dev_captions=captions(dev),
        dev_references={e.image_id: list(e.captions) for e in dev},
    )


def bucketed_batches(
    captions: list[tuple[int, list[int]]], batch_size: int, rng: random.Random | None
) -> list[list[tuple[int, list[int]]]]:
    """Batches of captions of similar length, so padding does not dominate the compute."""
    order = list(captions)
    if rng is not None:
        rng.shuffle(order)
    # Sort within windows of 50 batches: similar lengths together, still a different mix each epoch.
    window = batch_size * 50
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda item: len(item[1]))
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


def pad_batch(batch, features: np.ndarray, slots=None) -> tuple[np.ndarray, ...]:
    """``(features, concept ids, concept scores, inputs, targets)`` of a batch; ``features``
    and ``slots`` are indexed by the batch's rows (``slots`` None: no concepts, K = 0)."""
    # Round the length up to a multiple of 4 to bound the number of traced shapes.
    longest = max(len(ids) for _, ids in batch) - 1
    length = int(math.ceil(longest / 4) * 4)
    inputs = np.full((len(batch), length), text.PAD_ID, np.int32)
    targets = np.full((len(batch), length), text.PAD_ID, np.int32)
    for i, (_, ids) in enumerate(batch):
        inputs[i, : len(ids) - 1] = ids[:-1]
        targets[i, : len(ids) - 1] = ids[1:]
    rows = np.fromiter((row for row, _ in batch), np.int64, len(batch))
    if slots is None:
        ids, scores = np.zeros((len(batch), 0), np.int32), np.zeros((len(batch), 0), np.float32)
    else:
        ids, scores = slots[0][rows], slots[1][rows]
    return features[rows], ids, scores, inputs, targets


class _Rows:
    """``features[rows[i]]`` as row ``i``: caption-only examples shown over training photos
    index their slots by example and their grid by photo (one photo may serve several)."""

    def __init__(self, features: np.ndarray, rows: np.ndarray):
        self.features, self.rows = features, rows

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        return self.features[self.rows[index]]


def seed_everything(seed: int, deterministic: bool) -> None:
    """With ``deterministic``: Python's, NumPy's and TensorFlow's random numbers from
    ``seed`` (initial weights, dropout masks) and TensorFlow's ops deterministic (reductions
    in a fixed order whatever the thread count), so a run repeats bit for bit. Without it
    nothing changes (a real run keeps TensorFlow's own seeding and speed)."""
    if not deterministic:
        return
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


class Trainer:
    def __init__(self, config: TrainConfig, resume: bool = False):
        import tensorflow as tf

        from converter.model import CaptionModel, ModelConfig

        seed_everything(config.seed, config.deterministic)
        self.tf = tf
        self.config = config
        self.out = Path(config.out)
        if (self.out / "ckpt").exists() and not resume:
            raise TrainingError(f"{self.out} already holds a run: pass --resume or another --out")
        # First: the multi-worker strategy configures TensorFlow's collectives at start-up.
        self.strategy = distribute.make_strategy(config.strategy)
        self.role = distribute.role(self.strategy)
        self.out.mkdir(parents=True, exist_ok=True)
        vocab = None
        if resume and (self.out / "vocab.json").is_file():
            vocab = text.Vocabulary.load(self.out / "vocab.json")
        self.data = prepare(
            config,
            vocab,
            share=(self.role.index, self.role.count),
            barrier=lambda: distribute.barrier(self.strategy),
        )
        if self.role.chief:
            self.data.vocab.save(self.out / "vocab.json")
        channels = self.data.train_features.shape[-1]
        self.model_config = ModelConfig(
            vocab_size=len(self.data.vocab),
            feature_channels=channels,
            dropout=config.dropout,
            attention_penalty=config.attention_penalty,
            label_smoothing=config.label_smoothing,
            concepts=config.concepts,
            concept_groups=(
                len(concepts.ConceptTable(detector=config.detector)) if config.concepts else 0
            ),
        )
        with self.strategy.scope():
            self.model = CaptionModel(self.model_config)
            self.model.build_all()
            self.optimizer = tf.keras.optimizers.Adam(
                config.learning_rate, clipnorm=config.clip_norm
            )
            self.optimizer.build(self.model.trainable_variables)
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, epoch=self.epoch
        )
        self.ckpt_dir = distribute.CheckpointDir(self.out / "ckpt", self.role.chief)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.ckpt_dir.path, max_to_keep=2
        )
        self.history: list[dict] = []
        latest = tf.train.latest_checkpoint(self.out / "ckpt") if resume else None
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
            if (self.out / "history.json").is_file():
                self.history = json.loads((self.out / "history.json").read_text())
            log.info("resumed from %s (epoch %d)", latest, int(self.epoch.numpy()))
        if self.role.count > 1:
            distribute.check_same_epoch(self.strategy, self.epoch)
        if self.role.chief:
            self._write_config()
        self._train_step = self._make_train_step()
        self._eval_step = tf.function(
            lambda f, ci, cs, i, t: self.model.caption_loss(
                tf.cast(f, tf.float32), (ci, cs), i, t, training=False
            )[0],
            reduce_retracing=True,
        )

    def _write_config(self) -> None:
        info = {
            "train": asdict(self.config),
            "model": self.model_config.to_dict(),
            "backbone": self.config.backbone,
            "input_size": registry.spec(self.config.backbone).input_size,
            "feature_grid": [registry.grid_size(self.config.backbone)] * 2,
            "max_length": self.config.max_caption_words + 1,
            "train_images": int(self.data.train_features.shape[0]),
            "train_captions": len(self.data.train_captions),
        }
        write_atomic(self.out / "config.json", json.dumps(info, indent=2))

    def _make_train_step(self):
        tf = self.tf
        model, optimizer, strategy = self.model, self.optimizer, self.strategy

        def replica_step(features, ids, scores, inputs, targets):
            with tf.GradientTape() as tape:
                xent, total = model.caption_loss(
                    tf.cast(features, tf.float32), (ids, scores), inputs, targets, training=True
                )
                scaled = total / strategy.num_replicas_in_sync
            grads = tape.gradient(scaled, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return xent

        # The iterator goes into the function, so it is traced once for its element spec (any
        # batch shape): workers must trace the same collectives in the same order, which
        # per-shape retracing at different steps on different workers would break.
        @tf.function
        def train_step(iterator):
            per_replica = strategy.run(replica_step, args=next(iterator))
            return strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

        return train_step

    def _sources(self, rng: random.Random) -> list[tuple[list, np.ndarray, tuple | None]]:
        """This epoch's ``(captions, features, slots)``: the photos, then (with caption text)
        a fresh draw of caption-only examples with noisy concept slots, with an empty grid
        or (``text_photo_share`` of them) over a random training photo's grid."""
        data = self.data
        sources = [(data.train_captions, data.train_features, data.train_concepts)]
        if data.text_captions:
            count = self.config.text_per_epoch or len(data.text_captions)
            chosen = rng.sample(range(len(data.text_captions)), min(count, len(data.text_captions)))
            ids, scores, photos = concepts.text_slots(
                [data.text_named[j] for j in chosen],
                *data.train_concepts,
                np.random.default_rng(rng.getrandbits(32)),
                keep=data.text_keep,
            )
            over_photo = int(round(len(chosen) * self.config.text_photo_share))
            channels = data.train_features.shape[-1]
            # One all-zero cell: the encoder turns it into a learned "no photo" position.
            empty = np.broadcast_to(
                np.zeros((1, 1, channels), np.float16), (len(chosen), 1, channels)
            )
            captions = [(row, data.text_captions[j]) for row, j in enumerate(chosen)]
            sources.append((captions[over_photo:], empty, (ids, scores)))
            if over_photo:
                over = _Rows(data.train_features, photos[:over_photo])
                sources.append((captions[:over_photo], over, (ids, scores)))
        return sources

    def _batches(self, sources, rng):
        """``(steps, distributed dataset)``: every worker builds the same batches (same seed),
        of ``batch_size / replicas`` captions each, and feeds its replicas their own share;
        every replica runs the same number of steps (the last few batches may be left over).
        A batch draws from one source (photos or caption text), the batches mixed."""
        tf = self.tf
        replicas = self.strategy.num_replicas_in_sync
        size = max(1, self.config.batch_size // replicas)
        batches = [
            (source, batch)
            for source, (captions, _, _) in enumerate(sources)
            for batch in bucketed_batches(captions, size, rng)
        ]
        rng.shuffle(batches)
        steps = len(batches) // replicas
        if steps * replicas < len(batches):
            log.info("%d batch(es) left over this epoch", len(batches) - steps * replicas)
        C = sources[0][1].shape[-1]
        K = self.config.concepts

        def dataset_fn(context):
            local = replicas // context.num_input_pipelines
            first = context.input_pipeline_id * local

            def generate():
                for step in range(steps):
                    for j in range(local):  # one element per local replica, in order
                        source, batch = batches[step * replicas + first + j]
                        _, features, slots = sources[source]
                        yield pad_batch(batch, features, slots)

            return tf.data.Dataset.from_generator(
                generate,
                output_signature=(
                    tf.TensorSpec([None, None, C], tf.float16),
                    tf.TensorSpec([None, K], tf.int32),
                    tf.TensorSpec([None, K], tf.float32),
                    tf.TensorSpec([None, None], tf.int32),
                    tf.TensorSpec([None, None], tf.int32),
                ),
            ).prefetch(2)

        return steps, self.strategy.distribute_datasets_from_function(dataset_fn)

    def dev_scores(self, limit: int | None = None) -> dict:
        """Greedy dev captions (TF) scored with BLEU-4 and CIDEr (no Java needed)."""
        tf = self.tf
        ids = self.data.dev_ids[:limit] if limit else self.data.dev_ids
        banned = tf.constant(text.BANNED_IDS, tf.int32)
        hypotheses = {}
        for start in range(0, len(ids), 250):
            feats = tf.constant(self.data.dev_features[start : start + 250], tf.float32)
            slots = self._slice_slots(self.data.dev_concepts, start, start + 250, len(feats))
            tokens = self.model.greedy_tokens(
                feats, slots, self.config.max_caption_words + 1, banned
            ).numpy()
            for image_id, row in zip(ids[start : start + 250], tokens, strict=True):
                hypotheses[image_id] = " ".join(self.data.vocab.decode(row))
        references = {i: self.data.dev_references[i] for i in ids}
        return quick_scores(references, hypotheses)

    def _slice_slots(self, slots, start: int, stop: int, batch: int):
        if slots is None:
            return self.model.no_concepts(batch)
        return slots[0][start:stop], slots[1][start:stop]

    def run(self) -> list[dict]:
        rng = random.Random(self.config.seed + int(self.epoch.numpy()))
        best = max((h.get("dev_BLEU-4", 0.0) for h in self.history), default=-1.0)
        while int(self.epoch.numpy()) < self.config.epochs:
            epoch = int(self.epoch.numpy()) + 1
            lr = self.config.learning_rate * self.config.lr_decay ** max(
                0, epoch - 1 - self.config.decay_after
            )
            self.optimizer.learning_rate.assign(lr)
            started = time.time()
            count, batches = self._batches(self._sources(rng), rng)
            iterator = iter(batches)
            total, steps = 0.0, 0
            for _ in range(count):
                total += float(self._train_step(iterator))
                steps += 1
                if steps % 50 == 0:
                    log.info("epoch %d step %d/%d loss %.4f", epoch, steps, count, total / steps)
            train_seconds = time.time() - started
            record = {
                "epoch": epoch,
                "learning_rate": lr,
                "train_loss": total / max(steps, 1),
                "train_seconds": round(train_seconds, 1),
                "train_captions_per_second": round(
                    steps * self.config.batch_size / max(train_seconds, 1e-9), 1
                ),
            }
            if self.role.chief:  # the others go on to the next epoch and wait for it there
                scores = self.dev_scores()
                record = {
                    **record,
                    "dev_loss": self._dev_loss(),
                    **{f"dev_{k}": v for k, v in scores.items()},
                }
            self.history.append(record)
            log.info("epoch %d: %s", epoch, json.dumps(record))
            if self.role.chief and record["dev_BLEU-4"] > best:
                best = record["dev_BLEU-4"]
                self._save_best(record)
            self.epoch.assign(epoch)
            self.manager.save(checkpoint_number=epoch)  # every worker saves (see distribute)
            self.ckpt_dir.after_save()
            if self.role.chief:
                # Every epoch's weights stay available: dev scores are noisy from epoch to
                # epoch, so the final choice (beam search, pycocoevalcap) is made on a few.
                self._save_weights(self.out / "epochs" / f"epoch-{epoch:02d}.weights.h5")
                write_atomic(self.out / "history.json", json.dumps(self.history, indent=2))
                self._plot()
        return self.history

    def _plot(self) -> None:
        try:
            from converter import plots
        except ImportError as exc:  # matplotlib is optional for a headless training box
            log.warning("no loss curve: %s", exc)
            return
        plots.plot_loss(self.history, self.out / "loss.png")

    def _dev_loss(self) -> float:
        losses, weights = [], []
        for batch in bucketed_batches(self.data.dev_captions, 256, None):
            padded = pad_batch(batch, self.data.dev_features, self.data.dev_concepts)
            losses.append(float(self._eval_step(*padded)))
            targets = padded[-1]
            weights.append(float((targets != text.PAD_ID).sum()))
        return float(np.average(losses, weights=weights))

    def _save_weights(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp.weights.h5")
        self.model.save_weights(tmp)
        os.replace(tmp, path)

    def _save_best(self, record: dict) -> None:
        self._save_weights(self.out / "best.weights.h5")
        write_atomic(self.out / "best.json", json.dumps(record, indent=2))


def quick_scores(references: dict[str, list[str]], hypotheses: dict[str, str]) -> dict:
    """BLEU-4 and CIDEr with pycocoevalcap on normalised words: fast and Java-free, for
    per-epoch model selection; reports use ``converter.metrics`` with the PTB tokenizer."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    gts = {k: [" ".join(text.normalize(r)) for r in refs] for k, refs in references.items()}
    res = {k: [h or "a"] for k, h in hypotheses.items()}  # Bleu rejects empty hypotheses
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    return {"BLEU-4": float(bleu[3]), "CIDEr": float(cider)}


def epochs_label(epochs: tuple[int, ...] | None) -> str:
    """Suffix naming a choice of epochs in bundle and report folders ("" for the best)."""
    return "-epoch" + "-".join(str(e) for e in epochs) if epochs else ""


def run_weights(run: Path, epochs: tuple[int, ...] | None = None) -> list[Path]:
    """Weights files of ``epochs`` (default: the best epoch by dev BLEU-4)."""
    run = Path(run)
    if not epochs:
        weights = run / "best.weights.h5"
        if not weights.is_file():
            raise TrainingError(f"{run} has no best.weights.h5 yet: train at least one epoch")
        return [weights]
    paths = [run / "epochs" / f"epoch-{epoch:02d}.weights.h5" for epoch in epochs]
    for epoch, path in zip(epochs, paths, strict=True):
        if not path.is_file():
            raise TrainingError(f"{run} has no weights for epoch {epoch} ({path})")
    return paths


def load_run(run: Path, epochs: tuple[int, ...] | None = None):
    """A run's model, its vocabulary and its config.

    The model holds the best epoch's weights, or those of ``epochs``: with several, their
    average, which smooths the epoch-to-epoch noise that a small dataset gives the late epochs.
    """
    import numpy as np

    from converter.model import CaptionModel, ModelConfig

    run = Path(run)
    config_path = run / "config.json"
    if not config_path.is_file():
        raise TrainingError(f"{run} is not a training run (no config.json)")
    info = json.loads(config_path.read_text())
    snapshots = []
    for path in run_weights(run, epochs):
        model = CaptionModel(ModelConfig(**info["model"]))
        model.build_all()
        model.load_weights(path)
        snapshots.append(model.get_weights())
    if len(snapshots) > 1:
        model.set_weights([np.mean(values, axis=0) for values in zip(*snapshots, strict=True)])
    return model, text.Vocabulary.load(run / "vocab.json"), info
