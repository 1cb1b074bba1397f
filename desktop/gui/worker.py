"""The captioning thread: loads the model (if needed) and captions photos without blocking the UI.

The photos go through the batch pipeline (desktop/pipeline.py), as ``captioner caption``'s
do; its events become typed signals, which carry everything back to the UI thread.
``cancel()`` may be called from any thread; the pipeline then stops after the photo it is
working on, and every result produced so far has already been delivered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from desktop import pipeline
from desktop.captioner import Captioner, CaptionOptions
from desktop.walk import display_path


@dataclass(frozen=True)
class ModelSpec:
    """What ``Captioner.load`` needs; equal specs can share one loaded captioner."""

    model_dir: str | None = None
    threads: int | None = None
    delegate: str | None = None
    accelerator: str = "auto"

    def describe(self) -> str:
        parts = [self.model_dir or "the default model"]
        if self.delegate:
            parts.append(f"delegate {self.delegate}")
        elif self.accelerator != "auto":
            parts.append(f"on the {self.accelerator.upper()}")
        elif self.threads:
            parts.append(f"{self.threads} CPU threads")
        return ", ".join(parts)


def model_words(spec: ModelSpec) -> str:
    """The model as said aloud: "the default model", "the model coco-small" (the folder's
    name, not its path)."""
    if not spec.model_dir:
        return "the default model"
    return f"the model {display_path(Path(spec.model_dir).name or spec.model_dir)}"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def load_captioner(spec: ModelSpec) -> tuple[Captioner, list[str]]:
    """The loaded captioner and the runtime's warnings while loading it.

    The runtime falls back to the CPU when a delegate will not load, and says why only in a
    log warning; the user asked for the delegate, so the GUI shows that warning."""
    collect = _Collect()
    runtime_log = logging.getLogger("desktop.runtime")
    runtime_log.addHandler(collect)
    try:
        captioner = Captioner.load(
            model_dir=spec.model_dir,
            threads=spec.threads,
            delegate=spec.delegate,
            accelerator=None if spec.delegate else spec.accelerator,
        )
    finally:
        runtime_log.removeHandler(collect)
    problems = list(dict.fromkeys(collect.messages))
    if spec.delegate and not captioner.delegate_active and not problems:
        problems.append(f"delegate {spec.delegate} could not be used; running on the CPU")
    return captioner, problems


class CaptionWorker(QThread):
    progress = Signal(int, int)  # photos finished, photos in this run
    result = Signal(str, object)  # path, CaptionResult
    error = Signal(str, str)  # path, why it has no caption
    model_ready = Signal(object)  # the loaded Captioner, for the next run to reuse
    model_failed = Signal(str)  # the model could not be loaded
    model_warning = Signal(str)  # loaded, but not as asked (e.g. delegate → CPU fallback)
    failed = Signal(str)  # the run stopped for an unexpected reason

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        beam_width: int,
        spec: ModelSpec,
        captioner: Captioner | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._paths = [Path(p) for p in paths]
        self._beam_width = beam_width
        self._spec = spec
        self._captioner = captioner
        self._cancel = threading.Event()
        self.done = 0

    @property
    def total(self) -> int:
        return len(self._paths)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Stop after the current photo. Safe from any thread."""
        self._cancel.set()

    def run(self) -> None:
        captioner = self._captioner
        if captioner is None:
            try:
                captioner, problems = load_captioner(self._spec)
            except Exception as exc:  # a bad bundle or delegate must not take the app down
                self.model_failed.emit(f"Could not load the model ({self._spec.describe()}): {exc}")
                return
            self.model_ready.emit(captioner)
            for problem in problems:
                self.model_warning.emit(problem[:1].upper() + problem[1:])
        job = pipeline.Job(
            paths=tuple(str(p) for p in self._paths),
            options=CaptionOptions(beam_width=self._beam_width),
            listed=True,  # the window's rows: listed already, never walked again
        )
        try:
            pipeline.run(job, captioner, self._tell, cancel=self._cancel)
        except Exception as exc:  # e.g. the delegate failing mid-run
            self.failed.emit(f"Captioning stopped: {exc}")

    def _tell(self, event: pipeline.Event) -> None:
        """The pipeline's events as this thread's typed signals (queued to the UI thread)."""
        if isinstance(event, pipeline.PhotoDone):
            if event.error is not None:
                # The row already names the photo: the pipeline gives just the reason.
                self.error.emit(event.path, event.error)
            else:
                self.result.emit(event.path, event.result)
            self.done = event.done
            self.progress.emit(event.done, event.total)
        elif isinstance(event, pipeline.Started):
            self.progress.emit(0, event.total)
        elif isinstance(event, pipeline.Message):
            self.model_warning.emit(event.text[:1].upper() + event.text[1:])
