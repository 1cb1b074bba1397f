"""desktop.text_reader: DB boxes, CTC decoding, reading order and what is said, on maps and
model outputs made by hand; and the bundle loader with and without text parts. The models
themselves are tested on the shipped bundle in tests/test_text_default.py."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from desktop import BundleError
from desktop.bundle import load_bundle
from desktop.text_reader import (
    TextLine,
    TextSettings,
    _cuts,
    boxes,
    components,
    ctc_greedy,
    kind_of,
    reading_order,
)


def _labels(mask: np.ndarray) -> np.ndarray:
    rows, starts, ends, label = components(mask)
    out = np.full(mask.shape, -1)
    for r, s, e, lab in zip(rows, starts, ends, label, strict=True):
        out[r, s:e] = lab
    return out


def test_components_join_8_connected_runs_and_keep_apart_the_rest():
    mask = np.zeros((8, 12), bool)
    mask[1, 1:4] = True  # a U shape: two arms joined at the bottom
    mask[2, 1] = mask[2, 3] = True
    mask[3, 1:4] = True
    mask[5, 5] = mask[6, 6] = True  # diagonal neighbours: one component
    mask[1:3, 9:11] = True  # a block apart
    labels = _labels(mask)
    assert len(np.unique(labels[labels >= 0])) == 3
    assert labels[1, 1] == labels[3, 3] == labels[2, 3]
    assert labels[5, 5] == labels[6, 6] != labels[1, 1]
    assert labels[1, 9] == labels[2, 10] not in (labels[1, 1], labels[5, 5])


def test_components_of_a_spiral_merge_late_joins():
    # Runs that only meet several rows down (a W): union-find must merge their labels.
    mask = np.zeros((6, 9), bool)
    for x in (0, 4, 8):
        mask[0:5, x] = True
    mask[5, 0:9] = True
    labels = _labels(mask)
    assert len(np.unique(labels[labels >= 0])) == 1
    assert not components(np.zeros((4, 4), bool))[0].size


def test_boxes_of_a_tilted_line_follow_its_angle_and_unclip():
    prob = np.zeros((120, 200), np.float32)
    # A line 120 x 10 pixels, tilted by atan(0.1) (about 5.7 degrees).
    yy, xx = np.mgrid[0:120, 0:200]
    along = (xx - 100) * np.cos(0.1) + (yy - 60) * np.sin(0.1)
    across = -(xx - 100) * np.sin(0.1) + (yy - 60) * np.cos(0.1)
    prob[(np.abs(along) < 60) & (np.abs(across) < 5)] = 0.9
    prob[5:8, 5:8] = 0.4  # weak: under box_threshold
    found = boxes(prob, TextSettings())
    assert len(found) == 1
    (box,) = found
    assert box.uy / box.ux == pytest.approx(np.tan(0.1), abs=0.02)
    assert (box.cx, box.cy) == pytest.approx((100, 60), abs=1.0)
    # DB's unclip: each side grows by area * 1.6 / perimeter.
    w, h = 121, 11
    d = w * h * 1.6 / (2 * (w + h))
    assert box.width == pytest.approx(w + 2 * d, abs=3)
    assert box.height == pytest.approx(h + 2 * d, abs=3)
    # The mean over the (dilated) component: its one-pixel rim is 0.
    assert 0.75 < box.score < 0.9


def test_boxes_drop_specks():
    prob = np.zeros((50, 50), np.float32)
    prob[10, 10:30] = 0.95  # one pixel high: no text line
    assert boxes(prob, TextSettings()) == []


KEYS = ("E", "X", "I", "T", "3")


def _steps(ids: list[int], columns: int = len(KEYS) + 2, p: float = 0.9) -> np.ndarray:
    out = np.full((len(ids), columns), (1 - p) / (columns - 1), np.float32)
    out[np.arange(len(ids)), ids] = p
    return out


def test_ctc_greedy_collapses_repeats_drops_blanks_and_knows_the_space():
    # E E _ X I I _ I T <space> 3 : a blank between two I's keeps both.
    space = len(KEYS) + 1
    text, probs = ctc_greedy(_steps([1, 1, 0, 2, 3, 3, 0, 3, 4, space, 5]), KEYS)
    assert text == "EXIIT 3"
    assert probs == pytest.approx([0.9] * 6)  # the characters, not the space
    # A blank step whose space is a close second is a space; a faint one is not.
    steps = _steps([1, 0, 2])
    steps[1, space] = 0.35
    assert ctc_greedy(steps, KEYS)[0] == "E X"
    steps[1, space] = 0.2
    assert ctc_greedy(steps, KEYS)[0] == "EX"


def test_cuts_split_a_long_line_at_gaps_and_know_word_spaces():
    img = Image.new("L", (900, 48), 255)
    draw = ImageDraw.Draw(img)
    x = 4
    for _word in range(12):
        for _ in range(5):  # five letters of 8 pixels, 3 apart
            draw.rectangle((x, 10, x + 7, 38), fill=0)
            x += 11
        x += 14  # a word space
    gray = np.asarray(img, np.float32)
    pieces = _cuts(gray, 320)
    assert pieces[0][0] == 0 and pieces[-1][1] == 900
    assert all(end - start <= 320 for start, end, _ in pieces)
    for (_, end, _), (start, _, space) in zip(pieces, pieces[1:], strict=False):
        assert end == start
        column = gray[:, start]
        assert column.min() == 255  # cut where there is no ink
        assert space  # ... in a word space here (the widest gaps)


def _line(text: str, x0: float, y0: float, x1: float, y1: float) -> tuple:
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float)
    return corners, text, 0.95


def test_reading_order_is_rows_then_left_to_right():
    found = [
        _line("75%", 600, 102, 650, 122),
        _line("Brightness", 100, 100, 300, 120),
        _line("Display", 100, 40, 250, 60),
        _line("Night mode", 100, 160, 300, 180),
    ]
    assert [found[i][1] for i in reading_order(found)] == [
        "Display",
        "Brightness",
        "75%",
        "Night mode",
    ]


def _lines(*texts: str, box=(0.1, 0.1, 0.3, 0.15)) -> tuple[TextLine, ...]:
    return tuple(TextLine(t, 0.95, box) for t in texts)


def test_kind_of_a_page_a_screen_and_a_sign():
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 300, 3), np.uint8))
    screen = Image.new("RGB", (300, 200), (240, 240, 240))
    lines = _lines(*["seven words of a line in it"] * 8, box=(0.05, 0.0, 0.95, 0.1))
    assert kind_of(lines, photo) == "page"  # 56 words over most of the photo
    assert kind_of(lines[:4], screen) == "screenshot"
    assert kind_of(lines[:4], photo) == "short"
    assert kind_of((), screen) == ""


# -- the bundle loader ---------------------------------------------------------------------


@pytest.fixture
def bundle_copy(default_model_dir, tmp_path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(default_model_dir, copy)
    return copy


def _add_text_part(bundle: Path, files: dict[str, bytes], **entry) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    for name, data in files.items():
        (bundle / name).write_bytes(data)
        manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    manifest["text_reader"] = {
        "gate": {"file": "g.tflite", "signature": "detect"},
        "detector": {"file": "d.tflite", "signature": "detect"},
        "recognizer": {"file": "r.tflite", "signature": "recognize"},
        "keys": "k.json",
        **entry,
    }
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def _strip_text_part(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest.pop("text_reader", None)
    for name in list(manifest["files"]):
        if name.startswith("text_"):
            (bundle / name).unlink()
            del manifest["files"][name]
    (bundle / "manifest.json").write_text(json.dumps(manifest))


GOOD_KEYS = json.dumps(["a", "b", "\u3000"]).encode()


def test_a_bundle_without_a_text_reader_loads_and_reads_no_text(bundle_copy):
    from desktop.captioner import Captioner

    _strip_text_part(bundle_copy)
    bundle = load_bundle(bundle_copy)
    assert bundle.text_reader is None
    captioner = Captioner(bundle)
    assert captioner.text_reader is None
    result = captioner.caption(Image.new("RGB", (64, 48), "white"))
    assert result.text_lines == () and result.text_kind == ""


def test_text_parts_are_checked_like_every_bundle_file(bundle_copy):
    _strip_text_part(bundle_copy)
    files = {"g.tflite": b"x", "d.tflite": b"y", "r.tflite": b"z", "k.json": GOOD_KEYS}
    _add_text_part(bundle_copy, files)
    assert load_bundle(bundle_copy).text_reader.keys == ("a", "b", "\u3000")
    (bundle_copy / "r.tflite").write_bytes(b"zz")
    with pytest.raises(BundleError, match="r.tflite"):
        load_bundle(bundle_copy)
    (bundle_copy / "r.tflite").unlink()
    with pytest.raises(BundleError, match="r.tflite: missing"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize(
    ("keys", "entry", "message"),
    [
        (b"[1, 2]", {}, "k.json: must be a JSON list"),
        (json.dumps(["a", "b\n"]).encode(), {}, "character 1"),
        (b"[", {}, "k.json: not readable JSON"),
        (GOOD_KEYS, {"min_confidence": 1.5}, "text_reader.min_confidence"),
        (GOOD_KEYS, {"max_side": 10}, "text_reader.max_side"),
        (GOOD_KEYS, {"document_classes": [-1]}, "document_classes"),
        (GOOD_KEYS, {"gate": "g.tflite"}, "text_reader.gate must be an object"),
        (GOOD_KEYS, {"keys": "../k.json"}, "text_reader.keys"),
    ],
)
def test_broken_text_parts_are_refused_by_name(bundle_copy, keys, entry, message):
    _strip_text_part(bundle_copy)
    files = {"g.tflite": b"x", "d.tflite": b"y", "r.tflite": b"z", "k.json": keys}
    _add_text_part(bundle_copy, files, **entry)
    with pytest.raises(BundleError, match=message):
        load_bundle(bundle_copy)


def test_text_models_that_litert_cannot_run_are_refused_when_loading(bundle_copy):
    from desktop.captioner import Captioner

    _strip_text_part(bundle_copy)
    # Real models of the wrong kind: the encoder is no text detector.
    encoder = (bundle_copy / "encoder.tflite").read_bytes()
    files = {"g.tflite": encoder, "d.tflite": encoder, "r.tflite": encoder, "k.json": GOOD_KEYS}
    _add_text_part(bundle_copy, files)
    with pytest.raises(BundleError, match="g.tflite"):
        Captioner(load_bundle(bundle_copy))
