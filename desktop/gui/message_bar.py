"""The dismissable line at the top of the window for problems that need attention."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QStyle, QWidget

from desktop.gui.photo_list import error_color


class MessageBar(QFrame):
    """A dismissable line at the top of the window for problems that need attention."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName("Problem")
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 6, 6)
        self.icon = QLabel(self)
        self.icon.setPixmap(
            self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(20, 20)
        )
        row.addWidget(self.icon)
        self.text = QLabel(self)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.text, 1)
        self.close_button = QPushButton("Dismiss", self)
        self.close_button.setAccessibleName("Dismiss message")
        self.close_button.clicked.connect(self.hide)
        row.addWidget(self.close_button)
        self.hide()

    def show_message(self, text: str) -> None:
        color = error_color(self.palette())
        self.setStyleSheet(f"MessageBar {{ border: 2px solid {color.name()}; }}")
        self.text.setText(text)
        self.setAccessibleDescription(text)
        self.show()
