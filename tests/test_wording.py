"""desktop.wording: what the app says about a photo, byte for byte (a screen reader says it,
the pinned outputs and XMP sidecars hold it)."""

from __future__ import annotations

from desktop.objects import DetectedObject
from desktop.text_reader import TextLine
from desktop.wording import (
    UNSURE_PREFIX,
    as_sentences,
    caption_words,
    kind_caption,
    marked,
    said,
    seen,
    spoken,
)


def _lines(*texts: str) -> tuple[TextLine, ...]:
    return tuple(TextLine(t, 0.95, (0.1, 0.1, 0.3, 0.15)) for t in texts)


def test_what_is_said():
    assert said(_lines("EXIT", "Platform 3")) == "Text: EXIT. Platform 3."
    assert said(_lines("Open?", "Mind the gap")) == "Text: Open? Mind the gap."
    assert said(()) == ""
    long = said(_lines("one two three four five six seven eight nine ten", "a b c d e f g h i j k"))
    assert long.endswith(" …") and len(long.split()) == 1 + 20 + 1
    assert as_sentences("EXIT\nPlatform 3\n") == "EXIT. Platform 3."
    assert kind_caption(_lines("x"), "screenshot") == "A screenshot with text."
    page = _lines(*["nine words on this line of the page here"] * 27)
    assert kind_caption(page, "page") == "A page of text, about 240 words."
    assert kind_caption(page, "short") == ""


def test_unsure_captions_are_marked():
    assert UNSURE_PREFIX == "Not sure: "
    assert marked("A man sits on a wall.", True) == "Not sure: a man sits on a wall."
    assert marked("A man sits on a wall.", False) == "A man sits on a wall."
    # "I" and acronyms keep their capital; nothing is marked where nothing is said.
    assert marked("I see a dog.", True) == "Not sure: I see a dog."
    assert marked("TV on a table.", True) == "Not sure: TV on a table."
    assert marked("", True) == ""


def test_the_caption_as_read_aloud():
    objects = (DetectedObject("cat", 0.9), DetectedObject("dog", 0.5, 2))
    assert seen(objects) == "I see: cat, 2 dogs."
    assert seen(()) == ""
    assert (
        spoken("A cat on a sofa.", True, objects, _lines("EXIT"))
        == "Not sure: a cat on a sofa. Text: EXIT. I see: cat, 2 dogs."
    )
    assert spoken("A cat on a sofa.", False, ()) == "A cat on a sofa."
    # A screenshot or a page says only what it is.
    assert spoken("A screenshot with text.", True, objects, _lines("OK"), "screenshot") == (
        "A screenshot with text."
    )


def test_a_caption_of_ours_as_words():
    assert caption_words("A page of text, about 240 words.") == (
        "a",
        "page",
        "of",
        "text",
        "about",
        "240",
        "words",
    )
