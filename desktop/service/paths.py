"""Which photo references the local service accepts: no remote URLs, local files only under
the folders the user allowed with ``--allow-paths``.

Kept apart from the Flask app so the policy reads (and is tested) on its own.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

# A URL scheme followed by "//" (http://, https://, ftp://, s3://, …). Two letters at least so a
# Windows drive ("C://photos") is not mistaken for one.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")
# Schemes without "//" that still mean "fetch something that is not a local file".
_OPAQUE_URL = re.compile(r"^(data|blob|javascript|mailto):", re.IGNORECASE)


class PathRefused(Exception):
    """A photo reference the service will not open. ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class PathPolicy:
    """The folders local photos may come from, already resolved (symlinks and ``..``)."""

    roots: tuple[Path, ...] = ()

    @classmethod
    def from_folders(cls, folders: Iterable[str | os.PathLike[str]] | None) -> PathPolicy:
        roots: list[Path] = []
        for folder in folders or ():
            root = Path(os.path.realpath(os.fspath(folder)))
            if not root.is_dir():
                raise ValueError(f"--allow-paths {os.fspath(folder)!r} is not a folder")
            if root not in roots:
                roots.append(root)
        return cls(tuple(roots))

    def resolve(self, reference: str) -> Path:
        """Return the real path of an allowed photo reference, or raise :class:`PathRefused`.

        The allow-list is checked on the resolved path *before* looking at the file, so a
        refused request says nothing about whether a file exists outside the allowed folders.
        Nothing is opened here: :meth:`open` opens the file once and checks what it opened.
        """
        # Taken as given: "cat.jpg\n" or "cat.jpg " is another name (stripping it answered
        # with cat.jpg's caption); only an empty or blank reference gets the hint.
        if not reference.strip():
            raise PathRefused(400, "give the photo's path, e.g. ?path=/home/me/Pictures/dog.jpg")
        if reference.lower().startswith("file://"):
            reference = _file_url_to_path(reference)
        elif _URL.match(reference) or _OPAQUE_URL.match(reference):
            scheme = reference.split(":", 1)[0]
            raise PathRefused(
                400,
                f"remote URLs are not fetched ({scheme}:… given): the captioner works offline. "
                "Download the photo yourself and send its bytes with POST /caption.",
            )
        if "\x00" in reference:
            raise PathRefused(400, "the path contains a NUL character")
        if not os.path.isabs(reference):
            raise PathRefused(400, f"the path must be absolute, got {reference!r}")
        if not self.roots:
            raise PathRefused(
                403,
                "reading local files is turned off; start the service with "
                "--allow-paths FOLDER, or send the photo's bytes with POST /caption",
            )
        try:
            real = Path(os.path.realpath(reference))
        except OSError as e:  # a link changed while it was being resolved, …
            raise _refusal(e, reference) from None
        if not self.allows(real):
            raise PathRefused(
                403, f"{reference!r} is outside the folders allowed with --allow-paths"
            )
        return real

    def allows(self, real: Path) -> bool:
        return any(real.is_relative_to(root) for root in self.roots)

    def open(self, reference: str, max_bytes: int) -> bytes:
        """The bytes of an allowed regular file, read from one ``open`` that follows no
        link in its last part and never blocks, checked by what was opened (``fstat``, and
        the opened file's own path), so swapping the file for a link or a FIFO between the
        check and the read gains nothing."""
        real = self.resolve(reference)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(real, flags | getattr(os, "O_CLOEXEC", 0))
        except OSError as e:
            raise _refusal(e, reference) from None
        try:
            return self._read_checked(fd, reference, max_bytes)
        finally:
            os.close(fd)

    def _read_checked(self, fd: int, reference: str, max_bytes: int) -> bytes:
        opened = _opened_path(fd)
        if opened is not None and not self.allows(opened):
            # A folder on the way was swapped for a link after resolve().
            raise PathRefused(
                403, f"{reference!r} is outside the folders allowed with --allow-paths"
            )
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PathRefused(400, f"not a regular file: {reference!r}")
        if st.st_size > max_bytes:
            raise PathRefused(
                413,
                f"the photo is {st.st_size / 2**20:.1f} MB, "
                f"over the {max_bytes / 2**20:g} MB limit",
            )
        chunks, left = [], max_bytes
        try:
            while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
                chunks.append(chunk)
                left -= len(chunk)
        except OSError as e:
            raise _refusal(e, reference) from None
        return b"".join(chunks)


def _opened_path(fd: int) -> Path | None:
    """The real path of an open file (Linux /proc; None where the OS cannot say)."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return None


def _refusal(e: OSError, reference: str) -> PathRefused:
    if e.errno in (errno.ENOENT, errno.ENOTDIR):
        return PathRefused(404, f"no such file: {reference!r}")
    if e.errno == errno.ELOOP:  # the file itself became a link after it was checked
        return PathRefused(403, f"{reference!r} is outside the folders allowed with --allow-paths")
    if e.errno == errno.ENAMETOOLONG:
        return PathRefused(400, "a name in the path is too long for this computer")
    if e.errno in (errno.EACCES, errno.EPERM):
        return PathRefused(403, f"permission denied: {reference!r}")
    if e.errno == errno.EISDIR:
        return PathRefused(400, f"not a regular file: {reference!r}")
    return PathRefused(400, f"cannot read {reference!r} ({(e.strerror or 'error').lower()})")


def _file_url_to_path(url: str) -> str:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise PathRefused(400, f"file URLs on another machine are not read ({parts.netloc!r})")
    path = unquote(parts.path)
    # file:///C:/photos/a.jpg → /C:/photos/a.jpg; drop the slash before a drive letter.
    if re.match(r"^/[A-Za-z]:", path) and os.name == "nt":
        path = path[1:]
    return path
