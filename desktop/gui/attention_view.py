"""The large photo with a word's attention heat map over it, and the strip of word buttons.

Keyboard: with the photo or a word button focused, Left/Right step through the words, Home
shows the plain photo, End the last word. Each step updates the accessible description
("'dog': the model looked mostly at the bottom left"), so the map is not only visual.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QImage,
    QKeyEvent,
    QPainter,
    QPalette,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import (
    QButtonGroup,
    QLabel,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from desktop import PhotoError
from desktop.gui import heatmap
from desktop.gui.flow_layout import FlowLayout
from desktop.gui.images_qt import array_to_qimage
from desktop.images import open_photo

PREVIEW_MAX_SIDE = 1400  # enough for a sharp preview; keeps a heat-map step well under 50 ms
NAV_KEYS: dict[int, int] = {  # QKeyEvent.key() is an int
    Qt.Key.Key_Left: -1,
    Qt.Key.Key_Up: -1,
    Qt.Key.Key_Right: 1,
    Qt.Key.Key_Down: 1,
}


class AttentionView(QWidget):
    """Paints the photo scaled to fit, optionally with one word's attention laid over it."""

    step = Signal(int)  # -1 / +1: previous / next word (arrow keys)
    jump = Signal(int)  # word index to show; -1 = the plain photo (Home / End)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 180)
        self.setAccessibleName("Photo preview")
        self._photo: np.ndarray | None = None
        self._path: Path | None = None
        self._attention: np.ndarray | None = None
        self._words: tuple[str, ...] = ()
        self._word: int | None = None
        self._pixmap: QPixmap | None = None
        self._cache: dict[int | None, QPixmap] = {}
        self._message = "Open a folder of photos with Ctrl+O, or drop photos here."
        self._update_description()

    # -- content ---------------------------------------------------------------------------
    def clear(self, message: str) -> None:
        self._photo = None
        self._path = None
        self._attention = None
        self._words = ()
        self._word = None
        self._cache.clear()
        self._pixmap = None
        self._message = message
        self._update_description()
        self.update()

    def set_photo(
        self, path: Path, words: Sequence[str] = (), attention: np.ndarray | None = None
    ) -> None:
        """Show ``path``; ``attention`` is ``[len(words), grid_h, grid_w]`` (or None)."""
        if path != self._path or self._photo is None:
            try:
                img = open_photo(path, min_size=(PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE))
                img.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE))
                self._photo = np.asarray(img, dtype=np.uint8)
            except (PhotoError, OSError, ValueError) as exc:
                self.clear(f"Cannot show this photo: {getattr(exc, 'reason', None) or exc}")
                self._path = path
                return
            self._path = path
        usable = (
            attention is not None
            and len(words) > 0
            and np.ndim(attention) == 3
            and len(attention) >= len(words)
        )
        self._words = tuple(words) if usable else ()
        self._attention = np.asarray(attention) if usable else None
        self._cache.clear()
        if self._word is not None and self._word >= len(self._words):
            self._word = None
        self._render()

    def set_word(self, index: int | None) -> None:
        """Lay word ``index``'s attention over the photo; None shows the plain photo."""
        if index is not None and not 0 <= index < len(self._words):
            index = None
        self._word = index
        self._render()

    @property
    def word(self) -> int | None:
        return self._word

    @property
    def has_heat_map(self) -> bool:
        return self._attention is not None

    @property
    def has_photo(self) -> bool:
        return self._photo is not None

    def focus_phrase(self, index: int) -> str:
        assert self._attention is not None
        return heatmap.describe_focus(self._attention[index])

    # -- drawing ---------------------------------------------------------------------------
    def _render(self) -> None:
        if self._photo is None:
            self._pixmap = None
        elif self._word in self._cache:
            self._pixmap = self._cache[self._word]
        else:
            if self._word is None or self._attention is None:
                pixels = self._photo
            else:
                pixels = heatmap.overlay(self._photo, self._attention[self._word])
            self._pixmap = QPixmap.fromImage(array_to_qimage(pixels))
            self._cache[self._word] = self._pixmap
        self._update_description()
        self.update()

    def _update_description(self) -> None:
        if self._photo is None:
            text = self._message
        elif self._word is None or self._attention is None:
            text = f"{self._path.name if self._path else 'Photo'}, no heat map shown"
            if self._words:
                text += ". Use the arrow keys to see where the model looked for each word"
        else:
            word = self._words[self._word]
            text = (
                f"Word {self._word + 1} of {len(self._words)}, '{word}': the model "
                f"looked {heatmap.describe_focus(self._attention[self._word])}"
            )
        if text != self.accessibleDescription():
            self.setAccessibleDescription(text)  # Qt reports the change: said once

    def sizeHint(self) -> QSize:
        return QSize(720, 520)

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        rect = QRectF(self.rect()).adjusted(3, 3, -3, -3)
        painter.fillRect(rect, palette.color(QPalette.ColorRole.Base).darker(104))
        if self._pixmap is not None and not self._pixmap.isNull():
            size = (
                self._pixmap.size()
                .toSizeF()
                .scaled(rect.size(), Qt.AspectRatioMode.KeepAspectRatio)
            )
            target = QRectF(
                rect.center().x() - size.width() / 2,
                rect.center().y() - size.height() / 2,
                size.width(),
                size.height(),
            )
            painter.drawPixmap(target, self._pixmap, QRectF(self._pixmap.rect()))
        else:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            font = painter.font()
            font.setPointSizeF(font.pointSizeF() * 1.15)
            painter.setFont(font)
            painter.drawText(
                rect.adjusted(24, 24, -24, -24),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self._message,
            )
        if self.hasFocus():
            pen = QPen(palette.color(QPalette.ColorRole.Highlight), 3)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(self.rect()).adjusted(1.5, 1.5, -1.5, -1.5), 4, 4)
        painter.end()

    def focusInEvent(self, event) -> None:
        super().focusInEvent(event)
        self.update()

    def focusOutEvent(self, event) -> None:
        super().focusOutEvent(event)
        self.update()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            super().keyPressEvent(event)
        elif key in NAV_KEYS:
            self.step.emit(NAV_KEYS[key])
        elif key == Qt.Key.Key_Home:
            self.jump.emit(-1)
        elif key == Qt.Key.Key_End:
            self.jump.emit(len(self._words) - 1)
        else:
            super().keyPressEvent(event)

    def current_image(self) -> QImage | None:
        return self._pixmap.toImage() if self._pixmap is not None else None


