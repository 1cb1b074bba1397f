"""One photo's line in a caption file (``Record``) and the cells it is written as.

A record is ``{"path", "caption", "score", "error", "objects", "confidence", "unsure"}``
(``error`` null on success, ``caption``, ``score`` and ``confidence`` null and ``objects``
empty on failure; ``path`` is display text, ``walk.display_path``: control and bidirectional
characters already escaped). ``objects`` is a list of ``{"name", "score", "count"}``, highest
score first, which CSV writes as ``name:score[:count]`` items joined by ``"; "``;
``confidence`` is null, and ``unsure`` false, for a model without calibration; ``text`` is the
text read in the photo, ``[{"text", "confidence"}]`` in reading order (CSV: the lines, one a
line in the cell), and ``text_kind`` "", "short", "screenshot" or "page". Records written
before these fields existed are read back with them empty.

How each format writes and reads records is ``desktop/formats.py``; the crash-safe writer
of a run is ``desktop/outputs.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from desktop.objects import DetectedObject
from desktop.walk import path_key

if TYPE_CHECKING:  # the facade is only a type here: records are read without a model
    from desktop.captioner import CaptionResult

FIELDS = ("path", "caption", "score", "error")  # every record has these
# New columns go at the end: readers that take columns by position keep working.
COLUMNS = (*FIELDS, "objects", "confidence", "unsure", "text", "text_kind")
# A record as JSON holds it (``Record.to_dict``); one read back may carry fields of a newer
# version.
Row = dict[str, Any]


@dataclass(frozen=True)
class Record:
    path: str  # display text (walk.display_path)
    caption: str | None
    score: float | None
    error: str | None
    objects: tuple[DetectedObject, ...] = ()
    confidence: float | None = None
    unsure: bool = False
    # The text read in the photo: (line, confidence) in reading order (CSV keeps the lines
    # only, one a line in the cell, and reads back null confidences), and its kind.
    text: tuple[tuple[str, float | None], ...] = ()
    text_kind: str = ""

    @classmethod
    def from_result(cls, path: str, result: CaptionResult, caption: str | None = None) -> Record:
        """The record of a ``CaptionResult``; ``caption`` replaces its text (an edit by the
        user, whose confidence is then unknown)."""
        edited = caption is not None and caption != result.text
        return cls(
            path=path,
            caption=result.text if caption is None else caption,
            score=None if edited else round(float(result.score), 4),
            error=None,
            objects=tuple(result.objects),
            confidence=None
            if edited or result.confidence is None
            else round(float(result.confidence), 4),
            unsure=bool(result.unsure) and not edited,
            text=tuple((line.text, line.confidence) for line in result.text_lines),
            text_kind=result.text_kind,
        )

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def key(self) -> str:
        return path_key(self.path)

    def to_dict(self) -> Row:
        return {
            "path": self.path,
            "caption": self.caption,
            "score": self.score,
            "error": self.error,
            "objects": [o.to_dict() for o in self.objects],
            "confidence": self.confidence,
            "unsure": self.unsure,
            "text": [{"text": t, "confidence": c} for t, c in self.text],
            "text_kind": self.text_kind,
        }

    @classmethod
    def from_dict(cls, data: Row) -> Record:
        """A record read back; ValueError for anything this tool would not have written."""
        if not isinstance(data, dict) or not set(FIELDS) <= set(data):
            raise ValueError("not a result record (needs path, caption, score, error)")
        path, caption, score, error = (data[k] for k in FIELDS)
        if not isinstance(path, str) or not path:
            raise ValueError("'path' must be text")
        for name, value in (("caption", caption), ("error", error)):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name!r} must be text or null")
        if isinstance(score, str) and score:  # csv
            score = float(score)
        elif isinstance(score, bool) or not isinstance(score, int | float | None | str):
            raise ValueError("'score' must be a number or null")
        score = None if score in (None, "") else float(score)
        return cls(
            path=path,
            caption=caption if caption not in ("",) else None,
            score=score if score is None or math.isfinite(score) else None,
            error=error if error not in ("",) else None,
            objects=_objects(data.get("objects")),
            confidence=_confidence(data.get("confidence")),
            unsure=data.get("unsure") in (True, "true"),
            text=_text(data.get("text")),
            text_kind=_text_kind(data.get("text_kind")),
        )


# The readers of a field take it as JSON or a CSV cell gave it (Any: unchecked until here).


def _objects(value: Any) -> tuple[DetectedObject, ...]:
    if value in (None, ""):
        return ()
    try:
        items = parse_objects(value) if isinstance(value, str) else value  # str: csv
        objects = tuple(
            DetectedObject(
                o["name"], float(o["score"]), None if o.get("count") is None else int(o["count"])
            )
            for o in items
        )
    except (TypeError, KeyError, AttributeError, ValueError) as e:
        raise ValueError(f"'objects' is not a list of objects ({e})") from e
    if not all(isinstance(o.name, str) and o.name and math.isfinite(o.score) for o in objects):
        raise ValueError("'objects' must have names and finite scores")
    return objects


def _text(value: Any) -> tuple[tuple[str, float | None], ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):  # csv: the lines, one a line
        return tuple((line, None) for line in value.split("\n") if line)
    if not isinstance(value, list) or not all(
        isinstance(v, dict) and isinstance(v.get("text"), str) for v in value
    ):
        raise ValueError("'text' must be a list of {text, confidence}")
    return tuple((v["text"], _confidence(v.get("confidence"))) for v in value)


def _text_kind(value: Any) -> str:
    if value in (None, ""):
        return ""
    if value not in ("short", "screenshot", "page"):
        raise ValueError("'text_kind' must be short, screenshot, page or empty")
    return value


def _confidence(value: Any) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("'confidence' must be a number or null")
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError("'confidence' must be between 0 and 1")
    return number


def merge(*runs: Iterable[Record]) -> list[Record]:
    """One record per photo, in order of first appearance; a later run's record wins."""
    merged: dict[str, Record] = {}
    for records in runs:
        for record in records:
            merged[record.key] = record
    return list(merged.values())


