"""Screenshots for the OCR dev set: settings panes, dialogs, chats, web pages, tickets and
receipts, an inbox; on a phone (1080x2340) or a laptop (1920x1080), light or dark.

Each layout draws into a region of a ``Screen`` and stops before anything would be cut off,
so every word in the truth is whole on screen. Sizes are in density-independent pixels
(dp) times the device's scale, and the text size also follows a user's font-size setting.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from benchmarks import text_content as content
from benchmarks.text_render import (
    MONO_FAMILIES,
    UI_FAMILIES,
    WEB_FAMILIES,
    Family,
    Sheet,
    Theme,
    ellipsize,
    font,
    theme,
    wrap,
)

PHONE = (1080, 2340)
LAPTOP = (1920, 1080)
Region = tuple[int, int, int, int]


@dataclass
class Screen:
    sheet: Sheet
    rng: random.Random
    theme: Theme
    family: Family
    scale: float  # pixels per dp
    text_scale: float  # the user's font size setting (1.0 = default)
    phone: bool

    def px(self, dp: float) -> int:
        return int(round(dp * self.scale))

    def font(self, dp: float, bold: bool = False):
        return font(self.family, self.px(dp * self.text_scale), bold)

    @property
    def draw(self):
        return self.sheet.draw


def line_height(face) -> int:
    return int(face.size * 1.35)


# -- frames: what surrounds the app -----------------------------------------------------------


def status_bar(s: Screen) -> int:
    """A phone's status bar: the time left, the battery right. Returns its bottom."""
    h = s.px(32)
    face = font(s.family, s.px(14))
    t = s.theme
    s.sheet.text((s.px(20), h // 2), s.rng.choice(content.CHAT_TIMES), face, t.text, "lm")
    battery = f"{s.rng.randint(8, 100)}%"
    right = s.sheet.image.width - s.px(20)
    # The battery icon is a shape beside its percentage, the percentage text is truth.
    s.draw.rounded_rectangle(
        (right - s.px(22), h // 2 - s.px(6), right, h // 2 + s.px(6)),
        s.px(2),
        outline=t.text,
        width=max(1, s.px(1.5)),
    )
    s.sheet.text((right - s.px(28), h // 2), battery, face, t.text, "rm", same_line=True)
    return h


def phone_frame(s: Screen) -> Region:
    top = status_bar(s)
    w, h = s.sheet.image.size
    nav = s.px(24)
    s.draw.rounded_rectangle(
        (w // 2 - s.px(54), h - nav // 2 - s.px(2), w // 2 + s.px(54), h - nav // 2 + s.px(2)),
        s.px(2),
        fill=s.theme.muted,
    )
    return (0, top, w, h - nav)


def laptop_frame(s: Screen, title: str, full: bool) -> Region:
    """A desktop with a taskbar (clock and date) and one window; returns the window's
    content region."""
    w, h = s.sheet.image.size
    rng, t = s.rng, s.theme
    wallpaper = rng.choice(((40, 70, 120), (70, 90, 80), (120, 90, 130), (30, 30, 40)))
    s.draw.rectangle((0, 0, w, h), fill=wallpaper)
    bar = s.px(40)
    s.draw.rectangle((0, h - bar, w, h), fill=(32, 32, 36))
    for i in range(5):  # app icons in the taskbar: shapes
        x = s.px(16) + i * s.px(44)
        s.draw.rounded_rectangle(
            (x, h - bar + s.px(8), x + s.px(24), h - s.px(8)),
            s.px(4),
            fill=rng.choice(content_colours),
        )
    if full:
        box = (0, 0, w, h - bar)
    else:
        ww = rng.randint(int(w * 0.55), int(w * 0.8))
        wh = rng.randint(int((h - bar) * 0.7), int((h - bar) * 0.92))
        x0 = rng.randint(s.px(20), w - ww - s.px(20))
        y0 = rng.randint(s.px(10), h - bar - wh - s.px(10))
        box = (x0, y0, x0 + ww, y0 + wh)
    s.draw.rectangle(box, fill=t.background, outline=t.divider)
    title_h = s.px(32)
    s.draw.rectangle((box[0], box[1], box[2], box[1] + title_h), fill=t.surface)
    for i in range(3):  # minimise, maximise, close: shapes
        x = box[2] - s.px(24) - i * s.px(40)
        s.draw.line(
            (x - s.px(6), box[1] + title_h // 2, x + s.px(6), box[1] + title_h // 2),
            fill=t.text,
            width=max(1, s.px(1)),
        )
    s.sheet.text(
        (box[0] + s.px(12), box[1] + title_h // 2), title, font(s.family, s.px(12)), t.text, "lm"
    )
    return (box[0], box[1] + title_h, box[2], box[3])


def taskbar_clock(s: Screen) -> None:
    """The clock and date at the taskbar's right, drawn last: it is the bottom of the
    screen in reading order."""
    w, h = s.sheet.image.size
    bar = s.px(40)
    face = font(s.family, s.px(12))
    x = w - s.px(16)
    s.sheet.text(
        (x, h - bar // 2 - s.px(2)), s.rng.choice(content.CHAT_TIMES), face, (240, 240, 240), "rs"
    )
    day = f"{s.rng.randint(1, 28):02d}/{s.rng.randint(1, 12):02d}/{s.rng.randint(2024, 2026)}"
    s.sheet.text((x, h - bar // 2 + s.px(2)), day, face, (240, 240, 240), "ra")


content_colours = (
    (66, 133, 244),
    (219, 68, 55),
    (244, 180, 0),
    (15, 157, 88),
    (171, 71, 188),
    (0, 172, 193),
    (255, 112, 67),
    (120, 144, 156),
)


# -- layouts ----------------------------------------------------------------------------------


def app_bar(s: Screen, region: Region, title: str) -> int:
    """A title with a back arrow (a shape); returns the y below it."""
    x0, y0, x1, _ = region
    h = s.px(56)
    cy = y0 + h // 2
    ax = x0 + s.px(24)
    w = max(1, s.px(2))
    s.draw.line((ax, cy, ax + s.px(14), cy), fill=s.theme.text, width=w)
    s.draw.line((ax, cy, ax + s.px(7), cy - s.px(7)), fill=s.theme.text, width=w)
    s.draw.line((ax, cy, ax + s.px(7), cy + s.px(7)), fill=s.theme.text, width=w)
    face = s.font(20, bold=True)
    s.sheet.text(
        (x0 + s.px(64), cy), ellipsize(title, face, x1 - x0 - s.px(80)), face, s.theme.text, "lm"
    )
    return y0 + h


def settings(s: Screen, region: Region) -> None:
    x0, y0, x1, y1 = region
    t, rng = s.theme, s.rng
    title, rows = content.settings_page(rng, rows=12)
    y = app_bar(s, region, title)
    label_face, sub_face = s.font(16), s.font(14)
    right_values = rng.random() < 0.4  # values right-aligned on the label's row
    for label, value in rows:
        toggle = value in ("On", "Off") and rng.random() < 0.6
        two_lines = bool(value) and not toggle and not right_values
        row_h = int(
            max(
                s.px(72 if two_lines else 56), line_height(label_face) * (2.2 if two_lines else 1.4)
            )
        )
        if y + row_h > y1:
            break
        cy = y + row_h // 2
        r = s.px(11)
        s.draw.ellipse(
            (x0 + s.px(28) - r, cy - r, x0 + s.px(28) + r, cy + r), fill=rng.choice(content_colours)
        )
        tx, right = x0 + s.px(64), x1 - s.px(20)
        text_right = right
        if toggle:
            on = value == "On"
            tw, th = s.px(40), s.px(22)
            s.draw.rounded_rectangle(
                (right - tw, cy - th // 2, right, cy + th // 2),
                th // 2,
                fill=t.accent if on else t.divider,
            )
            kx = right - th // 2 if on else right - tw + th // 2
            s.draw.ellipse(
                (kx - th // 2 + 3, cy - th // 2 + 3, kx + th // 2 - 3, cy + th // 2 - 3),
                fill=(255, 255, 255),
            )
            text_right = right - tw - s.px(12)
        if two_lines:
            s.sheet.text(
                (tx, cy - s.px(2)),
                ellipsize(label, label_face, text_right - tx),
                label_face,
                t.text,
                "ls",
            )
            s.sheet.text(
                (tx, cy + s.px(4)),
                ellipsize(value, sub_face, text_right - tx),
                sub_face,
                t.muted,
                "la",
            )
        else:
            half = (text_right - tx) // 2 if (value and right_values and not toggle) else None
            s.sheet.text(
                (tx, cy),
                ellipsize(label, label_face, half or text_right - tx),
                label_face,
                t.text,
                "lm",
            )
            if half:
                s.sheet.text(
                    (text_right, cy),
                    ellipsize(value, sub_face, half - s.px(8)),
                    sub_face,
                    t.muted,
                    "rm",
                    same_line=True,
                )
        s.draw.line((tx, y + row_h - 1, x1, y + row_h - 1), fill=t.divider, width=1)
        y += row_h


def dialog(s: Screen, region: Region) -> None:
    x0, y0, x1, y1 = region
    t, rng = s.theme, s.rng
    # The app behind, as shapes only, dimmed.
    for _ in range(8):
        bx = rng.randint(x0, x1 - s.px(60))
        by = rng.randint(y0, y1 - s.px(30))
        s.draw.rectangle(
            (
                bx,
                by,
                min(x1, bx + rng.randint(s.px(60), s.px(300))),
                min(y1, by + rng.randint(s.px(10), s.px(90))),
            ),
            fill=t.surface,
        )
    dim = Image.new("RGB", s.sheet.image.size, (0, 0, 0))
    s.sheet.image.paste(Image.blend(s.sheet.image, dim, 0.45).crop(region), region[:2])
    title, message, buttons = content.dialog(rng)
    width = min(x1 - x0 - s.px(32), s.px(320 if s.phone else 460))
    pad = s.px(24)
    title_face = s.font(20 if s.phone else 16, bold=True)
    msg_face = s.font(15 if s.phone else 13)
    button_face = s.font(14, bold=s.phone)
    lines = wrap(message, msg_face, width - 2 * pad)
    check = rng.choice(content.CHECKBOXES) if rng.random() < 0.3 else None
    button_h = s.px(36)
    height = (
        pad
        + line_height(title_face)
        + s.px(12)
        + len(lines) * line_height(msg_face)
        + (s.px(40) if check else 0)
        + s.px(20)
        + button_h
        + pad
    )
    dx = x0 + (x1 - x0 - width) // 2
    dy = y0 + (y1 - y0 - height) // 2
    s.draw.rounded_rectangle(
        (dx, dy, dx + width, dy + height),
        s.px(12 if s.phone else 6),
        fill=t.background if t.name == "light" else t.surface,
    )
    y = dy + pad
    s.sheet.text((dx + pad, y), title, title_face, t.text)
    y += line_height(title_face) + s.px(12)
    for line in lines:
        s.sheet.text((dx + pad, y), line, msg_face, t.text)
        y += line_height(msg_face)
    if check:
        y += s.px(12)
        box = s.px(16)
        s.draw.rectangle((dx + pad, y, dx + pad + box, y + box), outline=t.muted, width=2)
        s.sheet.text((dx + pad + box + s.px(10), y + box // 2), check, msg_face, t.text, "lm")
        y += s.px(28)
    y += s.px(20)
    # Buttons, right-aligned: positions right to left, drawn (and read) left to right.
    gap = s.px(8)
    widths = [int(button_face.getlength(b)) + s.px(32) for b in buttons]
    x = dx + width - pad - sum(widths) - gap * (len(buttons) - 1)
    for i, (label, bw) in enumerate(zip(buttons, widths, strict=True)):
        primary = i == len(buttons) - 1
        if s.phone:
            colour = t.link
        else:
            s.draw.rounded_rectangle(
                (x, y, x + bw, y + button_h),
                s.px(4),
                fill=t.accent if primary else t.surface,
                outline=t.divider,
            )
            colour = t.on_accent if primary else t.text
        s.sheet.text(
            (x + bw // 2, y + button_h // 2), label, button_face, colour, "mm", same_line=i > 0
        )
        x += bw + gap


def chat(s: Screen, region: Region) -> None:
    x0, y0, x1, y1 = region
    t, rng = s.theme, s.rng
    # Header: avatar (a shape), the contact's name and status.
    head = s.px(64)
    r = s.px(18)
    cx = x0 + s.px(56)
    s.draw.ellipse(
        (cx - r, y0 + head // 2 - r, cx + r, y0 + head // 2 + r), fill=rng.choice(content_colours)
    )
    name_face, status_face = s.font(17, bold=True), s.font(13)
    s.sheet.text(
        (cx + r + s.px(14), y0 + head // 2 - s.px(1)), content.person(rng), name_face, t.text, "ls"
    )
    s.sheet.text(
        (cx + r + s.px(14), y0 + head // 2 + s.px(3)),
        content.filled(rng.choice(content.CHAT_STATUS), rng),
        status_face,
        t.muted,
        "la",
    )
    s.draw.line((x0, y0 + head, x1, y0 + head), fill=t.divider, width=1)
    # The message field at the bottom.
    field_h = s.px(48)
    fy = y1 - field_h - s.px(8)
    s.draw.rounded_rectangle(
        (x0 + s.px(12), fy, x1 - s.px(64), fy + field_h), field_h // 2, fill=t.surface
    )
    s.draw.ellipse(
        (x1 - s.px(56), fy + s.px(2), x1 - s.px(12), fy + field_h - s.px(2)), fill=t.accent
    )
    y = y0 + head + s.px(16)
    day_face = s.font(12)
    day = rng.choice(("Today", "Yesterday", f"{rng.choice(content.WEEKDAYS)}"))
    s.sheet.text(((x0 + x1) // 2, y), day, day_face, t.muted, "ma")
    y += line_height(day_face) + s.px(12)
    face, time_face = s.font(16), s.font(11)
    max_w = int((x1 - x0) * (0.72 if s.phone else 0.5))
    pad = s.px(12)
    for message in rng.sample(content.CHAT_MESSAGES, 16):
        mine = rng.random() < 0.5
        lines = wrap(message, face, max_w - 2 * pad)
        lh = line_height(face)
        bw = int(max(face.getlength(line) for line in lines)) + 2 * pad
        bh = len(lines) * lh + 2 * pad - (lh - face.size)
        time_h = line_height(time_face) + s.px(4)
        if y + bh + time_h > fy - s.px(8):
            break
        bx = x1 - s.px(16) - bw if mine else x0 + s.px(16)
        fill = t.accent if mine else t.surface
        s.draw.rounded_rectangle((bx, y, bx + bw, y + bh), s.px(16), fill=fill)
        for i, line in enumerate(lines):
            s.sheet.text((bx + pad, y + pad + i * lh), line, face, t.on_accent if mine else t.text)
        y += bh + s.px(4)
        anchor = "ra" if mine else "la"
        s.sheet.text(
            (bx + bw if mine else bx, y), rng.choice(content.CHAT_TIMES), time_face, t.muted, anchor
        )
        y += time_h + s.px(6)
    s.sheet.text((x0 + s.px(32), fy + field_h // 2), "Message", s.font(16), t.muted, "lm")


def web(s: Screen, region: Region) -> None:
    x0, y0, x1, y1 = region
    t, rng = s.theme, s.rng
    name, domain, sections = rng.choice(content.SITES)
    section = rng.choice(sections)
    path = "/" + section.lower().replace(" ", "-")
    small = s.font(13)
    y = y0
    if not s.phone:  # a tab strip above the address bar
        tab_h = s.px(34)
        s.draw.rectangle((x0, y, x1, y + tab_h), fill=t.surface)
        s.draw.rounded_rectangle(
            (x0 + s.px(8), y + s.px(4), x0 + s.px(248), y + tab_h), s.px(6), fill=t.background
        )
        s.sheet.text(
            (x0 + s.px(20), y + tab_h // 2 + s.px(2)),
            ellipsize(f"{section} - {name}", small, s.px(210)),
            small,
            t.text,
            "lm",
        )
        y += tab_h
    bar_h = s.px(44)
    s.draw.rounded_rectangle(
        (x0 + s.px(12), y + s.px(6), x1 - s.px(12), y + bar_h - s.px(6)), s.px(16), fill=t.surface
    )
    s.sheet.text((x0 + s.px(32), y + bar_h // 2), f"{domain}{path}", s.font(14), t.text, "lm")
    y += bar_h
    s.draw.line((x0, y, x1, y), fill=t.divider, width=1)
    margin = s.px(16) if s.phone else max(s.px(24), (x1 - x0 - s.px(760)) // 2)
    cx0, cx1 = x0 + margin, x1 - margin
    # The site's header and navigation.
    y += s.px(16)
    site_face = s.font(22 if s.phone else 28, bold=True)
    s.sheet.text((cx0, y), name, site_face, t.link)
    y += line_height(site_face) + s.px(8)
    nav_face = s.font(14)
    x = cx0
    for i, item in enumerate(sections):
        w = nav_face.getlength(item)
        if x + w > cx1:
            break
        s.sheet.text((x, y), item, nav_face, t.text, same_line=i > 0)
        x += w + s.px(22)
    y += line_height(nav_face) + s.px(10)
    s.draw.line((x0, y, x1, y), fill=t.divider, width=1)
    y += s.px(20)
    head_face = s.font(26 if s.phone else 34, bold=True)
    for line in wrap(content.headline(rng), head_face, cx1 - cx0):
        if y + line_height(head_face) > y1:
            return
        s.sheet.text((cx0, y), line, head_face, t.text)
        y += line_height(head_face)
    y += s.px(8)
    by_face = s.font(13)
    s.sheet.text((cx0, y), f"By {content.person(rng)} | {content.date(rng)}", by_face, t.muted)
    y += line_height(by_face) + s.px(16)
    if rng.random() < 0.5:  # a photo: a shaded block, no text
        ph = int((cx1 - cx0) * rng.uniform(0.3, 0.5))
        if y + ph < y1 - s.px(80):
            colour = rng.choice(content_colours)
            s.draw.rectangle((cx0, y, cx1, y + ph), fill=tuple(c // 2 + 60 for c in colour))
            y += ph + s.px(16)
    body = s.font(16 if s.phone else 17)
    deck = content.Deck(rng, content.ARTICLE_SENTENCES)
    lh = int(body.size * 1.55)
    while True:
        if rng.random() < 0.2:
            sub = s.font(20, bold=True)
            heading = rng.choice(content.DOC_HEADINGS)
            if y + line_height(sub) > y1:
                return
            s.sheet.text((cx0, y), heading, sub, t.text)
            y += line_height(sub) + s.px(6)
        for line in wrap(deck.paragraph((2, 4)), body, cx1 - cx0):
            if y + lh > y1:
                return
            s.sheet.text((cx0, y), line, body, t.text)
            y += lh
        y += s.px(14)


def _qr(s: Screen, x: int, y: int, size: int) -> None:
    """A QR-like code: a grid of squares (text readers must not read it as letters)."""
    cells = 25
    cell = max(1, size // cells)
    s.draw.rectangle((x, y, x + cell * cells, y + cell * cells), fill=(255, 255, 255))
    for i in range(cells):
        for j in range(cells):
            corner = (i < 7 or i >= cells - 7) and j < 7 or (i < 7 and j >= cells - 7)
            on = (
                (
                    i in (0, 6, cells - 7, cells - 1)
                    or j in (0, 6, cells - 7, cells - 1)
                    or 2 <= i % (cells - 7) <= 4
                )
                if corner
                else s.rng.random() < 0.5
            )
            if on:
                s.draw.rectangle(
                    (x + i * cell, y + j * cell, x + (i + 1) * cell - 1, y + (j + 1) * cell - 1),
                    fill=(0, 0, 0),
                )


def _fields(
    s: Screen, x0: int, x1: int, y: int, pairs: list[tuple[str, str]], big: bool = False
) -> int:
    """Labels in a row, then their values in a row below (each row one truth line)."""
    label_face, value_face = s.font(12), s.font(18 if big else 15, bold=True)
    col = (x1 - x0) // len(pairs)
    for row, (face, colour) in enumerate(((label_face, s.theme.muted), (value_face, s.theme.text))):
        for i, pair in enumerate(pairs):
            text = ellipsize(pair[row], face, col - s.px(8))
            s.sheet.text((x0 + i * col, y), text, face, colour, same_line=i > 0)
        y += line_height(face) + (s.px(2) if row == 0 else s.px(14))
    return y


def ticket(s: Screen, region: Region) -> None:
    if s.rng.random() < 0.45:
        receipt(s, region)
        return
    x0, y0, x1, y1 = region
    t, rng = s.theme, s.rng
    y = app_bar(s, region, rng.choice(("Wallet", "My tickets", "Tickets", "Bookings")))
    width = min(x1 - x0 - s.px(32), s.px(420))
    cx0 = x0 + (x1 - x0 - width) // 2
    cx1 = cx0 + width
    pad = s.px(16)
    kind = rng.choice(("flight", "train", "event"))
    header_h = s.px(56)
    card_top = y + s.px(8)
    s.draw.rounded_rectangle((cx0, card_top, cx1, y1 - s.px(16)), s.px(14), fill=t.surface)
    s.draw.rounded_rectangle((cx0, card_top, cx1, card_top + header_h), s.px(14), fill=t.accent)
    head_face = s.font(16, bold=True)
    small = s.font(13)
    if kind == "flight":
        operator, label = rng.choice(content.AIRLINES), "Boarding pass"
    elif kind == "train":
        operator = rng.choice(("CrossCountry Trains", "Great Western", "City Rail"))
        label = rng.choice(("Off-peak return", "Anytime single", "Advance single"))
    else:
        operator, label = rng.choice(content.EVENTS), "E-ticket"
    cy = card_top + header_h // 2
    s.sheet.text(
        (cx0 + pad, cy), ellipsize(operator, head_face, width * 0.6), head_face, t.on_accent, "lm"
    )
    s.sheet.text((cx1 - pad, cy), label, small, t.on_accent, "rm", same_line=True)
    y = card_top + header_h + s.px(16)
    ix0, ix1 = cx0 + pad, cx1 - pad
    if kind == "flight":
        (city_a, code_a), (city_b, code_b) = rng.sample(content.AIRPORTS, 2)
        big = s.font(34, bold=True)
        s.sheet.text((ix0, y), code_a, big, t.text)
        s.sheet.text((ix1, y), code_b, big, t.text, "ra", same_line=True)
        my = y + big.size // 2
        s.draw.line(
            (
                ix0 + big.getlength(code_a) + s.px(16),
                my,
                ix1 - big.getlength(code_b) - s.px(16),
                my,
            ),
            fill=t.muted,
            width=2,
        )
        y += line_height(big)
        s.sheet.text((ix0, y), city_a, small, t.muted)
        s.sheet.text((ix1, y), city_b, small, t.muted, "ra", same_line=True)
        y += line_height(small) + s.px(16)
        flight = f"{rng.choice(('SB', 'NW', 'EJ', 'AA'))} {rng.randint(100, 9999)}"
        day = f"{rng.randint(1, 28)} {rng.choice(content.MONTHS)[:3]}"
        rows = [
            ([("Passenger", content.person(rng).upper())], False),
            ([("Flight", flight), ("Date", day), ("Boarding", rng.choice(content.CHAT_TIMES))],
             False),
            ([("Gate", f"{rng.choice('ABCD')}{rng.randint(1, 40)}"),
              ("Seat", f"{rng.randint(1, 32)}{rng.choice('ABCDEF')}"),
              ("Group", str(rng.randint(1, 5)))], True),
        ]  # fmt: skip
    elif kind == "train":
        a, b = rng.sample(content.STATIONS, 2)
        rows = [
            ([("From", a)], True),
            ([("To", b)], True),
            ([("Valid on", content.date(rng)), ("Departs", rng.choice(content.CHAT_TIMES))],
             False),
            ([("Coach", rng.choice("ABCDEFGH")), ("Seat", str(rng.randint(1, 80))),
              ("Price", content.money(rng.randint(900, 9900) / 100))], False),
        ]  # fmt: skip
    else:
        rows = [
            ([("Venue", f"{rng.choice(content.CITIES)} Arena")], True),
            ([("Date", content.date(rng)), ("Doors open", rng.choice(("18:30", "19:00")))],
             False),
            ([("Row", rng.choice("ABCDEFGHJK")), ("Seat", str(rng.randint(1, 40))),
              ("Price", content.money(rng.randint(1500, 6500) / 100))], False),
        ]  # fmt: skip
    for pairs, big in rows:
        y = _fields(s, ix0, ix1, y, pairs, big)
    size = min(width - 2 * pad, s.px(180))
    if y + size + s.px(16) < y1 - s.px(24):
        _qr(s, cx0 + (width - size) // 2, y + s.px(8), size)


def receipt(s: Screen, region: Region) -> None:
    x0, y0, x1, y1 = region
    t, rng = s.theme, s.rng
    mono = rng.choice(MONO_FAMILIES)
    width = min(x1 - x0 - s.px(40), s.px(360))
    rx0 = x0 + (x1 - x0 - width) // 2
    rx1 = rx0 + width
    paper = (252, 252, 250) if t.name == "light" or rng.random() < 0.5 else t.surface
    ink = (20, 20, 20) if paper[0] > 128 else t.text
    top = y0 + s.px(24)
    s.draw.rectangle((rx0, top, rx1, y1 - s.px(24)), fill=paper)
    pad = s.px(16)
    face = font(mono, s.px(13 * s.text_scale))
    bold = font(mono, s.px(15 * s.text_scale), True)
    lh = line_height(face)
    mid = (rx0 + rx1) // 2
    y = top + s.px(20)
    s.sheet.text((mid, y), rng.choice(content.SHOPS), bold, ink, "ma")
    y += line_height(bold)
    s.sheet.text((mid, y), f"{rng.randint(1, 99)} {rng.choice(content.STREETS)}", face, ink, "ma")
    y += lh
    s.sheet.text((mid, y), rng.choice(content.CITIES), face, ink, "ma")
    y += lh
    stamp = (
        f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(2024, 2026)} "
        f"{rng.choice(content.CHAT_TIMES)}"
    )
    s.sheet.text((mid, y), stamp, face, ink, "ma")
    y += lh + s.px(8)

    def rule(y: int) -> int:
        for x in range(rx0 + pad, rx1 - pad, s.px(8)):  # a dashed rule: shapes
            s.draw.line((x, y, x + s.px(4), y), fill=ink, width=1)
        return y + s.px(10)

    y = rule(y)
    total = 0.0
    items = rng.sample(content.SHOP_ITEMS, rng.randint(3, 9))
    footer_h = 5 * lh + s.px(40)
    for name, price in items:
        qty = rng.choice((1, 1, 1, 2, 3))
        if y + lh * (2 if qty > 1 else 1) > y1 - s.px(24) - footer_h:
            break
        total += qty * price
        s.sheet.text((rx0 + pad, y), ellipsize(name, face, width * 0.62), face, ink)
        s.sheet.text((rx1 - pad, y), content.money(qty * price), face, ink, "ra", same_line=True)
        y += lh
        if qty > 1:
            s.sheet.text((rx0 + pad + s.px(16), y), f"{qty} x {content.money(price)}", face, ink)
            y += lh
    y = rule(y + s.px(4))
    s.sheet.text((rx0 + pad, y), "TOTAL", bold, ink)
    s.sheet.text((rx1 - pad, y), content.money(total), bold, ink, "ra", same_line=True)
    y += line_height(bold)
    s.sheet.text((rx0 + pad, y), rng.choice(("Card", "Contactless", "Cash")), face, ink)
    s.sheet.text((rx1 - pad, y), content.money(total), face, ink, "ra", same_line=True)
    y += lh + s.px(12)
    thanks = rng.choice(
        ("Thank you for shopping with us!", "Thank you, see you soon", "Please keep your receipt")
    )
    for line in wrap(thanks, face, width - 2 * pad):
        s.sheet.text((mid, y), line, face, ink, "ma")
        y += lh


SUBJECTS = (
    "Your order has been dispatched",
    "Invoice {ref}",
    "Meeting notes from {weekday}",
    "Photos from the weekend",
    "Reminder: dentist appointment",
    "Your weekly summary",
    "Re: Holiday plans",
    "Delivery update",
    "Tickets for Saturday",
    "Welcome to {city} Library",
    "Your bill is ready",
    "Password changed",
    "Re: Dinner on {weekday}?",
    "New message from the school office",
)


def inbox(s: Screen, region: Region) -> None:
    x0, y0, x1, y1 = region
    t, rng = s.theme, s.rng
    y = y0 + s.px(12)
    field_h = s.px(48)
    s.draw.rounded_rectangle(
        (x0 + s.px(16), y, x1 - s.px(16), y + field_h), field_h // 2, fill=t.surface
    )
    s.sheet.text((x0 + s.px(40), y + field_h // 2), "Search in mail", s.font(16), t.muted, "lm")
    y += field_h + s.px(16)
    s.sheet.text((x0 + s.px(16), y), "Inbox", s.font(13, bold=True), t.muted)
    y += line_height(s.font(13)) + s.px(8)
    name_face, subject_face, preview_face = s.font(16, bold=True), s.font(14), s.font(14)
    row_h = line_height(name_face) + 2 * line_height(subject_face) + s.px(20)
    tx, right = x0 + s.px(72), x1 - s.px(16)
    for _ in range(14):
        if y + row_h > y1:
            break
        r = s.px(20)
        s.draw.ellipse(
            (x0 + s.px(36) - r, y + s.px(6), x0 + s.px(36) + r, y + s.px(6) + 2 * r),
            fill=rng.choice(content_colours),
        )
        when = rng.choice(content.CHAT_TIMES + ("Yesterday", "Mon", "12 Mar", "3 Feb"))
        when_w = int(subject_face.getlength(when)) + s.px(12)
        s.sheet.text(
            (tx, y),
            ellipsize(content.person(rng), name_face, right - tx - when_w),
            name_face,
            t.text,
        )
        s.sheet.text((right, y), when, subject_face, t.muted, "ra", same_line=True)
        y += line_height(name_face)
        s.sheet.text(
            (tx, y),
            ellipsize(content.filled(rng.choice(SUBJECTS), rng), subject_face, right - tx),
            subject_face,
            t.text,
        )
        y += line_height(subject_face)
        preview = rng.choice(content.CHAT_MESSAGES + content.ARTICLE_SENTENCES)
        s.sheet.text((tx, y), ellipsize(preview, preview_face, right - tx), preview_face, t.muted)
        y += line_height(subject_face) + s.px(20)


LAYOUTS: dict[str, Callable[[Screen, Region], None]] = {
    "settings": settings,
    "dialog": dialog,
    "chat": chat,
    "web": web,
    "ticket": ticket,
    "inbox": inbox,
}
WINDOW_TITLES = {
    "settings": "Settings",
    "dialog": "Documents",
    "chat": "Messages",
    "web": "Browser",
    "ticket": "Wallet",
    "inbox": "Mail",
}


def screenshot(rng: random.Random, layout: str, phone: bool, dark: bool) -> tuple[Sheet, dict]:
    """One screenshot: the sheet (image + truth lines) and what it is made of."""
    families = WEB_FAMILIES if layout == "web" else UI_FAMILIES
    family = rng.choice(families)
    th = theme(rng, dark)
    size = PHONE if phone else LAPTOP
    if phone:
        scale = rng.choice((2.625, 2.75, 3.0))
        text_scale = rng.choice((0.9, 1.0, 1.0, 1.15, 1.3))
    else:
        scale = rng.choice((1.0, 1.25, 1.5))
        text_scale = rng.choice((0.85, 0.95, 1.0))
    sheet = Sheet.new(size, th.background)
    s = Screen(sheet, rng, th, family, scale, text_scale, phone)
    if phone:
        region = phone_frame(s)
    else:
        region = laptop_frame(s, WINDOW_TITLES[layout], full=layout == "web")
    LAYOUTS[layout](s, region)
    if not phone:
        taskbar_clock(s)
    meta = {
        "layout": layout,
        "device": "phone" if phone else "laptop",
        "theme": th.name,
        "font": family.name,
        "scale": scale,
        "text_scale": text_scale,
    }
    return sheet, meta
