"""One photo's evidence: what the classifier and the COCO detector see, per label-table group.

Everything the app says about things in the photo comes from here, computed once per
caption: the object list (the detector's COCO things with counts, then the classifier's
names for what COCO lacks: parrot, coffee, sunflower — one entry per group), the word bonus
that asks for a seen thing's word, the grounding that refuses the words of a COCO thing
nobody sees (people included: ImageNet has no person, the detector has), and the signals of
the confidence model.

A group's score is the classifier's summed probability of its names or the detector's best
score over its classes, whichever is higher: the detector's score is a probability of its
own (a sigmoid), not a share of one softmax, so the two are not added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from desktop.detections import Detections
from desktop.objects import DetectedObject, NameScores, ObjectNamer

PERSON = "person"
# Words that name only people but that the label table's person group leaves out (it lists
# what COCO's "person" is called, not how a caption describes someone): refused with the
# group where nothing in the photo is a person. Measured: the ruled-out "people" came back
# as "a group of young asian …" for a rocket on its launch pad.
PERSON_ONLY = ("asian", "asians", "african", "africans", "youths", "spectators", "onlookers",
               "pedestrians", "bystanders", "passersby", "individuals", "somebody")  # fmt: skip
# Words for several people: refused where the detector counts exactly one person ("a man …
# in front of a crowd of people" for a portrait of one astronaut).
MANY_PEOPLE = ("people", "crowd", "crowds", "men", "women", "children", "kids", "persons",
               "couple", "family", "families", "adults", "guys", "ladies", "audience",
               "spectators", "onlookers", "pedestrians", "bystanders", "team", "teams",
               "players", "friends")  # fmt: skip
# COCO's category names as a listener would say them.
SPOKEN_NAMES = {
    "dining table": "table",
    "tv": "television",
    "cell phone": "phone",
    "sports ball": "ball",
    "hair drier": "hair dryer",
    "potted plant": "plant",
    "couch": "sofa",
}


@dataclass(frozen=True, eq=False)
class Evidence:
    scores: np.ndarray  # [groups] float32, classifier or detector, whichever is higher
    names: NameScores  # the classifier's per-name scores (for its part of the object list)
    detections: Detections | None
    person: float  # probability that someone is in the photo (the detector's, or evidence)


class Grounding:
    """A bundle's groups, with the classifier's names and (format 4) the detector's classes
    mapped onto them; built once per bundle."""

    def __init__(
        self,
        namer: ObjectNamer,
        detector_labels: tuple[str | None, ...] = (),
        detector_threshold: float = 0.5,
        floor: float = 0.0,
    ):
        self.namer = namer
        self.terms = namer.terms
        columns = [(c, self.terms.group(n)) for c, n in enumerate(detector_labels) if n]
        self.groups: tuple[str, ...] = tuple(sorted({*namer.groups, *(g for _, g in columns)}))
        index = {g: i for i, g in enumerate(self.groups)}
        self.index = index
        self._namer_groups = np.array([index[g] for g in namer.groups], np.int64)
        self._columns = np.array([c for c, _ in columns], np.int64)
        self._column_groups = np.array([index[g] for _, g in columns], np.int64)
        self.labels = detector_labels
        self.covered = np.zeros(len(self.groups), bool)  # groups the detector can rule out
        self.covered[self._column_groups] = True
        person = index.get(PERSON)
        self._person_columns = [int(c) for c, g in zip(self._columns, self._column_groups,
                                                       strict=True) if g == person]  # fmt: skip
        self.threshold = float(detector_threshold)
        self.floor = float(floor)
        self.has_detector = bool(columns)

    def evidence(self, names: NameScores, found: Detections | None) -> Evidence:
        scores = np.zeros(len(self.groups), np.float32)
        scores[self._namer_groups] = self.namer.group_scores(names)
        person = math.sqrt(names.person_evidence)
        if found is not None and self.has_detector:
            np.maximum.at(scores, self._column_groups, found.best[self._columns])
            person = float(scores[self.index[PERSON]]) if PERSON in self.index else person
        return Evidence(scores=scores, names=names, detections=found, person=person)

    def by_group(self, evidence: Evidence) -> dict[str, float]:
        return dict(zip(self.groups, evidence.scores.tolist(), strict=True))

    def top_group(self, evidence: Evidence) -> str | None:
        """The best-scored thing that is not a person (the confidence model's ``agrees``: a
        caption about people says nothing about whether it names the photo's thing)."""
        scores = evidence.scores.copy()
        if PERSON in self.index:
            scores[self.index[PERSON]] = -1.0
        return self.groups[int(scores.argmax())] if len(scores) and scores.max() > 0 else None

    def ruled_out(self, evidence: Evidence, floor: float | None = None) -> np.ndarray:
        """Group indices whose words the caption must not say: COCO things (people included)
        that neither the detector nor the classifier scores at ``floor`` (None: the
        bundle's; 0: none)."""
        floor = self.floor if floor is None else floor
        if not self.has_detector or evidence.detections is None or floor <= 0:
            return np.zeros(0, np.int64)
        return np.flatnonzero(self.covered & (evidence.scores < floor))

    def people_ruled_out(
        self, evidence: Evidence, ruled: np.ndarray, floor: float | None = None
    ) -> tuple[str, ...]:
        """Person words beyond the groups' that the caption must not say, given the groups
        ``ruled_out(evidence, floor)`` gave: PERSON_ONLY where the person group is among
        them, MANY_PEOPLE where the detector counts exactly one person."""
        floor = self.floor if floor is None else floor
        found = evidence.detections
        if PERSON not in self.index or found is None or not self.has_detector or floor <= 0:
            return ()
        if self.index[PERSON] in ruled:
            return PERSON_ONLY
        return MANY_PEOPLE if sum(map(found.count, self._person_columns)) == 1 else ()

    def objects(self, evidence: Evidence) -> tuple[DetectedObject, ...]:
        """The detector's things at its threshold (with counts) and the classifier's names at
        the namer's, one entry per group, highest first, at most ``max_objects``."""
        namer = self.namer
        entries: dict[str, DetectedObject] = {}
        found = evidence.detections
        if found is not None and self.has_detector:
            for column in self._columns[found.best[self._columns] >= self.threshold]:
                label = self.labels[column]
                group = self.terms.group(label)
                score = float(found.best[column])
                if group not in entries or entries[group].score < score:
                    name = SPOKEN_NAMES.get(label, label)
                    entries[group] = DetectedObject(name, score, found.count(int(column)) or None)
        for obj in namer.objects(evidence.names):
            group = self.terms.group(obj.name)
            if group not in entries:
                entries[group] = obj
            elif entries[group].score < obj.score:  # the classifier is surer: its score
                kept = entries[group]
                entries[group] = DetectedObject(kept.name, obj.score, kept.count)
        ranked = sorted(entries.values(), key=lambda o: -o.score)
        return tuple(ranked[: namer.max_objects])
