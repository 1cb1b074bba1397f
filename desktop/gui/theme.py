"""Colours: the system palette by default, a high-contrast palette on request.

The default theme starts from the system palette and mends the colours that fall short of
WCAG 2.1 (``accessible_palette``): text 4.5:1 against its background (selected rows, checked
word buttons and disabled text included), focus outlines and control borders 3:1 against
what surrounds them. Fusion's stock selection, white on #308cc6, is only 3.7:1, and its
disabled text 1.7:1. ``ThemeColours`` are the colours the style sheets draw with, so the
test of the ratios (tests/test_theme.py) checks what is on screen.

Fonts are never set to fixed sizes anywhere in the app: everything is relative to the
application font, which Qt takes from the system, so the system text size is followed.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

BLACK = QColor("#000000")
WHITE = QColor("#ffffff")
YELLOW = QColor("#ffff00")
CYAN = QColor("#00ffff")
GREY = QColor("#a0a0a0")


def high_contrast_palette() -> QPalette:
    """White on black, yellow selection (the Windows "High Contrast Black" scheme)."""
    p = QPalette()
    roles = QPalette.ColorRole
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        for role, color in {
            roles.Window: BLACK,
            roles.WindowText: WHITE,
            roles.Base: BLACK,
            roles.AlternateBase: QColor("#141414"),
            roles.Text: WHITE,
            roles.Button: BLACK,
            roles.ButtonText: WHITE,
            roles.BrightText: YELLOW,
            roles.Highlight: YELLOW,
            roles.HighlightedText: BLACK,
            roles.Link: CYAN,
            roles.LinkVisited: CYAN,
            roles.ToolTipBase: BLACK,
            roles.ToolTipText: WHITE,
            roles.PlaceholderText: QColor("#d0d0d0"),
            roles.Light: WHITE,
            roles.Midlight: GREY,
            roles.Mid: GREY,
            roles.Dark: GREY,
            roles.Shadow: WHITE,
        }.items():
            p.setColor(group, role, color)
    disabled = QPalette.ColorGroup.Disabled
    for role in (roles.WindowText, roles.Text, roles.ButtonText, roles.ToolTipText):
        p.setColor(disabled, role, GREY)
    for role in (roles.Window, roles.Base, roles.Button):
        p.setColor(disabled, role, BLACK)
    p.setColor(disabled, roles.AlternateBase, QColor("#141414"))
    p.setColor(disabled, roles.ToolTipBase, BLACK)
    p.setColor(disabled, roles.PlaceholderText, GREY)
    p.setColor(disabled, roles.Highlight, GREY)
    p.setColor(disabled, roles.HighlightedText, BLACK)
    return p


HIGH_CONTRAST_QSS = """
QPushButton, QToolButton, QComboBox, QLineEdit, QSpinBox, QPlainTextEdit, QListView {
    border: 1px solid #ffffff;
}
QPushButton, QToolButton { padding: 4px 10px; background: #000000; color: #ffffff; }
QPushButton:disabled, QToolButton:disabled { border-color: #a0a0a0; color: #a0a0a0; }
QPushButton:hover, QToolButton:hover { border-color: #ffff00; }
QPushButton:focus, QToolButton:focus, QComboBox:focus, QLineEdit:focus, QSpinBox:focus,
QPlainTextEdit:focus, QListView:focus, QCheckBox:focus, QSlider:focus {
    border: 3px solid #ffff00;
}
QCheckBox::indicator { width: 14px; height: 14px; border: 2px solid #ffffff; background: #000000; }
QCheckBox::indicator:checked { background: #ffff00; }
QCheckBox::indicator:disabled { border-color: #a0a0a0; }
QProgressBar { border: 1px solid #ffffff; text-align: center; }
QProgressBar::chunk { background: #ffff00; }
"""


TEXT_RATIO = 4.5  # WCAG 1.4.3, normal-size text
NON_TEXT_RATIO = 3.0  # WCAG 1.4.11, focus outlines and control borders

Role = QPalette.ColorRole
Group = QPalette.ColorGroup


def luminance(color: QColor) -> float:
    """WCAG relative luminance of an opaque colour."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * channel(color.red())
        + 0.7152 * channel(color.green())
        + 0.0722 * channel(color.blue())
    )


def contrast(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio, 1 (none) to 21 (black on white)."""
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def with_contrast(color: QColor, *against: QColor, ratio: float) -> QColor:
    """``color``, darkened or lightened (same hue) until it reaches ``ratio`` against each
    of ``against``; unchanged if it already does."""
    if all(contrast(color, other) >= ratio for other in against):
        return QColor(color)
    darker = sum(luminance(c) for c in against) / len(against) > 0.18
    hue, sat, light = color.hslHueF(), color.hslSaturationF(), color.lightnessF()
    hue = max(hue, 0.0)  # -1 for greys
    steps = 100
    for i in range(1, steps + 1):
        step = light * (1 - i / steps) if darker else light + (1 - light) * i / steps
        candidate = QColor.fromHslF(hue, sat, step)
        if all(contrast(candidate, other) >= ratio for other in against):
            return candidate
    return QColor("#000000") if darker else QColor("#ffffff")


def accessible_palette(system: QPalette) -> QPalette:
    """The system palette with every text colour at 4.5:1 against its background and the
    selection at 3:1 against the list it sits in."""
    p = QPalette(system)
    pairs = (
        (Role.WindowText, Role.Window),
        (Role.Text, Role.Base),
        (Role.ButtonText, Role.Button),
        (Role.PlaceholderText, Role.Base),
        (Role.ToolTipText, Role.ToolTipBase),
    )
    for group in (Group.Active, Group.Inactive, Group.Disabled):
        for fg, bg in pairs:
            p.setColor(
                group, fg, with_contrast(p.color(group, fg), p.color(group, bg), ratio=TEXT_RATIO)
            )
        # The selection is the background here: change it, not the text on it.
        base, text = p.color(group, Role.Base), p.color(group, Role.HighlightedText)
        hi = with_contrast(p.color(group, Role.Highlight), text, ratio=TEXT_RATIO)
        hi = with_contrast(hi, base, ratio=NON_TEXT_RATIO)
        if contrast(hi, text) < TEXT_RATIO:  # both cannot be met by lightness: plain text
            text = with_contrast(text, hi, ratio=TEXT_RATIO)
            p.setColor(group, Role.HighlightedText, text)
        p.setColor(group, Role.Highlight, hi)
    return p


@dataclass(frozen=True)
class ThemeColours:
    """What the style sheets draw with (``#rrggbb``)."""

    focus: str  # focus outline: 3:1 against the window, the field and the selection
    border: str  # control borders (fields, word buttons): 3:1 against the window
    text: str
    window: str
    base: str
    button: str
    highlight: str
    highlighted_text: str

    @classmethod
    def of(cls, palette: QPalette) -> ThemeColours:
        def c(role: QPalette.ColorRole) -> QColor:
            return palette.color(Group.Active, role)

        surroundings = (c(Role.Window), c(Role.Base), c(Role.Button))
        focus = with_contrast(c(Role.Highlight), *surroundings, ratio=NON_TEXT_RATIO)
        border = with_contrast(c(Role.Mid), *surroundings, ratio=NON_TEXT_RATIO)
        return cls(
            focus=focus.name(),
            border=border.name(),
            text=c(Role.WindowText).name(),
            window=c(Role.Window).name(),
            base=c(Role.Base).name(),
            button=c(Role.Button).name(),
            highlight=c(Role.Highlight).name(),
            highlighted_text=c(Role.HighlightedText).name(),
        )


def focus_qss(colours: ThemeColours) -> str:
    """A visible frame on the fields and the list, thick when focused (Fusion's own focus
    frame on them is a 1 px line in the selection colour)."""
    return f"""
        QListView, QPlainTextEdit, QLineEdit {{ border: 2px solid {colours.border}; }}
        QListView:focus, QPlainTextEdit:focus, QLineEdit:focus {{
            border: 3px solid {colours.focus};
        }}
    """


def chip_style(colours: ThemeColours) -> str:
    """Rounded word buttons; the current one in the highlight colour, focus a thick outline."""
    return f"""
        QPushButton#wordChip {{
            border: 1px solid {colours.border}; border-radius: 11px; padding: 3px 11px;
            background: {colours.button}; color: {colours.text};
        }}
        QPushButton#wordChip:hover {{ border-color: {colours.focus}; }}
        QPushButton#wordChip[current="true"] {{
            background: {colours.highlight}; color: {colours.highlighted_text};
            border-color: {colours.highlight};
        }}
        QPushButton#wordChip:focus {{
            border: 3px solid {colours.focus}; padding: 1px 9px;
        }}
        QPushButton#wordChip[current="true"]:focus {{ border-color: {colours.text}; }}
    """


class Theme:
    """Remembers the platform look so high contrast can be switched off again."""

    def __init__(self, app: QApplication) -> None:
        self._app = app
        self._style = app.style().name()
        self._palette = QPalette(app.palette())
        self.high_contrast = False

    def apply(self, high_contrast: bool) -> None:
        app = self._app
        self.high_contrast = high_contrast
        if high_contrast:
            # Fusion draws with the palette everywhere; native styles may ignore it.
            app.setStyle("Fusion")
            app.setPalette(high_contrast_palette())
            qss = HIGH_CONTRAST_QSS
        else:
            app.setStyle(self._style)
            app.setPalette(accessible_palette(self._palette))
            qss = focus_qss(ThemeColours.of(app.palette()))
        self.colours = ThemeColours.of(app.palette())
        app.setStyleSheet(qss + chip_style(self.colours))
