"""A bundle on both dev sets, as the app runs it: the model card's comparison row.

    nice -n 10 python benchmarks/everyday_eval.py --bundle models/default \\
        --coco ../shared/datasets/coco-ood-dev --flickr8k ../shared/datasets/flickr8k \\
        [--beam 3] [--out report.json]

Captions every photo of coco-ood-dev (300) and of the Flickr8k dev split (1,000) through
``Captioner`` (beam 3 unless told), then, per set:

- **BLEU-4, METEOR, CIDEr** (pycocoevalcap, PTB tokenizer; converter/metrics.py);
- **salient object named**: the share of photos whose caption names a *salient* non-person
  COCO category (one that at least 3 of the photo's references name, synonyms counted by
  the label table's groups, whose first 80 are COCO's categories);
- **hallucinated**: of the COCO categories (person included) the captions name, the share
  that no reference of the photo names (CHAIR-style, from the references only);
- for coco-ood-dev also the same on its ``val2017_images.txt`` photos;
- time per photo (encode + decode, from the captioner's own timings; the machine's load
  shows in it, so benchmarks/speed figures come from ``captioner bench``), bundle size.

Captions are cached per bundle checksum and beam under ``--cache`` (reruns are seconds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.objects_eval import read_references  # noqa: E402
from converter import datasets, metrics  # noqa: E402
from desktop.bundle import load_bundle  # noqa: E402
from desktop.captioner import Captioner, CaptionOptions  # noqa: E402
from desktop.objects import Terms  # noqa: E402

SALIENT = 3  # of the references
COCO_CATEGORIES = 80  # the label table's first groups are COCO's 80 categories, person first


def coco_terms(table: dict) -> tuple[Terms, set[str]]:
    groups = table["groups"][:COCO_CATEGORIES]
    return Terms(groups), {g[0] for g in groups}


def object_figures(
    captions: dict[str, str], references: dict[str, list[str]], terms: Terms, coco: set[str]
) -> dict:
    named_salient = mentioned = absent = with_salient = 0
    for key, caption in captions.items():
        counts: dict[str, int] = {}
        for ref in references[key]:
            for group in terms.find(ref) & coco:
                counts[group] = counts.get(group, 0) + 1
        salient = {g for g, n in counts.items() if n >= SALIENT} - {"person"}
        said = terms.find(caption) & coco
        named_salient += bool(said & salient)
        with_salient += bool(salient)
        mentioned += len(said)
        absent += len(said - set(counts))
    return {
        "salient_named": named_salient / max(len(captions), 1),
        # The same among the photos that have a salient non-person thing at all.
        "salient_named_where_one": named_salient / max(with_salient, 1),
        "objects_named": mentioned,
        "hallucinated": absent / max(mentioned, 1),
    }


def caption_set(
    captioner: Captioner, photos: dict[str, Path], options: CaptionOptions, cache: Path
) -> tuple[dict[str, str], list[float]]:
    done = json.loads(cache.read_text()) if cache.is_file() else {}
    for key, path in photos.items():
        if key in done:
            continue
        result = captioner.caption(path, options)
        done[key] = {"text": result.text, "ms": result.timings.encode_ms + result.timings.decode_ms}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(done))
    return {k: done[k]["text"] for k in photos}, [done[k]["ms"] for k in photos]


def evaluate_set(name, captioner, photos, references, options, cache, terms, coco, subsets=()):
    captions, ms = caption_set(captioner, photos, options, cache)
    row = {
        "photos": len(captions),
        **{k: v for k, v in metrics.score(references, captions).items()},
        **object_figures(captions, references, terms, coco),
        "ms_per_photo_median": statistics.median(ms),
    }
    for label, keys in subsets:
        sub = {k: captions[k] for k in keys}
        row[label] = {
            "photos": len(sub),
            "CIDEr": metrics.score({k: references[k] for k in sub}, sub, with_meteor=False)[
                "CIDEr"
            ],
            **object_figures(sub, references, terms, coco),
        }
    print(f"{name}: " + json.dumps(row, indent=1), flush=True)
    return row, captions


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--coco", type=Path, help="coco-ood-dev folder")
    parser.add_argument("--flickr8k", type=Path, help="Flickr8k folder (its dev split is used)")
    parser.add_argument("--beam", type=int, default=3)
    parser.add_argument(
        "--word-bonus", type=float, help="object word bonus (default: the bundle's own)"
    )
    parser.add_argument("--cache", type=Path, default=ROOT / "cache" / "everyday-eval")
    parser.add_argument("--out", type=Path, help="write the figures here (JSON)")
    args = parser.parse_args(argv)

    bundle = load_bundle(args.bundle)
    captioner = Captioner.load(args.bundle)
    table = json.loads((args.bundle / bundle.manifest["objects"]["labels"]).read_text())
    terms, coco = coco_terms(table)
    digest = bundle.manifest["files"][bundle.decoder.path.name]["sha256"][:16]
    encoder = bundle.manifest["files"][bundle.encoder.path.name]["sha256"][:16]
    options = CaptionOptions(beam_width=args.beam, with_attention=False, word_bonus=args.word_bonus)
    bonus = bundle.word_bonus if args.word_bonus is None else args.word_bonus
    key = f"{encoder}-{digest}-beam{args.beam}" + (f"-bonus{bonus:g}" if bonus else "")
    size = sum(p.stat().st_size for p in args.bundle.iterdir() if p.is_file())
    report: dict = {
        "bundle": str(args.bundle),
        "beam": args.beam,
        "word_bonus": bonus,
        "bundle_mb": size / 1e6,
    }
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
            subsets=[("val2017", [k for k in photos if k in val])],
        )
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
        )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
