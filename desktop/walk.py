"""Finding photos in the paths a user names, surviving whatever a real disk holds.

Rules (docs/runtime.md):

- A file named explicitly is always reported, whatever its name (a non-image becomes an
  error record, not a silent skip).
- In a folder, files with a photo extension (``images.PHOTO_EXTENSIONS``, any case) are
  reported; hidden names (``.*``, which includes macOS ``._`` files) and everything else
  are skipped. ``recursive`` descends into sub-folders, following symbolic links to folders
  but never into a folder already walked (so symlink loops end and nothing is found twice).
- Entries that cannot be used are reported once with a reason instead of being opened:
  a dangling or looping symbolic link, a FIFO/socket/device named like a photo (opening a
  FIFO would hang), a folder that cannot be listed.
- Paths are ``str`` as the OS gives them; a name that is not valid UTF-8 keeps its bytes as
  surrogate escapes (PEP 383), so it can still be opened. ``display_path`` turns such a
  path into printable text.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from desktop.images import PHOTO_EXTENSIONS


@dataclass(frozen=True)
class Found:
    path: str  # as given / as walked; may hold surrogate escapes
    error: str | None = None  # set when the entry must not be opened


def display_path(path: str | bytes | os.PathLike) -> str:
    r"""Printable, valid-UTF-8 text for a path, the same on every run, one text per path.

    Bytes that are not UTF-8 are written as ``\xNN`` (``errors="backslashreplace"``) and
    control characters (tab, newline, ...) as ``\xNN`` too, so a record is always one line
    and JSON/CSV never carry lone surrogates; bidirectional controls (U+200E/F,
    U+202A–U+202E, U+2066–U+2069) as ``\uNNNN``, so a name cannot display as another. On
    POSIX a literal backslash in a name is written ``\x5c`` first, so the byte ``\xe9``
    (``caf\xe9.jpg``) and the four characters ``\xe9`` (``caf\x5cxe9.jpg``) never spell the
    same and no photo hides another.
    """
    raw = os.fsencode(path)
    if os.sep != "\\":  # Windows paths use the backslash as their separator
        raw = raw.replace(b"\\", b"\\x5c")
    text = raw.decode("utf-8", errors="backslashreplace")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        text = "".join(f"\\x{ord(c):02x}" if ord(c) < 32 or ord(c) == 127 else c for c in text)
    if _BIDI.search(text):
        text = _BIDI.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


# Bidirectional controls (embeddings, overrides, isolates, marks) make a name display as
# another ("photo\u202egpj.exe" shows as "photoexe.jpg"): escaped like the C0 controls.
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def path_key(display: str) -> str:
    """What two records must share to be the same photo (for ``--resume`` and de-duplication)."""
    return os.path.normpath(os.path.abspath(display))


def _reason(e: OSError) -> str:
    if e.errno == errno.ELOOP:
        return "symbolic link loop"
    if e.errno == errno.ENOENT:
        return "file not found"
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return (e.strerror or str(e)).lower()


def _is_photo_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in PHOTO_EXTENSIONS


def _classify(path: str) -> tuple[str, str | None]:
    """('dir' | 'file' | 'bad', reason) for a path, following symbolic links."""
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ENOENT and os.path.islink(path):
            return "bad", "broken symbolic link (its target does not exist)"
        return "bad", _reason(e)
    if stat.S_ISDIR(st.st_mode):
        return "dir", None
    if stat.S_ISREG(st.st_mode):
        return "file", None
    return "bad", "not a regular file (device, FIFO or socket)"


def find_photos(paths: Iterable[str | os.PathLike], recursive: bool = False) -> Iterator[Found]:
    """Every photo (or unusable entry) under ``paths``, each reported once, in a stable order."""
    seen: set[str] = set()
    walked: set[tuple[int, int]] = set()

    def once(found: Found) -> Iterator[Found]:
        key = path_key(display_path(found.path))
        if key not in seen:
            seen.add(key)
            yield found

    for raw in paths:
        path = os.fspath(raw)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        kind, reason = _classify(path)
        if kind == "dir":
            for found in _walk(path, recursive, walked):
                yield from once(found)
        else:
            yield from once(Found(path, reason))


def _walk(root: str, recursive: bool, walked: set[tuple[int, int]]) -> Iterator[Found]:
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError as e:
            yield Found(folder, f"cannot open folder: {_reason(e)}")
            continue
        if (st.st_dev, st.st_ino) in walked:
            continue  # a loop, or a second route to a folder already walked
        walked.add((st.st_dev, st.st_ino))
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: os.fsencode(e.name))
        except OSError as e:
            yield Found(folder, f"cannot list folder: {_reason(e)}")
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()  # follows symbolic links
            except OSError:
                is_dir = False
            if is_dir:
                if recursive:
                    subfolders.append(entry.path)
                continue
            if not _is_photo_name(entry.name):
                continue
            try:
                regular = entry.is_file()
            except OSError:
                regular = False
            if regular:
                yield Found(entry.path)
            else:
                yield Found(entry.path, _classify(entry.path)[1] or "not a regular file")
        # Depth first, in name order, as `find` would list them.
        stack.extend(reversed(subfolders))
