"""desktop.detections: SSD box decoding, non-maximum suppression and counts."""

from __future__ import annotations

import numpy as np
import pytest

from desktop import BundleError
from desktop.detections import DetectorSettings, decode_boxes, detections, suppress

ANCHORS = np.array(
    [[0.0, 0.0, 0.5, 0.5], [0.02, 0.02, 0.52, 0.52], [0.5, 0.5, 1.0, 1.0]], np.float32
)
LABELS = (None, "person", "dog")


def test_zero_encodings_are_the_anchors_and_offsets_move_them():
    assert np.allclose(decode_boxes(np.zeros((3, 4), np.float32), ANCHORS), ANCHORS, atol=1e-6)
    # ty = 10 moves the box down by one anchor height; th = 5·ln 2 doubles its height.
    moved = decode_boxes(np.array([[10.0, 0, 5 * np.log(2), 0]], np.float32), ANCHORS[:1])
    assert np.allclose(moved[0], [0.25, 0.0, 1.25, 0.5], atol=1e-5)


def test_overlapping_boxes_are_one_thing_and_separate_ones_two():
    boxes = decode_boxes(np.zeros((3, 4), np.float32), ANCHORS)
    assert suppress(boxes[:2], np.array([0.9, 0.8]), iou=0.6, limit=20) == 1
    assert suppress(boxes[[0, 2]], np.array([0.9, 0.8]), iou=0.6, limit=20) == 2
    assert suppress(boxes, np.array([0.9, 0.8, 0.7]), iou=0.6, limit=1) == 1


def test_counts_only_sure_classes_and_best_is_per_class():
    scores = np.array(
        [[0.0, 0.9, 0.1], [0.0, 0.85, 0.2], [0.0, 0.7, 0.45]], np.float32
    )  # person on all three anchors (two of them one box), dog unsure
    found = detections(scores, np.zeros((3, 4), np.float32), ANCHORS, DetectorSettings(LABELS))
    assert np.allclose(found.best, [0.0, 0.9, 0.45])
    assert found.counts == {1: 2}
    assert found.count(2) == 0


def test_outputs_that_do_not_match_the_anchors_are_refused():
    with pytest.raises(BundleError, match="anchors"):
        detections(
            np.zeros((3, 3), np.float32),
            np.zeros((2, 4), np.float32),
            ANCHORS,
            DetectorSettings(LABELS),
        )
