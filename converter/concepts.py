"""Concepts: what the ImageNet classifier sees, as the decoder's extra attention slots.

A photo's *concepts* are the label table's everyday groups ("cat", "pizza", "laptop"), each
scored by the summed probability of the ImageNet classes named by it (the same sums the app
lists as objects). The encoder passes the ``k`` best-scored groups to the decoder as ``k``
more positions beside the feature grid (semantic attention, You et al. 2016), so the decoder
attends to "pizza" the way it attends to a grid cell.

That is what lets the decoder learn words from caption text without photos (DCC, Hendricks
et al. 2016; NOC, Venugopalan et al. 2017): a COCO caption "a slice of pizza on a plate"
becomes a training example whose grid is empty (one "no photo" position) and whose concepts
are the groups its own words name, dropped and mixed with a real photo's classifier noise so
the decoder learns to cope with the classifier's mistakes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converter.bundle_writer import LABELS_SOURCE
from converter.detector import CLASSES as DETECTOR_CLASSES
from converter.detector import COCO_LABELS
from desktop.objects import ObjectNamer


@dataclass(frozen=True)
class TextNoise:
    """How caption-text examples imitate the classifier (chosen so the decoder learns to
    trust a confident concept, not to parrot every slot)."""

    keep: float = 0.85  # a concept the caption names is given to the decoder this often
    score_low: float = 0.2  # …with a score drawn uniformly from [score_low, 1]
    background_scale: tuple[float, float] = (0.1, 0.6)  # a real photo's slots, damped


class ConceptTable:
    """The label table's groups and the ImageNet-class → group matrix; with ``detector``,
    also the COCO detector's classes (person among them) → group matrix, and the groups of
    COCO classes that no ImageNet class names (person, kite, skateboard, …)."""

    def __init__(self, table: dict | None = None, detector: bool = False):
        table = table or json.loads(Path(LABELS_SOURCE).read_text())
        namer = ObjectNamer(table, threshold=1.0, max_objects=1)
        self.namer = namer
        self.detector = detector
        groups = set(namer.groups)
        if detector:
            groups |= {namer.terms.group(n) for n in COCO_LABELS.values()}
        # Without the detector the order is the ImageNet namer's own, as format-3 runs had it.
        self.groups: tuple[str, ...] = tuple(sorted(groups)) if detector else namer.groups
        index = {g: i for i, g in enumerate(self.groups)}
        self.matrix = np.zeros((namer.classes, len(self.groups)), np.float32)
        for cls, name in enumerate(namer.name_of_class):
            if name >= 0:
                self.matrix[cls, index[namer.groups[namer.group_of_name[name]]]] = 1.0
        self.detector_matrix = np.zeros((DETECTOR_CLASSES, len(self.groups)), np.float32)
        if detector:
            for cls, name in COCO_LABELS.items():
                self.detector_matrix[cls, index[namer.terms.group(name)]] = 1.0
        self._index = index

    def __len__(self) -> int:
        return len(self.groups)

    def index(self, group: str) -> int:
        return self._index[group]

    def scores(self, probabilities: np.ndarray, detections: np.ndarray | None = None) -> np.ndarray:
        """``[N, 1000]`` ImageNet probabilities (and ``[N, 91]`` detector per-class maxima)
        → ``[N, groups]`` scores in [0, 1]: the classifier's sums, or the detector's best
        class of the group where that is higher (a detector score is a probability of its
        own, not a share of one softmax, so it is not added)."""
        p = np.asarray(probabilities, np.float32)
        s = np.clip(p @ self.matrix, 0.0, 1.0)
        if detections is not None and self.detector:
            d = np.asarray(detections, np.float32)
            s = np.maximum(s, (d[:, :, None] * self.detector_matrix[None]).max(axis=1))
        return s

    def in_caption(self, caption: str) -> list[int]:
        """Group ids a caption names (sorted, so examples are reproducible)."""
        return sorted(self._index[g] for g in self.namer.terms.find(caption) if g in self._index)


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best groups per row, best first, as ``tf.math.top_k`` orders them."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order.astype(np.int32), np.take_along_axis(scores, order, axis=1).astype(np.float32)


def cached_scores(
    table: ConceptTable, cache, image_ids: Sequence[str], detections=None
) -> np.ndarray:
    """``[N, groups]`` concept scores of cached photos (``FeatureCache`` with classes, and
    the ``DetectionCache`` where the table has the detector), as the encoder computes them."""
    found = detections.load(list(image_ids)) if detections is not None else None
    return table.scores(cache.load_classes(list(image_ids)), found)


def cached_slots(
    table: ConceptTable, cache, image_ids: Sequence[str], k: int, detections=None
) -> tuple[np.ndarray, np.ndarray]:
    """The concept slots of cached photos: their ``k`` best-scored groups."""
    return top_k(cached_scores(table, cache, image_ids, detections), k)


def recall_per_group(
    table: ConceptTable,
    scores: np.ndarray,
    captions: Sequence[Sequence[str]],
    threshold: float = 0.3,
    default: float = TextNoise.keep,
    minimum: int = 20,
) -> tuple[np.ndarray, dict[str, tuple[float, int]]]:
    """How often a group that a photo's captions name (at least 2 of them) is among its
    concepts at ``threshold`` or more, per group, measured on training photos: the chance a
    caption-only example is given the concept, so text imitates the detector's misses.
    Groups seen on fewer than ``minimum`` photos keep ``default``. Returns the keep
    probabilities ``[groups]`` and ``{group: (recall, photos)}`` for the log."""
    hits = np.zeros(len(table), np.int64)
    named = np.zeros(len(table), np.int64)
    for row, refs in enumerate(captions):
        counts: dict[int, int] = {}
        for ref in refs:
            for g in table.in_caption(ref):
                counts[g] = counts.get(g, 0) + 1
        for g, n in counts.items():
            if n >= 2:
                named[g] += 1
                hits[g] += scores[row, g] >= threshold
    keep = np.full(len(table), default, np.float32)
    report = {}
    for g in np.flatnonzero(named >= minimum):
        keep[g] = hits[g] / named[g]
        report[table.groups[g]] = (float(keep[g]), int(named[g]))
    return keep, report


def text_slots(
    named: Sequence[Sequence[int]],
    background_ids: np.ndarray,
    background_scores: np.ndarray,
    rng: np.random.Generator,
    noise: TextNoise = TextNoise(),
    keep: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concept slots ``(ids [N, k], scores [N, k])`` for caption-only examples, and the
    training photo each one's background came from ``[N]``.

    Each example starts from a random training photo's real top-k (the classifier's own
    mistakes), damped; the groups its caption names then take the weakest slots with a
    confident score, each kept with probability ``noise.keep`` (or ``keep[group]``, the
    measured recall of the concept on training photos, ``recall_per_group``).
    """
    n, k = len(named), background_ids.shape[1]
    rows = rng.integers(0, len(background_ids), n)
    ids = background_ids[rows].copy()
    scale = rng.uniform(*noise.background_scale, size=(n, 1)).astype(np.float32)
    scores = background_scores[rows] * scale
    for i, groups in enumerate(named):
        kept = [g for g in groups if rng.random() < (noise.keep if keep is None else keep[g])][:k]
        for slot, group in zip(range(k - 1, -1, -1), kept, strict=False):
            clash = np.flatnonzero(ids[i] == group)
            if clash.size:  # already a background slot: raise it rather than repeat it
                slot = int(clash[0])
            ids[i, slot] = group
            scores[i, slot] = rng.uniform(noise.score_low, 1.0)
        order = np.argsort(-scores[i], kind="stable")
        ids[i], scores[i] = ids[i][order], scores[i][order]
    return ids, scores, rows


def read_caption_text(paths: Sequence[Path], limit: int | None = None) -> list[str]:
    """Captions of ``caption-text`` JSONL files, without those of Flickr8k photos (already in
    the photo-paired training set, and never a dev or test photo's)."""
    captions: list[str] = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                record = json.loads(line)
                if record.get("flickr8k"):
                    continue
                text = str(record.get("caption", "")).strip()
                if text:
                    captions.append(text)
    return captions[:limit] if limit else captions
