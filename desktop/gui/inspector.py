"""The right-hand panel: the selected photo large, its heat map, its editable caption."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.gui.attention_view import AttentionView, WordStrip
from desktop.gui.photo_list import error_color, format_score
from desktop.gui.photo_model import PhotoRecord, Status
from desktop.objects import counted


class CaptionEdit(QPlainTextEdit):
    """One caption, wrapped, larger than body text. Tab leaves the field (it never inserts a
    tab) and Enter inserts nothing: a caption is a single sentence."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTabChangesFocus(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.setFont(font)
        lines = 3
        fm = QFontMetrics(font)
        self.setFixedHeight(
            fm.lineSpacing() * lines
            + 2 * int(self.document().documentMargin())
            + 2 * self.frameWidth()
            + 4
        )

    focus_left = Signal()

    def focusOutEvent(self, event) -> None:
        super().focusOutEvent(event)
        self.focus_left.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not event.modifiers():
            event.ignore()  # let the window's default handling (none) take it
            return
        super().keyPressEvent(event)

    def insertFromMimeData(self, source) -> None:
        # Pasted text keeps the caption on one line.
        if source.hasText():
            self.insertPlainText(" ".join(source.text().split()))
        else:
            super().insertFromMimeData(source)


class Inspector(QWidget):
    caption_edited = Signal(str)
    reviewed_toggled = Signal(bool)
    speak_requested = Signal()
    copy_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Selected photo")
        self._record: PhotoRecord | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 10)
        layout.setSpacing(8)

        self.title = QLabel("No photo selected", self)
        title_font = QFont(self.title.font())
        title_font.setPointSizeF(title_font.pointSizeF() * 1.2)
        title_font.setBold(True)
        self.title.setFont(title_font)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setAccessibleName("File name")
        layout.addWidget(self.title)

        self.view = AttentionView(self)
        layout.addWidget(self.view, 1)

        self.words = WordStrip(self)
        layout.addWidget(self.words)

        self.caption_label = QLabel("Capt&ion", self)
        layout.addWidget(self.caption_label)
        self.caption = CaptionEdit(self)
        self.caption.setAccessibleName("Caption")
        self._describe_caption(None)
        self.caption.setPlaceholderText("No caption yet")
        self.caption_label.setBuddy(self.caption)
        layout.addWidget(self.caption)

        row = QHBoxLayout()
        row.setSpacing(12)
        self.score = QLabel("", self)
        self.score.setAccessibleName("Score")
        self.score.setToolTip(
            "Length-normalised log-probability of the caption: closer to zero means the "
            "model was more sure."
        )
        self.score.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.score)
        self.reviewed = QCheckBox("Revie&wed", self)
        self.reviewed.setAccessibleName("Reviewed")
        # True whether it is ticked or not (screen readers say "checked" themselves); a help
        # text per state was spoken again on every toggle.
        self.reviewed.setAccessibleDescription(
            "Ticked means you have checked this caption: Caption Again leaves it as it is."
        )
        row.addWidget(self.reviewed)
        row.addStretch(1)
        self.speak_button = QPushButton("&Read aloud", self)
        self.speak_button.setAccessibleName("Read caption aloud")
        self.speak_button.setAccessibleDescription("Speak the caption (F5 or Ctrl+R).")
        row.addWidget(self.speak_button)
        self.copy_button = QPushButton("Co&py caption", self)
        self.copy_button.setAccessibleName("Copy caption")
        self.copy_button.setAccessibleDescription(
            "Copy the caption to the clipboard (Ctrl+Shift+C)."
        )
        row.addWidget(self.copy_button)
        layout.addLayout(row)

        # What the classifier sees, and whether the model is unsure of its caption.
        self.objects = QLabel("", self)
        self.objects.setWordWrap(True)
        self.objects.setAccessibleName("Objects")
        self.objects.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.objects)

        # The text read in the photo, line by line: read-only, but a screen reader's arrows
        # walk it a line at a time (Ctrl+T reads it all aloud).
        self.text_label = QLabel("&Text in the photo", self)
        layout.addWidget(self.text_label)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setTabChangesFocus(True)
        self.text.setAccessibleName("Text in the photo")
        self.text.setMaximumHeight(QFontMetrics(self.text.font()).lineSpacing() * 6 + 12)
        self.text_label.setBuddy(self.text)
        layout.addWidget(self.text)

        self.error = QLabel("", self)
        self.error.setWordWrap(True)
        self.error.setAccessibleName("Problem with this photo")
        self.error.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.error.hide()
        layout.addWidget(self.error)

        self.caption.textChanged.connect(self._text_changed)
        self.caption.focus_left.connect(lambda: self._describe_caption(self._record))
        self.reviewed.toggled.connect(self.reviewed_toggled)
        self.speak_button.clicked.connect(self.speak_requested)
        self.copy_button.clicked.connect(self.copy_requested)
        self.view.step.connect(lambda delta: self.words.step(delta))
        self.view.jump.connect(lambda index: self.words.select(index))
        self.words.selected.connect(self._word_selected)

        # Reading order = visual order: photo, words, caption, reviewed, buttons.
        QWidget.setTabOrder(self.view, self.caption)
        QWidget.setTabOrder(self.caption, self.reviewed)
        QWidget.setTabOrder(self.reviewed, self.speak_button)
        QWidget.setTabOrder(self.speak_button, self.copy_button)
        QWidget.setTabOrder(self.copy_button, self.text)
        self.show_record(None)

    @property
    def record(self) -> PhotoRecord | None:
        return self._record

    def caption_text(self) -> str:
        return self.caption.toPlainText().strip()

    def select_word(self, index: int) -> None:
        self.words.select(index)

    def show_record(self, record: PhotoRecord | None) -> None:
        """Show ``record``; called again when the same photo's record changes."""
        previous = self._record
        self._record = record
        same_photo = previous is not None and record is not None and previous.path == record.path
        if record is None:
            self.title.setText("No photo selected")
            self.view.clear("Open a folder of photos with Ctrl+O, or drop photos here.")
            self.words.set_words(())
            self._set_caption("", editable=False)
            self.score.setText("")
            self._set_objects(None)
            self._set_text(None)
            self.reviewed.setEnabled(False)
            self._set_error("")
            self._set_actions(False)
            return
        self.title.setText(record.name)
        self.title.setToolTip(str(record.path))
        result = record.result
        words = tuple(result.words) if result is not None else ()
        attention = getattr(result, "attention", None) if result is not None else None
        keep_word = same_photo and previous is not None and previous.result is result
        self.view.set_photo(record.path, words, attention)
        if not keep_word:
            usable = attention is not None and self.view.has_heat_map
            self.words.set_words(
                words if usable else (),
                [self.view.focus_phrase(i) for i in range(len(words))] if usable else (),
            )
            self.words.chain_focus(self.view, self.caption)
            self.view.set_word(None)
        if not (same_photo and self.caption.hasFocus()):
            # Never rewrite the text under the user's cursor.
            self._set_caption(record.caption, editable=record.status is not Status.PENDING)
        if same_photo or not self.caption.hasFocus():
            self._describe_caption(record)
        # else: Alt+Up/Down from the field; the window announces the new photo with its
        # state, and the field's description follows once the focus leaves (spoken now it
        # said the same twice).
        if result is not None:
            timings = getattr(result, "timings", None)
            ms = f" \u00b7 {timings.total_ms:.0f} ms" if timings is not None else ""
            confidence = getattr(result, "confidence", None)
            sure = "" if confidence is None else f" \u00b7 confidence {confidence:.0%}"
            self.score.setText(f"Score {format_score(result.score)}{sure}{ms}")
        else:
            self.score.setText(
                {
                    Status.PENDING: "Waiting for a caption\u2026",
                    Status.SKIPPED: "Not captioned",
                    Status.FAILED: "No caption",
                }.get(record.status, "")
            )
        self.score.setAccessibleDescription(self.score.text())
        self._set_objects(record)
        self._set_text(record)
        self.reviewed.blockSignals(True)
        self.reviewed.setChecked(record.reviewed)
        self.reviewed.blockSignals(False)
        self.reviewed.setEnabled(record.status is Status.DONE)
        if record.status is Status.FAILED:
            self._set_error(f"Could not caption this photo: {record.error}")
        elif record.status is Status.SKIPPED and record.error:
            self._set_error(f"Not captioned: {record.error}")
        else:
            self._set_error("")
        self._set_actions(bool(record.caption.strip()))

    def _describe_caption(self, record: PhotoRecord | None) -> None:
        """The field's description says what its text alone does not: that the model is not
        sure of it (Ctrl+3 read an unsure caption as a plain fact), that it is the user's own
        words, that it was reviewed. Set only when it changes: each change is spoken."""
        bits = []
        if record is not None and record.unsure:
            bits.append("Not sure: the model may not have named what is in the photo.")
        if record is not None and record.state_words:
            bits.append(record.state_words)
        bits.append("Edit the caption to correct it; your caption is kept and marked reviewed.")
        text = " ".join(bits)
        if self.caption.accessibleDescription() != text:
            self.caption.setAccessibleDescription(text)

    def _set_caption(self, text: str, *, editable: bool) -> None:
        self.caption.blockSignals(True)
        if self.caption.toPlainText() != text:
            self.caption.setPlainText(text)
        self.caption.blockSignals(False)
        self.caption.setReadOnly(not editable)

    def _set_objects(self, record: PhotoRecord | None) -> None:
        result = record.result if record is not None else None
        objects = getattr(result, "objects", ())
        lines = []
        if record is not None and record.unsure:
            lines.append("Not sure of this caption: it may not name what is in the photo.")
        if objects:
            seen = ", ".join(f"{counted(o)} ({o.score:.0%})" for o in objects)
            lines.append(f"I see: {seen}.")
        text = "\n".join(lines)
        self.objects.setText(text)
        self.objects.setAccessibleDescription(text)
        self.objects.setVisible(bool(text))

    def _set_text(self, record: PhotoRecord | None) -> None:
        text = record.full_text if record is not None else ""
        if self.text.toPlainText() != text:
            self.text.setPlainText(text)
        lines = len(text.splitlines())
        self.text.setAccessibleDescription(
            f"{lines} line{'s' if lines != 1 else ''} of text read in the photo" if text else ""
        )
        self.text_label.setVisible(bool(text))
        self.text.setVisible(bool(text))

    def _set_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setAccessibleDescription(message)
        self.error.setStyleSheet(f"color: {error_color(self.palette()).name()};")
        self.error.setVisible(bool(message))

    def _set_actions(self, has_caption: bool) -> None:
        self.speak_button.setEnabled(has_caption)
        self.copy_button.setEnabled(has_caption)

    def _text_changed(self) -> None:
        if self._record is None:
            return
        text = " ".join(self.caption.toPlainText().split())
        self._set_actions(bool(text))
        self.caption_edited.emit(text)

    def _word_selected(self, index: int) -> None:
        self.view.set_word(None if index < 0 else index)
