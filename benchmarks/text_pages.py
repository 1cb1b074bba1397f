"""Pages of text for the OCR dev set: a letter, a menu, a document page, set on A4 at a
scanner's resolution, then either scanned (a slight skew, paper tone, noise) or photographed
with a phone (perspective, uneven light, blur, JPEG) by benchmarks/text_photos.py.
"""

from __future__ import annotations

import random

from benchmarks import text_content as content
from benchmarks.text_render import PAGE_FAMILIES, Sheet, font, wrap

A4_INCHES = (8.27, 11.69)
INK = (24, 24, 28)
GREY = (90, 90, 96)


class Page:
    """An A4 sheet at ``dpi``; sizes in points (1/72 inch) like a word processor's."""

    def __init__(self, rng: random.Random, dpi: int):
        self.rng = rng
        self.dpi = dpi
        size = (round(A4_INCHES[0] * dpi), round(A4_INCHES[1] * dpi))
        self.sheet = Sheet.new(size, (255, 255, 255))
        self.family = rng.choice(PAGE_FAMILIES)
        margin = self.pt(rng.choice((54, 64, 72)))
        self.left, self.right = margin, size[0] - margin
        self.top, self.bottom = margin, size[1] - margin
        self.y = self.top

    def pt(self, points: float) -> int:
        return round(points * self.dpi / 72)

    def font(self, points: float, bold: bool = False, family=None):
        return font(family or self.family, self.pt(points), bold)

    def room(self, face, lines: int = 1) -> bool:
        return self.y + lines * int(face.size * 1.3) <= self.bottom

    def line(self, text: str, face, colour=INK, align: str = "left", leading: float = 1.3) -> bool:
        """One line at the cursor, if it fits; the cursor moves down a line."""
        if not self.room(face):
            return False
        x, anchor = {
            "left": (self.left, "la"),
            "right": (self.right, "ra"),
            "centre": ((self.left + self.right) // 2, "ma"),
        }[align]
        self.sheet.text((x, self.y), text, face, colour, anchor)
        self.y += int(face.size * leading)
        return True

    def paragraph(self, text: str, face, leading: float = 1.3, after: float = 0.6) -> bool:
        """Wrapped to the margins; stops at the bottom margin (whole lines only)."""
        for text_line in wrap(text, face, self.right - self.left):
            if not self.line(text_line, face, leading=leading):
                return False
        self.y += int(face.size * after)
        return True

    def space(self, points: float) -> None:
        self.y += self.pt(points)


def letter(rng: random.Random, dpi: int) -> Page:
    p = Page(rng, dpi)
    body = p.font(rng.choice((10.5, 11, 12)))
    org = rng.choice(content.ORGANISATIONS)
    p.line(org, p.font(16, bold=True), colour=rng.choice((INK, (20, 60, 120), (0, 90, 70))))
    p.line(
        f"{rng.randint(1, 200)} {rng.choice(content.STREETS)}, {rng.choice(content.CITIES)}",
        p.font(9),
        GREY,
    )
    p.line(f"Telephone 0{rng.randint(1000, 9999)} {rng.randint(100000, 999999)}", p.font(9), GREY)
    p.space(30)
    name = content.person(rng)
    title = rng.choice(("Ms", "Mr", "Mrs", "Dr", "Mx"))
    for text in (
        f"{title} {name}",
        f"{rng.randint(1, 120)} {rng.choice(content.STREETS)}",
        rng.choice(content.CITIES),
    ):
        p.line(text, body)
    p.space(18)
    p.line(content.date(rng), body, align="right")
    p.space(12)
    p.line(f"Our reference: {content.filled('{ref}', rng)}", body)
    p.space(12)
    p.line(f"Dear {title} {name.split()[1]},", body)
    p.space(6)
    p.paragraph(content.filled(rng.choice(content.LETTER_OPENINGS), rng), body)
    deck = content.Deck(rng, content.LETTER_SENTENCES)
    for _ in range(rng.randint(2, 3)):
        p.paragraph(deck.paragraph((2, 3)), body)
    p.space(6)
    p.line(rng.choice(content.LETTER_CLOSINGS), body)
    p.space(30)
    p.line(content.person(rng), body)
    p.line(
        rng.choice(
            ("Customer Services", "Practice Manager", "Housing Officer", "Head of Operations")
        ),
        body,
    )
    return p


def menu(rng: random.Random, dpi: int) -> Page:
    p = Page(rng, dpi)
    display = rng.choice(PAGE_FAMILIES)
    p.line(rng.choice(content.RESTAURANTS), p.font(30, bold=True, family=display), align="centre")
    p.line(
        rng.choice(
            ("Seasonal food, served all day", "Lunch and dinner menu", "Fresh, local and homemade")
        ),
        p.font(12),
        GREY,
        align="centre",
    )
    p.space(14)
    item_face, desc_face = p.font(12, bold=True), p.font(10)
    section_face = p.font(16, bold=True, family=display)
    sections = list(content.MENU_SECTIONS)
    for section in sections:
        if not p.room(section_face, 3):
            break
        p.space(8)
        p.line(section.upper() if rng.random() < 0.5 else section, section_face, align="centre")
        p.space(4)
        for name, description in rng.sample(
            content.MENU_SECTIONS[section], min(4, len(content.MENU_SECTIONS[section]))
        ):
            if not p.room(item_face, 2):
                break
            price = f"{rng.randint(4, 24)}.{rng.choice(('00', '50', '95'))}"
            y = p.y
            p.sheet.text((p.left, y), name, item_face, INK)
            p.sheet.text((p.right, y), price, item_face, INK, "ra", same_line=True)
            p.y += int(item_face.size * 1.25)
            if description:
                p.line(description, desc_face, GREY)
            p.space(4)
    p.space(10)
    for note in (
        "Please tell us about any allergies before ordering.",
        "A discretionary 10% service charge is added to tables of six or more.",
    ):
        p.paragraph(note, p.font(9), after=0.2)
    return p


def document(rng: random.Random, dpi: int) -> Page:
    p = Page(rng, dpi)
    body = p.font(rng.choice((10, 11, 12)))
    title = content.doc_title(rng)
    p.line(title, p.font(9), GREY, align="right")
    p.space(16)
    p.paragraph(title, p.font(20, bold=True), leading=1.2, after=0.4)
    p.line(f"Updated {content.date(rng)}", p.font(10), GREY)
    p.space(10)
    page_no = rng.randint(1, 6)
    footer = p.font(9)
    p.bottom -= int(footer.size * 2.5)  # keep the footer's room
    number = 1
    deck = content.Deck(rng, content.DOC_SENTENCES)
    for heading in rng.sample(content.DOC_HEADINGS, 6):
        if not p.room(body, 4):
            break
        p.space(6)
        p.line(f"{number}. {heading}", p.font(13, bold=True))
        number += 1
        for _ in range(rng.randint(1, 2)):
            if not p.paragraph(deck.paragraph((2, 5)), body):
                break
    p.y = p.bottom + int(footer.size * 1.2)
    p.bottom += int(footer.size * 2.5)
    p.line(f"Page {page_no} of {page_no + rng.randint(0, 4)}", footer, GREY, align="centre")
    return p


LAYOUTS = {"letter": letter, "menu": menu, "document": document}
