"""Caption datasets: Flickr8k (original or Kaggle layout), MS-COCO caption JSON, Karpathy splits.

Every loader returns a :class:`CaptionSet`: photo paths with their captions, per split. Bad
records (missing image, empty caption) are skipped and counted, never fatal; the counts go to
the log so that a silently shrinking dataset is visible.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")


class DatasetError(Exception):
    """The dataset folder is missing or not in a layout we know."""


@dataclass(frozen=True)
class Example:
    image_id: str
    path: Path
    captions: tuple[str, ...]


@dataclass
class CaptionSet:
    name: str
    splits: dict[str, list[Example]] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)

    def split(self, name: str) -> list[Example]:
        if name not in self.splits or not self.splits[name]:
            known = ", ".join(k for k, v in self.splits.items() if v) or "none"
            raise DatasetError(f"split {name!r} is empty or absent in {self.name} (have: {known})")
        return self.splits[name]


def load(
    dataset: str,
    data_dir: Path,
    max_examples: int | None = None,
    seed: int = 0,
    check_images: bool = True,
) -> CaptionSet:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DatasetError(f"dataset folder not found: {data_dir}")
    loaders = {"flickr8k": load_flickr8k, "coco": load_coco}
    if dataset not in loaders:
        raise DatasetError(f"unknown dataset {dataset!r}; choose from {', '.join(loaders)}")
    karpathy = _find_karpathy(data_dir, dataset)
    if karpathy is not None:
        result = load_karpathy(karpathy, _image_root(data_dir, dataset), check_images)
    else:
        result = loaders[dataset](data_dir, check_images=check_images)
    if max_examples:
        rng = random.Random(seed)
        for name, examples in result.splits.items():
            examples = list(examples)
            rng.shuffle(examples)
            result.splits[name] = examples[:max_examples]
    for reason, count in sorted(result.skipped.items()):
        log.warning("%s: skipped %d record(s): %s", result.name, count, reason)
    return result


def _find_karpathy(data_dir: Path, dataset: str) -> Path | None:
    path = data_dir / f"dataset_{dataset}.json"
    return path if path.is_file() else None


def _image_root(data_dir: Path, dataset: str) -> Path:
    if dataset == "flickr8k":
        return _flickr_images(data_dir)
    # dataset_coco.json's filepath is train2014/ or val2014/, found at the top or in images/.
    at_top = any((data_dir / f).is_dir() for f in ("train2014", "val2014"))
    return data_dir / "images" if not at_top and (data_dir / "images").is_dir() else data_dir


def _read_json(path: Path) -> dict:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise DatasetError(f"{path}: expected a JSON object, got {type(document).__name__}")
    return document


def _flickr_images(data_dir: Path) -> Path:
    for name in ("Flicker8k_Dataset", "Flickr8k_Dataset", "Images", "images"):
        if (data_dir / name).is_dir():
            return data_dir / name
    raise DatasetError(
        f"no image folder in {data_dir}: expected Flicker8k_Dataset/ or Images/ (Flickr8k layout)"
    )


def _usable(path: Path, caption_sets: list[str], skipped: Counter, check_images: bool) -> bool:
    if check_images and not path.is_file():
        skipped["missing image"] += 1
        return False
    if not caption_sets:
        skipped["no non-empty caption"] += 1
        return False
    return True


def load_flickr8k(data_dir: Path, check_images: bool = True) -> CaptionSet:
    images = _flickr_images(data_dir)
    captions: dict[str, list[str]] = defaultdict(list)
    skipped: Counter = Counter()
    token_file = data_dir / "Flickr8k.token.txt"
    kaggle_file = data_dir / "captions.txt"
    if token_file.is_file():
        for line in token_file.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            key, _, text = line.partition("\t")
            image = key.split("#", 1)[0].strip()
            _add_caption(captions, image, text, skipped)
    elif kaggle_file.is_file():
        import csv

        with kaggle_file.open(newline="", encoding="utf-8", errors="replace") as handle:
            reader = csv.DictReader(handle)
            if not {"image", "caption"} <= set(reader.fieldnames or ()):
                raise DatasetError(
                    f"{kaggle_file}: expected a CSV with the header 'image,caption', "
                    f"got {reader.fieldnames}"
                )
            for row in reader:
                _add_caption(captions, (row["image"] or "").strip(), row["caption"] or "", skipped)
    else:
        raise DatasetError(
            f"no captions in {data_dir}: expected Flickr8k.token.txt or captions.txt"
        )

    split_files = {
        "train": "Flickr_8k.trainImages.txt",
        "dev": "Flickr_8k.devImages.txt",
        "test": "Flickr_8k.testImages.txt",
    }
    result = CaptionSet("flickr8k", skipped=skipped)
    listed = {
        split: list(dict.fromkeys((data_dir / filename).read_text(encoding="utf-8").split()))
        for split, filename in split_files.items()
        if (data_dir / filename).is_file()
    }
    if not listed:
        # The Kaggle copy ships no split files: split it ourselves, reproducibly.
        listed = _fallback_split(sorted(captions))
        log.warning(
            "%s has no Flickr_8k.*Images.txt split files: using a fixed random split "
            "(%s); add the standard split files for comparable scores",
            data_dir, ", ".join(f"{k} {len(v)}" for k, v in listed.items()),
        )  # fmt: skip
    for split in split_files:
        examples = []
        for image in listed.get(split, []):
            path = images / image
            texts = captions.get(image, [])
            if _usable(path, texts, skipped, check_images):
                examples.append(Example(Path(image).stem, path, tuple(texts)))
        result.splits[split] = examples
    return result


def _fallback_split(images: list[str]) -> dict[str, list[str]]:
    """The standard split's proportions (6,000 / 1,000 / 1,000), the same on every machine."""
    images = list(images)
    random.Random(8000).shuffle(images)
    held_out = min(1000, len(images) // 8)
    return {
        "dev": images[:held_out],
        "test": images[held_out : 2 * held_out],
        "train": images[2 * held_out :],
    }


def _add_caption(captions: dict, image: str, text: str, skipped: Counter) -> None:
    text = text.strip()
    if not image:
        skipped["record without image name"] += 1
    elif not text:
        skipped["empty caption"] += 1
    else:
        captions[image].append(text)


COCO_ANNOTATIONS = {
    "train": ("captions_train2017.json", "captions_train2014.json"),
    "dev": ("captions_val2017.json", "captions_val2014.json"),
}


def load_coco(data_dir: Path, check_images: bool = True) -> CaptionSet:
    """MS-COCO caption JSON, as the seed uses it (2014 or 2017 naming).

    Images are looked for in ``train2014/``, ``val2014/``, ``train2017/``, ``val2017/`` (also under
    ``images/``); ``annotations/`` or the folder itself holds the JSON.
    """
    skipped: Counter = Counter()
    result = CaptionSet("coco", skipped=skipped)
    found = False
    for split, names in COCO_ANNOTATIONS.items():
        annotation = _first_existing(
            [data_dir / "annotations" / n for n in names] + [data_dir / n for n in names]
        )
        if annotation is None:
            result.splits[split] = []
            continue
        found = True
        year = "2017" if "2017" in annotation.name else "2014"
        folder = ("train" if split == "train" else "val") + year
        image_dir = _first_existing([data_dir / folder, data_dir / "images" / folder]) or (
            data_dir / folder
        )
        document = _read_json(annotation)
        if not isinstance(document.get("annotations"), list):
            raise DatasetError(f"{annotation}: no 'annotations' list (not a COCO caption file)")
        files = {
            img.get("id"): img.get("file_name")
            for img in document.get("images", [])
            if isinstance(img, dict)
        }
        by_image: dict[int, list[str]] = defaultdict(list)
        for ann in document["annotations"]:
            if not isinstance(ann, dict) or not isinstance(ann.get("image_id"), int):
                skipped["annotation without image_id"] += 1
                continue
            text = ann.get("caption")
            text = text.strip() if isinstance(text, str) else ""
            if text:
                by_image[ann["image_id"]].append(text)
            else:
                skipped["empty caption"] += 1
        examples = []
        for image_id, texts in sorted(by_image.items()):
            file_name = files.get(image_id) or _coco_name(image_id, folder, year)
            path = image_dir / file_name
            if _usable(path, texts, skipped, check_images):
                examples.append(Example(Path(file_name).stem, path, tuple(texts)))
        result.splits[split] = examples
    result.splits.setdefault("test", [])
    if not found:
        raise DatasetError(
            f"no COCO caption JSON in {data_dir}: expected annotations/captions_train2014.json "
            "or captions_train2017.json"
        )
    return result


def _coco_name(image_id: int, folder: str, year: str) -> str:
    return f"COCO_{folder}_{image_id:012d}.jpg" if year == "2014" else f"{image_id:012d}.jpg"


def _first_existing(paths: list[Path]) -> Path | None:
    return next((p for p in paths if p.exists()), None)


def load_karpathy(path: Path, image_root: Path, check_images: bool = True) -> CaptionSet:
    """Karpathy's ``dataset_coco.json`` / ``dataset_flickr8k.json`` split files."""
    path = Path(path)
    document = _read_json(path)
    if not isinstance(document.get("images"), list):
        raise DatasetError(f"{path}: no 'images' list (not a Karpathy split file)")
    skipped: Counter = Counter()
    result = CaptionSet(document.get("dataset", path.stem), {s: [] for s in SPLITS}, skipped)
    split_names = {"train": "train", "restval": "train", "val": "dev", "test": "test"}
    for image in document["images"]:
        if not isinstance(image, dict) or not image.get("filename"):
            skipped["record without filename"] += 1
            continue
        split = split_names.get(image.get("split", ""))
        if split is None:
            skipped["unknown split"] += 1
            continue
        folder = image.get("filepath") or ""
        file_path = image_root / folder / image["filename"]
        texts = [_karpathy_text(s) for s in image.get("sentences") or []]
        if not all(texts):
            skipped["empty caption"] += texts.count("")
        texts = [t for t in texts if t]
        if _usable(file_path, texts, skipped, check_images):
            example = Example(Path(image["filename"]).stem, file_path, tuple(texts))
            result.splits[split].append(example)
    return result


def _karpathy_text(sentence) -> str:
    if not isinstance(sentence, dict):
        return ""
    raw = sentence.get("raw")
    if not isinstance(raw, str) or not raw.strip():
        raw = " ".join(t for t in sentence.get("tokens") or [] if isinstance(t, str))
    return raw.strip()
