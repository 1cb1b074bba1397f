"""desktop.grounding: one photo's evidence from the classifier and the detector."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from desktop.detections import Detections
from desktop.grounding import MANY_PEOPLE, PERSON_ONLY, Grounding
from desktop.objects import ObjectNamer

ROOT = Path(__file__).resolve().parent.parent
TABLE = json.loads((ROOT / "converter" / "data" / "imagenet_everyday.json").read_text())
LABELS = (None, "person", "dog", "cup", "dining table")
NAMER = ObjectNamer(TABLE, threshold=0.4, max_objects=5)


def imagenet(**names: float) -> np.ndarray:
    """ImageNet probabilities giving each everyday name its score (first class of the name)."""
    p = np.zeros(NAMER.classes, np.float32)
    for name, score in names.items():
        p[int(np.flatnonzero(NAMER.name_of_class == NAMER.names.index(name))[0])] = score
    return p


def found(person=0.0, dog=0.0, cup=0.0, table=0.0, counts=None) -> Detections:
    return Detections(np.array([0.0, person, dog, cup, table], np.float32), counts or {})


def grounding(floor: float = 0.2) -> Grounding:
    return Grounding(NAMER, LABELS, detector_threshold=0.5, floor=floor)


def test_people_are_ruled_out_only_where_the_detector_sees_nobody():
    g = grounding()
    empty = g.evidence(NAMER.name_scores(imagenet(coffee=0.8)), found(cup=0.95))
    ruled = {g.groups[i] for i in g.ruled_out(empty)}
    assert "person" in ruled and "dog" in ruled
    assert "cup" not in ruled
    assert "coffee" not in ruled  # not a COCO thing: the detector cannot rule it out
    someone = g.evidence(NAMER.name_scores(imagenet()), found(person=0.6))
    assert "person" not in {g.groups[i] for i in g.ruled_out(someone)}
    assert g.evidence(NAMER.name_scores(imagenet()), found(person=0.6)).person == np.float32(0.6)


def test_person_words_beyond_the_group_follow_the_detectors_people():
    g = grounding()
    nobody = g.evidence(NAMER.name_scores(imagenet()), found(cup=0.95))
    assert g.people_ruled_out(nobody, g.ruled_out(nobody)) == PERSON_ONLY
    assert "asian" in PERSON_ONLY
    one = g.evidence(NAMER.name_scores(imagenet()), found(person=0.9, counts={1: 1}))
    assert g.people_ruled_out(one, g.ruled_out(one)) == MANY_PEOPLE
    assert {"people", "crowd"} <= set(MANY_PEOPLE)
    several = g.evidence(NAMER.name_scores(imagenet()), found(person=0.9, counts={1: 3}))
    assert g.people_ruled_out(several, g.ruled_out(several)) == ()
    # Seen but under the count threshold: nobody counted, nothing said about how many.
    faint = g.evidence(NAMER.name_scores(imagenet()), found(person=0.3))
    assert g.people_ruled_out(faint, g.ruled_out(faint)) == ()
    assert g.people_ruled_out(one, g.ruled_out(one, 0), 0) == ()
    assert g.people_ruled_out(nobody, g.ruled_out(nobody, 0), 0) == ()
    assert Grounding(NAMER).people_ruled_out(nobody, g.ruled_out(nobody)) == ()


def test_the_classifier_can_vouch_for_a_coco_thing_the_detector_missed():
    g = grounding()
    evidence = g.evidence(NAMER.name_scores(imagenet(dog=0.9)), found())
    assert "dog" not in {g.groups[i] for i in g.ruled_out(evidence)}


def test_objects_one_entry_per_group_with_counts_and_the_classifiers_extra_names():
    g = grounding()
    evidence = g.evidence(
        NAMER.name_scores(imagenet(dog=0.6, coffee=0.7)),
        found(person=0.3, dog=0.9, table=0.55, counts={2: 2, 4: 1}),
    )
    objects = {o.name: o for o in g.objects(evidence)}
    assert set(objects) == {"dog", "coffee", "table"}  # person under the threshold
    assert objects["dog"].count == 2 and objects["dog"].score == np.float32(0.9)
    assert objects["coffee"].count is None
    assert [o.name for o in g.objects(evidence)][0] == "dog"  # highest first


def test_no_detector_no_grounding():
    g = Grounding(NAMER)
    evidence = g.evidence(NAMER.name_scores(imagenet(dog=0.9)), None)
    assert len(g.ruled_out(evidence)) == 0
    assert [o.name for o in g.objects(evidence)] == ["dog"]
