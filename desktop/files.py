"""Files written whole or not at all, and one writer at a time.

``write_atomic`` is how every file this project keeps is written (caption files, settings,
XMP sidecars, ``.shard.json``, a model bundle's manifest and vocabulary, training records):
a temp file in the same folder, fsynced, then ``os.replace``, so the file at the path is
always either the previous complete one or the new complete one. ``FileLock`` keeps a second
run from writing the same caption file while one is at it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path


class LockedError(Exception):
    """Another run holds the lock (or it could not be taken)."""


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


class FileLock:
    """An advisory ``flock`` on ``FILE.lock`` so two runs never write one file.

    Taken without waiting: a second run is refused at once (``LockedError``). The lock file
    is removed on release; a run that finds it replaced after locking (another run just
    removed it) tries again, so two runs never both hold "the" lock.
    """

    def __init__(self, target: Path):
        self.path = Path(os.fspath(target) + ".lock")
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
                raise LockedError(
                    f"{target} is being written by another captioner run "
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
        raise LockedError(f"cannot lock {self.path}")

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None
