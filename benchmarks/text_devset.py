"""Make the OCR dev set (issue 25): images whose exact text is known, plus text-free photos.

    python -m benchmarks.text_devset [--out cache/text-devset] [--seed 25] [--small]

Writes, into a folder outside git (the generated photos carry Flickr8k pixels):

- ``screenshot/NNNN.png|jpg``: settings panes, dialogs, chats, web pages, tickets and
  receipts, inboxes; phone (1080x2340) and laptop (1920x1080), light and dark;
- ``page/NNNN.png|jpg``: a letter, a menu or a document page on A4, scanned (150-300 dpi)
  or photographed with a phone;
- ``photo/NNNN.jpg``: a Flickr8k dev photo with a sign, label or painted words on it;
- ``truth.jsonl``: one record per image, ``{"file", "kind", "lines", "meta"}``, ``kind`` one
  of "screenshot", "page", "photo" and "none" (text-free photos, referenced by absolute
  path, never copied); ``lines`` the text in reading order, exactly as drawn;
- ``images.txt``: every image's path, one a line (to caption them all in one command);
- ``manifest.json``: the seed, the counts and the fonts (with their sizes, as a check that
  another machine draws the same pixels).

Sample i of a kind depends only on the seed, the kind and i, so ``--small`` (the first few
of each kind) is a subset of the full set, and the same seed gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks import text_pages, text_photos, text_screens
from benchmarks.text_render import ALL_FAMILIES, FontsMissing, check_fonts

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
KINDS = ("screenshot", "page", "photo", "none")
FULL = {"screenshot": 100, "page": 40, "photo": 150, "none": 400}
SMALL = {"screenshot": 12, "page": 6, "photo": 12, "none": 30}
MANIFEST = "manifest.json"
GENERATOR = "benchmarks/text_devset.py v1"


@dataclass(frozen=True)
class Sample:
    file: str  # relative to the dev-set folder, or an absolute path for text-free photos
    kind: str
    lines: tuple[str, ...]
    meta: dict
    data: bytes | None = None  # the image to write; None for a photo referenced by path

    def record(self) -> dict:
        return {"file": self.file, "kind": self.kind, "lines": list(self.lines), "meta": self.meta}


def sample_rng(seed: int, kind: str, index: int) -> random.Random:
    # A string seed is hashed (SHA-512) by random.Random: stable across runs and machines.
    return random.Random(f"{seed}:{kind}:{index}")


def screenshot(seed: int, index: int) -> Sample:
    rng = sample_rng(seed, "screenshot", index)
    layouts = list(text_screens.LAYOUTS)
    # Every layout on both devices in turn, light and dark alternating per round.
    layout = layouts[index % len(layouts)]
    phone = (index // len(layouts)) % 2 == 0
    dark = (index // (2 * len(layouts))) % 2 == 1
    sheet, meta = text_screens.screenshot(rng, layout, phone, dark)
    # Most screenshots are PNG; some went through a messaging app and are JPEG.
    if rng.random() < 0.25:
        quality = rng.randint(70, 90)
        meta.update(format="jpeg", jpeg_quality=quality)
        data, ext = text_photos.jpeg(sheet.image, quality), "jpg"
    else:
        meta["format"] = "png"
        data, ext = text_photos.png(sheet.image), "png"
    return Sample(f"screenshot/{index:04d}.{ext}", "screenshot", tuple(sheet.truth()), meta, data)


def page(seed: int, index: int) -> Sample:
    rng = sample_rng(seed, "page", index)
    layouts = list(text_pages.LAYOUTS)
    layout = layouts[index % len(layouts)]
    photographed = (index // len(layouts)) % 2 == 1
    dpi = rng.choice((200, 300)) if photographed else rng.choice((150, 200, 300))
    p = text_pages.LAYOUTS[layout](rng, dpi)
    meta = {"layout": layout, "dpi": dpi, "font": p.family.name}
    capture = text_photos.photograph if photographed else text_photos.scan
    data, ext = capture(p.sheet.image, rng, meta)
    return Sample(f"page/{index:04d}.{ext}", "page", tuple(p.sheet.truth()), meta, data)


def photo(seed: int, index: int, backgrounds: list[Path]) -> Sample:
    rng = sample_rng(seed, "photo", index)
    data, lines, meta = text_photos.text_on_photo(backgrounds[index % len(backgrounds)], rng)
    return Sample(f"photo/{index:04d}.jpg", "photo", tuple(lines), meta, data)


def text_free(index: int, photos: list[Path]) -> Sample:
    path = photos[index]
    return Sample(str(path.resolve()), "none", (), {"source": path.parent.parent.name})


def generate(
    out: Path, seed: int, counts: dict[str, int], flickr8k: Path, coco: Path, progress=None
) -> list[dict]:
    """Write the dev set into ``out`` (replacing an earlier one there) and return its truth
    records. Builds in a temporary folder beside ``out`` and swaps it in at the end, so an
    interrupted run leaves the earlier set whole."""
    check_fonts()
    backgrounds, free = text_photos.photo_pools(flickr8k, coco, seed)
    if counts["none"] > len(free):
        raise ValueError(f"only {len(free)} text-free photos, {counts['none']} asked for")
    out = out.resolve()
    if out.exists() and not (out / MANIFEST).is_file():
        raise FileExistsError(f"{out} exists and is not a dev set made by this script")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        records = []
        makers = {
            "screenshot": lambda i: screenshot(seed, i),
            "page": lambda i: page(seed, i),
            "photo": lambda i: photo(seed, i, backgrounds),
            "none": lambda i: text_free(i, free),
        }
        for kind in KINDS:
            for i in range(counts[kind]):
                sample = makers[kind](i)
                if sample.data is not None:
                    target = work / sample.file
                    target.parent.mkdir(exist_ok=True)
                    target.write_bytes(sample.data)
                records.append(sample.record())
                if progress:
                    progress(kind, i + 1, counts[kind])
        with open(work / "truth.jsonl", "w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        with open(work / "images.txt", "w", encoding="utf-8") as f:
            for record in records:
                name = record["file"]
                f.write((name if os.path.isabs(name) else str(out / name)) + "\n")
        fonts = {
            str(f.path(b)): f.path(b).stat().st_size for f in ALL_FAMILIES for b in (False, True)
        }
        manifest = {
            "generator": GENERATOR,
            "seed": seed,
            "counts": counts,
            "fonts": fonts,
            "flickr8k": str(flickr8k.resolve()),
            "coco": str(coco.resolve()),
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
        work.rename(out)
        if old:
            shutil.rmtree(old)
        return records
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def read_truth(folder: Path) -> list[dict]:
    with open(folder / "truth.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.text_devset",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--out",
        type=Path,
        default=ROOT / "cache" / "text-devset",
        help="dev-set folder, outside git (default: cache/text-devset)",
    )
    p.add_argument("--seed", type=int, default=25)
    p.add_argument(
        "--small",
        action="store_true",
        help=f"a quick subset: {', '.join(f'{v} {k}' for k, v in SMALL.items())}",
    )
    for kind in KINDS:
        p.add_argument(
            f"--{'text-free' if kind == 'none' else kind + 's'}",
            type=int,
            dest=kind,
            metavar="N",
            help=f"number of {kind} samples (default {FULL[kind]}, {SMALL[kind]} with --small)",
        )
    p.add_argument("--flickr8k", type=Path, default=SHARED / "flickr8k")
    p.add_argument(
        "--coco",
        type=Path,
        default=SHARED / "coco-ood-dev",
        help="coco-ood-dev folder (text-free photos)",
    )
    args = p.parse_args(argv)
    counts = {
        k: getattr(args, k) if getattr(args, k) is not None else (SMALL if args.small else FULL)[k]
        for k in KINDS
    }

    def progress(kind: str, done: int, total: int) -> None:
        if done == total or done % 25 == 0:
            print(f"{kind}: {done}/{total}", file=sys.stderr, flush=True)

    try:
        records = generate(args.out, args.seed, counts, args.flickr8k, args.coco, progress)
    except (FontsMissing, FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"text_devset: {e}", file=sys.stderr)
        return 2
    words = sum(len(" ".join(r["lines"]).split()) for r in records)
    print(f"{len(records)} images ({words} words of text) in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
