"""A bundle on both dev sets, as the app runs it: the model card's comparison row.

    nice -n 10 python benchmarks/everyday_eval.py --bundle models/default \\
        --coco ../shared/datasets/coco-ood-dev --flickr8k ../shared/datasets/flickr8k \\
        [--beam 3] [--word-bonus B] [--ground-floor F] [--out report.json]

Captions every photo of coco-ood-dev (300) and of the Flickr8k dev split (1,000) through
``Captioner`` (beam 3 unless told), keeping each photo's caption, object list, confidence and
unsure flag, then, per set:

- **BLEU-4, METEOR, CIDEr** (pycocoevalcap, PTB tokenizer; converter/metrics.py);
- **salient object named**: the share of photos whose caption names a *salient* non-person
  COCO category (one that at least 3 of the photo's references name, synonyms counted by
  the label table's groups, whose first 80 are COCO's categories);
- **hallucinated**: of the COCO categories (person included) the captions name, the share
  that no reference of the photo names (CHAIR-style, from the references only);
- the truthfulness figures of benchmarks/truthfulness.py (shared/notes/
  truthfulness-floors.md): phantom people, gender errors, neutral people; the object list's
  salient named and wrong; the confidence's ECE and the unsure flag on wrong/right captions;
- for coco-ood-dev also the same on its ``val2017_images.txt`` photos (the ones the COCO
  detector cannot have been trained on);
- time per photo (encode + decode, from the captioner's own timings; the machine's load
  shows in it, so benchmarks/speed figures come from ``captioner bench``), bundle size.

The figures print as JSON per set and as one table at the end; ``--out`` writes them all.
Results are cached under ``--cache`` per bundle manifest checksum, beam, word bonus and
ground floor (reruns are seconds); a cache from before objects and confidence were kept is
captioned afresh.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.objects_eval import read_references  # noqa: E402

# object_figures moved to truthfulness; re-exported for tests/test_default_model.py.
from benchmarks.truthfulness import object_figures, truthfulness  # noqa: E402, F401
from converter import datasets, metrics  # noqa: E402
from converter.judging import table_terms  # noqa: E402, F401
from desktop.bundle import load_bundle  # noqa: E402
from desktop.captioner import Captioner, CaptionOptions  # noqa: E402
from desktop.objects import Terms  # noqa: E402

COCO_CATEGORIES = 80  # the label table's first groups are COCO's 80 categories, person first


def coco_terms(table: dict) -> tuple[Terms, set[str]]:
    groups = table["groups"][:COCO_CATEGORIES]
    return Terms(groups), {g[0] for g in groups}


@dataclass(frozen=True)
class Captioned:
    """What the eval keeps of one photo's ``CaptionResult`` (and caches)."""

    text: str
    ms: float  # encode + decode
    objects: tuple[str, ...]  # the object list's names, highest score first
    confidence: float | None
    unsure: bool


# Bump when the cached fields change: a cache of another version is captioned afresh (the
# first one held only text and ms, and its figures for objects and confidence would be 0s).
CACHE_VERSION = 2
_FIELDS = ("text", "ms", "objects", "confidence", "unsure")
SAVE_EVERY = 50  # photos: an interrupted run keeps most of its work