class WordStrip(QWidget):
    """One button per word, plus "Photo" for no heat map, wrapped onto lines.

    Only the current button is in the Tab order ("roving tab stop"); arrow keys move along,
    and the focus goes with the current word. The buttons are plain push buttons, not
    toggles: as check boxes Orca read "check box not checked" before every word, when what
    matters is the word and where the model looked. The current one is drawn highlighted
    (the ``current`` property; see ``theme.chip_style``).
    Each button's description (its tooltip) says where the model looked for that word.
    Buttons are reused from photo to photo and change only where the word does: rebuilding
    them sent ~60 accessibility events per photo, a flood in which Orca dropped the
    announcements that came with it.
    """

    selected = Signal(int)  # word index; -1 = plain photo

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Words of the caption")
        self.setAccessibleDescription(
            "Choose a word to see where the model looked while writing it. "
            "Left and right arrows step through the words."
        )
        self._flow = FlowLayout(self)
        self._flow.setContentsMargins(2, 2, 2, 2)
        self._label = QLabel("Heat map:", self)
        self._flow.addWidget(self._label)
        self._group = QButtonGroup(self)
        self._group.setExclusive(False)  # ids for clicks only: nothing is checked
        self._group.idClicked.connect(self._clicked)
        self._buttons: list[QPushButton] = []  # [Photo, word 1, word 2, ...], some hidden
        self._add_button("Photo", -1)
        self._buttons[0].setAccessibleName("Photo without heat map")
        self._buttons[0].setToolTip("Show the photo without a heat map (Home)")
        self._words: tuple[str, ...] = ()
        self._current = -1
        self._shown = 0
        self.set_words(())

    def _add_button(self, label: str, index: int) -> QPushButton:
        button = QPushButton(label, self)
        button.setObjectName("wordChip")
        button.setProperty("current", False)
        button.installEventFilter(self)
        self._group.addButton(button, index)
        self._flow.addWidget(button)
        self._buttons.append(button)
        return button

    @property
    def words(self) -> tuple[str, ...]:
        return self._words

    @property
    def current(self) -> int:
        return self._current

    def buttons(self) -> list[QPushButton]:
        """The Photo button and one per word of the caption shown."""
        return self._buttons[: self._shown]

    def set_words(self, words: Sequence[str], places: Sequence[str] = ()) -> None:
        """One button per word; ``places[i]`` says where the model looked for word i ("at
        the bottom left"), as the heat map shows it."""
        words = tuple(words)
        had_focus = any(b.hasFocus() for b in self._buttons)
        self._words = words
        for i, word in enumerate(words):
            if i + 1 < len(self._buttons):
                button = self._buttons[i + 1]
                if button.text() != word:
                    button.setText(word)
            else:
                button = self._add_button(word, i)
            where = f"the model looked {places[i]}" if i < len(places) else "see the heat map"
            # Qt gives the tooltip as the accessible description, without an event per change.
            button.setToolTip(f"Word {i + 1} of {len(words)}, '{word}': {where}")
            button.setVisible(True)
        for button in self._buttons[len(words) + 1 :]:
            button.setVisible(False)
        self._shown = len(words) + 1 if words else 0
        self._label.setVisible(bool(words))
        self._buttons[0].setVisible(bool(words))
        self._current = -1
        self._sync()
        if had_focus and words:
            self._buttons[0].setFocus()

    def chain_focus(self, before: QWidget, after: QWidget) -> None:
        """Put the word buttons between ``before`` and ``after`` in the Tab order."""
        previous = before
        for button in self.buttons():
            QWidget.setTabOrder(previous, button)
            previous = button
        QWidget.setTabOrder(previous, after)

    def select(self, index: int, *, focus: bool = False) -> None:
        index = max(-1, min(index, len(self._words) - 1))
        changed = index != self._current
        self._current = index
        self._sync()
        button = self._buttons[index + 1]
        if focus:
            button.setFocus(Qt.FocusReason.OtherFocusReason)
        if changed:
            self.selected.emit(index)

    def step(self, delta: int, *, focus: bool = False) -> None:
        if self._words:
            self.select(max(-1, min(self._current + delta, len(self._words) - 1)), focus=focus)

    def _clicked(self, index: int) -> None:
        self.select(index)

    def _sync(self) -> None:
        for i, button in enumerate(self._buttons):
            current = i - 1 == self._current
            if button.property("current") != current:
                button.setProperty("current", current)
                button.style().unpolish(button)  # the style sheet's [current="true"]
                button.style().polish(button)
            button.setFocusPolicy(
                Qt.FocusPolicy.StrongFocus if current else Qt.FocusPolicy.ClickFocus
            )

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress and watched in self._buttons:
            key_event: QKeyEvent = event  # type: ignore[assignment]
            key = key_event.key()
            if not key_event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
                if key in NAV_KEYS:
                    self.step(NAV_KEYS[key], focus=True)
                    return True
                if key == Qt.Key.Key_Home:
                    self.select(-1, focus=True)
                    return True
                if key == Qt.Key.Key_End:
                    self.select(len(self._words) - 1, focus=True)
                    return True
        return super().eventFilter(watched, event)
