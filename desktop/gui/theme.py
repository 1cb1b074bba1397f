"""Colours: the system palette by default, a high-contrast palette on request.

Fonts are never set to fixed sizes anywhere in the app: everything is relative to the
application font, which Qt takes from the system, so the system text size is followed.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from desktop.gui.attention_view import chip_style

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
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        p.setColor(disabled, role, GREY)
    for role in (roles.Window, roles.Base, roles.Button):
        p.setColor(disabled, role, BLACK)
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
            app.setPalette(self._palette)
            qss = ""
        app.setStyleSheet(qss + chip_style(app.palette()))
