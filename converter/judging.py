"""How a caption is judged against its photo's human references: the labels behind the
benchmarks' object and confidence figures and the quantization gate (converter/quality_gate.py).

Pure functions over captions and references (no model, no files beyond a token file), so the
converter can judge a quantized bundle by the same rules the model card's figures use
(benchmarks/objects_eval.py, benchmarks/truthfulness.py import them from here).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from desktop.objects import Terms

SALIENT = 3  # of the 5 references: a thing that many name is the photo's subject
ECE_BINS = 10


def read_references(token_file: Path, only: set[str] | None = None) -> dict[str, list[str]]:
    """``photo name → captions`` from a Flickr8k-style token file (``name#i<TAB>caption``)."""
    refs: dict[str, list[str]] = {}
    for line in token_file.read_text(encoding="utf-8").splitlines():
        key, _, caption = line.partition("\t")
        name = key.split("#")[0]
        if only is None or name in only:
            refs.setdefault(name, []).append(caption)
    return refs


def table_terms(table: dict) -> Terms:
    """The whole label table's terms (groups and the classes' names), as the bundle's
    ``ObjectNamer`` builds them: an object list names "coffee" and "mountain" as well,
    and a reference that says "mountains" names that one."""
    names = sorted({c["name"] for c in table.get("classes", []) if c.get("name")})
    return Terms(table["groups"], names)


def reference_groups(terms: Terms, references: Sequence[str]) -> Counter:
    """How many of the references name each label-table group."""
    counts: Counter = Counter()
    for ref in references:
        counts.update(terms.find(ref))
    return counts


def salient(counts: Mapping[str, int], among: set[str] | None = None) -> set[str]:
    """Groups at least ``SALIENT`` references name (optionally only those ``among``)."""
    return {g for g, n in counts.items() if n >= SALIENT and (among is None or g in among)}


def caption_right(caption: str, references: Sequence[str], terms: Terms) -> bool:
    """The label the confidence is calibrated against: the caption names a thing, person
    included, at least ``SALIENT`` references name."""
    return bool(terms.find(caption) & salient(reference_groups(terms, references)))


def ece(
    p: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, bins: int = ECE_BINS
) -> tuple[float, list[tuple]]:
    """Expected calibration error over equal-width bins (weighted photos, if given), and the
    bins: (low, high, photos, mean confidence, share right)."""
    weight = np.ones(len(p)) if weight is None else weight
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total, table = 0.0, []
    for b in range(bins):
        m = which == b
        if m.any():
            w = weight[m]
            confidence, right = np.average(p[m], weights=w), np.average(y[m], weights=w)
            total += w.sum() / weight.sum() * abs(confidence - right)
            table.append((edges[b], edges[b + 1], int(m.sum()), float(confidence), float(right)))
    return float(total), table
