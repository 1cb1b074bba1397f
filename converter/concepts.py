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

from converter.objects import LABELS_SOURCE
from desktop.objects import ObjectNamer


@dataclass(frozen=True)
class TextNoise:
    """How caption-text examples imitate the classifier (chosen so the decoder learns to
    trust a confident concept, not to parrot every slot)."""

    keep: float = 0.85  # a concept the caption names is given to the decoder this often
    score_low: float = 0.2  # …with a score drawn uniformly from [score_low, 1]
    background_scale: tuple[float, float] = (0.1, 0.6)  # a real photo's slots, damped


class ConceptTable:
    """The label table's groups and the ImageNet-class → group matrix."""

    def __init__(self, table: dict | None = None):
        table = table or json.loads(Path(LABELS_SOURCE).read_text())
        namer = ObjectNamer(table, threshold=1.0, max_objects=1)
        self.namer = namer
        self.groups: tuple[str, ...] = namer.groups
        index = {g: i for i, g in enumerate(self.groups)}
        self.matrix = np.zeros((namer.classes, len(self.groups)), np.float32)
        for cls, name in enumerate(namer.name_of_class):
            if name >= 0:
                self.matrix[cls, namer.group_of_name[name]] = 1.0
        self._index = index

    def __len__(self) -> int:
        return len(self.groups)

    def scores(self, probabilities: np.ndarray) -> np.ndarray:
        """``[N, 1000]`` ImageNet probabilities → ``[N, groups]`` summed scores in [0, 1]."""
        p = np.asarray(probabilities, np.float32)
        return np.clip(p @ self.matrix, 0.0, 1.0)

    def in_caption(self, caption: str) -> list[int]:
        """Group ids a caption names (sorted, so examples are reproducible)."""
        return sorted(self._index[g] for g in self.namer.terms.find(caption) if g in self._index)


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best groups per row, best first, as ``tf.math.top_k`` orders them."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order.astype(np.int32), np.take_along_axis(scores, order, axis=1).astype(np.float32)


def cached_slots(
    table: ConceptTable, cache, image_ids: Sequence[str], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The concept slots of cached photos (``FeatureCache`` with classes), as the encoder
    computes them from the same probabilities."""
    return top_k(table.scores(cache.load_classes(list(image_ids))), k)


def text_slots(
    named: Sequence[Sequence[int]],
    background_ids: np.ndarray,
    background_scores: np.ndarray,
    rng: np.random.Generator,
    noise: TextNoise = TextNoise(),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concept slots ``(ids [N, k], scores [N, k])`` for caption-only examples, and the
    training photo each one's background came from ``[N]``.

    Each example starts from a random training photo's real top-k (the classifier's own
    mistakes), damped; the groups its caption names then take the weakest slots with a
    confident score, each kept with probability ``noise.keep``.
    """
    n, k = len(named), background_ids.shape[1]
    rows = rng.integers(0, len(background_ids), n)
    ids = background_ids[rows].copy()
    scale = rng.uniform(*noise.background_scale, size=(n, 1)).astype(np.float32)
    scores = background_scores[rows] * scale
    for i, groups in enumerate(named):
        kept = [g for g in groups if rng.random() < noise.keep][:k]
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