# -- cells -------------------------------------------------------------------------------------


def objects_cell(objects: Iterable[DetectedObject]) -> str:
    """``"cat:0.8462; cup:0.2104"`` (``name:score:count`` where counted): one CSV cell."""
    return "; ".join(
        f"{o.name}:{round(o.score, 4)}" + ("" if o.count is None else f":{o.count}")
        for o in objects
    )


def parse_objects(cell: str) -> list[dict[str, Any]]:
    out = []
    for item in filter(None, (part.strip() for part in cell.split(";"))):
        name, score, *count = item.split(":")
        out.append({"name": name, "score": float(score), "count": int(count[0]) if count else None})
    return out


Cell = str | float  # a CSV cell before the csv module writes it as text


def csv_cells(record: Record) -> list[Cell]:
    """The record's ``COLUMNS`` as CSV cells (before ``spreadsheet_safe``)."""
    return [
        record.path,
        record.caption or "",
        "" if record.score is None else record.score,
        record.error or "",
        objects_cell(record.objects),
        "" if record.confidence is None else record.confidence,
        "true" if record.unsure else "false",
        "\n".join(t for t, _ in record.text),
        record.text_kind,
    ]


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection:
# "=HYPERLINK(…)" in a photo's name). OWASP's advice: start such a cell with a single
# quote, which spreadsheets take as "this is text" and do not show. A cell that starts with
# a quote gets one more, so reading back (``unneutralised``) gives every cell exactly.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: Cell) -> Cell:
    """A CSV cell that no spreadsheet runs as a formula (numbers are left as they are)."""
    if isinstance(cell, str) and cell.startswith((*_FORMULA_START, "'")):
        return "'" + cell
    return cell


def unneutralised(cell: str) -> str:
    """The text ``spreadsheet_safe`` was given (a file of an older version, whose cells were
    never quoted, reads the same unless a cell starts with a quote and one of those)."""
    if cell.startswith("'") and cell[1:2] and cell[1] in (*_FORMULA_START, "'"):
        return cell[1:]
    return cell
