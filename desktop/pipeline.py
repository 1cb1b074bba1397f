"""The batch pipeline: which photos, captioned in order, and where each result goes.

``captioner caption`` (desktop/cli.py) and the app's captioning thread (desktop/gui/worker.py)
both run a ``Job`` through ``run``; neither has a loop of its own.

- **The job** (frozen): the paths, whether to walk them (``walk.find_photos``) or take them
  as the photos themselves (the app's rows, already listed), the ``CaptionOptions``, a
  ``Shard`` of the folder, and the sinks as small frozen specs (``OutputFile``,
  ``Sidecars``, ``LibraryRecords``).
- **Sinks** share one interface (``open`` / ``record`` / ``close``) and are made from their
  spec by the ``SINKS`` table. Each photo is recorded by every sink, in the job's order,
  before the next one is captioned. A sink that holds an earlier run's results (``--resume``)
  names them in ``previous``, and ``skips`` the photos it already has.
- **Events** go to one callback, in order: ``Started`` once the photos are known, one
  ``PhotoDone`` per photo after every sink has it, and ``Message`` for what the user should
  be told (a sidecar kept, a library that cannot be used). The CLI turns them into its
  progress bar and stderr lines; the app into its typed Qt signals. ``run`` returns a
  ``Summary``.

What it guarantees, whoever runs it: a photo that cannot be read is recorded with its reason
and the batch goes on; ``cancel`` (or Ctrl-C, which sets it) stops after the current photo,
and the sinks are closed as an interrupted run (``ResultWriter.close(complete=False)``: no
output ends with fewer records than it had); an output that cannot be written
(``OutputFailed``) closes the sinks the same way; an output that must not be touched is
refused before anything is captioned (``SinkError``); XMP never replaces a description
someone else wrote unless asked (``xmp.write_description``).

The app records into the library from its UI thread (desktop/gui/library_link.py), not
through ``LibraryRecords``: that one connection also stores every edit and tick as it is
typed, and a SQLite connection belongs to the thread that made it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from desktop import PhotoError, shards
from desktop.outputs import OutputError, Record, ResultWriter
from desktop.shards import Shard
from desktop.walk import Found, display_path, find_photos, path_key

if TYPE_CHECKING:  # types only: a job is made and checked before any model is loaded
    from desktop.bundle import Bundle
    from desktop.captioner import Captioner, CaptionOptions, CaptionResult
    from desktop.library import Library


class SinkError(Exception):
    """A sink cannot be opened (an output that is not this tool's, locked, not a regular
    file…); nothing was captioned and nothing touched."""


class OutputFailed(Exception):
    """The output could not be written mid-run (disk full, folder gone, a reader that left);
    what was finished is kept (its journal and the earlier file stay)."""

    def __init__(self, where: str | os.PathLike | None, error: OSError) -> None:
        super().__init__(f"cannot write {where or 'the output'}: {error.strerror or error}")
        self.where = where
        self.error = error


# -- the job ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputFile:
    """The result file (``outputs.ResultWriter``); ``path`` None writes to stdout."""

    path: str | None
    fmt: str
    resume: bool = False


@dataclass(frozen=True)
class Sidecars:
    """The caption and object names in an XMP sidecar beside each photo (desktop/xmp.py)."""

    overwrite: bool = False  # also replace descriptions this app did not write


@dataclass(frozen=True)
class LibraryRecords:
    """Each caption into the caption library (desktop/library.py); ``path`` None: the
    user's own (``library_path()``)."""

    path: str | None = None


SinkSpec = OutputFile | Sidecars | LibraryRecords


@dataclass(frozen=True)
class Job:
    paths: tuple[str, ...]
    options: CaptionOptions | None = None  # None: CaptionOptions()
    recursive: bool = False
    # The paths are the photos themselves (the app's rows): not walked, not skipped.
    listed: bool = False
    shard: Shard | None = None  # of the one folder in paths (needs an OutputFile with a path)
    sinks: tuple[SinkSpec, ...] = ()

    @property
    def output(self) -> OutputFile | None:
        return next((s for s in self.sinks if isinstance(s, OutputFile)), None)

    def problem(self) -> str | None:
        """Why this job cannot run as asked (before a model is loaded), or None."""
        out = self.output
        target = out.path if out is not None else None
        if out is not None and out.resume and target is None:
            return "--resume needs --output FILE"
        if target is not None and os.path.isdir(target):
            return f"--output {target} is a folder"
        if self.shard is not None:
            resume = out is not None and out.resume
            return shards.check_usage(self.shard, list(self.paths), target, resume)
        return None

    def model_problem(self, bundle: Bundle) -> str | None:
        """Why this job cannot run with the loaded model's ``bundle``, or None: a resumed
        shard captioned by another model would pass merge's check on the bundle unseen."""
        out = self.output
        if self.shard is None or out is None or not out.resume or out.path is None:
            return None
        before = shards.read_info(out.path)  # readable: problem() read it
        if before is not None and before.bundle is not None and before.bundle != bundle.id:
            return (
                f"{out.path} was captioned by another model ({before.bundle_name!r}, "
                f"{before.bundle[:12]}): resume it with that model (--model), or write a "
                "new output"
            )
        return None


