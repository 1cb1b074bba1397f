"""The list of photos and what is known about each: the model behind the photo list.

Each row is a frozen ``PhotoRecord``; updates replace it. Screen readers get the file name as
the item's accessible name and the caption (or the reason there is none) as its accessible
description, so Orca, NVDA and VoiceOver read a photo's caption as focus lands on it.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QImage, QPixmap

from desktop.captioner import CaptionResult
from desktop.walk import Found, display_path
from desktop.wording import spoken

if TYPE_CHECKING:  # library_link.py imports this module
    from desktop.gui.library_link import StoredResult


class Status(enum.Enum):
    PENDING = "pending"  # waiting for the model
    DONE = "done"
    FAILED = "failed"  # the photo could not be read or captioned
    SKIPPED = "skipped"  # the run was cancelled, or the model did not load


@dataclass(frozen=True)
class PhotoRecord:
    path: Path
    status: Status = Status.PENDING
    # The model's, once captioned; or what the caption library holds (library_link.py)
    result: CaptionResult | StoredResult | None = None
    caption: str = ""  # what is shown and exported: the model's text or the user's edit
    edited: bool = False
    reviewed: bool = False
    error: str = ""

    @property
    def name(self) -> str:
        # Names that are not valid UTF-8 carry surrogate escapes, which Qt cannot show.
        return display_path(self.path.name)

    @property
    def unsure(self) -> bool:
        """The model is unsure of its caption (and the user has not rewritten it)."""
        return self.result is not None and self.result.unsure and not self.edited

    @property
    def spoken(self) -> str:
        """The caption as shown in the list and read aloud: 'Not sure: …' when the model is
        unsure, then short text read in the photo ('Text: EXIT.'), then the objects ('I see:
        cat.')."""
        result = self.result
        if result is None:
            return spoken(self.caption, self.unsure, ())
        return spoken(
            self.caption, self.unsure, result.objects, result.text_lines, result.text_kind
        )

    @property
    def full_text(self) -> str:
        """All the text read in the photo, one line a line ("" where none)."""
        return self.result.full_text if self.result is not None else ""

    @property
    def state_words(self) -> str:
        """What the list shows as "edited · ✓ reviewed", as words: "Edited by you,
        reviewed." (a screen reader would read the tick as "check mark", or not at all)."""
        if self.edited:
            return "Edited by you, reviewed." if self.reviewed else "Edited by you."
        return "Reviewed." if self.reviewed else ""

    @property
    def description(self) -> str:
        """What a screen reader says after the name: the caption (and whether it is the
        user's own or reviewed), or why there is none."""
        if self.status is Status.DONE:
            return " ".join(t for t in (self.spoken, self.state_words) if t)
        if self.status is Status.FAILED:
            return f"No caption: {self.error}"
        if self.status is Status.SKIPPED:
            return f"Not captioned{': ' + self.error if self.error else ''}"
        return "Waiting for a caption"

    @property
    def announcement(self) -> str:
        """The photo said in one line (name, then description), where it is announced rather
        than read as the focused list item."""
        return f"{self.name}: {self.description}"


RecordRole = Qt.ItemDataRole.UserRole + 1
StatusRole = Qt.ItemDataRole.UserRole + 2


class PhotoListModel(QAbstractListModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._records: list[PhotoRecord] = []
        self._rows: dict[Path, int] = {}
        self._thumbs: dict[int, QPixmap] = {}
        self._read: dict[int, str] = {}  # row -> the description last handed to a reader
        self._placeholder = QPixmap()

    # -- Qt model interface ------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self._records)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._records):
            return None
        record = self._records[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return record.name
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return record.name
        if role == Qt.ItemDataRole.AccessibleDescriptionRole:
            # Asked for by the accessibility bridge, for a screen reader: remembered, so
            # that a change it has already read is not reported again (see ``was_read``).
            self._read[index.row()] = record.description
            return record.description
        if role == Qt.ItemDataRole.ToolTipRole:
            return record.description
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbs.get(index.row(), self._placeholder)
        if role == RecordRole:
            return record
        if role == StatusRole:
            return record.status.value
        return None

    # -- reading ---------------------------------------------------------------------------
    @property
    def records(self) -> Sequence[PhotoRecord]:
        return tuple(self._records)

    def record(self, row: int) -> PhotoRecord:
        return self._records[row]

    def row_of(self, path: str | Path) -> int | None:
        return self._rows.get(Path(path))

    def count(self, status: Status) -> int:
        return sum(1 for r in self._records if r.status is status)

    def was_read(self, row: int) -> bool:
        """A screen reader has fetched row ``row``'s description as it is now."""
        return (
            0 <= row < len(self._records) and self._read.get(row) == self._records[row].description
        )

    def has_thumbnail(self, row: int) -> bool:
        return row in self._thumbs

    # -- changing ----------------------------------------------------------------------------
    def set_photos(self, found: Sequence[Found]) -> None:
        """Rows for what ``walk.find_photos`` found; entries it could not use are error rows."""
        self.beginResetModel()
        self._records = [
            PhotoRecord(path=Path(f.path), status=Status.FAILED, error=f.error)
            if f.error
            else PhotoRecord(path=Path(f.path))
            for f in found
        ]
        self._rows = {r.path: i for i, r in enumerate(self._records)}
        self._thumbs = {}
        self._read = {}
        self.endResetModel()

    def _replace(self, row: int, *, quiet: bool = False, **changes: Any) -> PhotoRecord:
        record = dataclasses.replace(self._records[row], **changes)
        self._records[row] = record
        if not quiet:
            index = self.index(row)
            self.dataChanged.emit(index, index)
        return record

    def _changed_rows(self, rows: Sequence[int], roles: Sequence[int] = ()) -> None:
        """One dataChanged for a run of rows. One signal per row is one accessibility event
        per row, and Orca drops its queue when more than 50 wait (150 photos: the
        "Captioning 150 photos" line was lost)."""
        if rows:
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)), list(roles))

    def set_result(self, row: int, result: CaptionResult) -> PhotoRecord:
        if self._records[row].edited:
            # The user wrote a caption before the model got here: theirs wins.
            return self._replace(row, status=Status.DONE, result=result, error="")
        return self._replace(
            row,
            status=Status.DONE,
            result=result,
            caption=result.text,
            edited=False,
            reviewed=False,
            error="",
        )

    def set_error(self, row: int, message: str) -> PhotoRecord:
        return self._replace(row, status=Status.FAILED, result=None, caption="", error=message)

    def set_pending(self, rows: Iterable[int]) -> None:
        rows = list(rows)
        for row in rows:
            self._replace(row, quiet=True, status=Status.PENDING, error="")
        self._changed_rows(rows)

    def skip_pending(self, reason: str) -> int:
        """Mark every row still waiting as not captioned; returns how many."""
        rows = [i for i, r in enumerate(self._records) if r.status is Status.PENDING]
        for row in rows:
            self._replace(row, quiet=True, status=Status.SKIPPED, error=reason)
        self._changed_rows(rows)
        return len(rows)

    def edit_caption(self, row: int, text: str) -> PhotoRecord:
        """The user's own words: kept, and the photo counts as reviewed."""
        record = self._records[row]
        if text == record.caption:
            return record
        return self._replace(
            row,
            caption=text,
            edited=True,
            reviewed=True,
            status=Status.DONE if text.strip() else record.status,
        )

    def set_reviewed(self, row: int, reviewed: bool) -> PhotoRecord:
        return self._replace(row, reviewed=reviewed)

    def set_stored(
        self,
        row: int,
        result: StoredResult | None,
        *,
        caption: str,
        edited: bool,
        reviewed: bool,
    ) -> PhotoRecord:
        """What the caption library holds for the photo (gui/library_link.py)."""
        return self._replace(
            row,
            status=Status.DONE,
            result=result,
            caption=caption,
            edited=edited,
            reviewed=reviewed,
            error="",
        )

    def set_thumbnail(self, row: int, image: QImage) -> None:
        self.set_thumbnails([(row, image)])

    def set_thumbnails(self, loaded: Sequence[tuple[int, QImage]]) -> None:
        """Thumbnails for several rows, reported as one change (see ``_changed_rows``)."""
        rows = []
        for row, image in loaded:
            if 0 <= row < len(self._records):
                self._thumbs[row] = QPixmap.fromImage(image)
                rows.append(row)
        self._changed_rows(rows, [Qt.ItemDataRole.DecorationRole])
