"""Caption result files (csv, jsonl, json, txt): written as results come, never half-written.

Every format holds the same records ``{"path", "caption", "score", "error", "objects",
"confidence", "unsure"}`` (``error`` null on success, ``caption``, ``score`` and
``confidence`` null and ``objects`` empty on failure; ``path`` absolute when written to a
file). ``objects`` is a list of ``{"name", "score", "count"}``, highest score first, which
CSV writes as ``name:score[:count]`` items joined by ``"; "``; ``confidence`` is null, and
``unsure`` false, for a model without calibration; ``text`` is the text read in the photo,
``[{"text", "confidence"}]`` in reading order (CSV: the lines, one a line in the cell), and
``text_kind`` "", "short", "screenshot" or "page"; txt holds the caption only. Files
written before these fields existed are read back with them empty.

What survives a crash or ``kill -9``, and what ``resume`` reads back:

- **jsonl** into a new (or empty) file is append-only: each record is one line, written and
  flushed as it comes, so a killed run leaves every finished record in the file (at worst
  a torn last line, which a resumed run cuts off and redoes). ``resume`` appends to it. The
  file is fsynced at most once a second and on close, so a power cut loses at most the last
  second.
- **Everything else** (csv, json, txt, and a jsonl run that would replace an existing
  file) goes to a journal ``FILE.partial`` (jsonl, as above) while the run lasts, and the
  final file is written at the end as a temp file + ``os.replace``: the file at ``FILE``
  is always either the previous complete one or the new complete one. A resumed run
  reads ``FILE`` and the journal of the interrupted run (the journal's newer records win).
  An *interrupted* run that was not resuming writes ``FILE`` as the earlier records with
  this run's replacing theirs, so Ctrl-C never leaves fewer records than were there.

What is trusted and refused (``OutputError``, the file left as it is):

- an existing ``FILE`` is only replaced or resumed if it reads back as this tool's output
  (every record has the four fields; csv has the header; txt has a tab on every line);
- only a torn *last* line that does not parse is cut; a complete last record without its
  newline is kept; only ``\n`` ends a line (a lone CR inside a record is not an end);
- a second run writing the same ``FILE`` is refused (an advisory ``flock`` on
  ``FILE.lock``, held while the run lasts);
- a symbolic link is written through (the file it points to is replaced, the link stays);
  anything that is not a regular file (``/dev/null``, a FIFO) is refused.

``ResultWriter(None, ...)`` streams to stdout instead (json: printed at the end).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import math
import os
import stat
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from desktop.objects import DetectedObject
from desktop.walk import path_key

FORMATS = ("csv", "jsonl", "json", "txt")
# New columns go at the end: readers that take columns by position keep working.
FIELDS = ("path", "caption", "score", "error")  # every record has these
# New columns go at the end: readers that take columns by position keep working.
COLUMNS = (*FIELDS, "objects", "confidence", "unsure", "text", "text_kind")
_FSYNC_INTERVAL_S = 1.0


class OutputError(Exception):
    """An existing output file cannot be read back (for --resume)."""


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
    def from_result(cls, path: str, result: Any, caption: str | None = None) -> Record:
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

    def to_dict(self) -> dict:
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
    def from_dict(cls, data: dict) -> Record:
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


def objects_cell(objects: Iterable[DetectedObject]) -> str:
    """``"cat:0.8462; cup:0.2104"`` (``name:score:count`` where counted): one CSV cell."""
    return "; ".join(
        f"{o.name}:{round(o.score, 4)}" + ("" if o.count is None else f":{o.count}")
        for o in objects
    )


def parse_objects(cell: str) -> list[dict]:
    out = []
    for item in filter(None, (part.strip() for part in cell.split(";"))):
        name, score, *count = item.split(":")
        out.append({"name": name, "score": float(score), "count": int(count[0]) if count else None})
    return out


def format_for(path: str | os.PathLike | None) -> str | None:
    """The format a file name implies (``.ndjson`` counts as jsonl), or None."""
    if path is None:
        return None
    suffix = Path(path).suffix.lower().lstrip(".")
    return {"ndjson": "jsonl", "tsv": "txt", "text": "txt"}.get(
        suffix, suffix if suffix in FORMATS else None
    )


def journal_path(path: str | os.PathLike) -> Path:
    return Path(os.fspath(path) + ".partial")


# -- serialising -------------------------------------------------------------------------------


def jsonl_line(record: Record) -> str:
    # ensure_ascii=False keeps captions readable; display paths are valid UTF-8 already.
    return json.dumps(record.to_dict(), ensure_ascii=False) + "\n"


def txt_line(record: Record) -> str:
    text = record.caption if record.ok else f"ERROR: {record.error}"
    return f"{record.path}\t{text}\n"


def csv_row(record: Record) -> list:
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
# a quote gets one more, so reading back (``_unneutralised``) gives every cell exactly.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula (numbers are left as they are)."""
    if isinstance(cell, str) and cell.startswith((*_FORMULA_START, "'")):
        return "'" + cell
    return cell


