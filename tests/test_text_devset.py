"""The OCR dev set's generator (benchmarks/text_devset.py) and scorer (benchmarks/text_eval.py).

No model and no shared dataset: the photos are made here, the predictions by hand.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks import text_devset, text_eval, text_pages, text_photos, text_screens
from benchmarks.text_content import ALPHABET
from benchmarks.text_render import ALL_FAMILIES, DEJAVU_SANS, check_fonts, missing_fonts

_PACKAGES = " ".join(sorted(set(missing_fonts().values())))
pytestmark = pytest.mark.skipif(
    bool(_PACKAGES), reason=f"dev-set fonts missing: apt-get install {_PACKAGES}"
)


# -- the generator ----------------------------------------------------------------------------


def test_every_font_draws_every_character_the_text_uses():
    check_fonts()  # raises, naming the font and the characters, if one would draw boxes
    assert len(ALL_FAMILIES) >= 10
    # And the check can fail: DejaVu Sans has no CJK glyph.
    from benchmarks.text_render import missing_glyphs

    assert missing_glyphs(DEJAVU_SANS, "Ab\u4e00") == ["\u4e00"]


def _ink(image: Image.Image, box) -> int:
    """Pixels in ``box`` that stand out from its commonest colour (the background)."""
    grey = np.asarray(image.convert("L").crop(box), dtype=np.int16)
    values, counts = np.unique(grey, return_counts=True)
    return int((np.abs(grey - values[counts.argmax()]) > 50).sum())


def _overlaps(a, b) -> bool:
    # One pixel of slack: anti-aliased edges of adjacent lines may touch.
    return a[0] < b[2] - 1 and b[0] < a[2] - 1 and a[1] < b[3] - 1 and b[1] < a[3] - 1


def _check_drawn(sheet) -> None:
    items = sheet.items()
    assert items and all(line.strip() for line in sheet.truth())
    for item in items:
        assert set(item.text) <= ALPHABET, item.text
        assert _ink(sheet.image, item.box) >= 10, f"nothing visible where {item.text!r} is"
    for i, a in enumerate(items):
        for b in items[i + 1 :]:
            assert not _overlaps(a.box, b.box), f"{a.text!r} drawn over {b.text!r}"


@pytest.mark.parametrize("layout", list(text_screens.LAYOUTS))
def test_screenshot_truth_is_the_text_drawn(layout):
    for phone, dark in ((True, False), (False, True)):
        sheet, meta = text_screens.screenshot(random.Random(f"t:{layout}"), layout, phone, dark)
        assert sheet.image.size == (text_screens.PHONE if phone else text_screens.LAPTOP)
        assert meta["theme"] == ("dark" if dark else "light")
        _check_drawn(sheet)


@pytest.mark.parametrize("layout", list(text_pages.LAYOUTS))
def test_page_truth_is_the_text_drawn(layout):
    page = text_pages.LAYOUTS[layout](random.Random(f"t:{layout}"), 100)
    _check_drawn(page.sheet)
    assert len(" ".join(page.sheet.truth()).split()) > 60  # a page, not a label


def test_text_cannot_fall_off_the_image():
    sheet = text_screens.Sheet.new((100, 40), (255, 255, 255))
    face = text_screens.font(DEJAVU_SANS, 20)
    with pytest.raises(ValueError, match="falls outside"):
        sheet.text((60, 5), "Platform 3", face, (0, 0, 0))
    assert sheet.truth() == []


def _background(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(40, 200, 224, dtype=np.float32)
    pixels = np.stack(
        [ramp[None, :].repeat(224, 0), ramp[:, None].repeat(224, 1), np.full((224, 224), 90.0)],
        axis=-1,
    ) + rng.normal(0, 8, (224, 224, 3))
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def test_text_on_a_photo_changes_it_where_the_sign_is(tmp_path):
    photo = _background(tmp_path / "bg.jpg")
    for i in range(4):
        data, lines, meta = text_photos.text_on_photo(photo, random.Random(f"t:{i}"))
        assert lines and all(set(line) <= ALPHABET for line in lines)
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "JPEG" and tuple(im.size) == tuple(meta["size"])
            with Image.open(photo) as bg:
                plain = np.asarray(bg.convert("RGB").resize(im.size), dtype=np.int16)
            changed = np.abs(np.asarray(im.convert("RGB"), dtype=np.int16) - plain).max(-1)
        # The sign covers a real patch of the photo, not a speck.
        assert (changed > 60).sum() > 0.002 * changed.size
        assert meta["text_px"] >= 15


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    for index in (2, 7):  # a phone chat, a laptop dialog
        a, b = text_devset.screenshot(25, index), text_devset.screenshot(25, index)
        assert a.data == b.data and a.lines == b.lines and a.file == b.file
        assert text_devset.screenshot(26, index).data != a.data
    photo = _background(tmp_path / "bg.jpg")
    pages = [
        text_photos.scan(
            text_pages.letter(random.Random("p"), 100).sheet.image, random.Random("scan"), {}
        )
        for _ in range(2)
    ]
    assert pages[0] == pages[1]
    assert text_devset.photo(25, 0, [photo]).data == text_devset.photo(25, 0, [photo]).data


def test_text_free_photos_are_those_no_caption_ties_to_text():
    assert text_photos.mentions_text(["A man holds up a sign .", "A man outside"])
    assert text_photos.mentions_text(["Two boys wearing jerseys play football"])
    assert text_photos.mentions_text(["A stop sign on a pole"])
    assert not text_photos.mentions_text(
        ["A dog runs through the grass .", "A designer dog bed"]
    )  # "design" is no "sign"


def _datasets(root: Path) -> tuple[Path, Path]:
    """Flickr8k and coco-ood-dev in their real layouts, with made-up photos and captions."""
    flickr = root / "flickr8k"
    (flickr / "Flicker8k_Dataset").mkdir(parents=True)
    captions, dev = [], []
    for i in range(8):
        name = f"{i:04d}_x.jpg"
        _background(flickr / "Flicker8k_Dataset" / name, i)
        dev.append(name)
        what = "A man reads a menu ." if i == 3 else f"A dog number {i} runs ."
        what = what if i in (3, 5) else "A dog runs on the grass ."
        captions += [f"{name}#{n}\t{what}" for n in range(5)]
    (flickr / "Flickr_8k.devImages.txt").write_text("\n".join(dev) + "\n")
    (flickr / "Flickr8k.token.txt").write_text("\n".join(captions) + "\n")
    coco = root / "coco"
    (coco / "images").mkdir(parents=True)
    lines = []
    for i, caption in enumerate(
        ("A bowl of fruit on a table.", "A laptop on a desk.", "A cat sleeping on a sofa.")
    ):
        name = f"COCO_{i:012d}.jpg"
        _background(coco / "images" / name, 10 + i)
        lines.append(f"{name}#0\t{caption}")
    (coco / "captions.token.txt").write_text("\n".join(lines) + "\n")
    return flickr, coco


def test_generate_writes_images_and_truth_and_refers_to_text_free_photos(tmp_path):
    flickr, coco = _datasets(tmp_path / "shared")
    counts = {"screenshot": 2, "page": 0, "photo": 2, "none": 4}
    out = tmp_path / "devset"
    records = text_devset.generate(out, 25, counts, flickr, coco)
    assert [r["kind"] for r in records] == ["screenshot"] * 2 + ["photo"] * 2 + ["none"] * 4
    assert text_devset.read_truth(out) == records
    for r in records:
        if r["kind"] == "none":
            # By path, never copied; and none whose captions name a thing with text.
            path = Path(r["file"])
            assert path.is_absolute() and path.is_file() and not r["lines"]
            assert path.name not in ("0003_x.jpg", "0005_x.jpg", "COCO_000000000001.jpg")
        else:
            assert (out / r["file"]).is_file() and r["lines"]
    photos = {r["meta"]["source"] for r in records if r["kind"] == "photo"}
    assert photos.isdisjoint(r["file"] for r in records if r["kind"] == "none")
    listed = (out / "images.txt").read_text().splitlines()
    assert len(listed) == len(records) and all(Path(p).is_file() for p in listed)
    first = {p: Path(p).read_bytes() for p in listed}
    # Again with the same seed: the same set, byte for byte; and no leftovers beside it.
    text_devset.generate(out, 25, counts, flickr, coco)
    assert {p: Path(p).read_bytes() for p in listed} == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["devset", "shared"]


def test_generate_refuses_to_replace_a_folder_it_did_not_make(tmp_path):
    flickr, coco = _datasets(tmp_path / "shared")
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "keep.jpg").write_bytes(b"x")
    assert (
        text_devset.main(
            [
                "--out",
                str(mine),
                "--flickr8k",
                str(flickr),
                "--coco",
                str(coco),
                "--screenshots",
                "1",
                "--pages",
                "0",
                "--photos",
                "0",
                "--text-free",
                "1",
            ]
        )
        == 2
    )
    assert (mine / "keep.jpg").read_bytes() == b"x"


# -- the scorer -------------------------------------------------------------------------------

TRUTH = [
    {"file": "a.png", "kind": "screenshot", "lines": ["Save changes?", "Cancel Save"]},
    {
        "file": "b.jpg",
        "kind": "page",
        "lines": ["Dear Ms Patel,", "Thank you for your letter of 3 May."],
    },
    {"file": "c.jpg", "kind": "photo", "lines": ["EXIT"]},
    {"file": "/photos/d.jpg", "kind": "none", "lines": []},
    {"file": "/photos/e.jpg", "kind": "none", "lines": []},
]


def _truth(tmp_path: Path) -> list[dict]:
    with open(tmp_path / "truth.jsonl", "w") as f:
        for record in TRUTH:
            f.write(json.dumps(record) + "\n")
    return text_eval.load_truth(tmp_path)


def _read(truth, texts: dict[str, list[str]]) -> dict:
    return {r["path"]: text_eval.Reading(tuple(texts.get(r["file"], ()))) for r in truth}


def test_perfect_reading_scores_one_and_empty_text_free_scores_no_false_text(tmp_path):
    truth = _truth(tmp_path)
    report = text_eval.score(truth, _read(truth, {r["file"]: r["lines"] for r in TRUTH}))
    for kind in ("screenshot", "page", "photo", "all text"):
        k = report.kinds[kind]
        assert k["word_accuracy"] == 1.0 and k["cer"] == 0.0 and k["recall"] == 1.0
        assert k["strict_word_accuracy"] == 1.0 and k["no_text"] == 0
    assert report.kinds["all text"]["words"] == 4 + 11 + 1
    assert report.false_text["rate"] == 0.0 and report.false_text["files"] == []
    assert report.missing == []


def test_one_wrong_word_costs_one_over_the_words(tmp_path):
    truth = _truth(tmp_path)
    texts = {r["file"]: r["lines"] for r in TRUTH}
    texts["b.jpg"] = ["Dear Ms Patel,", "Thank you for your letter of 8 May."]  # 1 of 11 words
    report = text_eval.score(truth, _read(truth, texts))
    page = report.kinds["page"]
    assert page["wer"] == pytest.approx(1 / 11)
    assert page["word_accuracy"] == pytest.approx(10 / 11)
    # One character of "dear ms patel thank you for your letter of 3 may" (48).
    assert page["cer"] == pytest.approx(1 / 48)
    assert page["recall"] == pytest.approx(10 / 11)
    assert report.kinds["all text"]["wer"] == pytest.approx(1 / 16)


def test_case_punctuation_order_and_invented_words(tmp_path):
    truth = _truth(tmp_path)
    texts = {r["file"]: r["lines"] for r in TRUTH}
    texts["c.jpg"] = ["exit."]  # same word to a listener; not to the strict figures
    texts["a.png"] = ["Cancel Save", "Save changes?"]  # both rows, in the wrong order
    report = text_eval.score(truth, _read(truth, texts))
    assert report.kinds["photo"]["word_accuracy"] == 1.0
    assert report.kinds["photo"]["strict_word_accuracy"] == 0.0
    shot = report.kinds["screenshot"]
    assert shot["recall"] == 1.0 and shot["word_accuracy"] < 1.0
    # Invented words cost too, and accuracy does not go below 0.
    texts["c.jpg"] = ["EXIT exit exit exit"]
    assert text_eval.score(truth, _read(truth, texts)).kinds["photo"]["wer"] == 3.0
    assert text_eval.score(truth, _read(truth, texts)).kinds["photo"]["word_accuracy"] == 0.0


def test_false_text_missing_readings_and_confidence_threshold(tmp_path):
    truth = _truth(tmp_path)
    readings = {
        truth[0]["path"]: text_eval.Reading(("Save changes?", "Cancel Save")),
        "/photos/d.jpg": text_eval.Reading(("ii",), (0.2,)),
        "/photos/e.jpg": text_eval.Reading((" ",), (0.9,)),  # blank is no text
    }
    report = text_eval.score(truth, readings)
    assert report.false_text["with_text"] == 1 and report.false_text["rate"] == 0.5
    assert report.false_text["files"] == ["/photos/d.jpg"]
    assert report.missing == ["b.jpg", "c.jpg"]
    assert report.kinds["page"]["no_text"] == 1 and report.kinds["page"]["word_accuracy"] == 0
    assert text_eval.score(truth, readings, min_confidence=0.5).false_text["rate"] == 0.0
    assert "false text  50.0% (1/2)" in text_eval.table(report)


def test_predictions_file_in_the_captioners_jsonl_form(tmp_path):
    truth = _truth(tmp_path)
    preds = tmp_path / "preds.jsonl"
    records = [
        # As `captioner caption --format jsonl` writes them (issue 25's contract).
        {
            "path": "a.png",
            "caption": "A screenshot with text.",
            "text": [
                {"text": "Save changes?", "confidence": 0.97},
                {"text": "Cancel Save", "confidence": 0.4},
            ],
        },
        {"file": str(tmp_path / "c.jpg"), "text": "EXIT", "ms": 12.5},
        {"path": "/photos/d.jpg", "caption": "A dog.", "text": []},
        {"path": "/photos/e.jpg", "error": "cannot read the photo"},
    ]
    preds.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    readings = text_eval.load_predictions(preds, tmp_path)
    report = text_eval.score(truth, readings)
    assert report.kinds["screenshot"]["word_accuracy"] == 1.0
    assert report.kinds["photo"]["p50_ms"] == 12.5
    assert report.missing == ["b.jpg", "/photos/e.jpg"]
    strict = text_eval.score(truth, readings, min_confidence=0.5).kinds["screenshot"]
    assert strict["word_accuracy"] == pytest.approx(0.5)
    out = tmp_path / "report.json"
    assert (
        text_eval.main(["--predictions", str(preds), "--devset", str(tmp_path), "--out", str(out)])
        == 0
    )
    saved = json.loads(out.read_text())
    assert (
        saved["kinds"]["photo"]["word_accuracy"] == 1.0 and "word accuracy" in saved["definitions"]
    )


def test_unusable_inputs_exit_2(tmp_path):
    assert (
        text_eval.main(["--predictions", str(tmp_path / "p.jsonl"), "--devset", str(tmp_path)]) == 2
    )  # no truth.jsonl
    _truth(tmp_path)
    (tmp_path / "p.jsonl").write_text("{not json\n")
    assert (
        text_eval.main(["--predictions", str(tmp_path / "p.jsonl"), "--devset", str(tmp_path)]) == 2
    )


def test_tesseract_tsv_becomes_lines_in_its_order():
    header = (
        "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth"
        "\theight\tconf\ttext"
    )
    rows = [
        "1\t1\t0\t0\t0\t0\t0\t0\t100\t100\t-1\t",
        "5\t1\t1\t1\t1\t1\t0\t0\t10\t10\t96.5\tPlatform",
        "5\t1\t1\t1\t1\t2\t0\t0\t10\t10\t90.5\t3",
        "5\t1\t2\t1\t1\t1\t0\t0\t10\t10\t40\tEXIT",
        "5\t1\t2\t1\t1\t2\t0\t0\t10\t10\t95\t ",
    ]
    reading = text_eval.parse_tesseract_tsv("\n".join([header, *rows]) + "\n", 5.0)
    assert reading.lines == ("Platform 3", "EXIT")
    assert reading.confidences == pytest.approx((0.935, 0.40))
    assert reading.ms == 5.0
