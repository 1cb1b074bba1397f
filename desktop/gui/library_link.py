"""The window's side of the caption library (desktop/library.py): what a folder held last
time is shown the moment it opens, and every caption, edit and *Reviewed* tick is stored as
it happens (no Save step).

Kept out of main_window.py so the window only calls ``restore`` on opening and ``store_*``
as things change. Every call runs on the UI thread, which owns the one connection; each is a
millisecond-scale SQLite transaction. A library that cannot be used is reported once and the
app carries on without it (captions are then kept for this session only).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from desktop import BundleError
from desktop.bundle import load_bundle
from desktop.captioner import Captioner, CaptionResult, Timings
from desktop.gui.photo_model import PhotoListModel, Status
from desktop.library import Entry, Library, LibraryError
from desktop.objects import DetectedObject
from desktop.paths import default_model_dir
from desktop.text_reader import TextLine

if TYPE_CHECKING:
    import numpy as np

# Opening a folder hashes photos the library does not know by path (a moved or renamed
# photo keeps its caption), but only this long: a new folder of 5,000 photos must not freeze
# the window; those the budget does not reach are simply captioned.
IDENTIFY_BUDGET_S = 0.5
# A full disk fails every keystroke's store: say so once in this long, not per key (a screen
# reader would read the same warning over the user's typing).
REPEAT_REPORT_S = 60.0


@dataclass(frozen=True, eq=False)
class StoredResult:
    """A caption from the library, shaped as the ``CaptionResult`` the window shows (the
    heat map and timings are not stored: they come back with the next model run)."""

    text: str
    words: tuple[str, ...]
    score: float
    objects: tuple[DetectedObject, ...] = ()
    confidence: float | None = None
    unsure: bool = False
    attention: np.ndarray | None = None
    timings: Timings | None = None
    # The text read in the photo is not stored as lines: none until the model runs again.
    text_lines: tuple[TextLine, ...] = ()
    text_kind: str = ""

    @property
    def full_text(self) -> str:
        return ""

    @classmethod
    def of(cls, entry: Entry) -> StoredResult:
        text = entry.caption or ""
        return cls(
            text=text,
            words=tuple(text.rstrip(".").split()),
            score=entry.score if entry.score is not None else 0.0,
            objects=entry.objects,
            confidence=entry.confidence,
            unsure=entry.unsure,
        )


def bundle_id(model_dir: str | None) -> str | None:
    """The id of the bundle a run would load (its manifest only: LiteRT is not loaded)."""
    try:
        return load_bundle(model_dir or default_model_dir(), verify=False).id
    except (BundleError, OSError, ValueError):
        return None


class LibraryLink:
    def __init__(self, report: Callable[[str], None], path: str | Path | None = None) -> None:
        self._report = report
        self._path = path
        self._library: Library | None = None
        self._broken = False
        self._last_report: tuple[str, float] | None = None

    @property
    def library(self) -> Library | None:
        """Opened on first use (what it had to do, e.g. move a corrupt file aside, is told)."""
        if self._library is None and not self._broken:
            try:
                self._library = Library(self._path)
            except (LibraryError, OSError) as e:
                self._fail(e)
                return None
            for note in self._library.notes:
                self._report(note)
        return self._library

    def _fail(self, e: Exception) -> None:
        text = f"Captions are not being saved: {e}"
        now = time.monotonic()
        if (
            self._last_report is None
            or self._last_report[0] != text
            or (now - self._last_report[1] > REPEAT_REPORT_S)
        ):
            self._last_report = (text, now)
            self._report(text)
        if not isinstance(e, LibraryError) or "full" not in str(e):
            self._broken = True  # a full disk may clear; anything else would repeat per edit

    def restore(self, model: PhotoListModel, bundle: str | None) -> list[int]:
        """Fill the rows of ``model`` from the library; returns the rows the model should
        caption: new photos, changed ones and ones another model captioned, but never one
        the user wrote or reviewed."""
        pending = [i for i, r in enumerate(model.records) if r.status is Status.PENDING]
        library = self.library
        if library is None:
            return pending
        deadline = time.monotonic() + IDENTIFY_BUDGET_S
        rows = []
        for row in pending:
            path = model.record(row).path
            entry = library.lookup(path, identify=time.monotonic() < deadline)
            if entry is None:
                rows.append(row)
                continue
            model.set_stored(
                row,
                StoredResult.of(entry) if entry.caption is not None else None,
                caption=entry.text or "",
                edited=entry.user_caption is not None,
                reviewed=entry.reviewed,
            )
            if not entry.reviewed and (bundle is None or entry.needs_model(bundle)):
                rows.append(row)
        return rows

    def _store(self, action: Callable[[Library], object]) -> None:
        library = self.library
        if library is None:
            return
        try:
            action(library)
        except (LibraryError, OSError) as e:
            self._fail(e)

    def store_result(
        self, path: Path, result: CaptionResult | StoredResult, captioner: Captioner | None
    ) -> None:
        if isinstance(result, StoredResult):
            return
        bundle = (captioner.bundle.id if captioner is not None else "") or ""
        self._store(
            lambda lib: lib.record(
                path,
                bundle=bundle,
                caption=result.text,
                score=result.score,
                confidence=result.confidence,
                unsure=result.unsure,
                objects=tuple(result.objects),
                text=result.full_text,
            )
        )

    def store_edit(self, path: Path, text: str, reviewed: bool) -> None:
        self._store(lambda lib: lib.set_user_caption(path, text, reviewed=reviewed))

    def store_reviewed(self, path: Path, reviewed: bool) -> None:
        self._store(lambda lib: lib.set_reviewed(path, reviewed))

    def close(self) -> None:
        if self._library is not None:
            self._library.close()
            self._library = None