# -- events -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    total: int  # photos this run will caption
    previous: int  # photos an earlier run did (resume), skipped


@dataclass(frozen=True)
class PhotoDone:
    path: str  # as walked or given (may hold surrogate escapes: walk.display_path)
    result: CaptionResult | None
    error: str | None  # why it has no caption; exactly one of result / error is set
    done: int  # photos finished in this run, this one included
    total: int


@dataclass(frozen=True)
class Message:
    level: str  # "note" (as asked, not a failure) or "warning"
    text: str


Event = Started | PhotoDone | Message
Tell = Callable[[Event], None]


@dataclass(frozen=True)
class Summary:
    captioned: int = 0
    failed: int = 0  # this run's photos without a caption
    previous_failed: int = 0  # recorded without a caption by an earlier run (resume)
    sink_failures: int = 0  # results a sink could not keep (an XMP sidecar not written)
    stopped: bool = False  # cancelled or interrupted before every photo was done

    @property
    def ok(self) -> bool:
        return not (self.failed or self.previous_failed or self.sink_failures)


# -- sinks --------------------------------------------------------------------------------------


class Sink:
    """Where results go. ``open`` before the first photo (``SinkError``: refused),
    ``record`` once per photo in order (False: this sink could not keep it, which the
    run's summary counts), ``close`` once (``complete`` False after a cancel or failure)."""

    previous: Sequence[Record] = ()

    def open(self, bundle: Bundle, tell: Tell) -> None:
        self._tell = tell

    def skips(self, path: str) -> bool:
        return False

    def record(self, photo: PhotoDone) -> bool:
        return True

    def close(self, complete: bool) -> None:
        pass


class OutputSink(Sink):
    def __init__(self, spec: OutputFile) -> None:
        self.spec = spec
        self.writer: ResultWriter | None = None
        self._done: set[str] = set()

    def open(self, bundle: Bundle, tell: Tell) -> None:
        spec = self.spec
        super().open(bundle, tell)
        try:
            self.writer = ResultWriter(spec.path, spec.fmt, resume=spec.resume)
        except (OutputError, OSError) as e:
            what = "resume" if spec.resume else "write"
            raise SinkError(f"cannot {what} {spec.path}: {e}") from e
        self.previous = self.writer.previous
        self._done = self.writer.done

    def shown(self, path: str) -> str:
        # A file records absolute paths, so --resume from another folder finds them.
        return display_path(os.path.abspath(path) if self.spec.path is not None else path)

    def skips(self, path: str) -> bool:
        return path_key(self.shown(path)) in self._done

    def record(self, photo: PhotoDone) -> bool:
        assert self.writer is not None
        path = self.shown(photo.path)
        if photo.result is None:
            record = Record(path, None, None, photo.error)
        else:
            record = Record.from_result(path, photo.result)
        try:
            self.writer.write(record)
        except OSError as e:  # disk full, output folder gone, …: what is written stays
            raise OutputFailed(self.writer.output, e) from e
        return True

    def close(self, complete: bool) -> None:
        if self.writer is not None:
            self.writer.close(complete=complete)


class XmpSink(Sink):
    def __init__(self, spec: Sidecars) -> None:
        self.spec = spec

    def record(self, photo: PhotoDone) -> bool:
        from desktop import CaptionerError
        from desktop.xmp import DescriptionKept, write_description

        result = photo.result
        if result is None:
            return True
        try:
            write_description(
                photo.path,
                result.text,
                [o.name for o in result.objects],
                overwrite=self.spec.overwrite,
                unsure=bool(result.unsure),
                text_lines=tuple(line.text for line in result.text_lines),
            )
        except DescriptionKept as e:  # the user's own words: kept, as asked, not a failure
            self._tell(Message("note", str(e)))
        except CaptionerError as e:
            self._tell(Message("warning", str(e)))
            return False
        return True


class LibrarySink(Sink):
    """A library that cannot be used is told once and the run goes on without it (the
    output file is what was asked for)."""

    def __init__(self, spec: LibraryRecords) -> None:
        self.spec = spec
        self._library: Library | None = None
        self._bundle = ""

    def open(self, bundle: Bundle, tell: Tell) -> None:
        from desktop.library import Library, LibraryError

        super().open(bundle, tell)
        self._bundle = bundle.id
        try:
            self._library = Library(self.spec.path)
        except (LibraryError, OSError) as e:  # not even a library in memory: run without
            tell(Message("warning", f"{e}; {self._without('this run')}"))
            return
        for note in self._library.notes:
            tell(Message("note", note))

    @staticmethod
    def _without(what: str) -> str:
        return f"{what} is not recorded in the library (the output is written as usual)"

    def record(self, photo: PhotoDone) -> bool:
        from desktop.library import LibraryError

        result = photo.result
        if self._library is None or result is None:
            return True
        try:
            self._library.record(
                photo.path,
                bundle=self._bundle,
                caption=result.text,
                score=result.score,
                confidence=result.confidence,
                unsure=bool(result.unsure),
                objects=result.objects,
                text=result.full_text,
            )
        except (LibraryError, OSError) as e:
            self._tell(Message("warning", f"{e}; {self._without('the rest of this run')}"))
            self.close(complete=False)
        return True

    def close(self, complete: bool) -> None:
        if self._library is not None:
            self._library.close()
            self._library = None


