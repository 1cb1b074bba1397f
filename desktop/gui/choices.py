"""Combo boxes whose accessible description says their value, and says it again when it
changes.

Orca speaks a description change of the focused control, but a closed combo box changed with
the arrows told it nothing it would read: Qt reports the new value as a name change and a
selection change, which Orca 43 did not speak for a closed Qt combo box, so "Voice", "Read
automatically" and the export dialog's "Files of type" were silent (issue 22, finding 2).
Here the description carries the current value, then the help, and is set again on each
change. (Check boxes need none of this: Orca says "checked" itself; their help is written to
be true either way.)
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox


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
