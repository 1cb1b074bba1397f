"""What is in the photo: the encoder's ImageNet class probabilities as everyday names.

A format-2 bundle's label table (``labels.json``, made from
``converter/data/imagenet_everyday.json``) names each of the 1,000 ImageNet classes with a
plain word ("tabby cat" and "Egyptian cat" → "cat", "espresso" → "coffee") or drops it. The
probabilities of classes that share a name are added up, so 120 dog breeds make one sure
"dog" rather than five unsure breeds. Names whose sum reaches the bundle's threshold are the
photo's objects, highest first.

The table's ``groups`` say which words name the same thing ("puppy" and "dog", "sofa" and
"couch"); ``Terms`` finds them in a sentence, which is how a caption is checked against the
objects (desktop/confidence.py) and how benchmarks/objects_eval.py checks both against the
human reference captions.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from desktop import BundleError


@dataclass(frozen=True)
class DetectedObject:
    name: str  # plain everyday English: "cat", "coffee", "school bus"
    score: float  # 0..1: the summed probability of the ImageNet classes with this name
    count: int | None = None  # how many, where a detector counts them; None: not counted

    def to_dict(self) -> dict:
        return {"name": self.name, "score": round(self.score, 4), "count": self.count}


_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")
_IRREGULAR = {
    "person": "people",
    "man": "men",
    "woman": "women",
    "child": "children",
    "mouse": "mice",
    "knife": "knives",
    "goose": "geese",
    "ox": "oxen",
    "foot": "feet",
    "tooth": "teeth",
    "leaf": "leaves",
    "shelf": "shelves",
}
_SAME_PLURAL = {"sheep", "fish", "deer", "bison", "skis", "sunglasses", "jeans", "scissors"}


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _plurals(phrase: str) -> set[str]:
    """``phrase`` and its plural (the last word inflected): enough for captions."""
    *head, last = phrase.split(" ")
    if last in _SAME_PLURAL or not last.isalpha():
        forms = {last}
    elif last in _IRREGULAR:
        forms = {last, _IRREGULAR[last]}
    elif last.endswith(("s", "x", "z", "ch", "sh")):
        forms = {last, last + "es"}
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "i", "o", "u"):
        forms = {last, last[:-1] + "ies"}
    elif last.endswith("o"):
        forms = {last, last + "s", last + "es"}
    else:
        forms = {last, last + "s"}
    return {" ".join([*head, form]) for form in forms}


def plural(phrase: str) -> str:
    """ "dog" → "dogs", "wine glass" → "wine glasses", "person" → "people" (for counts)."""
    *head, last = phrase.split(" ")
    if last in _SAME_PLURAL or not last.isalpha():
        form = last
    elif last in _IRREGULAR:
        form = _IRREGULAR[last]
    elif last.endswith(("s", "x", "z", "ch", "sh")):
        form = last + "es"
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "i", "o", "u"):
        form = last[:-1] + "ies"
    else:
        form = last + "s"
    return " ".join([*head, form])


def counted(obj: DetectedObject) -> str:
    """How an object is read out: "cat", or "2 dogs" where the detector counted several."""
    return f"{obj.count} {plural(obj.name)}" if obj.count and obj.count > 1 else obj.name


class Terms:
    """Finds the things a sentence names, as group names ("a puppy on a sofa" → dog, couch)."""

    def __init__(self, groups: Iterable[Iterable[str]], names: Iterable[str] = ()):
        self.group_of: dict[str, str] = {}  # a word or phrase (lower case) → its group
        for group in groups:
            group = list(group)
            if not group:
                continue
            for member in group[1:] or group:
                for form in _plurals(member.lower()):
                    self.group_of.setdefault(form, group[0])
        for name in names:  # names of the table that no group lists stand for themselves
            for form in _plurals(name.lower()):
                self.group_of.setdefault(form, name)
        self._longest = max((len(p.split(" ")) for p in self.group_of), default=1)

    def group(self, name: str) -> str:
        """The group an object name belongs to."""
        return self.group_of.get(name.lower(), name)

    def find(self, text: str | Iterable[str]) -> set[str]:
        """The groups named in a sentence (or its words), longest phrase first."""
        tokens = words(text) if isinstance(text, str) else [w.lower() for w in text]
        found, i = set(), 0
        while i < len(tokens):
            for n in range(min(self._longest, len(tokens) - i), 0, -1):
                group = self.group_of.get(" ".join(tokens[i : i + n]))
                if group is not None:
                    found.add(group)
                    i += n
                    break
            else:
                i += 1
        return found


@dataclass(frozen=True)
class NameScores:
    """Every everyday name's summed probability for one photo."""

    names: tuple[str, ...]
    scores: np.ndarray  # [len(names)] float32
    # Summed probability of the table's person-evidence classes (what people wear or play
    # with): ImageNet has no "person", but this says whether someone is likely there.
    person_evidence: float = 0.0


