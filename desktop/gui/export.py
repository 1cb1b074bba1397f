"""Saving what the app shows: caption files (desktop/formats.py) and XMP sidecars (desktop/xmp.py).

What is exported is the caption as shown, so the user's edits win. The score belongs to the
model's own sentence, so an edited caption is exported without one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from desktop import CaptionerError, xmp
from desktop.files import write_atomic
from desktop.formats import FORMATS, format_for, render
from desktop.gui.photo_model import PhotoRecord, Status
from desktop.records import Record
from desktop.walk import display_path

# File-dialog filters, first = default; the chosen file's extension decides the format.
FILTERS = {
    "csv": "CSV spreadsheet (*.csv)",
    "json": "JSON (*.json)",
    "txt": "Text, one photo per line (*.txt)",
    "jsonl": "JSON Lines (*.jsonl)",
}


def to_output_record(record: PhotoRecord) -> Record:
    path = display_path(record.path)
    if record.status is Status.DONE and record.caption.strip():
        if record.result is None:
            return Record(path=path, caption=record.caption, score=None, error=None)
        # An edited caption keeps the photo's objects; its score and confidence go.
        caption = record.caption if record.edited else None
        # A StoredResult has every field from_result reads (library_link.py).
        return Record.from_result(path, record.result, caption=caption)  # type: ignore[arg-type]
    if record.status is Status.FAILED:
        return Record(path=path, caption=None, score=None, error=record.error)
    reason = "not captioned" + (f" ({record.error})" if record.error else "")
    return Record(path=path, caption=None, score=None, error=reason)


def export_captions(
    records: Iterable[PhotoRecord], path: str | os.PathLike, fmt: str | None = None
) -> int:
    """Write every row to ``path`` (atomically) in ``fmt`` or the format its name implies.

    Returns how many rows were written. Raises ValueError for an unknown format and OSError
    when the file cannot be written (the old file, if any, is then untouched)."""
    fmt = fmt or format_for(path)
    if fmt not in FORMATS:
        raise ValueError(
            f"{Path(path).name}: choose a file ending in "
            f"{', '.join('.' + f for f in FORMATS)}"
        )
    rows = [to_output_record(r) for r in records]
    write_atomic(path, render(rows, fmt))
    return len(rows)


@dataclass(frozen=True)
class SidecarReport:
    written: tuple[Path, ...]
    problems: tuple[str, ...]


def write_sidecars(records: Sequence[PhotoRecord]) -> SidecarReport:
    """An XMP sidecar (dc:description) beside every captioned photo; other rows are skipped."""
    written: list[Path] = []
    problems: list[str] = []
    for record in records:
        if record.status is not Status.DONE or not record.caption.strip():
            continue
        try:
            keywords = [o.name for o in record.result.objects] if record.result else []
            written.append(
                xmp.write_description(record.path, record.caption, keywords, unsure=record.unsure)
            )
        except (CaptionerError, OSError) as exc:
            problems.append(str(exc))
    return SidecarReport(tuple(written), tuple(problems))
