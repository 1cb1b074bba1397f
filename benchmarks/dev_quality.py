"""How far the shipped model's dev-subset scores move: under its own noise, and under real bugs.

Captions the first N Flickr8k dev photos (beam 3, through the desktop runtime) with the
shipped bundle as it is, under changes that must not matter (the model's noise: mirrored
photos, a JPEG re-encode, a 2 % border crop, one thread), and under regressions that once
survived the test suite (red and blue swapped, a beam that returns the first caption it
finishes, ``<unk>`` not masked, greedy in place of beam 3). Scores are Java-free: BLEU-4
(``converter.metrics.bleu4``) and CIDEr-D over the vocabulary's own tokenisation.
``tests/test_default_model.py`` sets its floors from this table (docs/testing.md).

    python -m benchmarks.dev_quality --data-dir ../shared/datasets/flickr8k -n 300
    python -m benchmarks.dev_quality --set coco --data-dir ../shared/datasets/coco-ood-dev

``--set coco`` does the same on the 300 everyday photos of coco-ood-dev (all of them), the
set the everyday-photo model is measured on.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from converter import datasets, text
from converter.metrics import bleu4
from desktop import CaptionerError, decoding
from desktop.captioner import Captioner, CaptionOptions
from desktop.images import open_photo

ROOT = Path(__file__).resolve().parents[1]
FLICKR = ROOT.parent / "shared" / "datasets" / "flickr8k"
COCO_DEV = ROOT.parent / "shared" / "datasets" / "coco-ood-dev"
SUBSET = 300  # first photos of the dev split: the test's subset (docs/testing.md)


@dataclass(frozen=True)
class Scores:
    bleu4: float
    cider: float
    unk: int  # "<unk>" words emitted over the subset
    captions: dict[str, str]


def dev_subset(data_dir: Path = FLICKR, n: int = SUBSET) -> list[datasets.Example]:
    return datasets.load("flickr8k", data_dir).split("dev")[:n]


def coco_dev(data_dir: Path = COCO_DEV) -> list[datasets.Example]:
    """coco-ood-dev's photos with their references, in name order."""
    from benchmarks.objects_eval import read_references

    references = read_references(data_dir / "captions.token.txt")
    return [
        datasets.Example(name, data_dir / "images" / name, tuple(refs))
        for name, refs in sorted(references.items())
    ]


def cider(references: dict[str, Sequence[str]], hypotheses: dict[str, str]) -> float:
    """CIDEr-D (pycocoevalcap) over ``converter.text.normalize`` tokens: no Java tokenizer."""
    from pycocoevalcap.cider.cider import Cider

    gts = {i: [" ".join(text.normalize(r)) for r in references[i]] for i in hypotheses}
    res = {i: [" ".join(text.normalize(h))] for i, h in hypotheses.items()}
    value, _ = Cider().compute_score(gts, res)
    return float(value)


def score(
    captioner: Captioner,
    examples: Sequence[datasets.Example],
    beam_width: int = 3,
    photo: Callable[[Path], Image.Image | Path] = lambda p: p,
) -> Scores:
    options = CaptionOptions(beam_width=beam_width, with_attention=False)
    captions = {e.image_id: _caption(captioner, photo(e.path), options) for e in examples}
    references = {e.image_id: list(e.captions) for e in examples}
    return Scores(
        bleu4=bleu4(references, captions),
        cider=cider(references, captions),
        unk=sum(c.split().count("<unk>") for c in captions.values()),
        captions=captions,
    )


def _caption(captioner: Captioner, photo, options: CaptionOptions) -> str:
    try:
        return " ".join(captioner.caption(photo, options).words)
    except CaptionerError:
        # The runtime refuses a caption holding a special token (an unmasked <unk>): the
        # user hears no caption, which the table counts as one "<unk>".
        return "<unk>"


# -- variants ------------------------------------------------------------------------------


def _mirror(path: Path) -> Image.Image:
    return open_photo(path).transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def _reencode(path: Path) -> Image.Image:
    buffer = io.BytesIO()
    open_photo(path).save(buffer, "JPEG", quality=85)
    return open_photo(buffer.getvalue())


def _crop(path: Path) -> Image.Image:
    img = open_photo(path)
    w, h = img.size
    return img.crop((w // 50, h // 50, w - w // 50, h - h // 50))


def _red_blue(path: Path) -> Image.Image:
    r, g, b = open_photo(path).split()
    return Image.merge("RGB", (b, g, r))


@contextlib.contextmanager
def _first_finished() -> Iterator[None]:
    """The beam returns the first caption it finished (and stops on that one's score)."""
    builtin = max

    def first(*items, key=None):  # shadows the builtin in decoding: first of done, not best
        return builtin(*items) if len(items) > 1 else next(iter(items[0]))

    decoding.max = first
    try:
        yield
    finally:
        del decoding.max


@contextlib.contextmanager
def _unk_unmasked(captioner: Captioner) -> Iterator[None]:
    unk = captioner.bundle.tokens.unk
    saved = captioner.decoder.mask[unk], captioner.decoder.first_mask[unk]
    captioner.decoder.mask[unk] = captioner.decoder.first_mask[unk] = 0.0
    try:
        yield
    finally:
        captioner.decoder.mask[unk], captioner.decoder.first_mask[unk] = saved


def measure(model_dir: Path, examples: Sequence[datasets.Example]) -> list[tuple[str, str, Scores]]:
    """(kind, name, scores) for every variant; kind is "shipped", "noise" or "regression"."""
    captioner = Captioner.load(model_dir)
    rows = [("shipped", "as shipped (beam 3)", score(captioner, examples))]
    rows.append(("noise", "1 thread", score(Captioner.load(model_dir, threads=1), examples)))
    for name, photo in (
        ("photos mirrored", _mirror),
        ("JPEG re-encoded (q85)", _reencode),
        ("2 % border cropped", _crop),
    ):
        rows.append(("noise", name, score(captioner, examples, photo=photo)))
    rows.append(("regression", "red and blue swapped", score(captioner, examples, photo=_red_blue)))
    with _first_finished():
        rows.append(
            ("regression", "beam returns its first finished caption", score(captioner, examples))
        )
    with _unk_unmasked(captioner):
        rows.append(("regression", "<unk> not masked", score(captioner, examples)))
    rows.append(("regression", "greedy instead of beam 3", score(captioner, examples, 1)))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dev_quality", description=__doc__)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--set", choices=["flickr8k", "coco"], default="flickr8k")
    parser.add_argument("--data-dir", type=Path, help="the set's folder (default: ../shared)")
    parser.add_argument("-n", type=int, default=SUBSET, help="first N dev photos")
    args = parser.parse_args(argv)
    if args.set == "coco":
        examples = coco_dev(args.data_dir or COCO_DEV)[: args.n]
        title = f"first {len(examples)} coco-ood-dev photos, {args.model}"
    else:
        examples = dev_subset(args.data_dir or FLICKR, args.n)
        title = f"first {args.n} Flickr8k dev photos, {args.model}"
    rows = measure(args.model, examples)
    print(title)
    print("| kind | variant | BLEU-4 | CIDEr | <unk> |\n| --- | --- | --- | --- | --- |")
    for kind, name, s in rows:
        print(f"| {kind} | {name} | {s.bleu4:.4f} | {s.cider:.4f} | {s.unk} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