# Any: each sink takes its own spec (OutputSink an OutputFile, …), which one Callable type
# cannot say.
SINKS: dict[type, Callable[[Any], Sink]] = {
    OutputFile: OutputSink,
    Sidecars: XmpSink,
    LibraryRecords: LibrarySink,
}


# -- running ------------------------------------------------------------------------------------


@dataclass
class _Count:  # what run() tells in its Summary, counted as the photos go
    done: int = 0
    captioned: int = 0
    failed: int = 0
    sink_failures: int = 0
    stopped: bool = False


def _reason(error: BaseException) -> str:
    if isinstance(error, PhotoError) and error.reason:
        return error.reason  # the record already names the photo
    return str(error)


def _photos(job: Job, bundle: Bundle, sinks: Sequence[Sink]) -> list[Found]:
    if job.listed:
        return [Found(os.fspath(p)) for p in job.paths]
    found: Iterable[Found] = find_photos(job.paths, recursive=job.recursive)
    out = job.output
    if job.shard is not None and out is not None and out.path is not None:
        found = shards.take(
            job.shard,
            job.paths[0],
            found,
            out.path,
            out.fmt,
            job.recursive,
            (bundle.id, bundle.name),
        )
    return [f for f in found if not any(s.skips(f.path) for s in sinks)]


def _close(sinks: Sequence[Sink], complete: bool, quiet: bool = False) -> None:
    """Close every sink (the first error raised after the others are closed)."""
    error: BaseException | None = None
    for sink in sinks:
        try:
            sink.close(complete)
        except Exception as e:
            error = error or e
    if error is not None and not quiet:
        raise error


def run(
    job: Job,
    captioner: Captioner,
    tell: Tell | None = None,
    cancel: threading.Event | None = None,
) -> Summary:
    """Caption the job's photos into its sinks (see the module docstring)."""
    from desktop.captioner import CaptionOptions

    tell = tell or (lambda event: None)
    cancel = cancel or threading.Event()
    options = job.options or CaptionOptions()
    bundle = captioner.bundle
    sinks: list[Sink] = []
    try:
        for spec in job.sinks:
            sink = SINKS[type(spec)](spec)
            sink.open(bundle, tell)
            sinks.append(sink)
    except BaseException:
        _close(sinks, complete=False, quiet=True)
        raise
    count = _Count()
    try:
        photos = _photos(job, bundle, sinks)
        previous = [r for s in sinks for r in s.previous]
        tell(Started(len(photos), len(previous)))
        _caption(captioner, photos, options, sinks, tell, cancel, count)
    except OutputFailed:
        with contextlib.suppress(OSError):
            _close(sinks, complete=False)
        raise
    except BaseException:
        _close(sinks, complete=False)
        raise
    _close(sinks, complete=not count.stopped)
    return Summary(
        captioned=count.captioned,
        failed=count.failed,
        previous_failed=sum(1 for r in previous if not r.ok),
        sink_failures=count.sink_failures,
        stopped=count.stopped,
    )


def _caption(
    captioner: Captioner,
    photos: list[Found],
    options: CaptionOptions,
    sinks: Sequence[Sink],
    tell: Tell,
    cancel: threading.Event,
    count: _Count,
) -> None:
    total = len(photos)

    def done(path: str, result: CaptionResult | None, error: str | None) -> None:
        photo = PhotoDone(path, result, error, count.done + 1, total)
        for sink in sinks:
            if not sink.record(photo):
                count.sink_failures += 1
        count.done += 1
        if error is None:
            count.captioned += 1
        else:
            count.failed += 1
        tell(photo)

    try:
        # caption_many is lazy and yields in input order, so entries the walk already knows
        # are bad (never opened: a FIFO would hang) keep their place in the output.
        items = captioner.caption_many(
            [f.path for f in photos if f.error is None], options=options, cancel=cancel
        )
        for f in photos:
            if cancel.is_set():
                break
            if f.error is not None:
                done(f.path, None, f.error)
                continue
            item = next(items, None)
            if item is None:  # cancelled while the photo was being captioned
                break
            path = os.fspath(item.path)
            if item.error is not None:
                done(path, None, _reason(item.error))
            else:
                done(path, item.result, None)
    except KeyboardInterrupt:  # Ctrl-C: what is done is kept, as after a cancel
        cancel.set()
        count.stopped = True
        return
    count.stopped = count.done < total
