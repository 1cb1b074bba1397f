"""A small pool of captioners with a bounded waiting line, for the REST service.

LiteRT interpreters are not thread-safe, so each request borrows a whole ``Captioner`` for
the length of one caption. Requests beyond ``size + queue_size`` are refused at once (the
service answers 503) instead of piling up behind a slow photo.
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

    ``queue_size`` is how many requests may wait for a free captioner; ``wait_s`` is how long
    such a request waits before giving up (a safety net for a stuck photo, not flow control).
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
        self._idle: queue.Queue[Any] = queue.Queue()
        for captioner in captioners:
            self._idle.put(captioner)
        # Admission: one permit per captioner plus one per waiting place. A non-blocking
        # acquire keeps the line bounded without any timing.
        self._admission = threading.BoundedSemaphore(self.size + queue_size)
        self._lock = threading.Lock()
        self._admitted = 0

    @property
    def capacity(self) -> int:
        """Requests that can be in the pool at once (working + waiting)."""
        return self.size + self.queue_size

    def load(self) -> dict[str, int]:
        """How many requests are working and waiting right now (for /health)."""
        with self._lock:
            admitted = self._admitted
        working = min(admitted, self.size)
        return {"working": working, "waiting": admitted - working}

    @contextmanager
    def borrow(self) -> Iterator[Any]:
        """Lend one captioner; raise :class:`PoolBusy` at once if the line is full."""
        if not self._admission.acquire(blocking=False):
            raise PoolBusy(
                f"the captioner is busy ({self.size} working, {self.queue_size} waiting); "
                "try again shortly"
            )
        try:
            with self._lock:
                self._admitted += 1
            try:
                captioner = self._idle.get(timeout=self.wait_s)
            except queue.Empty:
                raise PoolBusy(
                    f"no captioner became free within {self.wait_s:g} s; try again shortly"
                ) from None
            try:
                yield captioner
            finally:
                self._idle.put(captioner)
        finally:
            with self._lock:
                self._admitted -= 1
            self._admission.release()
