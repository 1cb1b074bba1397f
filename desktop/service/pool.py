"""A small pool of captioners with a bounded waiting line, for the REST service.

LiteRT interpreters are not thread-safe, so each request borrows a whole ``Captioner`` for
the length of one caption. A request is first admitted (``admit``): it decodes its photo
there, holding no captioner, so a photo that takes long to decode keeps only its own
request waiting; then it takes a captioner (``captioner``) for the model alone. Requests
beyond ``size + queue_size`` are refused at once (the service answers 503) instead of
piling up behind a slow photo.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


class PoolBusy(Exception):
    """Every captioner is working and the waiting line is full (or the wait timed out)."""


class CaptionerPool:
    """Lends captioners to one request at a time each.

    ``queue_size`` is how many requests may be in the pool beside the working ones
    (decoding their photo or waiting for a free captioner); ``wait_s`` is how long a
    request waits for a captioner before giving up (a safety net, not flow control).
    """

    def __init__(
        self, captioners: Sequence[Any], *, queue_size: int = 8, wait_s: float = 60.0
    ) -> None:
        if not captioners:
            raise ValueError("the pool needs at least one captioner")
        if queue_size < 0:
            raise ValueError(f"queue_size must be 0 or more, got {queue_size}")
        self.size = len(captioners)
        self.queue_size = queue_size
        self.wait_s = wait_s
        self.manifest: dict[str, Any] = dict(captioners[0].bundle.manifest)
        # Every captioner runs the same bundle: one photo decode fits them all.
        self.input_size: tuple[int, int] = tuple(captioners[0].bundle.input_size)
        self._idle: queue.Queue[Any] = queue.Queue()
        for captioner in captioners:
            self._idle.put(captioner)
        # Admission: one permit per captioner plus one per waiting place. A non-blocking
        # acquire keeps the line bounded without any timing.
        self._admission = threading.BoundedSemaphore(self.size + queue_size)
        self._lock = threading.Lock()
        self._admitted = 0
        self._waiting = 0  # admitted and waiting for a captioner
        self._working = 0  # holding a captioner

    @property
    def capacity(self) -> int:
        """Requests that can be in the pool at once (decoding, waiting and working)."""
        return self.size + self.queue_size

    def load(self) -> dict[str, int]:
        """How many requests are decoding their photo, working and waiting (for /health)."""
        with self._lock:
            return {
                "decoding": self._admitted - self._waiting - self._working,
                "working": self._working,
                "waiting": self._waiting,
            }

    @contextmanager
    def admit(self) -> Iterator[None]:
        """A place in the pool for one request; raise :class:`PoolBusy` at once if full."""
        if not self._admission.acquire(blocking=False):
            raise PoolBusy(
                f"the captioner is busy ({self.size} working, {self.queue_size} waiting); "
                "try again shortly"
            )
        try:
            with self._lock:
                self._admitted += 1
            yield
        finally:
            with self._lock:
                self._admitted -= 1
            self._admission.release()

    @contextmanager
    def captioner(self) -> Iterator[Any]:
        """Lend one captioner to an admitted request, waiting up to ``wait_s`` for it."""
        with self._lock:
            self._waiting += 1
        try:
            captioner = self._idle.get(timeout=self.wait_s)
        except queue.Empty:
            raise PoolBusy(
                f"no captioner became free within {self.wait_s:g} s; try again shortly"
            ) from None
        finally:
            with self._lock:
                self._waiting -= 1
        with self._lock:
            self._working += 1
        try:
            yield captioner
        finally:
            with self._lock:
                self._working -= 1
            self._idle.put(captioner)

    @contextmanager
    def borrow(self) -> Iterator[Any]:
        """Admit and lend a captioner at once (for a photo that is already decoded)."""
        with self.admit(), self.captioner() as captioner:
            yield captioner
