"""Preferences: model, accelerator, beam width, reading aloud, appearance."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.gui.choices import say_choice
from desktop.settings import MAX_BEAM, MIN_BEAM, Settings
from desktop.speech import Voice

AUTO_READ_LABELS = {
    "off": "Never",
    "selection": "When I select a photo",
    "arrival": "As each caption arrives",
}
RATE_STEPS = 10  # slider -10 … 10 ↔ rate -1.0 … 1.0


_ACCELERATOR_ITEMS = (
    ("Automatic (GPU or NPU where found, else CPU)", "auto"),
    ("CPU", "cpu"),
    ("GPU", "gpu"),
    ("NPU", "npu"),
    ("Delegate library (Edge TPU\u2026)", None),
)
_DELEGATE = len(_ACCELERATOR_ITEMS) - 1


class _PathField(QWidget):
    def __init__(self, name: str, placeholder: str, *, folder: bool, parent: QWidget) -> None:
        super().__init__(parent)
        self._folder = folder
        self._name = name
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText(placeholder)
        self.edit.setAccessibleName(name)
        self.edit.setClearButtonEnabled(True)
        row.addWidget(self.edit, 1)
        self.browse = QPushButton("Browse\u2026", self)
        self.browse.setAccessibleName(f"Browse for {name.lower()}")
        self.browse.clicked.connect(self._choose)
        row.addWidget(self.browse)
        self.setFocusProxy(self.edit)

    def _choose(self) -> None:
        if self._folder:
            chosen = QFileDialog.getExistingDirectory(self, self._name, self.edit.text())
        else:
            chosen, _ = QFileDialog.getOpenFileName(
                self,
                self._name,
                self.edit.text(),
                "Libraries (*.so *.so.* *.dll *.dylib);;All files (*)",
            )
        if chosen:
            self.edit.setText(chosen)

    def value(self) -> str | None:
        return self.edit.text().strip() or None


class SettingsDialog(QDialog):
    test_voice = Signal(str, float)  # voice id, rate: speak a sample with these
    confirmed = Signal()  # OK: emitted while the dialog is still open (see ``accept``)

    def __init__(
        self,
        settings: Settings,
        voices: Sequence[Voice],
        *,
        default_model: str,
        speech_backend: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self.setAccessibleName("Settings")
        self._original = settings
        outer = QVBoxLayout(self)

        model_box = QGroupBox("Model", self)
        form = QFormLayout(model_box)
        self.model_dir = _PathField(
            "Model bundle folder", f"Default: {default_model}", folder=True, parent=self
        )
        self.model_dir.edit.setText(settings.model_dir or "")
        self.model_dir.edit.setAccessibleDescription(
            "Folder with manifest.json, encoder.tflite, decoder_step.tflite and vocab.json. "
            "Leave empty for the model that ships with the app."
        )
        form.addRow(self._label("&Model folder:", self.model_dir), self.model_dir)

        self.accelerator = QComboBox(self)
        # One entry per RuntimeOptions.accelerator, then the external delegate (last: its
        # index is _DELEGATE).
        for text, value in _ACCELERATOR_ITEMS:
            self.accelerator.addItem(text, value)
        self.accelerator.setAccessibleName("Accelerator")
        say_choice(
            self.accelerator,
            "Automatic uses a GPU or NPU where one is found, else the CPU; or choose the "
            "CPU, the GPU, the NPU, or a LiteRT delegate library."
        )
        form.addRow(self._label("&Accelerator:", self.accelerator), self.accelerator)

        self.threads = QSpinBox(self)
        self.threads.setRange(0, 64)
        self.threads.setSpecialValueText("Automatic")
        self.threads.setValue(settings.threads or 0)
        self.threads.setAccessibleName("CPU threads")
        self.threads.setAccessibleDescription("0 lets the runtime choose.")
        form.addRow(self._label("CPU &threads:", self.threads), self.threads)

        self.delegate = _PathField(
            "Delegate library", "e.g. libtensorflowlite_gpu_delegate.so", folder=False, parent=self
        )
        self.delegate.edit.setText(settings.delegate or "")
        form.addRow(self._label("&Delegate library:", self.delegate), self.delegate)
        self.accelerator.setCurrentIndex(
            _DELEGATE
            if settings.delegate
            else max(0, self.accelerator.findData(settings.accelerator))
        )
        self.accelerator.currentIndexChanged.connect(self._accelerator_changed)
        self._accelerator_changed(self.accelerator.currentIndex())

        self.beam = QSpinBox(self)
        self.beam.setRange(MIN_BEAM, MAX_BEAM)
        self.beam.setValue(settings.beam_width)
        self.beam.setAccessibleName("Beam width")
        self.beam.setAccessibleDescription(
            "How many candidate captions the model keeps while writing. 1 is fastest; 3 to 5 "
            "usually reads better."
        )
        form.addRow(self._label("&Beam width:", self.beam), self.beam)
        outer.addWidget(model_box)

        speech_box = QGroupBox("Reading aloud", self)
        form = QFormLayout(speech_box)
        self.auto_read = QComboBox(self)
        for key, label in AUTO_READ_LABELS.items():
            self.auto_read.addItem(label, key)
        self.auto_read.setCurrentIndex(list(AUTO_READ_LABELS).index(settings.auto_read))
        self.auto_read.setAccessibleName("Read captions automatically")
        say_choice(self.auto_read)
        form.addRow(self._label("Read a&utomatically:", self.auto_read), self.auto_read)
        self.with_screen_reader = QCheckBox("Also &while a screen reader is running", self)
        self.with_screen_reader.setChecked(settings.auto_read_with_screen_reader)
        self.with_screen_reader.setAccessibleName("Read automatically while a screen reader runs")
        # One text true in both states ("Off: …" was read while it was on); a screen reader
        # says "checked" or "not checked" itself.
        self.with_screen_reader.setAccessibleDescription(
            "When ticked, captions are read aloud even while a screen reader runs, so you may "
            "hear them twice; when not, the screen reader alone reads the photo you move to."
        )
        form.addRow("", self.with_screen_reader)

        self.voice = QComboBox(self)
        self.voice.addItem("Default voice", "")
        for voice in voices:
            self.voice.addItem(voice.name, voice.id)
        if settings.voice and self.voice.findData(settings.voice) < 0:
            self.voice.addItem(f"{settings.voice} (not available)", settings.voice)
        self.voice.setCurrentIndex(max(0, self.voice.findData(settings.voice)))
        self.voice.setAccessibleName("Voice")
        say_choice(self.voice, f"A voice of {speech_backend}.")
        form.addRow(self._label("&Voice:", self.voice), self.voice)

        rate_row = QWidget(self)
        rate_layout = QHBoxLayout(rate_row)
        rate_layout.setContentsMargins(0, 0, 0, 0)
        self.rate = QSlider(Qt.Orientation.Horizontal, rate_row)
        self.rate.setRange(-RATE_STEPS, RATE_STEPS)
        self.rate.setPageStep(2)
        self.rate.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.rate.setTickInterval(5)
        self.rate.setValue(round(settings.rate * RATE_STEPS))
        self.rate.setAccessibleName("Speaking rate")
        self.rate_value = QLabel(rate_row)
        self.rate.valueChanged.connect(self._rate_changed)
        self._rate_changed(self.rate.value())
        rate_layout.addWidget(self.rate, 1)
        rate_layout.addWidget(self.rate_value)
        self.try_voice = QPushButton("Te&st voice", rate_row)
        self.try_voice.setAccessibleName("Test voice")
        self.try_voice.setAccessibleDescription("Speak a sample sentence with this voice and rate.")
        self.try_voice.clicked.connect(
            lambda: self.test_voice.emit(self.voice.currentData(), self.rate.value() / RATE_STEPS)
        )
        rate_layout.addWidget(self.try_voice)
        rate_row.setFocusProxy(self.rate)
        form.addRow(self._label("Speaking &rate:", rate_row), rate_row)
        outer.addWidget(speech_box)

        look_box = QGroupBox("Appearance", self)
        look = QVBoxLayout(look_box)
        self.high_contrast = QCheckBox("&High-contrast colours", self)
        self.high_contrast.setChecked(settings.high_contrast)
        self.high_contrast.setAccessibleName("High-contrast colours")
        self.high_contrast.setAccessibleDescription(
            "White text on black with a yellow highlight. Text size follows the system font."
        )
        look.addWidget(self.high_contrast)
        outer.addWidget(look_box)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        outer.addWidget(buttons)
        self.model_dir.edit.setFocus()

    def accept(self) -> None:
        # Before closing: what is said about the new settings then comes before the screen
        # reader's re-read of the window the dialog returns to.
        self.confirmed.emit()
        super().accept()

    def _label(self, text: str, buddy: QWidget) -> QLabel:
        label = QLabel(text, self)
        label.setBuddy(buddy)
        return label

    def _accelerator_changed(self, index: int) -> None:
        uses_delegate = index == _DELEGATE
        self.delegate.setEnabled(uses_delegate)
        self.threads.setEnabled(not uses_delegate)

    def _rate_changed(self, value: int) -> None:
        rate = value / RATE_STEPS
        words = "normal" if value == 0 else ("faster" if value > 0 else "slower")
        text = f"{rate:+.1f} ({words})" if value else "0 (normal)"
        self.rate_value.setText(text)
        self.rate.setAccessibleDescription(f"Speaking rate {text}")

    def settings(self) -> Settings:
        """The settings as edited (validated; raises ValueError on a bad value)."""
        uses_delegate = self.accelerator.currentIndex() == _DELEGATE
        return self._original.replace(
            model_dir=self.model_dir.value(),
            threads=None if uses_delegate or self.threads.value() == 0 else self.threads.value(),
            delegate=self.delegate.value() if uses_delegate else None,
            accelerator="auto" if uses_delegate else self.accelerator.currentData(),
            beam_width=self.beam.value(),
            auto_read=self.auto_read.currentData(),
            auto_read_with_screen_reader=self.with_screen_reader.isChecked(),
            voice=self.voice.currentData() or "",
            rate=self.rate.value() / RATE_STEPS,
            high_contrast=self.high_contrast.isChecked(),
        )
