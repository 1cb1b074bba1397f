"""Caption result files (csv, jsonl, json, txt): written as results come, never half-written.

Every format holds the same records ``{"path", "caption", "score", "error"}`` (``error``
null on success, ``caption`` and ``score`` null on failure). What survives a crash or
``kill -9``, and what ``resume`` reads back:

- **jsonl** is append-only: each record is one line, written and flushed as it comes, so
  a killed run leaves every finished record in the file (at worst a torn last line, which
  a resumed run cuts off and redoes). The file is fsynced at most once a second and on
  close, so even a power cut loses no more than the last second.
- **csv, json, txt** cannot be appended to safely (json) or are easier to read whole, so
  records go to a journal ``FILE.partial`` (jsonl, as above) while the run lasts and the
  final file is written at the end as a temp file + ``os.replace``: the file at ``FILE`` is
  always either the previous complete one or the new complete one. A resumed run reads
  ``FILE`` and the journal of the interrupted run.

``ResultWriter(None, ...)`` streams to stdout instead (json: printed at the end).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from desktop.walk import path_key

FORMATS = ("csv", "jsonl", "json", "txt")
FIELDS = ("path", "caption", "score", "error")
_FSYNC_INTERVAL_S = 1.0


class OutputError(Exception):
    """An existing output file cannot be read back (for --resume)."""


@dataclass(frozen=True)
class Record:
    path: str  # display text (walk.display_path)
    caption: str | None
    score: float | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def key(self) -> str:
        return path_key(self.path)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Record:
        if not isinstance(data, dict) or not isinstance(data.get("path"), str):
            raise ValueError("not a record")
        score = data.get("score")
        if score is not None:
            score = float(score)
        caption, error = data.get("caption"), data.get("error")
        return cls(
            path=data["path"],
            caption=caption if caption not in ("",) else None,
            score=score if score is None or math.isfinite(score) else None,
            error=error if error not in ("",) else None,
        )


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
    ]


def render(records: Iterable[Record], fmt: str) -> str:
    records = list(records)
    if fmt == "jsonl":
        return "".join(jsonl_line(r) for r in records)
    if fmt == "txt":
        return "".join(txt_line(r) for r in records)
    if fmt == "json":
        return json.dumps([r.to_dict() for r in records], ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(FIELDS)
        writer.writerows(csv_row(r) for r in records)
        return buf.getvalue()
    raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a whole file via a temp file in the same folder + fsync + ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        # mkstemp makes the file private (0600); a result file or a model manifest should
        # keep the permissions of the file it replaces, or be readable like any new file.
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
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


def _read_jsonl(path: Path) -> tuple[list[Record], int]:
    """Records, and the byte length of the file's valid part (a torn last line excluded)."""
    data = path.read_bytes()
    records: list[Record] = []
    good = 0
    offset = 0
    for line in data.splitlines(keepends=True):
        offset += len(line)
        if not line.endswith(b"\n"):
            break  # torn write of a killed run: redone on resume
        stripped = line.strip()
        if stripped:
            try:
                records.append(Record.from_dict(json.loads(stripped.decode("utf-8"))))
            except (ValueError, UnicodeDecodeError) as e:
                raise OutputError(
                    f"{path}: line {len(records) + 1} is not a result record ({e})"
                ) from e
        good = offset
    return records, good


def read_records(path: str | os.PathLike, fmt: str) -> list[Record]:
    """The records of a finished output file (raises OutputError if it is not one)."""
    path = Path(path)
    try:
        if fmt == "jsonl":
            return _read_jsonl(path)[0]
        text = path.read_text(encoding="utf-8")
        if fmt == "json":
            data = json.loads(text) if text.strip() else []
            if not isinstance(data, list):
                raise ValueError("expected a JSON list of records")
            return [Record.from_dict(d) for d in data]
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(text, newline="")))
            return [Record.from_dict({**row, "score": row.get("score") or None}) for row in rows]
        if fmt == "txt":
            records = []
            for line in text.splitlines():
                if not line:
                    continue
                p, _, rest = line.partition("\t")
                if rest.startswith("ERROR: "):
                    records.append(Record(p, None, None, rest[len("ERROR: ") :]))
                else:
                    records.append(Record(p, rest, None, None))
            return records
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as e:
        raise OutputError(f"{path}: cannot read it back as {fmt} ({e})") from e
    raise ValueError(f"unknown format {fmt!r}")


# -- the writer --------------------------------------------------------------------------------


class ResultWriter:
    """Writes records as they come (see the module docstring for what survives what).

    With ``resume``, ``previous`` holds what earlier runs wrote (de-duplicated by path) and
    ``done`` their keys; new records are added after them.
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
        self.output = None if output is None else Path(output)
        self.fmt = fmt
        self.previous: list[Record] = []
        self.records: list[Record] = []  # this run's, kept only where the end needs them
        self._stream = stream or sys.stdout
        self._file: IO[bytes] | None = None
        self._last_sync = time.monotonic()
        self._closed = False
        if self.output is None:
            if resume:
                raise ValueError("--resume needs an output file")
            if fmt == "csv":
                self._emit(render([], "csv"))
            return
        journal = self.output if fmt == "jsonl" else journal_path(self.output)
        if resume:
            if fmt != "jsonl" and self.output.exists():
                self._add_previous(read_records(self.output, fmt))
            if journal.exists():
                records, good = _read_jsonl(journal)
                self._add_previous(records)
                with open(journal, "r+b") as f:  # cut a torn last line
                    f.truncate(good)
        elif journal.exists() and fmt != "jsonl":
            journal.unlink()  # a stale journal of an abandoned run
        self._file = open(journal, "ab" if resume else "wb")  # noqa: SIM115 - closed in close()

    def _add_previous(self, records: Iterable[Record]) -> None:
        keys = {r.key for r in self.previous}
        for record in records:
            if record.key not in keys:
                keys.add(record.key)
                self.previous.append(record)

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
        self._file.write(jsonl_line(record).encode("utf-8"))
        self._file.flush()  # in the OS now: survives kill -9
        now = time.monotonic()
        if now - self._last_sync >= _FSYNC_INTERVAL_S:
            os.fsync(self._file.fileno())
            self._last_sync = now
        if self.fmt != "jsonl":
            self.records.append(record)

    def all_records(self) -> list[Record]:
        return self.previous + self.records

    def close(self) -> None:
        """Finish the output (also after an interrupted run: what is done is kept)."""
        if self._closed:
            return
        self._closed = True
        if self.output is None:
            if self.fmt == "json":
                self._emit(render(self.records, "json"))
            return
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        if self.fmt == "jsonl":
            return
        write_atomic(self.output, render(self.all_records(), self.fmt))
        # Only once the final file is in place; a crash in between leaves records in both,
        # which a resume de-duplicates.
        journal_path(self.output).unlink(missing_ok=True)

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
