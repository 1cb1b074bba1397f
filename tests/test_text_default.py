"""The shipped text reader (models/default, PP-OCRv4 on LiteRT) through the Captioner: a
rendered EXIT sign is read and said after the caption, a text-free photo gets no text, a
small settings screen is a screenshot, and the text reaches JSONL and the service's JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from desktop.captioner import CaptionOptions
from desktop.cli import main
from desktop.wording import marked

FONT = "DejaVuSans-Bold.ttf"


def _font(size: int, bold: bool = True):
    try:
        return ImageFont.truetype(FONT if bold else "DejaVuSans.ttf", size)
    except OSError:
        pytest.skip("DejaVu fonts are not installed (Debian: fonts-dejavu-core)")


def exit_sign() -> Image.Image:
    """An EXIT sign on a grey wall, as a phone would frame it."""
    img = Image.new("RGB", (640, 480), (92, 90, 96))
    draw = ImageDraw.Draw(img)
    draw.rectangle((170, 160, 470, 300), fill=(20, 140, 60))
    draw.text((320, 230), "EXIT", font=_font(90), fill="white", anchor="mm")
    return img


def settings_screen() -> Image.Image:
    img = Image.new("RGB", (800, 500), (245, 245, 247))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 800, 70), fill=(0, 110, 190))
    draw.text((30, 35), "Settings", font=_font(34), fill="white", anchor="lm")
    for row, (name, value) in enumerate((("Brightness", "75%"), ("Night mode", "Off"))):
        y = 140 + 90 * row
        draw.text((40, y), name, font=_font(32, bold=False), fill=(30, 30, 30), anchor="lm")
        draw.text((620, y), value, font=_font(32, bold=False), fill=(90, 90, 90), anchor="lm")
    return img


@pytest.fixture(scope="module")
def exit_png(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "exit.png"
    exit_sign().save(path)
    return path


def test_the_shipped_bundle_has_a_text_reader(captioner):
    reader = captioner.text_reader
    assert reader is not None
    assert (reader.gate_size, reader.tile_size) == (256, 480)
    assert (reader.rec_height, reader.rec_width) == (48, 320)
    assert len(reader.keys) > 6000  # PP-OCRv4's Chinese and Latin characters


def test_an_exit_sign_is_read_and_said_after_the_caption(captioner, exit_png):
    result = captioner.caption(exit_png)
    assert [line.text for line in result.text_lines] == ["EXIT"]
    (line,) = result.text_lines
    assert line.confidence >= 0.9
    x0, y0, x1, y1 = line.box
    assert 0.25 < x0 < x1 < 0.75 and 0.3 < y0 < y1 < 0.7  # where the sign is
    assert result.text_kind == "short"
    # After the caption (marked "Not sure: …" where it is), before what is seen.
    assert result.spoken_text.startswith(f"{marked(result.text, result.unsure)} Text: EXIT.")
    assert result.timings.text_ms > 0
    off = captioner.caption(exit_png, CaptionOptions(read_text=False))
    assert off.text_lines == () and off.text_kind == "" and "Text:" not in off.spoken_text


def test_a_photo_without_text_gets_none(captioner, samples):
    chelsea = next(p for p in samples if p.name == "chelsea.jpg")
    result = captioner.caption(chelsea)
    assert result.text_lines == () and result.text_kind == ""
    assert "Text:" not in result.spoken_text


def test_a_screen_says_what_it_is_instead_of_a_scene(captioner):
    result = captioner.caption(settings_screen())
    texts = [line.text for line in result.text_lines]
    assert texts[:1] == ["Settings"] and "Brightness" in texts and "Night mode" in texts
    assert result.text_kind == "screenshot"
    assert result.text == result.spoken_text == "A screenshot with text."
    assert result.objects == () and result.confidence is None
    assert "Brightness" in result.full_text.splitlines()


def test_jsonl_carries_the_text(exit_png, default_model_dir, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    args = ["caption", str(exit_png), "-o", str(out), "--no-progress", "--no-library"]
    assert main([*args, "--model", str(default_model_dir)]) == 0
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert [t["text"] for t in record["text"]] == ["EXIT"]
    assert 0.9 <= record["text"][0]["confidence"] <= 1.0
    assert record["text_kind"] == "short"
    off = tmp_path / "off.jsonl"
    args = ["caption", str(exit_png), "-o", str(off), "--no-progress", "--no-library"]
    assert main([*args, "--no-text", "--model", str(default_model_dir)]) == 0
    record = json.loads(off.read_text())
    assert record["text"] == [] and record["text_kind"] == ""


def test_the_service_answers_with_the_text(captioner, exit_png):
    from desktop.service import ServiceConfig, create_app

    client = create_app([captioner], ServiceConfig()).test_client()
    answer = client.post("/caption", data=exit_png.read_bytes(), content_type="image/png")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert [t["text"] for t in body["text"]] == ["EXIT"] and body["text_kind"] == "short"
    assert len(body["text"][0]["box"]) == 4 and "text_ms" in body["timings"]
    answer = client.post(
        "/caption?text=0", data=exit_png.read_bytes(), content_type="image/png"
    )
    assert answer.get_json()["text"] == [] and answer.get_json()["text_kind"] == ""
