"""Drawing text whose truth is known: fonts, colour themes and a sheet that records each line.

Used by the OCR dev set's screenshots, pages and signs (benchmarks/text_devset.py). Every
string goes through ``Sheet.text``, which draws it and records it with its box, so the
truth is what was drawn and nothing else: icons, toggles, QR codes and photos are drawn as
shapes and never enter it. Items on one row (a label and its value, a row of buttons) are
one truth line, left to right, as a reader going row by row reads them.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from benchmarks.text_content import ALPHABET

FONT_ROOT = Path("/usr/share/fonts")


@dataclass(frozen=True)
class Family:
    """A typeface in two weights, as font files under FONT_ROOT."""

    name: str
    regular: str
    bold: str
    package: str  # the Debian package that installs it, for the error message

    def path(self, bold: bool = False) -> Path:
        return FONT_ROOT / (self.bold if bold else self.regular)


def _urw(name: str, regular: str, bold: str) -> Family:
    base = "opentype/urw-base35/"
    return Family(name, base + regular, base + bold, "fonts-urw-base35")


def _dejavu(name: str, regular: str, bold: str, extra: bool = False) -> Family:
    base = "truetype/dejavu/"
    package = "fonts-dejavu-extra" if extra else "fonts-dejavu-core"
    return Family(name, base + regular, base + bold, package)


DEJAVU_SANS = _dejavu("DejaVu Sans", "DejaVuSans.ttf", "DejaVuSans-Bold.ttf")
DEJAVU_CONDENSED = _dejavu(
    "DejaVu Sans Condensed", "DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf", True
)
DEJAVU_SERIF = _dejavu("DejaVu Serif", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf")
DEJAVU_MONO = _dejavu("DejaVu Sans Mono", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf")
NOTO_MONO = Family(
    "Noto Sans Mono",
    "truetype/noto/NotoSansMono-Regular.ttf",
    "truetype/noto/NotoSansMono-Bold.ttf",
    "fonts-noto-mono",
)
NIMBUS_SANS = _urw("Nimbus Sans", "NimbusSans-Regular.otf", "NimbusSans-Bold.otf")
NIMBUS_NARROW = _urw(
    "Nimbus Sans Narrow", "NimbusSansNarrow-Regular.otf", "NimbusSansNarrow-Bold.otf"
)
NIMBUS_ROMAN = _urw("Nimbus Roman", "NimbusRoman-Regular.otf", "NimbusRoman-Bold.otf")
NIMBUS_MONO = _urw("Nimbus Mono PS", "NimbusMonoPS-Regular.otf", "NimbusMonoPS-Bold.otf")
C059 = _urw("C059", "C059-Roman.otf", "C059-Bold.otf")
P052 = _urw("P052", "P052-Roman.otf", "P052-Bold.otf")
URW_GOTHIC = _urw("URW Gothic", "URWGothic-Book.otf", "URWGothic-Demi.otf")
URW_BOOKMAN = _urw("URW Bookman", "URWBookman-Light.otf", "URWBookman-Demi.otf")

# What each kind of text is set in, as it is in the wild: UI sans faces for screens,
# book faces for letters and documents, monospace for receipts.
# Droid Sans Fallback (the "droid" font here) is left out: it has CJK glyphs but none for
# Latin letters, so it would draw empty boxes.
UI_FAMILIES = (DEJAVU_SANS, DEJAVU_CONDENSED, NIMBUS_SANS, URW_GOTHIC, NIMBUS_NARROW)
WEB_FAMILIES = (DEJAVU_SANS, DEJAVU_SERIF, NIMBUS_SANS, NIMBUS_ROMAN, P052)
PAGE_FAMILIES = (NIMBUS_ROMAN, C059, P052, DEJAVU_SERIF, URW_BOOKMAN, NIMBUS_SANS, DEJAVU_SANS)
MONO_FAMILIES = (DEJAVU_MONO, NOTO_MONO, NIMBUS_MONO)
SIGN_FAMILIES = (DEJAVU_SANS, DEJAVU_CONDENSED, NIMBUS_SANS, NIMBUS_NARROW, URW_GOTHIC, C059)
ALL_FAMILIES = tuple(
    dict.fromkeys(UI_FAMILIES + WEB_FAMILIES + PAGE_FAMILIES + MONO_FAMILIES + SIGN_FAMILIES)
)


class FontsMissing(RuntimeError):
    pass


def missing_fonts(families: tuple[Family, ...] = ALL_FAMILIES) -> dict[str, str]:
    """{font file: Debian package} for the files that are not installed."""
    return {
        str(f.path(bold)): f.package
        for f in families
        for bold in (False, True)
        if not f.path(bold).is_file()
    }


# A code point no font has a glyph for: what it draws is the font's "missing glyph" box.
_NO_GLYPH = "\U0010fffd"


def missing_glyphs(family: Family, chars, bold: bool = False) -> list[str]:
    """The characters of ``chars`` the font has no glyph for (it would draw its box)."""
    face = font(family, 32, bold)
    box = face.getmask(_NO_GLYPH)
    blank = (box.size, bytes(box))
    return [
        c
        for c in sorted(set(chars))
        if c != " " and (face.getmask(c).size, bytes(face.getmask(c))) == blank
    ]


def check_fonts(families: tuple[Family, ...] = ALL_FAMILIES, chars=ALPHABET) -> None:
    """Every font file there, with a glyph for every character the dev set's text uses."""
    missing = missing_fonts(families)
    if missing:
        packages = " ".join(sorted(set(missing.values())))
        raise FontsMissing(
            f"{len(missing)} font file(s) missing (first: {next(iter(missing))}); "
            f"install them with: apt-get install {packages}"
        )
    for family in families:
        for bold in (False, True):
            lacking = missing_glyphs(family, chars, bold)
            if lacking:
                raise FontsMissing(f"{family.path(bold)} has no glyph for {''.join(lacking)!r}")