def _unneutralised(cell: str) -> str:
    """The text ``spreadsheet_safe`` was given (a file of an older version, whose cells were
    never quoted, reads the same unless a cell starts with a quote and one of those)."""
    if cell.startswith("'") and cell[1:2] and cell[1] in (*_FORMULA_START, "'"):
        return cell[1:]
    return cell


def render(records: Iterable[Record], fmt: str) -> str:
    return "".join(rendered_rows([r.to_dict() for r in records], fmt))


def rendered_rows(rows: Sequence[dict], fmt: str) -> Iterator[str]:
    """``render`` for plain dicts, piece by piece (a million-record merge is not one string).

    Fields beyond ``COLUMNS`` (from a newer version, read back by ``read_rows``) are kept;
    csv gives them extra columns (non-text values as JSON); txt holds the caption only.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if fmt == "json":  # as json.dumps(rows, indent=2), one element at a time
        yield "[" if rows else "[]\n"
        for i, r in enumerate(rows):
            element = json.dumps(r, ensure_ascii=False, indent=2).replace("\n", "\n  ")
            yield f"{',' if i else ''}\n  {element}"
        if rows:
            yield "\n]\n"
        return
    if fmt == "csv":
        extra = list(dict.fromkeys(k for r in rows for k in r if k not in COLUMNS))
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([spreadsheet_safe(c) for c in COLUMNS + tuple(extra)])
        yield buf.getvalue()
    for r in rows:
        if fmt == "jsonl":
            yield json.dumps(r, ensure_ascii=False) + "\n"
        elif fmt == "txt":
            yield txt_line(Record.from_dict(r))
        else:
            cells = [r.get(k) for k in extra]
            buf.seek(0)
            buf.truncate()
            row = csv_row(Record.from_dict(r)) + [
                "" if v is None else v if isinstance(v, str) else json.dumps(v) for v in cells
            ]
            writer.writerow([spreadsheet_safe(c) for c in row])
            yield buf.getvalue()


def regular_target(path: str | os.PathLike) -> Path:
    """The file a write to ``path`` must replace: symbolic links followed (so the link
    survives), and an ``OSError`` if it exists as something other than a regular file
    (``/dev/null``, a FIFO, a folder) that a replace would destroy or a write would hang on."""
    real = Path(os.path.realpath(path))
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        return real
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (device, FIFO or socket)"
        raise OSError(errno.EINVAL, f"{path} is {kind}; name a file")
    return real


def write_atomic(path: str | os.PathLike, text: str | Iterable[str]) -> None:
    """Write a whole file (text, or its pieces) via a temp file in the same folder + fsync +
    ``os.replace``.

    A symbolic link is written through (its target is replaced, the link stays); a path
    that is not a regular file raises ``OSError`` (see ``regular_target``).
    """
    path = regular_target(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        # mkstemp makes the file private (0600); a result file or a model manifest should
        # keep the permissions of the file it replaces, or be readable like any new file.
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o644)
        # backslashreplace: a lone surrogate (only in a hostile record read back, e.g.
        # "\ud800" in jsonl) is written as the six characters \ud800: in JSON that is the
        # same string again, elsewhere readable text; never a crash at the final write.
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="") as f:
            f.writelines([text] if isinstance(text, str) else text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder or ".", os.O_RDONLY)
    except OSError:
        return  # not possible on Windows; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- reading back ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Jsonl:
    rows: list[dict]  # see read_rows
    good: int  # byte length of the valid part (a torn last line excluded)
    needs_newline: bool  # the last record is complete but its newline was never written

    @property
    def records(self) -> list[Record]:
        return [Record.from_dict(row) for row in self.rows]


_RECORD_START = b'{"path": '


def _parse_line(line: bytes) -> dict:
    return _normalised(json.loads(line.decode("utf-8")))


def _normalised(row: dict) -> dict:
    """``row`` with the fields this version knows as ``Record`` reads and writes them; other
    fields (from a newer version) as they were."""
    record = Record.from_dict(row)  # checks that it is one of this tool's records
    return {**row, **record.to_dict()}


def _read_jsonl(path: Path) -> _Jsonl:
    """Read a jsonl output; only a torn last line (one that does not parse) is dropped."""
    data = path.read_bytes()
    rows: list[dict] = []
    lines = data.split(b"\n")  # only LF ends a record: a lone CR is not a line break
    good = 0
    for number, line in enumerate(lines, 1):
        last = number == len(lines)
        stripped = line.strip()
        if stripped:
            try:
                rows.append(_parse_line(stripped))
            except (ValueError, UnicodeDecodeError, RecursionError) as e:
                # A killed run's torn write (redone on resume) is the start of one of our
                # records; any other unreadable text is someone's data, never cut.
                if last and stripped.startswith(_RECORD_START):
                    return _Jsonl(rows, good, False)
                raise OutputError(
                    f"{path}: line {number} is not a result record of this tool ({e}); "
                    "it was left unchanged"
                ) from e
        good += len(line) + (0 if last else 1)
    complete_last = bool(lines[-1].strip())  # a whole record whose newline never came
    return _Jsonl(rows, good, complete_last)


def read_records(path: str | os.PathLike, fmt: str) -> list[Record]:
    """The records of an output file of this tool (``OutputError`` if it is not one)."""
    return [Record.from_dict(row) for row in read_rows(path, fmt)]


def read_rows(path: str | os.PathLike, fmt: str) -> list[dict]:
    """``read_records`` as dicts that keep fields this version does not know (for merging
    outputs of a newer version); known fields are as ``Record.to_dict`` writes them."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    path = Path(path)
    try:
        if fmt == "jsonl":
            return _read_jsonl(path).rows
        text = path.read_text(encoding="utf-8")
        if not text.strip():
            return []
        if fmt == "json":
            data = json.loads(text)
            if not isinstance(data, list):
                raise ValueError("expected a JSON list of records")
        elif fmt == "csv":
            reader = csv.reader(io.StringIO(text, newline=""))
            header = [_unneutralised(c) for c in next(reader, [])]
            if tuple(header[: len(FIELDS)]) != FIELDS:
                raise ValueError(f"the header is not {','.join(FIELDS)}")
            data = [
                dict(
                    zip(
                        header,
                        [_unneutralised(c) for c in row] + [""] * (len(header) - len(row)),
                        strict=False,
                    )
                )
                for row in reader
                if row
            ]
        else:  # txt
            data = []
            for number, line in enumerate(text.split("\n"), 1):
                if not line:
                    continue
                p, tab, rest = line.partition("\t")
                if not tab or not p:
                    raise ValueError(f"line {number} is not 'path<TAB>caption'")
                if rest.startswith("ERROR: "):
                    data.append(Record(p, None, None, rest[len("ERROR: ") :]).to_dict())
                else:
                    data.append(Record(p, rest, None, None).to_dict())
        return [_normalised(row) for row in data]
    except OutputError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, RecursionError, csv.Error) as e:
        raise OutputError(
            f"{path}: not a {fmt} output of this tool ({e}); it was left unchanged"
        ) from e


