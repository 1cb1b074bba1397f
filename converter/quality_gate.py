"""Is a quantized bundle as good as its float one? Judged on the dev sets, not by parity.

Exact caption parity is the wrong test for a quantized model: one near-tie between two words
flips a greedy caption while the captions as a whole are as good. So both bundles caption
the same dev photos as the app does (beam 3, the bundle's own guidance), and the candidate
passes when, on every set:

- |ΔBLEU-4| ≤ 0.005 and |ΔCIDEr| ≤ 0.015 (pycocoevalcap, converter/metrics.py);
- the object lists (names and counts, in the order they are read) are equal on ≥ 95 % of
  photos;
- the confidence's expected calibration error (against ``judging.caption_right``, the label
  it was fitted on) moved by ≤ 0.01.

Float32 exports keep their exact greedy parity with the TF model (converter/export.py).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from converter import metrics
from converter.judging import caption_right, ece, table_terms

Photos = Mapping[str, tuple[Path, list[str]]]  # photo → (path, references)


@dataclass(frozen=True)
class Tolerances:
    bleu4: float = 0.005
    cider: float = 0.015
    objects_equal: float = 0.95
    ece: float = 0.01


DEFAULT_TOLERANCES = Tolerances()


@dataclass(frozen=True)
class Said:
    text: str
    objects: tuple[tuple[str, int | None], ...]
    confidence: float | None
    encode_ms: float  # detector + encoder


@dataclass(frozen=True)
class SetFigures:
    photos: int
    bleu4: float
    cider: float
    ece: float | None
    encode_ms_median: float


@dataclass(frozen=True)
class SetComparison:
    reference: SetFigures
    candidate: SetFigures
    objects_equal: float
    captions_equal: float

    def failures(self, name: str, t: Tolerances) -> list[str]:
        r, c = self.reference, self.candidate
        out = []
        if abs(c.bleu4 - r.bleu4) > t.bleu4:
            out.append(f"{name}: BLEU-4 {r.bleu4:.4f} → {c.bleu4:.4f} (allowed ±{t.bleu4})")
        if abs(c.cider - r.cider) > t.cider:
            out.append(f"{name}: CIDEr {r.cider:.4f} → {c.cider:.4f} (allowed ±{t.cider})")
        if self.objects_equal < t.objects_equal:
            out.append(
                f"{name}: object lists equal on {self.objects_equal:.1%} of photos "
                f"(need {t.objects_equal:.0%})"
            )
        if r.ece is not None and (c.ece is None or abs(c.ece - r.ece) > t.ece):
            out.append(f"{name}: confidence ECE {r.ece:.4f} → {c.ece} (allowed ±{t.ece})")
        return out


@dataclass(frozen=True)
class GateReport:
    sets: dict[str, SetComparison]
    tolerances: Tolerances

    @property
    def failures(self) -> list[str]:
        return [f for name, s in self.sets.items() for f in s.failures(name, self.tolerances)]

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_manifest(self) -> dict:
        """What the bundle's manifest records of the check (rounded for people to read)."""

        def rounded(value):
            if isinstance(value, float):
                return round(value, 4)
            if isinstance(value, dict):
                return {k: rounded(v) for k, v in value.items()}
            return value

        return {
            "passed": self.passed,
            "tolerances": asdict(self.tolerances),
            "sets": {name: rounded(asdict(s)) for name, s in self.sets.items()},
        }


def caption_all(bundle: Path, photos: Photos) -> dict[str, Said]:
    """Every photo captioned as the app does (beam 3, the bundle's own options)."""
    from desktop.captioner import Captioner, CaptionOptions

    # The CPU: quantization is judged where users run it, and the converter's process may
    # hold TensorFlow, beside which LiteRT's GPU probe crashed.
    captioner = Captioner.load(bundle, accelerator="cpu")
    options = CaptionOptions()
    said = {}
    for key, (path, _) in photos.items():
        result = captioner.caption(path, options)
        said[key] = Said(
            text=result.text,
            objects=tuple((o.name, o.count) for o in result.objects),
            confidence=result.confidence,
            encode_ms=result.timings.detect_ms + result.timings.encode_ms,
        )
    return said


def set_figures(said: Mapping[str, Said], photos: Photos, terms) -> SetFigures:
    references = {k: photos[k][1] for k in said}
    scores = metrics.score(references, {k: s.text for k, s in said.items()}, with_meteor=False)
    given = [k for k, s in said.items() if s.confidence is not None]
    error = None
    if given and terms is not None:
        p = np.array([said[k].confidence for k in given], dtype=float)
        y = np.array([caption_right(said[k].text, references[k], terms) for k in given], float)
        error, _ = ece(p, y)
    return SetFigures(
        photos=len(said),
        bleu4=scores["BLEU-4"],
        cider=scores["CIDEr"],
        ece=error,
        encode_ms_median=statistics.median(s.encode_ms for s in said.values()),
    )


def compare(
    reference: Mapping[str, Said], candidate: Mapping[str, Said], photos: Photos, terms
) -> SetComparison:
    keys = list(photos)
    return SetComparison(
        reference=set_figures(reference, photos, terms),
        candidate=set_figures(candidate, photos, terms),
        objects_equal=float(np.mean([reference[k].objects == candidate[k].objects for k in keys])),
        captions_equal=float(np.mean([reference[k].text == candidate[k].text for k in keys])),
    )


def check(
    reference: Path,
    candidate: Path,
    sets: Mapping[str, Photos],
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> GateReport:
    """Caption every set with both bundles and compare (the reference is the float bundle)."""
    labels = Path(reference) / "labels.json"  # no label table (format 1): no confidence either
    table = json.loads(labels.read_text(encoding="utf-8")) if labels.is_file() else None
    terms = table_terms(table) if table is not None else None
    results = {}
    for name, photos in sets.items():
        results[name] = compare(
            caption_all(reference, photos), caption_all(candidate, photos), photos, terms
        )
    return GateReport(results, tolerances)