def _read_cache(cache: Path) -> dict[str, dict]:
    if not cache.is_file():
        return {}
    try:
        data = json.loads(cache.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return {}
    photos = data.get("photos", {})
    # An entry short of a field (written by hand, or half-migrated) is captioned again.
    return {k: v for k, v in photos.items() if isinstance(v, dict) and all(f in v for f in _FIELDS)}


def _write_cache(cache: Path, done: dict[str, dict]) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": CACHE_VERSION, "photos": done}))
    tmp.replace(cache)  # never a half-written cache after an interrupt


def caption_set(
    captioner: Captioner, photos: dict[str, Path], options: CaptionOptions, cache: Path
) -> dict[str, Captioned]:
    done = _read_cache(cache)
    new = 0
    for key, path in photos.items():
        if key in done:
            continue
        result = captioner.caption(path, options)
        done[key] = {
            "text": result.text,
            "ms": result.timings.detect_ms + result.timings.encode_ms + result.timings.decode_ms,
            "objects": [o.name for o in result.objects],
            "confidence": result.confidence,
            "unsure": result.unsure,
        }
        new += 1
        if new % SAVE_EVERY == 0:
            _write_cache(cache, done)
    if new or not cache.is_file():
        _write_cache(cache, done)
    return {
        k: Captioned(
            text=done[k]["text"],
            ms=float(done[k]["ms"]),
            objects=tuple(done[k]["objects"]),
            confidence=None if done[k]["confidence"] is None else float(done[k]["confidence"]),
            unsure=bool(done[k]["unsure"]),
        )
        for k in photos
    }


def figures(
    said: dict[str, Captioned],
    references: dict[str, list[str]],
    terms: Terms,
    coco: set[str],
    table_terms: Terms,
) -> dict:
    """The truthfulness figures (benchmarks/truthfulness.py) of these photos."""
    return truthfulness(
        {k: s.text for k, s in said.items()},
        references,
        terms,
        coco,
        table_terms,
        objects={k: s.objects for k, s in said.items()},
        confidence={k: s.confidence for k, s in said.items()},
        unsure={k: s.unsure for k, s in said.items()},
    )


def evaluate_set(
    name: str,
    captioner: Captioner,
    photos: dict[str, Path],
    references: dict[str, list[str]],
    options: CaptionOptions,
    cache: Path,
    terms: Terms,
    coco: set[str],
    table_terms: Terms,
    subsets: Sequence[tuple[str, list[str]]] = (),
) -> tuple[dict, dict[str, str]]:
    said = caption_set(captioner, photos, options, cache)
    captions = {k: s.text for k, s in said.items()}
    row = {
        "photos": len(captions),
        **dict(metrics.score(references, captions).items()),
        **figures(said, references, terms, coco, table_terms),
        "ms_per_photo_median": statistics.median(s.ms for s in said.values()),
    }
    for label, keys in subsets:
        sub = {k: said[k] for k in keys}
        # An empty subset (a trimmed dev folder) has no CIDEr: the scorer refuses no captions.
        cider = (
            metrics.score(
                {k: references[k] for k in sub},
                {k: s.text for k, s in sub.items()},
                with_meteor=False,
            )["CIDEr"]
            if sub
            else None
        )
        row[label] = {
            "photos": len(sub),
            "CIDEr": cider,
            **figures(sub, references, terms, coco, table_terms),
        }
    print(f"{name}: " + json.dumps(row, indent=1), flush=True)
    return row, captions


# The printed table: (heading, report key, format). Shares as %, counts as they are.
COLUMNS = (
    ("photos", "photos", "{:d}"),
    ("CIDEr", "CIDEr", "{:.3f}"),
    ("phantom people", "phantom_people", "{:.1%}"),
    ("(photos)", "phantom_people_photos", "{:d}"),
    ("gender errors", "gender_errors", "{:.1%}"),
    ("(of gendered)", "gender_worded", "{:d}"),
    ("neutral people", "neutral_people", "{:.0%}"),
    ("hallucinated", "hallucinated", "{:.1%}"),
    ("salient named", "salient_named_where_one", "{:.0%}"),
    ("list salient", "objects_salient_named", "{:.0%}"),
    ("list wrong", "objects_wrong", "{:.1%}"),
    ("ECE", "ece", "{:.3f}"),
    ("unsure if wrong", "unsure_when_wrong", "{:.0%}"),
    ("unsure if right", "unsure_when_right", "{:.0%}"),
)


def format_table(rows: dict[str, dict]) -> str:
    """A Markdown table of the truthfulness figures, one line per set (and subset)."""

    def cell(row: dict, key: str, fmt: str) -> str:
        value = row.get(key)
        return "–" if value is None else fmt.format(value)

    lines = [
        "| set | " + " | ".join(h for h, _, _ in COLUMNS) + " |",
        "| --- |" + " --- |" * len(COLUMNS),
    ]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(cell(row, k, f) for _, k, f in COLUMNS) + " |")
    return "\n".join(lines)