def merge(*runs: Iterable[Record]) -> list[Record]:
    """One record per photo, in order of first appearance; a later run's record wins."""
    merged: dict[str, Record] = {}
    for records in runs:
        for record in records:
            merged[record.key] = record
    return list(merged.values())


# -- one writer at a time ----------------------------------------------------------------------


class _OutputLock:
    """An advisory ``flock`` on ``FILE.lock`` so two runs never write one output.

    Taken without waiting: a second run is refused at once. The lock file is removed on
    release; a run that finds it replaced after locking (another run just removed it) tries
    again, so two runs never both hold "the" lock.
    """

    def __init__(self, output: Path):
        self.path = Path(os.fspath(output) + ".lock")
        self._fd: int | None = None
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; the rest still holds
            return
        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise OutputError(
                    f"{output} is being written by another captioner run "
                    f"(locked: {self.path}); wait for it to finish"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return
            os.close(fd)
        raise OutputError(f"cannot lock {self.path}")

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None


# -- the writer --------------------------------------------------------------------------------


class ResultWriter:
    """Writes records as they come (see the module docstring for what survives what).

    With ``resume``, ``previous`` holds what earlier runs wrote (de-duplicated by path) and
    ``done`` their keys; new records are added after them. Raises ``OutputError`` for an
    output that must not be touched (not this tool's, locked, not a regular file).
    """

    def __init__(
        self,
        output: str | os.PathLike | None,
        fmt: str,
        resume: bool = False,
        stream: IO[str] | None = None,
    ):
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
        self.fmt = fmt
        self.resume = resume
        self.previous: list[Record] = []
        self.records: list[Record] = []  # this run's, kept only where the end needs them
        self._earlier: list[Record] = []  # a replaced output's records (kept if interrupted)
        self._stream = stream or sys.stdout
        self._file: IO[bytes] | None = None
        self._journal: Path | None = None
        self._lock: _OutputLock | None = None
        self._last_sync = time.monotonic()
        self._closed = False
        if output is None:
            self.output = None
            if resume:
                raise ValueError("--resume needs an output file")
            if fmt == "csv":
                self._emit(render([], "csv"))
            return
        try:
            self.output = regular_target(output)
        except OSError as e:
            raise OutputError(e.strerror or str(e)) from None
        self._lock = _OutputLock(self.output)
        try:
            self._open()
        except BaseException:
            self._lock.release()
            raise

    def _open(self) -> None:
        out = self.output
        assert out is not None
        journal = journal_path(out)
        existing = read_records(out, self.fmt) if out.exists() else []
        direct = self.fmt == "jsonl" and (self.resume or not existing)
        if direct and self.resume and journal.exists():
            direct = False  # an interrupted replacing run left a journal: carry it on
        if self.resume:
            self.previous = merge(existing)
            if not direct and journal.exists():
                log = _read_jsonl(journal)
                self.previous = merge(self.previous, log.records)
                with open(journal, "r+b") as f:  # cut a torn last line
                    f.truncate(log.good)
                    if log.needs_newline:
                        f.seek(0, os.SEEK_END)
                        f.write(b"\n")
        else:
            self._earlier = existing
            if journal.exists() and not direct:
                journal.unlink()  # a stale journal of an abandoned run
        if direct:
            if self.resume and existing:
                log = _read_jsonl(out)
                with open(out, "r+b") as f:
                    f.truncate(log.good)
                    if log.needs_newline:
                        f.seek(0, os.SEEK_END)
                        f.write(b"\n")
            self._file = open(out, "ab" if self.resume else "wb")  # noqa: SIM115 - close()
        else:
            self._journal = journal
            self._file = open(journal, "ab" if self.resume else "wb")  # noqa: SIM115

    @property
    def done(self) -> set[str]:
        return {r.key for r in self.previous}

    def _emit(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()

    def write(self, record: Record) -> None:
        if self.output is None:
            if self.fmt == "json":
                self.records.append(record)
            elif self.fmt == "csv":
                self._emit(render([record], "csv").split("\n", 1)[1])
            else:
                self._emit(jsonl_line(record) if self.fmt == "jsonl" else txt_line(record))
            return
        assert self._file is not None
        self._file.write(jsonl_line(record).encode("utf-8", "backslashreplace"))  # as above
        self._file.flush()  # in the OS now: survives kill -9
        now = time.monotonic()
        if now - self._last_sync >= _FSYNC_INTERVAL_S:
            os.fsync(self._file.fileno())
            self._last_sync = now
        if self._journal is not None:
            self.records.append(record)

    def all_records(self) -> list[Record]:
        return merge(self.previous, self.records)

    def close(self, complete: bool = True) -> None:
        """Finish the output. ``complete=False`` (an interrupted run): what is done is kept,
        and an output this run was replacing keeps its other records."""
        if self._closed:
            return
        self._closed = True
        if self.output is None:
            if self.fmt == "json":
                self._emit(render(self.records, "json"))
            return
        try:
            assert self._file is not None
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            finally:
                self._file.close()
            if self._journal is None:
                return
            base = self.previous if self.resume else ([] if complete else self._earlier)
            write_atomic(self.output, render(merge(base, self.records), self.fmt))
            # Only once the final file is in place; a crash in between leaves records in
            # both, which a resume de-duplicates.
            self._journal.unlink(missing_ok=True)
        finally:
            assert self._lock is not None
            self._lock.release()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(complete=exc_type is None)
