"""Controls whose accessible description says their value or state, and says it again when
it changes.

Orca speaks a description change of the focused control, but a closed combo box changed with
the arrows told it nothing it would read: Qt reports the new value as a name change, and our
combo boxes have a fixed accessible name (their label), so "Voice", "Read automatically" and
the export dialog's "Files of type" were silent (issue 22, finding 2). A check box whose help
begins "Off: …" read the same help when it was on. Here the description carries the current
value or state first, then the help, and is set again on each change.
"""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractButton, QComboBox


def say_choice(combo: QComboBox, help_text: str = "") -> None:
    """``combo``'s description is ``help_text``; once its choice changes, "<chosen item>.
    <help_text>" (the change is what is spoken; on focus a screen reader says the value
    itself, so it is not put first before any change)."""

    def update(_index: int = -1) -> None:
        value = combo.currentText()
        said = f"{value}." if value and not value.endswith(".") else value
        combo.setAccessibleDescription(" ".join(t for t in (said, help_text) if t))

    combo.currentIndexChanged.connect(update)
    combo.setAccessibleDescription(help_text)


def say_state(box: QAbstractButton, on: str, off: str) -> None:
    """``box``'s description is ``on`` while it is checked and ``off`` while it is not."""

    def update(checked: bool) -> None:
        box.setAccessibleDescription(on if checked else off)

    box.toggled.connect(update)
    update(box.isChecked())