def cache_key(bundle, beam: int, bonus: float, floor: float, gender: float = 0.0) -> str:
    """Everything the cached results depend on. The manifest's checksum covers every bundle
    file (encoder, decoder, labels, detector) and the settings it holds (calibration, the
    bundle's bonus and floor); beam, bonus and floor in use are spelled out as well."""
    manifest = hashlib.sha256((bundle.path / "manifest.json").read_bytes()).hexdigest()[:16]
    return f"{manifest}-beam{beam}-bonus{bonus:g}-floor{floor:g}-gender{gender:g}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--coco", type=Path, help="coco-ood-dev folder")
    parser.add_argument("--flickr8k", type=Path, help="Flickr8k folder (its dev split is used)")
    parser.add_argument("--beam", type=int, default=3)
    parser.add_argument(
        "--word-bonus", type=float, help="object word bonus (default: the bundle's own)"
    )
    parser.add_argument(
        "--ground-floor",
        type=float,
        help="grounding floor for COCO words (default: the bundle's own; 0: no grounding)",
    )
    parser.add_argument(
        "--gender-share",
        type=float,
        default=CaptionOptions.gender_share,
        help="man/woman only when one holds this share of the pair (0: off)",
    )
    parser.add_argument("--cache", type=Path, default=ROOT / "cache" / "everyday-eval")
    parser.add_argument("--out", type=Path, help="write the figures here (JSON)")
    args = parser.parse_args(argv)

    bundle = load_bundle(args.bundle)
    captioner = Captioner.load(args.bundle)
    table = json.loads((args.bundle / bundle.manifest["objects"]["labels"]).read_text())
    terms, coco = coco_terms(table)
    everything = table_terms(table)
    options = CaptionOptions(
        beam_width=args.beam,
        with_attention=False,
        word_bonus=args.word_bonus,
        ground_floor=args.ground_floor,
        gender_share=args.gender_share,
    )
    # The values in effect, for the report and the cache key (None in the options means
    # "the bundle's own"; a bundle without a detector does no grounding at all).
    bonus = bundle.word_bonus if args.word_bonus is None else args.word_bonus
    bundle_floor = bundle.detector.ground_floor if bundle.detector is not None else 0.0
    floor = bundle_floor if args.ground_floor is None else args.ground_floor
    if bundle.detector is None:
        floor = 0.0
    key = cache_key(bundle, args.beam, bonus, floor, args.gender_share)
    size = sum(p.stat().st_size for p in args.bundle.iterdir() if p.is_file())
    report: dict = {
        "bundle": str(args.bundle),
        "beam": args.beam,
        "word_bonus": bonus,
        "ground_floor": floor,
        "gender_share": args.gender_share,
        "bundle_mb": size / 1e6,
    }
    rows: dict[str, dict] = {}
    if args.coco:
        refs = read_references(args.coco / "captions.token.txt")
        photos = {k: args.coco / "images" / k for k in sorted(refs)}
        val = set((args.coco / "val2017_images.txt").read_text().split())
        report["coco-ood-dev"], _ = evaluate_set(
            "coco-ood-dev",
            captioner,
            photos,
            refs,
            options,
            args.cache / f"coco-{key}.json",
            terms,
            coco,
            everything,
            subsets=[("val2017", [k for k in photos if k in val])],
        )
        rows["coco-ood-dev"] = report["coco-ood-dev"]
        rows["coco-ood-dev val2017"] = report["coco-ood-dev"]["val2017"]
    if args.flickr8k:
        dev = datasets.load("flickr8k", args.flickr8k).split("dev")
        photos = {e.image_id: e.path for e in dev}
        refs = {e.image_id: list(e.captions) for e in dev}
        report["flickr8k-dev"], _ = evaluate_set(
            "flickr8k-dev",
            captioner,
            photos,
            refs,
            options,
            args.cache / f"flickr8k-{key}.json",
            terms,
            coco,
            everything,
        )
        rows["flickr8k-dev"] = report["flickr8k-dev"]
    if rows:
        print(format_table(rows), flush=True)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
