"""converter.datasets: every supported layout, parsed from tiny fixtures plus generated JPEGs."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from PIL import Image

from converter import datasets
from converter.datasets import DatasetError

FIXTURES = Path(__file__).parent / "fixtures" / "datasets"
SHARED_FLICKR8K = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "flickr8k"

GIRL, DOGS, RAINBOW, BENCH, ORANGE_HAT, NO_CAPTION = (
    "1000268201_693b08cb0e",
    "1001773457_577c3a7d70",
    "1002674143_1b742ab4b8",
    "1003163366_44323f5815",
    "1007129816_e794419615",  # listed and captioned, but its photo is missing
    "1009434119_febe49276a",  # has a photo, but no non-empty caption
)


def make_dataset(tmp_path: Path, fixture: str, images: dict[str, list[str]]) -> Path:
    """Copy a fixture folder and write a small real JPEG for each named image."""
    root = tmp_path / fixture
    shutil.copytree(FIXTURES / fixture, root)
    for folder, names in images.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(names):
            Image.new("RGB", (12, 8), (40 * i % 256, 90, 160)).save(root / folder / name)
    return root


def ids(examples) -> list[str]:
    return [e.image_id for e in examples]


def flickr_photos(*stems: str) -> list[str]:
    return [f"{s}.jpg" for s in stems]


def test_flickr8k_original_layout(tmp_path, caplog):
    root = make_dataset(tmp_path, "flickr8k", {
        "Flicker8k_Dataset": flickr_photos(GIRL, DOGS, RAINBOW, BENCH, NO_CAPTION),
    })  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="converter.datasets"):
        data = datasets.load("flickr8k", root)

    assert data.name == "flickr8k"
    assert ids(data.splits["train"]) == [GIRL, DOGS]
    assert ids(data.splits["dev"]) == [RAINBOW]
    assert ids(data.splits["test"]) == [BENCH]
    girl = data.splits["train"][0]
    assert girl.path == root / "Flicker8k_Dataset" / f"{GIRL}.jpg"
    assert len(girl.captions) == 5
    assert girl.captions[1] == "A girl going into a wooden building ."
    # The blank caption of DOGS is dropped, its two real ones kept.
    assert data.splits["train"][1].captions == (
        "A black dog and a spotted dog are fighting",
        "Two dogs on pavement moving toward each other .",
    )
    assert data.skipped == {"empty caption": 2, "missing image": 1, "no non-empty caption": 1}
    assert "skipped 1 record(s): missing image" in caplog.text


def test_flickr8k_kaggle_layout_with_standard_split_files(tmp_path):
    root = make_dataset(tmp_path, "kaggle", {"Images": flickr_photos(GIRL, DOGS, RAINBOW)})
    for name in ("Flickr_8k.trainImages.txt", "Flickr_8k.devImages.txt"):
        shutil.copy(FIXTURES / "flickr8k" / name, root / name)
    data = datasets.load("flickr8k", root)

    assert ids(data.splits["train"]) == [GIRL, DOGS]
    assert ids(data.splits["dev"]) == [RAINBOW]
    assert data.splits["test"] == []
    # A quoted CSV field keeps its comma; the empty caption is skipped.
    assert data.splits["train"][1].captions == (
        "A black dog and a spotted dog are fighting, outside",
    )
    assert data.skipped["empty caption"] == 1
    assert data.skipped["record without image name"] == 1
    # ORANGE_HAT and NO_CAPTION are listed in the split file but have no photo here.
    assert data.skipped["missing image"] == 2


def test_flickr8k_kaggle_layout_without_split_files_gets_a_fixed_split(tmp_path, caplog):
    root = tmp_path / "kaggle"
    stems = [f"{1000 + i}_photo" for i in range(24)]
    lines = ["image,caption", *(f"{s}.jpg,Caption number {i} ." for i, s in enumerate(stems))]
    make_dataset(tmp_path, "kaggle", {"Images": flickr_photos(*stems)})
    (root / "captions.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="converter.datasets"):
        first = datasets.load("flickr8k", root)
    again = datasets.load("flickr8k", root)

    sizes = {k: len(v) for k, v in first.splits.items()}
    assert sizes == {"train": 18, "dev": 3, "test": 3}  # the standard 6:1:1 proportions
    every = sorted(i for split in first.splits.values() for i in ids(split))
    assert every == sorted(stems)  # a partition: nothing lost, nothing twice
    assert {k: ids(v) for k, v in first.splits.items()} == {
        k: ids(v) for k, v in again.splits.items()
    }
    assert "no Flickr_8k.*Images.txt split files" in caplog.text


def test_kaggle_csv_with_the_wrong_header_is_refused(tmp_path):
    root = make_dataset(tmp_path, "kaggle", {"Images": []})
    (root / "captions.txt").write_text("file\ttext\na.jpg\tA dog .\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"header 'image,caption'"):
        datasets.load("flickr8k", root)


def test_coco_2014_naming(tmp_path):
    root = make_dataset(tmp_path, "coco2014", {
        "train2014": [f"COCO_train2014_{i:012d}.jpg" for i in (9, 25, 36)],
        "val2014": ["COCO_val2014_000000000042.jpg"],
    })  # fmt: skip
    data = datasets.load("coco", root)

    assert data.name == "coco"
    assert ids(data.splits["train"]) == [
        "COCO_train2014_000000000009",
        "COCO_train2014_000000000025",
        # not in the JSON's image list: its file name follows the 2014 convention
        "COCO_train2014_000000000036",
    ]
    assert data.splits["train"][0].captions == (
        "Closeup of bins of food that include broccoli and bread.",
        "A meal is presented in brightly colored plastic trays.",
    )
    assert data.splits["train"][1].captions == ("A giraffe eating food from the top of the tree.",)
    assert ids(data.splits["dev"]) == ["COCO_val2014_000000000042"]
    assert data.splits["dev"][0].path == root / "val2014" / "COCO_val2014_000000000042.jpg"
    assert data.splits["test"] == []
    assert data.skipped == {
        "empty caption": 1, "annotation without image_id": 1, "missing image": 1,
    }  # fmt: skip


def test_coco_2017_naming_with_only_val(tmp_path):
    root = make_dataset(tmp_path, "coco2017", {"val2017": ["000000000139.jpg"]})
    data = datasets.load("coco", root)
    assert data.splits["train"] == []
    assert ids(data.splits["dev"]) == ["000000000139"]
    assert data.splits["dev"][0].path == root / "val2017" / "000000000139.jpg"
    assert len(data.splits["dev"][0].captions) == 2
    with pytest.raises(DatasetError, match=r"split 'train' is empty or absent in coco \(have: dev"):
        data.split("train")


def test_karpathy_flickr8k_takes_precedence_over_token_file(tmp_path):
    root = make_dataset(tmp_path, "karpathy_flickr8k", {
        "Flicker8k_Dataset": flickr_photos(GIRL, DOGS, RAINBOW, BENCH, NO_CAPTION),
    })  # fmt: skip
    # A token file that disagrees: the Karpathy split must win.
    (root / "Flickr8k.token.txt").write_text(f"{GIRL}.jpg#0\tNot this one .\n", encoding="utf-8")
    data = datasets.load("flickr8k", root)

    assert ids(data.splits["train"]) == [GIRL, DOGS]  # "restval" counts as train
    assert ids(data.splits["dev"]) == [RAINBOW]  # "val" is dev
    assert ids(data.splits["test"]) == [BENCH]
    assert data.splits["train"][0].captions[0] == "A girl going into a wooden building ."
    # An empty "raw" falls back to the tokens.
    assert data.splits["train"][1].captions[1] == "a black dog"
    assert data.skipped == {
        "missing image": 1, "empty caption": 1, "no non-empty caption": 1, "unknown split": 1,
    }  # fmt: skip


def test_karpathy_coco(tmp_path):
    root = make_dataset(tmp_path, "karpathy_coco", {
        "train2014": ["COCO_train2014_000000000009.jpg"],
        "val2014": [f"COCO_val2014_{i:012d}.jpg" for i in (42, 73, 74)],
    })  # fmt: skip
    data = datasets.load("coco", root)
    assert ids(data.splits["train"]) == ["COCO_train2014_000000000009", "COCO_val2014_000000000042"]
    assert ids(data.splits["dev"]) == ["COCO_val2014_000000000073"]
    assert ids(data.splits["test"]) == ["COCO_val2014_000000000074"]
    assert data.splits["dev"][0].path == root / "val2014" / "COCO_val2014_000000000073.jpg"


def test_karpathy_coco_with_images_subfolder(tmp_path):
    root = make_dataset(tmp_path, "karpathy_coco", {
        "images/train2014": ["COCO_train2014_000000000009.jpg"],
        "images/val2014": [f"COCO_val2014_{i:012d}.jpg" for i in (42, 73, 74)],
    })  # fmt: skip
    data = datasets.load("coco", root)
    assert data.splits["test"][0].path == root / "images/val2014/COCO_val2014_000000000074.jpg"
    assert not data.skipped


def test_check_images_false_keeps_records_without_photos(tmp_path):
    root = make_dataset(tmp_path, "flickr8k", {"Flicker8k_Dataset": []})
    data = datasets.load("flickr8k", root, check_images=False)
    assert ids(data.splits["train"]) == [GIRL, DOGS, ORANGE_HAT]
    assert data.skipped == {"empty caption": 2, "no non-empty caption": 1}


@pytest.mark.parametrize(
    ("dataset", "setup", "message"),
    [
        ("flickr8k", None, r"dataset folder not found: .*nowhere"),
        ("flickr8k", [], r"no image folder in .*expected Flicker8k_Dataset/ or Images/"),
        ("flickr8k", ["Images"], r"no captions in .*Flickr8k\.token\.txt or captions\.txt"),
        ("coco", ["train2014"], r"no COCO caption JSON in .*captions_train2014\.json"),
        ("imagenet", [], r"unknown dataset 'imagenet'; choose from flickr8k, coco"),
    ],
)
def test_wrong_layout_gives_a_clear_error(tmp_path, dataset, setup, message):
    root = tmp_path / "nowhere"
    if setup is not None:
        root.mkdir()
        for folder in setup:
            (root / folder).mkdir()
    with pytest.raises(DatasetError, match=message):
        datasets.load(dataset, root)


def test_corrupt_json_names_the_file(tmp_path):
    root = make_dataset(tmp_path, "coco2017", {"val2017": []})
    (root / "annotations" / "captions_val2017.json").write_text('{"images": [', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"cannot read .*captions_val2017\.json"):
        datasets.load("coco", root)


def test_json_that_is_not_a_caption_file_is_refused(tmp_path):
    root = make_dataset(tmp_path, "karpathy_coco", {})
    (root / "dataset_coco.json").write_text(json.dumps({"dataset": "coco"}), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"no 'images' list \(not a Karpathy split file\)"):
        datasets.load("coco", root)


def test_max_examples_is_a_seeded_deterministic_sample(tmp_path):
    root = make_dataset(tmp_path, "coco2014", {
        "train2014": [f"COCO_train2014_{i:012d}.jpg" for i in (9, 25, 36)],
        "val2014": ["COCO_val2014_000000000042.jpg"],
    })  # fmt: skip
    samples = {
        seed: [ids(datasets.load("coco", root, max_examples=2, seed=seed).splits["train"])
               for _ in range(2)]
        for seed in range(6)
    }  # fmt: skip
    for first, second in samples.values():
        assert first == second
        assert len(first) == 2
        assert set(first) <= {f"COCO_train2014_{i:012d}" for i in (9, 25, 36)}
    assert len({tuple(first) for first, _ in samples.values()}) > 1  # the seed matters
    dev = datasets.load("coco", root, max_examples=2, seed=0).splits["dev"]
    assert ids(dev) == ["COCO_val2014_000000000042"]  # fewer than the cap: all kept


@pytest.mark.skipif(not SHARED_FLICKR8K.is_dir(), reason=f"{SHARED_FLICKR8K} not present")
def test_real_flickr8k():
    data = datasets.load("flickr8k", SHARED_FLICKR8K)
    assert len(data.splits["train"]) == 6000
    assert len(data.splits["dev"]) == 1000
    assert data.splits["test"] == []  # held back from this copy
    for split in ("train", "dev"):
        assert all(len(e.captions) == 5 for e in data.splits[split])
    assert not data.skipped
    train_ids = set(ids(data.splits["train"]))
    assert train_ids.isdisjoint(ids(data.splits["dev"]))
    assert data.splits["dev"][0].path.is_file()
