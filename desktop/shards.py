"""Splitting one folder of photos across machines: ``captioner caption ROOT --shard K/N``.

Every photo belongs to exactly one of N shards, decided by the SHA-256 of its path relative
to ROOT (POSIX separators, display text as in the outputs), so every machine agrees whatever
ROOT's mount point is (``/mnt/archive`` on one, ``/data/archive`` on another), and the
assignment never changes between runs (Python's ``hash()`` is salted per process). Shards are
numbered from 0, as Slurm array indexes and Kubernetes' ``JOB_COMPLETION_INDEX`` are.

A sharded run writes ``OUTPUT.shard.json`` beside its output: which shard it is, the root
and working folder it ran in (to relate the records' paths to the root), the model bundle
that captioned it (``Bundle.id``, so merge can refuse shards of different models) and the
relative paths of every photo assigned to it, so ``captioner merge`` can tell a missing photo
from one that was never there. See docs/scale.md.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from desktop.files import write_atomic
from desktop.walk import Found, display_path

INFO_VERSION = 1


class ShardError(Exception):
    """A --shard that cannot be used (bad K/N, wrong paths, output of another shard)."""


@dataclass(frozen=True)
class Shard:
    index: int  # 0 ≤ index < count
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"K/N"`` → ``Shard(K, N)``; ValueError with a message a user can act on."""
        head, sep, tail = text.partition("/")
        try:
            index, count = int(head), int(tail)
        except ValueError:
            raise ValueError(f"expected K/N with whole numbers (e.g. 0/4), got {text!r}") from None
        if not sep or count < 1:
            raise ValueError(f"the shard count N must be at least 1, got {text!r}")
        if not 0 <= index < count:
            raise ValueError(
                f"the shard index K must be 0 to {count - 1} (shards count from 0, as Slurm "
                f"array and Kubernetes completion indexes do), got {text!r}"
            )
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, key: str) -> bool:
        return shard_of(key, self.count) == self.index


def shard_of(key: str, count: int) -> int:
    """The shard (0..count-1) of a photo's relative key: the first 8 bytes of its SHA-256."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def relative_key(path: str, root: str, cwd: str) -> str:
    """A record's path relative to ``root``, POSIX separators: what shards and merges match.

    ``path`` is a record's display path, absolute or relative to ``cwd`` (the folder the run
    was started in); ``root`` and ``cwd`` are absolute display paths on the same machine.
    """
    full = os.path.normpath(os.path.join(cwd, path))
    prefix = root.rstrip(os.sep) + os.sep
    # Under the root is the usual case, and slicing is 5x faster than relpath.
    inside = full.startswith(prefix)
    relative = full[len(prefix) :] if inside else os.path.relpath(full, root)
    return relative.replace(os.sep, "/")


def _absolute(path: str) -> str:
    return display_path(os.path.abspath(path))


@dataclass(frozen=True)
class ShardInfo:
    """What ``OUTPUT.shard.json`` holds."""

    shard: Shard
    root: str  # absolute display path of ROOT on the machine that ran the shard
    cwd: str  # absolute display path of the folder it ran in
    recursive: bool
    format: str
    photos: tuple[str, ...]  # relative keys of every photo assigned to the shard, walk order
    # The model that captioned it (Bundle.id and its name); None in files of older versions.
    bundle: str | None = None
    bundle_name: str | None = None

    def key(self, record_path: str) -> str:
        return relative_key(record_path, self.root, self.cwd)

    def to_json(self) -> str:
        return json.dumps(
            {
                "captioner_shard": INFO_VERSION,
                "shard": str(self.shard),
                "root": self.root,
                "cwd": self.cwd,
                "recursive": self.recursive,
                "format": self.format,
                "photos": list(self.photos),
                "bundle": self.bundle,
                "bundle_name": self.bundle_name,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> ShardInfo:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("captioner_shard") != INFO_VERSION:
            raise ValueError("not a captioner shard description (version 1)")
        return cls(
            shard=Shard.parse(data["shard"]),
            root=str(data["root"]),
            cwd=str(data["cwd"]),
            recursive=bool(data["recursive"]),
            format=str(data["format"]),
            photos=tuple(data["photos"]),
            bundle=None if data.get("bundle") is None else str(data["bundle"]),
            bundle_name=None if data.get("bundle_name") is None else str(data["bundle_name"]),
        )


def info_path(output: str | os.PathLike) -> Path:
    return Path(os.fspath(output) + ".shard.json")


def read_info(output: str | os.PathLike) -> ShardInfo | None:
    """The shard description beside ``output``, None if there is none (an unsharded run)."""
    path = info_path(output)
    try:
        return ShardInfo.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ShardError(f"{path}: cannot read it ({e})") from e


def check_usage(shard: Shard, paths: list[str], output: str | None, resume: bool) -> str | None:
    """Why ``captioner caption PATHS --shard`` cannot run as asked, or None."""
    if len(paths) != 1 or not os.path.isdir(paths[0]):
        got = f"{len(paths)} paths" if len(paths) != 1 else f"{paths[0]}, not a folder"
        return (
            "--shard splits one folder (the archive's root, the same on every machine "
            f"up to its mount point); got {got}"
        )
    if output is None:
        return "--shard needs --output FILE (the merge reads FILE.shard.json beside it)"
    if resume:
        try:
            before = read_info(output)
        except ShardError as e:
            return str(e)
        if before is not None and before.shard != shard:
            return (
                f"{output} holds shard {before.shard}, not {shard}: "
                f"resume it with --shard {before.shard}"
            )
    return None


def take(
    shard: Shard,
    root: str,
    found: Iterable[Found],
    output: str | os.PathLike,
    fmt: str,
    recursive: bool,
    bundle: tuple[str, str] | None = None,
) -> Iterator[Found]:
    """The photos of ``found`` (walked from ``root``) that belong to ``shard``, after writing
    ``OUTPUT.shard.json`` that lists them (before any is captioned, so an interrupted shard
    can still be checked) and names ``bundle`` (its id and name: merge checks that every
    shard used the same model)."""
    info_root, cwd = _absolute(root), _absolute(os.getcwd())
    mine: list[Found] = []
    keys: list[str] = []
    for f in found:
        key = relative_key(display_path(f.path), info_root, cwd)
        if shard.owns(key):
            mine.append(f)
            keys.append(key)
    bundle_id, bundle_name = bundle or (None, None)
    info = ShardInfo(shard, info_root, cwd, recursive, fmt, tuple(keys), bundle_id, bundle_name)
    write_atomic(info_path(output), info.to_json() + "\n")
    return iter(mine)
