"""What the COCO detector finds: per-class scores, boxes and counts (format-4 bundles).

The bundle's ``detector.tflite`` gives, for each of its anchors, raw box encodings and 91
sigmoid class scores (column 0: background). Here they become what the rest of the app
uses: each class's best score (the encoder's grounding input and the object list's
evidence) and, after per-class non-maximum suppression, how many boxes of each class are
sure enough to count ("2 dogs"). Box decoding follows the SSD box coder the detector was
trained with (scale factors 10, 10, 5, 5 over ``[ymin, xmin, ymax, xmax]`` anchors).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from desktop import BundleError

SCALES = (10.0, 10.0, 5.0, 5.0)


@dataclass(frozen=True)
class DetectorSettings:
    labels: tuple[str | None, ...]  # per class column; None: background or unused id
    count_threshold: float = 0.5  # a box counts from this score
    iou: float = 0.6  # boxes of one class overlapping more than this are one thing
    max_count: int = 20  # "20 or more" is as far as counting helps a listener


@dataclass(frozen=True, eq=False)
class Detections:
    best: np.ndarray  # [classes] float32: each class's highest score over the anchors
    counts: dict[int, int]  # class column → boxes at or above the count threshold, after NMS

    def count(self, column: int) -> int:
        return self.counts.get(column, 0)


def decode_boxes(encodings: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """``[A, 4]`` encodings ``(ty, tx, th, tw)`` → ``[A, 4]`` boxes ``[ymin, xmin, ymax,
    xmax]`` (0–1), for ``[A, 4]`` anchors ``[ymin, xmin, ymax, xmax]``."""
    ya = (anchors[:, 0] + anchors[:, 2]) / 2
    xa = (anchors[:, 1] + anchors[:, 3]) / 2
    ha = anchors[:, 2] - anchors[:, 0]
    wa = anchors[:, 3] - anchors[:, 1]
    ty, tx, th, tw = (encodings[:, i] / SCALES[i] for i in range(4))
    y, x = ty * ha + ya, tx * wa + xa
    h, w = np.exp(np.minimum(th, 10.0)) * ha, np.exp(np.minimum(tw, 10.0)) * wa
    return np.stack([y - h / 2, x - w / 2, y + h / 2, x + w / 2], axis=1)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    y1 = np.maximum(box[0], others[:, 0])
    x1 = np.maximum(box[1], others[:, 1])
    y2 = np.minimum(box[2], others[:, 2])
    x2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(y2 - y1, 0, None) * np.clip(x2 - x1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def suppress(boxes: np.ndarray, scores: np.ndarray, iou: float, limit: int) -> int:
    """Greedy non-maximum suppression of one class's candidate boxes: how many remain."""
    order = np.argsort(-scores, kind="stable")
    boxes = boxes[order]
    kept: list[np.ndarray] = []
    for box in boxes:
        if kept and (_iou(box, np.stack(kept)) > iou).any():
            continue
        kept.append(box)
        if len(kept) >= limit:
            break
    return len(kept)


def detections(
    scores: np.ndarray, encodings: np.ndarray, anchors: np.ndarray, settings: DetectorSettings
) -> Detections:
    """The detector's outputs for one photo (``scores [A, C]``, ``encodings [A, 4]``)."""
    scores = np.asarray(scores, np.float32)
    if scores.ndim != 2 or encodings.shape != (scores.shape[0], 4):
        raise BundleError(
            f"detector: outputs of shapes {list(scores.shape)} and {list(encodings.shape)} "
            "do not match its anchors"
        )
    best = scores.max(axis=0)
    counts: dict[int, int] = {}
    sure = np.flatnonzero(best >= settings.count_threshold)
    if sure.size:
        boxes = decode_boxes(np.asarray(encodings, np.float32), anchors)
        for column in sure:
            if column == 0 or settings.labels[column] is None:
                continue
            rows = np.flatnonzero(scores[:, column] >= settings.count_threshold)
            counts[int(column)] = suppress(
                boxes[rows], scores[rows, column], settings.iou, settings.max_count
            )
    return Detections(best=best, counts=counts)
