"""A caption's confidence: the estimated probability that it names the photo's main subject.

A logistic model over a few signals the captioner has anyway, fitted on dev photos by
``benchmarks/objects_eval.py`` and stored in the bundle's manifest (``confidence``). A caption
"names the main subject" when it mentions a thing that at least 3 of the photo's 5 human
captions mention (people included). The signals:

- ``score``: the caption's mean log-probability per word (the decoder's own certainty);
- ``support``: what the classifier gives the things the caption names (0 when it names
  none the classifier knows): "a dog" over a photo the classifier calls a cat scores low;
- ``agrees``: 1 when the caption names the classifier's best object;
- ``person``: 1 when the caption is about people, whom the classifier has no class for;
- ``person_seen``: for such a caption, the square root of the probability of the classes
  that show someone is there (clothes, sports gear: the table's ``person_evidence``); a
  caption about "a woman" over a photo of a coffee cup scores low.

benchmarks/objects_eval.py measured which signals carry information on the dev sets
(MODEL_CARD.md); the classifier's top score alone did not, so it is not one of them.

Below ``unsure_below`` the app says it is not sure (``CaptionResult.unsure``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from desktop import BundleError
from desktop.grounding import Evidence, Grounding

FEATURES = ("score", "support", "agrees", "person", "person_seen")


def confidence_features(
    score: float, words: Iterable[str], evidence: Evidence, grounding: Grounding
) -> dict[str, float]:
    named = grounding.terms.find(list(words))
    by_group = grounding.by_group(evidence)
    top_group = grounding.top_group(evidence)
    person = "person" in named
    things = named - {"person"}
    return {
        "score": float(score),
        "support": min(1.0, max((by_group.get(g, 0.0) for g in things), default=0.0)),
        "agrees": float(top_group in named),
        "person": float(person),
        # Format 4: the detector's person score; before, the square root of the
        # person-evidence classes (Grounding.evidence).
        "person_seen": evidence.person if person else 0.0,
    }


@dataclass(frozen=True)
class Calibration:
    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    unsure_below: float

    def confidence(self, values: dict[str, float]) -> float:
        z = self.bias + sum(w * values[f] for f, w in zip(self.features, self.weights, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def to_manifest(self) -> dict[str, Any]:
        return {
            "model": "logistic",
            "features": list(self.features),
            "weights": [round(w, 6) for w in self.weights],
            "bias": round(self.bias, 6),
            "unsure_below": round(self.unsure_below, 4),
        }

    @classmethod
    def from_manifest(cls, entry: Any) -> Calibration:
        where = "manifest.json 'confidence'"
        if not isinstance(entry, dict) or entry.get("model") != "logistic":
            raise BundleError(f"{where}: expected a logistic model")
        features, weights = entry.get("features"), entry.get("weights")
        if (
            not isinstance(features, list)
            or not isinstance(weights, list)
            or len(features) != len(weights)
            or any(f not in FEATURES for f in features)
        ):
            raise BundleError(f"{where}: features must be from {FEATURES}, one weight each")
        try:
            numbers = [float(w) for w in weights]
            bias, unsure = float(entry["bias"]), float(entry["unsure_below"])
        except (KeyError, TypeError, ValueError) as e:
            raise BundleError(f"{where}: weights, bias and unsure_below must be numbers") from e
        if not all(math.isfinite(x) for x in [*numbers, bias]) or not 0.0 <= unsure <= 1.0:
            raise BundleError(f"{where}: not finite, or unsure_below outside 0..1")
        return cls(tuple(features), tuple(numbers), bias, unsure)
