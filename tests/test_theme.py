"""Contrast of both themes by the WCAG 2.1 formula, from the colours the app draws with: text
4.5:1 against its background (selection, checked word buttons and disabled text included),
focus outlines and control borders 3:1 against their surroundings (issue 10)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

try:
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QApplication, QPlainTextEdit, QVBoxLayout, QWidget
except ImportError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"PySide6 cannot be loaded here: {exc}", allow_module_level=True)

from desktop.gui.photo_list import error_color
from desktop.gui.theme import (
    NON_TEXT_RATIO,
    TEXT_RATIO,
    Theme,
    ThemeColours,
    contrast,
    with_contrast,
)

Role = QPalette.ColorRole
Group = QPalette.ColorGroup
TEXT_PAIRS = [
    (Role.WindowText, Role.Window),
    (Role.Text, Role.Base),
    (Role.Text, Role.AlternateBase),  # every other row of the photo list
    (Role.ButtonText, Role.Button),
    (Role.HighlightedText, Role.Highlight),  # the selected photo, the checked word button
    (Role.PlaceholderText, Role.Base),
    (Role.ToolTipText, Role.ToolTipBase),
]


@pytest.fixture(scope="module")
def theme() -> Theme:
    app = QApplication.instance() or QApplication([])
    theme = Theme(app)  # remembers the platform palette (Fusion's stock one here)
    yield theme
    theme.apply(False)


def test_wcag_formula() -> None:
    assert contrast(QColor("#000000"), QColor("#ffffff")) == pytest.approx(21.0)
    assert contrast(QColor("#777777"), QColor("#777777")) == pytest.approx(1.0)
    # The measurement of Fusion's selection: white on #308cc6.
    assert contrast(QColor("#ffffff"), QColor("#308cc6")) == pytest.approx(3.69, abs=0.01)
    mended = with_contrast(QColor("#308cc6"), QColor("#ffffff"), ratio=4.5)
    assert contrast(mended, QColor("#ffffff")) >= 4.5
    assert mended.hue() == pytest.approx(QColor("#308cc6").hue(), abs=3)  # still blue


@pytest.mark.parametrize("high_contrast", [False, True], ids=["default", "high-contrast"])
def test_theme_contrast(theme: Theme, high_contrast: bool) -> None:
    theme.apply(high_contrast)
    app = QApplication.instance()
    palette = app.palette()
    failures = []
    for group in (Group.Active, Group.Inactive, Group.Disabled):
        for fg, bg in TEXT_PAIRS:
            ratio = contrast(palette.color(group, fg), palette.color(group, bg))
            if ratio < TEXT_RATIO:
                failures.append(f"{group.name} {fg.name} on {bg.name}: {ratio:.2f}")
        # The selected row stands out from the list around it.
        ratio = contrast(palette.color(group, Role.Highlight), palette.color(group, Role.Base))
        if group != Group.Disabled and ratio < NON_TEXT_RATIO:
            failures.append(f"{group.name} Highlight on Base: {ratio:.2f}")
    colours = ThemeColours.of(palette)
    c = QColor
    for name, fg, bg, minimum in [
        ("focus outline on the window", colours.focus, colours.window, NON_TEXT_RATIO),
        ("focus outline on a field", colours.focus, colours.base, NON_TEXT_RATIO),
        ("focus outline on a button", colours.focus, colours.button, NON_TEXT_RATIO),
        ("field and word-button border", colours.border, colours.window, NON_TEXT_RATIO),
        ("word button text", colours.text, colours.button, TEXT_RATIO),
        ("checked word button text", colours.highlighted_text, colours.highlight, TEXT_RATIO),
        # The list draws the focused selected row's outline in the selection's text colour.
        ("outline on the selected row", colours.highlighted_text, colours.highlight,
         NON_TEXT_RATIO),
        ("error text", error_color(palette).name(), colours.base, TEXT_RATIO),
    ]:
        ratio = contrast(c(fg), c(bg))
        if ratio < minimum:
            failures.append(f"{name}: {fg} on {bg} = {ratio:.2f} < {minimum}")
    # The style sheet on screen is drawn with these colours.
    sheet = app.styleSheet()
    for colour in (colours.focus, colours.border, colours.highlight):
        assert colour in sheet
    assert failures == [], "\n".join(failures)


def test_focus_frame_is_visible_on_the_caption_field(theme: Theme) -> None:
    """Pixels, not just palette entries: the focused field's frame against the window."""
    theme.apply(False)
    window = QWidget()
    layout = QVBoxLayout(window)
    field, other = QPlainTextEdit(window), QPlainTextEdit(window)
    layout.addWidget(field)
    layout.addWidget(other)
    window.resize(300, 200)
    window.show()
    window.activateWindow()
    field.setFocus()
    QApplication.processEvents()
    assert field.hasFocus()
    focused = field.grab().toImage()
    other_image = other.grab().toImage()
    y = focused.height() // 2
    edge = focused.pixelColor(1, y)
    background = window.palette().color(Role.Window)
    assert contrast(edge, background) >= NON_TEXT_RATIO
    # Unfocused, the frame is still a visible boundary, and not the focus colour.
    assert contrast(other_image.pixelColor(0, y), background) >= NON_TEXT_RATIO
    assert other_image.pixelColor(1, y) != edge
    window.close()