@functools.lru_cache(maxsize=256)
def font(family: Family, size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    # The basic layout (no raqm shaping) draws the same pixels whether or not libraqm is
    # installed, so a seed gives the same images on every machine with these fonts.
    return ImageFont.truetype(
        str(family.path(bold)), max(6, int(size)), layout_engine=ImageFont.Layout.BASIC
    )


def wrap(text: str, face: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Greedy word wrap to ``width`` pixels (a word longer than the width gets a line alone)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}" if current else word
        if current and face.getlength(trial) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    if current:
        lines.append(current)
    return lines


def ellipsize(text: str, face: ImageFont.FreeTypeFont, width: float) -> str:
    """``text`` cut at a word and ended with '...' to fit ``width`` (what apps do)."""
    if face.getlength(text) <= width:
        return text
    words = text.split()
    while len(words) > 1 and face.getlength(" ".join(words) + "...") > width:
        words.pop()
    return " ".join(words).rstrip(",.;:-") + "..."


Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Theme:
    name: str  # "light" or "dark"
    background: Colour
    surface: Colour  # cards, incoming chat bubbles, fields
    text: Colour
    muted: Colour  # secondary text: still readable (contrast at least 4.5:1 on background)
    divider: Colour
    accent: Colour
    on_accent: Colour  # text on the accent colour
    link: Colour  # text in the accent colour on the background (lighter in dark themes)


ACCENTS = (
    (0, 122, 255),
    (26, 115, 232),
    (0, 128, 96),
    (103, 58, 183),
    (214, 64, 69),
    (0, 121, 107),
)


def theme(rng: random.Random, dark: bool) -> Theme:
    accent = rng.choice(ACCENTS)
    if dark:
        bg = rng.choice(((0, 0, 0), (18, 18, 18), (28, 28, 30), (32, 33, 36)))
        return Theme(
            "dark",
            bg,
            tuple(min(255, c + 30) for c in bg),
            (236, 236, 236),
            (160, 160, 166),
            tuple(c + 48 for c in bg),
            accent,
            (255, 255, 255),
            tuple(round(c + (255 - c) * 0.45) for c in accent),
        )
    bg = rng.choice(((255, 255, 255), (250, 250, 250), (246, 246, 248)))
    return Theme(
        "light",
        bg,
        (234, 234, 238),
        (22, 22, 24),
        (96, 96, 104),
        (218, 218, 224),
        accent,
        (255, 255, 255),
        accent,
    )


@dataclass(frozen=True)
class Item:
    text: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, as drawn


@dataclass
class Sheet:
    """An image plus the text drawn on it, line by line in reading order."""

    image: Image.Image
    lines: list[list[Item]] = field(default_factory=list)

    @classmethod
    def new(cls, size: tuple[int, int], colour, mode: str = "RGB") -> Sheet:
        return cls(Image.new(mode, size, colour))

    @property
    def draw(self) -> ImageDraw.ImageDraw:
        return ImageDraw.Draw(self.image)

    def text(
        self,
        xy: tuple[float, float],
        text: str,
        face: ImageFont.FreeTypeFont,
        fill,
        anchor: str = "la",
        same_line: bool = False,
        **kwargs,
    ) -> tuple[int, int, int, int]:
        """Draw ``text`` and record it: a new truth line, or with ``same_line`` the rest of
        the previous one (to its right). Refuses text that would fall off the image, since the
        truth would then name words nobody can see."""
        text = " ".join(text.split())
        if not text:
            raise ValueError("empty text")
        stroke = kwargs.get("stroke_width", 0)
        box = tuple(
            int(v)
            for v in self.draw.textbbox(xy, text, font=face, anchor=anchor, stroke_width=stroke)
        )
        w, h = self.image.size
        if box[0] < 0 or box[1] < 0 or box[2] > w or box[3] > h:
            raise ValueError(f"{text!r} at {box} falls outside the {w}x{h} image")
        self.draw.text(xy, text, font=face, fill=fill, anchor=anchor, **kwargs)
        item = Item(text, box)
        if same_line and self.lines:
            self.lines[-1].append(item)
        else:
            self.lines.append([item])
        return box

    def truth(self) -> list[str]:
        return [" ".join(item.text for item in line) for line in self.lines]

    def items(self) -> list[Item]:
        return [item for line in self.lines for item in line]
