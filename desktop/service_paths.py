"""Which photo references the local service accepts: no remote URLs, local files only under
the folders the user allowed with ``--allow-paths``.

Kept apart from the Flask app so the policy reads (and is tested) on its own.
"""

from __future__ import annotations

import os
import re
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
        """Return the real path of an allowed, existing photo file, or raise :class:`PathRefused`.

        The allow-list is checked on the resolved path *before* looking at the file, so a
        refused request says nothing about whether a file exists outside the allowed folders.
        """
        reference = reference.strip()
        if not reference:
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
        real = Path(os.path.realpath(reference))
        if not any(real.is_relative_to(root) for root in self.roots):
            raise PathRefused(
                403, f"{reference!r} is outside the folders allowed with --allow-paths"
            )
        if not real.exists():
            raise PathRefused(404, f"no such file: {reference!r}")
        if not real.is_file():
            raise PathRefused(400, f"not a file: {reference!r}")
        return real


def _file_url_to_path(url: str) -> str:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise PathRefused(400, f"file URLs on another machine are not read ({parts.netloc!r})")
    path = unquote(parts.path)
    # file:///C:/photos/a.jpg → /C:/photos/a.jpg; drop the slash before a drive letter.
    if re.match(r"^/[A-Za-z]:", path) and os.name == "nt":
        path = path[1:]
    return path