class ObjectNamer:
    """The label table of a bundle: class probabilities → everyday names and objects."""

    def __init__(self, table: dict, threshold: float, max_objects: int, where: str = "labels"):
        # The table comes from a bundle: anything but the expected shape is refused by name.
        try:
            classes = table["classes"]
            groups = [[str(w) for w in g] for g in table.get("groups", [])]
            ids = [c["id"] for c in classes]
            class_names = [c["name"] for c in classes]
            evidence = list(table.get("person_evidence", []))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise BundleError(f"{where}: not a label table ({e})") from e
        if not all(n is None or (isinstance(n, str) and n.strip()) for n in class_names):
            raise BundleError(f"{where}: every class name must be text or null")
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in [*ids, *evidence]):
            raise BundleError(f"{where}: class ids must be integers")
        if ids != list(range(len(ids))):
            raise BundleError(f"{where}: classes must be listed by id from 0")
        if not all(0 <= i < len(ids) for i in evidence):
            raise BundleError(f"{where}: person_evidence lists a class that does not exist")
        self.person_evidence = np.array(sorted(set(evidence)), np.int64)
        self.names = tuple(sorted({n for n in class_names if n}))
        index = {n: i for i, n in enumerate(self.names)}
        # -1: a deliberately dropped class, whose probability is not given to any name.
        self.name_of_class = np.array([index[n] if n else -1 for n in class_names], np.int64)
        self.threshold = float(threshold)
        self.max_objects = int(max_objects)
        self.terms = Terms(groups, self.names)
        # Each name's group, as indices, so a photo's group scores are one bincount.
        self.groups = tuple(sorted({self.terms.group(n) for n in self.names}))
        group_index = {g: i for i, g in enumerate(self.groups)}
        self.group_of_name = np.array([group_index[self.terms.group(n)] for n in self.names])

    @classmethod
    def with_threshold(cls, namer: ObjectNamer, threshold: float) -> ObjectNamer:
        """The same table listing from another threshold (benchmarks sweep it)."""
        other = copy.copy(namer)
        other.threshold = float(threshold)
        return other

    @property
    def classes(self) -> int:
        return len(self.name_of_class)

    def name_scores(self, probabilities: np.ndarray) -> NameScores:
        p = np.asarray(probabilities, np.float64).reshape(-1)
        kept = self.name_of_class >= 0
        sums = np.bincount(
            self.name_of_class[kept], weights=p[kept], minlength=len(self.names)
        ).astype(np.float32)
        evidence = float(p[self.person_evidence].sum()) if len(self.person_evidence) else 0.0
        return NameScores(self.names, np.clip(sums, 0.0, 1.0), min(1.0, evidence))

    def group_scores(self, scores: NameScores) -> np.ndarray:
        """``[len(groups)]``: each group's summed name scores, at most 1."""
        sums = np.bincount(self.group_of_name, weights=scores.scores, minlength=len(self.groups))
        return np.clip(sums, 0.0, 1.0)

    def objects(
        self, scores: NameScores, threshold: float | None = None
    ) -> tuple[DetectedObject, ...]:
        """The names at or above ``threshold`` (default: the bundle's), highest first."""
        threshold = self.threshold if threshold is None else threshold
        order = np.argsort(-scores.scores, kind="stable")[: self.max_objects]
        return tuple(
            DetectedObject(scores.names[i], float(scores.scores[i]))
            for i in order
            if scores.scores[i] >= threshold
        )
