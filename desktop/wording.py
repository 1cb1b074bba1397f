"""What the app says about a photo, as text: the one place its user-facing phrasing lives.

A caption is shown and read aloud as ``spoken``: marked "Not sure: …" when the model is
unsure (never stated as a plain fact), then the short text read in the photo ("Text: EXIT.
Platform 3."), then what the classifier sees ("I see: cat, 2 dogs."). A screenshot or a page
is captioned by what it is ("A screenshot with text.", "A page of text, about 240 words.")
instead of a made-up scene. A blind user hears these words through a screen reader, and the
pinned outputs and XMP sidecars hold them: change them only on purpose.

No model, no Qt: the GUI, the CLI's files, the service and the facade all phrase alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from desktop.objects import DetectedObject, counted

if TYPE_CHECKING:  # only a type here: the wording needs no text reader
    from desktop.text_reader import TextLine

UNSURE_PREFIX = "Not sure: "
SHORT_WORDS = 20  # "short" text is spoken in full after the caption up to this many words
# Kinds of photo whose caption says what they are, and nothing else is said.
TEXT_KINDS = ("screenshot", "page")


def marked(text: str, unsure: bool) -> str:
    """'A man sits.' → 'Not sure: a man sits.' when unsure (never stated as a plain fact)."""
    if not unsure or not text:
        return text
    # "A man" → "a man"; but "I" and acronyms keep their capital.
    if len(text) > 1 and text[0].isupper() and not text[1].isupper() and text[:2] != "I ":
        text = text[0].lower() + text[1:]
    return UNSURE_PREFIX + text


def seen(objects: Iterable[DetectedObject]) -> str:
    """'I see: cat, 2 dogs.' ("" where nothing is seen)."""
    names = [counted(o) for o in objects]
    return f"I see: {', '.join(names)}." if names else ""


def spoken(
    text: str,
    unsure: bool,
    objects: Iterable[DetectedObject],
    text_lines: tuple[TextLine, ...] = (),
    text_kind: str = "",
) -> str:
    """The caption as read aloud: marked when unsure, short text read in the photo, then
    what the classifier sees. A screenshot or page says only what it is (a key reads its
    text)."""
    if text_kind in TEXT_KINDS:
        return text
    return " ".join(t for t in (marked(text, unsure), said(text_lines), seen(objects)) if t)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?:;…" else text + "."


def as_sentences(text: str) -> str:
    """Text of several lines as one string to speak, a line a sentence ('EXIT. Platform 3.'):
    a voice pauses between sentences as a reader does between the lines."""
    return " ".join(_sentence(line) for line in text.splitlines() if line.strip())


def said(lines: tuple[TextLine, ...]) -> str:
    """'Text: EXIT. Platform 3.' — at most ``SHORT_WORDS`` words, then '…'."""
    parts: list[str] = []
    budget = SHORT_WORDS
    for line in lines:
        line_words = line.text.split()
        if len(line_words) > budget:
            if budget:
                parts.append(" ".join(line_words[:budget]) + " …")
            else:
                parts[-1] += " …"
            break
        parts.append(_sentence(line.text))
        budget -= len(line_words)
    return "Text: " + " ".join(parts) if parts else ""


def kind_caption(lines: tuple[TextLine, ...], kind: str) -> str:
    """What a screenshot's or a page's caption says instead of a made-up scene."""
    if kind == "screenshot":
        return "A screenshot with text."
    if kind == "page":
        count = sum(len(line.text.split()) for line in lines)
        about = max(10, round(count / 10) * 10)
        return f"A page of text, about {about} words."
    return ""


def caption_words(caption: str) -> tuple[str, ...]:
    """A caption of ours as the words a decoder would have given ("A page of text, about 240
    words." → a, page, of, text, about, 240, words)."""
    return tuple(caption.rstrip(".").replace(",", "").lower().split())
