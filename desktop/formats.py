"""The caption-file formats (csv, jsonl, json, txt): one small writer each, from a table.

``get_writer(fmt)`` gives the format's writer (as openai/whisper's ``get_writer``): it turns
rows (``Record.to_dict()`` dicts, which may carry fields of a newer version) into text and
reads a file of that format back into rows. Every format holds the same records
(``desktop/records.py``); txt holds the path and the caption only. ``desktop/outputs.py``
uses these writers to write a run's file safely; ``merge`` and the app's export use them to
write a whole file at once.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from desktop.records import (
    COLUMNS,
    FIELDS,
    Cell,
    Record,
    Row,
    csv_cells,
    spreadsheet_safe,
    unneutralised,
)


class OutputError(Exception):
    """An existing output file cannot be read back (for --resume)."""


class FormatWriter:
    """How one format writes rows and reads them back.

    ``line`` writes a row read back (fields this version does not know kept where the format
    can hold them); ``record_line`` a record of this run. A format whose rows ``stream`` can
    be written one at a time as they come (to stdout); the others are one document.
    """

    name: ClassVar[str]
    streams: ClassVar[bool] = True

    @classmethod
    def for_rows(cls, rows: Sequence[Row]) -> FormatWriter:
        """A writer for ``rows`` (csv: a column for each field beyond ``COLUMNS``)."""
        return cls()

    def header(self) -> str:
        return ""

    def line(self, row: Row) -> str:
        raise NotImplementedError

    def record_line(self, record: Record) -> str:
        return self.line(record.to_dict())

    def render(self, rows: Iterable[Row]) -> Iterator[str]:
        """The whole file, piece by piece."""
        header = self.header()
        if header:
            yield header
        for row in rows:
            yield self.line(row)

    def read(self, path: Path) -> list[Row]:
        """The rows of a file of this format, known fields as ``Record.to_dict`` writes them
        (``ValueError`` or ``OSError`` where it is not one)."""
        text = self._read_text(path)
        if not text.strip():
            return []
        return [_normalised(row) for row in self.parse(text)]

    def _read_text(self, path: Path) -> str:
        return path.read_text(encoding="utf-8")

    def parse(self, text: str) -> list[Row]:
        raise NotImplementedError


class JsonlWriter(FormatWriter):
    """One JSON object a line: what a run appends to as it goes (``desktop/outputs.py``)."""

    name = "jsonl"

    def line(self, row: Row) -> str:
        # ensure_ascii=False keeps captions readable; display paths are valid UTF-8 already.
        return json.dumps(row, ensure_ascii=False) + "\n"

    def read(self, path: Path) -> list[Row]:
        return read_jsonl(path).rows


class JsonWriter(FormatWriter):
    """One JSON list, as ``json.dumps(rows, indent=2)`` writes it."""

    name = "json"
    streams = False

    def line(self, row: Row) -> str:
        """One element of the list, indented as inside it."""
        return json.dumps(row, ensure_ascii=False, indent=2).replace("\n", "\n  ")

    def render(self, rows: Iterable[Row]) -> Iterator[str]:
        # One element at a time: a million-record merge is never one string.
        count = 0
        for count, row in enumerate(rows, 1):
            yield f"{'[' if count == 1 else ','}\n  {self.line(row)}"
        yield "\n]\n" if count else "[]\n"

    def parse(self, text: str) -> list[Row]:
        data = json.loads(text)
        if not isinstance(data, list):
            raise ValueError("expected a JSON list of records")
        return data


class CsvWriter(FormatWriter):
    """A header, then a row a record; cells no spreadsheet runs as formulas."""

    name = "csv"

    def __init__(self, extra: Iterable[str] = ()):
        self.extra = tuple(extra)  # columns after COLUMNS: fields of a newer version
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\n")
        # With "\n" as the line end the csv module quotes a "\n" in a cell but not a lone
        # "\r", which a reader takes for a line end (an error text "bad\rthing" read back as
        # two records): a row holding one has every cell quoted.
        self._quoted = csv.writer(self._buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)

    @classmethod
    def for_rows(cls, rows: Sequence[Row]) -> CsvWriter:
        return cls(dict.fromkeys(k for r in rows for k in r if k not in COLUMNS))

    def _row(self, cells: list[Cell]) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        safe = [spreadsheet_safe(c) for c in cells]
        has_cr = any(isinstance(c, str) and "\r" in c for c in safe)
        (self._quoted if has_cr else self._csv).writerow(safe)
        return self._buffer.getvalue()

    def header(self) -> str:
        return self._row([*COLUMNS, *self.extra])

    def line(self, row: Row) -> str:
        # Fields beyond COLUMNS: text as it is, anything else as JSON.
        extra = [row.get(k) for k in self.extra]
        return self._row(
            csv_cells(Record.from_dict(row))
            + ["" if v is None else v if isinstance(v, str) else json.dumps(v) for v in extra]
        )

    def _read_text(self, path: Path) -> str:
        # newline="": a "\r" or "\r\n" inside a quoted cell is the cell's, not a line end.
        with path.open(encoding="utf-8", newline="") as f:
            return f.read()

    def parse(self, text: str) -> list[Row]:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = [unneutralised(c) for c in next(reader, [])]
        if tuple(header[: len(FIELDS)]) != FIELDS:
            raise ValueError(f"the header is not {','.join(FIELDS)}")
        return [
            dict(
                zip(
                    header,
                    [unneutralised(c) for c in row] + [""] * (len(header) - len(row)),
                    strict=False,
                )
            )
            for row in reader
            if row
        ]


class TxtWriter(FormatWriter):
    """``path<TAB>caption`` (or ``ERROR: why``) a line: for reading, not for tools."""

    name = "txt"

    def line(self, row: Row) -> str:
        return self.record_line(Record.from_dict(row))

    def record_line(self, record: Record) -> str:
        text = str(record.caption) if record.ok else f"ERROR: {record.error}"
        # One line a record: a line break inside a caption or an error (a user's edit, an
        # exception's text) would make the file unreadable to the next run and to merge.
        return f"{record.path}\t{' '.join(text.splitlines())}\n"

    def parse(self, text: str) -> list[Row]:
        rows = []
        for number, line in enumerate(text.split("\n"), 1):
            if not line:
                continue
            path, tab, rest = line.partition("\t")
            if not tab or not path:
                raise ValueError(f"line {number} is not 'path<TAB>caption'")
            if rest.startswith("ERROR: "):
                rows.append(Record(path, None, None, rest[len("ERROR: ") :]).to_dict())
            else:
                rows.append(Record(path, rest, None, None).to_dict())
        return rows


WRITERS: dict[str, type[FormatWriter]] = {
    w.name: w for w in (CsvWriter, JsonlWriter, JsonWriter, TxtWriter)
}
FORMATS = tuple(WRITERS)


def get_writer(fmt: str, rows: Sequence[Row] = ()) -> FormatWriter:
    """The writer of ``fmt`` (for ``rows``, where a format needs to see them first)."""
    if fmt not in WRITERS:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    return WRITERS[fmt].for_rows(rows)


def format_for(path: str | os.PathLike | None) -> str | None:
    """The format a file name implies (``.ndjson`` counts as jsonl), or None."""
    if path is None:
        return None
    suffix = Path(path).suffix.lower().lstrip(".")
    return {"ndjson": "jsonl", "tsv": "txt", "text": "txt"}.get(
        suffix, suffix if suffix in FORMATS else None
    )


def jsonl_line(record: Record) -> str:
    return JsonlWriter().record_line(record)


def render(records: Iterable[Record], fmt: str) -> str:
    return "".join(rendered_rows([r.to_dict() for r in records], fmt))


def rendered_rows(rows: Sequence[Row], fmt: str) -> Iterator[str]:
    """``render`` for plain dicts, piece by piece (a million-record merge is not one string).

    Fields beyond ``COLUMNS`` (from a newer version, read back by ``read_rows``) are kept;
    csv gives them extra columns (non-text values as JSON); txt holds the caption only.
    """
    return get_writer(fmt, rows).render(rows)


# -- reading back ------------------------------------------------------------------------------


def read_records(path: str | os.PathLike, fmt: str) -> list[Record]:
    """The records of an output file of this tool (``OutputError`` if it is not one)."""
    return [Record.from_dict(row) for row in read_rows(path, fmt)]


def read_rows(path: str | os.PathLike, fmt: str) -> list[Row]:
    """``read_records`` as dicts that keep fields this version does not know (for merging
    outputs of a newer version); known fields are as ``Record.to_dict`` writes them."""
    if fmt not in WRITERS:
        raise ValueError(f"unknown format {fmt!r}")
    path = Path(path)
    try:
        return WRITERS[fmt]().read(path)
    except OutputError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, RecursionError, csv.Error) as e:
        raise OutputError(
            f"{path}: not a {fmt} output of this tool ({e}); it was left unchanged"
        ) from e


def _normalised(row: Row) -> Row:
    """``row`` with the fields this version knows as ``Record`` reads and writes them; other
    fields (from a newer version) as they were."""
    record = Record.from_dict(row)  # checks that it is one of this tool's records
    return {**row, **record.to_dict()}


@dataclass(frozen=True)
class JsonlFile:
    """A jsonl file read back, and where a resumed run must carry on writing it."""

    rows: list[Row]  # see read_rows
    good: int  # byte length of the valid part (a torn last line excluded)
    needs_newline: bool  # the last record is complete but its newline was never written

    @property
    def records(self) -> list[Record]:
        return [Record.from_dict(row) for row in self.rows]


_RECORD_START = b'{"path": '


def read_jsonl(path: Path) -> JsonlFile:
    """Read a jsonl output; only a torn last line (one that does not parse) is dropped."""
    data = path.read_bytes()
    rows: list[Row] = []
    lines = data.split(b"\n")  # only LF ends a record: a lone CR is not a line break
    good = 0
    for number, line in enumerate(lines, 1):
        last = number == len(lines)
        stripped = line.strip()
        if stripped:
            try:
                rows.append(_normalised(json.loads(stripped.decode("utf-8"))))
            except (ValueError, UnicodeDecodeError, RecursionError) as e:
                # A killed run's torn write (redone on resume) is the start of one of our
                # records; any other unreadable text is someone's data, never cut.
                if last and stripped.startswith(_RECORD_START):
                    return JsonlFile(rows, good, False)
                raise OutputError(
                    f"{path}: line {number} is not a result record of this tool ({e}); "
                    "it was left unchanged"
                ) from e
        good += len(line) + (0 if last else 1)
    complete_last = bool(lines[-1].strip())  # a whole record whose newline never came
    return JsonlFile(rows, good, complete_last)
