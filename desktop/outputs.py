"""A run's caption file (csv, jsonl, json, txt): written as results come, never half-written.

The records are ``desktop/records.py`` (``path`` absolute when written to a file), each
format's text ``desktop/formats.py``, the atomic replace and the lock ``desktop/files.py``;
this module is the writer of a run, which puts them together.

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

import os
import sys
import time
from pathlib import Path
from typing import IO

from desktop.files import FileLock, LockedError, regular_target, write_atomic
from desktop.formats import (
    FORMATS,
    JsonlFile,
    OutputError,
    format_for,
    get_writer,
    jsonl_line,
    read_jsonl,
    read_records,
    read_rows,
    render,
)
from desktop.records import COLUMNS, Record, merge, spreadsheet_safe

# The names the command line and its tests take from here, as before records, formats and
# files had modules of their own (new code imports them from those).
__all__ = [
    "COLUMNS",
    "FORMATS",
    "OutputError",
    "Record",
    "ResultWriter",
    "format_for",
    "journal_path",
    "read_records",
    "read_rows",
    "render",
    "spreadsheet_safe",
]

_FSYNC_INTERVAL_S = 1.0


def journal_path(path: str | os.PathLike) -> Path:
    return Path(os.fspath(path) + ".partial")


def _cut_torn_end(path: Path, log: JsonlFile) -> None:
    """Make ``path`` end after its last whole record, so a resumed run appends cleanly."""
    with open(path, "r+b") as f:
        f.truncate(log.good)
        if log.needs_newline:
            f.seek(0, os.SEEK_END)
            f.write(b"\n")


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
        self._format = get_writer(fmt)  # ValueError for an unknown format
        self.fmt = fmt
        self.resume = resume
        self.previous: list[Record] = []
        self.records: list[Record] = []  # this run's, kept only where the end needs them
        self._earlier: list[Record] = []  # a replaced output's records (kept if interrupted)
        self._stream = stream or sys.stdout
        self._file: IO[bytes] | None = None
        self._journal: Path | None = None
        self._lock: FileLock | None = None
        self._last_sync = time.monotonic()
        self._closed = False
        if output is None:
            self.output = None
            if resume:
                raise ValueError("--resume needs an output file")
            if self._format.streams and self._format.header():
                self._emit(self._format.header())
            return
        try:
            self.output = regular_target(output)
        except OSError as e:
            raise OutputError(e.strerror or str(e)) from None
        try:
            self._lock = FileLock(self.output)
        except LockedError as e:
            raise OutputError(str(e)) from None
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
        # A jsonl output is its own journal, unless this run replaces one that has records.
        direct = self.fmt == "jsonl" and (self.resume or not existing)
        if direct and self.resume and journal.exists():
            direct = False  # an interrupted replacing run left a journal: carry it on
        if self.resume:
            self.previous = merge(existing)
            if direct and existing:
                _cut_torn_end(out, read_jsonl(out))
            elif not direct and journal.exists():
                log = read_jsonl(journal)
                self.previous = merge(self.previous, log.records)
                _cut_torn_end(journal, log)
        else:
            self._earlier = existing
            if journal.exists() and not direct:
                journal.unlink()  # a stale journal of an abandoned run
        if not direct:
            self._journal = journal
        # Closed in close().
        self._file = open(out if direct else journal, "ab" if self.resume else "wb")  # noqa: SIM115

    @property
    def done(self) -> set[str]:
        return {r.key for r in self.previous}

    def _emit(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()

    def write(self, record: Record) -> None:
        if self.output is None:
            if self._format.streams:
                self._emit(self._format.record_line(record))
            else:
                self.records.append(record)
            return
        assert self._file is not None
        # backslashreplace: as in write_atomic (a lone surrogate in a record read back)
        self._file.write(jsonl_line(record).encode("utf-8", "backslashreplace"))
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
            if not self._format.streams:
                self._emit(render(self.records, self.fmt))
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

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(complete=exc_type is None)
