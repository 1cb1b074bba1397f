"""The caption library: every caption, edit and *Reviewed* tick, kept in one SQLite file.

Where: ``platformdirs.user_data_dir("captioner")/library.sqlite3`` (``~/.local/share/captioner``
on Linux, ``%LOCALAPPDATA%\\captioner`` on Windows, ``~/Library/Application Support/captioner``
on macOS); ``CAPTIONER_LIBRARY`` names another file (tests, portable installs). It holds only
what this app made on this machine: paths, sizes, modification times, content hashes,
captions, objects and the user's own words. ``forget`` and deleting the file remove it.

Why it is built this way:

- **Nothing lost on a crash.** Every change is one short transaction, committed before the
  call returns, in WAL mode with ``synchronous=FULL``: ``kill -9`` or a power cut loses at
  most the change being made.
- **Several writers.** The GUI and a ``captioner caption`` run may write at once. Writes take
  the lock at ``BEGIN IMMEDIATE`` (a deferred transaction that upgrades fails at once with
  "database is locked", whatever the busy timeout), and wait up to ``BUSY_TIMEOUT_S``.
- **A moved or renamed photo keeps its caption**: rows carry the sha256 of the file, and a
  photo the library does not know by path is looked up by its hash.
- **Faults are told, never fatal** (``notes`` holds what to tell the user): a file that is
  not a library (corrupt, or some other program's) is moved aside and a fresh library
  made; a library that cannot be written (read-only disk, or made by a newer version) is
  copied into memory and this session's changes are kept there only; a full disk raises
  ``LibraryFull`` for that one change, and everything stored before stays.

Why one module of this size: the schema, its migrations and every query on it change
together (a new column is a migration, an index and the queries that use it); nothing
outside this module writes SQL.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import platformdirs

from desktop.objects import DetectedObject
from desktop.records import Record
from desktop.walk import display_path, path_key

APP_NAME = "captioner"
FILE_NAME = "library.sqlite3"
LIBRARY_ENV = "CAPTIONER_LIBRARY"
# "CAPT": marks the file as ours, so another program's SQLite file is never taken for one.
APPLICATION_ID = 0x43415054
SCHEMA_VERSION = 3
BUSY_TIMEOUT_S = 30.0
_HASH_CHUNK = 1 << 20


class LibraryError(Exception):
    """A change could not be stored (the message says why, for the user)."""


class LibraryFull(LibraryError):
    """The disk is full: this change was not stored; everything stored before is kept."""


def library_path() -> Path:
    override = os.environ.get(LIBRARY_ENV)
    if override:
        return Path(override)
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / FILE_NAME


@dataclass(frozen=True)
class Fingerprint:
    """What tells whether a file is the one captioned: stat first (cheap), hash when needed."""

    size: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of(cls, path: str | os.PathLike) -> Fingerprint:
        st = os.stat(path)
        return cls(st.st_size, st.st_mtime_ns, file_sha256(path))


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Entry:
    """One photo as stored."""

    path: str  # display text of the absolute path (walk.display_path)
    size: int
    mtime_ns: int
    sha256: str
    bundle: str | None  # id of the model bundle whose caption this is
    caption: str | None  # the model's
    score: float | None
    confidence: float | None
    unsure: bool
    objects: tuple[DetectedObject, ...]
    user_caption: str | None  # the user's own words: never overwritten by the model
    reviewed: bool
    created: float  # unix seconds
    updated: float
    file: str = ""  # the path to open (may hold surrogate escapes, unlike ``path``)
    changed: bool = False  # the file on disk is no longer the one captioned (lookup only)

    @property
    def text(self) -> str | None:
        """What is shown and exported: the user's words win over the model's."""
        return self.user_caption if self.user_caption is not None else self.caption

    def needs_model(self, bundle: str) -> bool:
        """Whether a run of model ``bundle`` should caption this photo again: never over the
        user's words; else when the photo changed or another model captioned it."""
        if self.user_caption is not None:
            return False
        return self.changed or self.caption is None or self.bundle != bundle


# -- schema -----------------------------------------------------------------------------------
# Each step takes the schema from version N to N+1 inside one transaction. A new library runs
# them all, so the upgrade path of an old file is the path every library has taken.

_V1 = """
CREATE TABLE photos (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,      -- walk.path_key of the display path: one row per photo
    path TEXT NOT NULL,            -- display text (valid UTF-8)
    raw BLOB NOT NULL,             -- os.fsencode of the path, to find the file again
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    bundle TEXT,
    caption TEXT,
    score REAL,
    confidence REAL,
    unsure INTEGER NOT NULL DEFAULT 0,
    objects TEXT NOT NULL DEFAULT '[]',
    user_caption TEXT,
    reviewed INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX photos_sha256 ON photos(sha256);
"""

# Version 2: word search. object_names is what FTS indexes of the objects (the JSON would
# make "score" and "count" match every photo).
_V2_COLUMN = "ALTER TABLE photos ADD COLUMN object_names TEXT NOT NULL DEFAULT ''"
_V2 = """
CREATE VIRTUAL TABLE photos_fts USING fts5(
    caption, user_caption, object_names,
    content='photos', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER photos_ai AFTER INSERT ON photos BEGIN
    INSERT INTO photos_fts(rowid, caption, user_caption, object_names)
    VALUES (new.id, new.caption, new.user_caption, new.object_names);
END;
CREATE TRIGGER photos_ad AFTER DELETE ON photos BEGIN
    INSERT INTO photos_fts(photos_fts, rowid, caption, user_caption, object_names)
    VALUES ('delete', old.id, old.caption, old.user_caption, old.object_names);
END;
CREATE TRIGGER photos_au AFTER UPDATE OF caption, user_caption, object_names ON photos BEGIN
    INSERT INTO photos_fts(photos_fts, rowid, caption, user_caption, object_names)
    VALUES ('delete', old.id, old.caption, old.user_caption, old.object_names);
    INSERT INTO photos_fts(rowid, caption, user_caption, object_names)
    VALUES (new.id, new.caption, new.user_caption, new.object_names);
END;
"""


def _v1_to_v2(db: sqlite3.Connection) -> None:
    db.execute(_V2_COLUMN)
    # Filled before the index and its triggers exist: an external-content index must never
    # be told to delete a row it does not hold (it would be corrupt).
    for rowid, objects in db.execute("SELECT id, objects FROM photos").fetchall():
        db.execute(
            "UPDATE photos SET object_names = ? WHERE id = ?",
            (_object_names(_load_objects(objects)), rowid),
        )
    _script(_V2)(db)
    db.execute("INSERT INTO photos_fts(photos_fts) VALUES ('rebuild')")


def _script(sql: str):
    def run(db: sqlite3.Connection) -> None:
        # executescript would COMMIT first; one statement at a time stays in the transaction.
        for statement in _statements(sql):
            db.execute(statement)

    return run


def _statements(sql: str) -> Iterator[str]:
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""


# Version 3: the text read in the photo (issue 25) is searched too: "captioner search exit"
# finds the photo of the EXIT sign. The index gets a fourth column, so it is made again.
_V3_COLUMN = "ALTER TABLE photos ADD COLUMN photo_text TEXT NOT NULL DEFAULT ''"
_V3 = """
DROP TRIGGER photos_ai;
DROP TRIGGER photos_ad;
DROP TRIGGER photos_au;
DROP TABLE photos_fts;
CREATE VIRTUAL TABLE photos_fts USING fts5(
    caption, user_caption, object_names, photo_text,
    content='photos', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER photos_ai AFTER INSERT ON photos BEGIN
    INSERT INTO photos_fts(rowid, caption, user_caption, object_names, photo_text)
    VALUES (new.id, new.caption, new.user_caption, new.object_names, new.photo_text);
END;
CREATE TRIGGER photos_ad AFTER DELETE ON photos BEGIN
    INSERT INTO photos_fts(photos_fts, rowid, caption, user_caption, object_names, photo_text)
    VALUES ('delete', old.id, old.caption, old.user_caption, old.object_names, old.photo_text);
END;
CREATE TRIGGER photos_au AFTER UPDATE OF caption, user_caption, object_names, photo_text
ON photos BEGIN
    INSERT INTO photos_fts(photos_fts, rowid, caption, user_caption, object_names, photo_text)
    VALUES ('delete', old.id, old.caption, old.user_caption, old.object_names, old.photo_text);
    INSERT INTO photos_fts(rowid, caption, user_caption, object_names, photo_text)
    VALUES (new.id, new.caption, new.user_caption, new.object_names, new.photo_text);
END;
"""


def _v2_to_v3(db: sqlite3.Connection) -> None:
    db.execute(_V3_COLUMN)
    _script(_V3)(db)
    db.execute("INSERT INTO photos_fts(photos_fts) VALUES ('rebuild')")


MIGRATIONS = {0: _script(_V1), 1: _v1_to_v2, 2: _v2_to_v3}  # version N → N+1
assert len(MIGRATIONS) == SCHEMA_VERSION


# -- helpers ----------------------------------------------------------------------------------


def _load_objects(text: str | None) -> tuple[DetectedObject, ...]:
    try:
        items = json.loads(text or "[]")
        return tuple(
            DetectedObject(str(o["name"]), float(o["score"]), o.get("count")) for o in items
        )
    except (ValueError, TypeError, KeyError):
        return ()  # a hand-edited row: the caption still counts


def _object_names(objects: Iterable[DetectedObject]) -> str:
    return " ".join(o.name for o in objects)


def _key(path: str | os.PathLike) -> tuple[str, str]:
    shown = display_path(os.path.abspath(path))
    return path_key(shown), shown


_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(words: str | Sequence[str]) -> str | None:
    """An FTS5 query for what the user typed: every word must match, as a word or the start
    of one ("dog" finds "dogs"); quoted, so no text is ever taken as FTS syntax."""
    text = words if isinstance(words, str) else " ".join(words)
    tokens = _WORD.findall(text)
    if not tokens:
        return None
    return " ".join(f'"{t}"*' for t in tokens)


_COLUMNS = (
    "path, size, mtime_ns, sha256, bundle, caption, score, confidence, unsure, objects, "
    "user_caption, reviewed, created, updated, raw"
)


def _entry(row: Sequence[Any], changed: bool = False) -> Entry:
    (path, size, mtime_ns, sha, bundle, caption, score, conf, unsure, objects, user, reviewed,
     created, updated, raw) = row  # fmt: skip
    return Entry(
        path=path,
        size=size,
        mtime_ns=mtime_ns,
        sha256=sha,
        bundle=bundle,
        caption=caption,
        score=score,
        confidence=conf,
        unsure=bool(unsure),
        objects=_load_objects(objects),
        user_caption=user,
        reviewed=bool(reviewed),
        created=created,
        updated=updated,
        file=os.fsdecode(raw),
        changed=changed,
    )


def _is_full(e: sqlite3.Error) -> bool:
    return getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in str(e)


def _is_readonly(e: sqlite3.Error) -> bool:
    code = getattr(e, "sqlite_errorcode", 0) & 0xFF
    return code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM) or (
        "readonly" in str(e) or "read-only" in str(e)
    )


class _NotALibrary(Exception):
    pass


class _Unwritable(Exception):
    pass


# -- the library ------------------------------------------------------------------------------


class Library:
    """One connection to the library (use it from the thread that made it).

    ``Library()`` opens the user's library (``library_path()``); ``Library(":memory:")`` a
    throw-away one. ``notes`` says what the user should be told about how it was opened;
    ``in_memory`` whether changes will be gone when the app quits.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.notes: list[str] = []
        self.path = Path(path) if path is not None else library_path()
        self.in_memory = os.fspath(self.path) == ":memory:"
        if self.in_memory:
            self._db = self._connect(":memory:")
            self._migrate()
            return
        try:
            try:
                self._db = self._open_file()
            except _NotALibrary as e:
                aside = self._move_aside()
                self.notes.append(
                    f"The caption library {self.path} could not be read ({e}); it was moved "
                    f"aside to {aside} and a new, empty library was started."
                )
                self._db = self._open_file()
        except (_Unwritable, _NotALibrary, LibraryError, OSError) as e:
            self._db = self._memory_copy()
            self.in_memory = True
            self.notes.append(
                f"The caption library {self.path} cannot be written ({e}); captions and edits "
                "are kept in memory only and will be lost when the app quits."
            )

    # -- opening -------------------------------------------------------------------------------

    @staticmethod
    def _connect(target: str, uri: bool = False) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; each write says BEGIN IMMEDIATE.
        db = sqlite3.connect(
            target, timeout=BUSY_TIMEOUT_S, isolation_level=None, uri=uri, check_same_thread=True
        )
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        return db

    def _open_file(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise _Unwritable(e.strerror or str(e)) from None
        if self.path.exists() and not os.access(self.path, os.W_OK):
            raise _Unwritable("the file is read-only")
        try:
            db = self._connect(os.fspath(self.path))
        except sqlite3.Error as e:
            raise _Unwritable(str(e)) from None
        try:
            self._db = db
            self._check_ours()
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise _Unwritable(f"journal mode {mode}")
            db.execute("PRAGMA synchronous = FULL")
            # Forgotten photos are overwritten on disk, not just unlinked from the index.
            db.execute("PRAGMA secure_delete = ON")
            # A write probe: a read-only file or disk says so here, as itself.
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
            self._migrate()
        except (_NotALibrary, _Unwritable, LibraryError):
            db.close()
            raise
        except sqlite3.Error as e:
            db.close()
            code = getattr(e, "sqlite_errorcode", 0) & 0xFF
            if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
                raise _NotALibrary(str(e)) from None
            if _is_readonly(e):
                raise _Unwritable(str(e)) from None
            raise LibraryError(str(e)) from None
        return db

    def _check_ours(self) -> None:
        """Raise _NotALibrary for another program's SQLite file, _Unwritable for a newer one."""
        db = self._db
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id != APPLICATION_ID and (app_id != 0 or tables):
            raise _NotALibrary("it is not a caption library (another program's database?)")
        if version > SCHEMA_VERSION:
            raise _Unwritable(
                f"it was made by a newer version of the app (schema {version}, "
                f"this version knows {SCHEMA_VERSION}); it is left as it is"
            )

    def _migrate(self) -> None:
        db = self._db
        with self._write():
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for step in range(version, SCHEMA_VERSION):
                MIGRATIONS[step](db)
            if version != SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.unreadable-{stamp}")
        n = 1
        while aside.exists():
            n += 1
            aside = self.path.with_name(f"{self.path.name}.unreadable-{stamp}-{n}")
        os.replace(self.path, aside)
        for suffix in ("-wal", "-shm"):  # a stale WAL must not be replayed into the new file
            side = Path(os.fspath(self.path) + suffix)
            if side.exists():
                os.replace(side, Path(os.fspath(aside) + suffix))
        return aside

    def _memory_copy(self) -> sqlite3.Connection:
        """What the file holds, in memory (empty if even reading it fails)."""
        memory = self._connect(":memory:")
        uri = self.path.resolve().as_uri()
        for flags in ("mode=ro", "mode=ro&immutable=1"):  # immutable: no -shm can be made
            try:
                source = self._connect(f"{uri}?{flags}", uri=True)
                try:
                    version = source.execute("PRAGMA user_version").fetchone()[0]
                    if version > SCHEMA_VERSION:
                        break  # a newer layout this code would misread
                    source.backup(memory)
                finally:
                    source.close()
                break
            except sqlite3.Error:
                continue
        self._db = memory
        self._migrate()
        return memory

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction; a full disk is LibraryFull, the transaction undone."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise self._error(e) from None
        try:
            yield db
            db.execute("COMMIT")
        except BaseException as e:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            if isinstance(e, sqlite3.Error):
                raise self._error(e) from None
            raise

    def _error(self, e: sqlite3.Error) -> LibraryError:
        if _is_full(e):
            return LibraryFull(
                f"the disk holding the caption library ({self.path}) is full: the last change "
                "was not stored (everything stored before is kept); free some space"
            )
        return LibraryError(f"cannot store into the caption library {self.path}: {e}")

    def record(
        self,
        path: str | os.PathLike,
        *,
        bundle: str,
        caption: str,
        score: float | None = None,
        confidence: float | None = None,
        unsure: bool = False,
        objects: Sequence[DetectedObject] = (),
        fingerprint: Fingerprint | None = None,
        text: str = "",
    ) -> Entry:
        """Store the model's caption of ``path`` (the user's words and tick stay as they are);
        ``text``: the text read in the photo, searched with the caption."""
        key, shown = _key(path)
        fp = fingerprint or Fingerprint.of(path)
        now = time.time()
        row = {
            "key": key,
            "path": shown,
            "raw": os.fsencode(os.path.abspath(path)),
            "size": fp.size,
            "mtime_ns": fp.mtime_ns,
            "sha256": fp.sha256,
            "bundle": bundle,
            "caption": caption,
            "score": None if score is None else float(score),
            "confidence": None if confidence is None else float(confidence),
            "unsure": int(bool(unsure)),
            "objects": json.dumps([o.to_dict() for o in objects], ensure_ascii=False),
            "object_names": _object_names(objects),
            "photo_text": text,
            "created": now,
            "updated": now,
        }
        # Everything but the user's words, the tick and when the row was first made.
        kept = ("key", "created", "user_caption", "reviewed")
        updates = ", ".join(f"{c} = excluded.{c}" for c in row if c not in kept)
        with self._write() as db:
            db.execute(
                f"INSERT INTO photos ({', '.join(row)}) VALUES ({', '.join('?' * len(row))}) "
                f"ON CONFLICT(key) DO UPDATE SET {updates}",
                tuple(row.values()),
            )
            row = db.execute(f"SELECT {_COLUMNS} FROM photos WHERE key = ?", (key,)).fetchone()
        return _entry(row)

    def set_user_caption(
        self, path: str | os.PathLike, text: str | None, reviewed: bool | None = None
    ) -> Entry | None:
        """Store the user's own words for ``path`` (None: back to the model's caption), and
        the tick with them where given (one transaction: never the one without the other)."""
        changes: dict[str, Any] = {"user_caption": text}
        if reviewed is not None:
            changes["reviewed"] = int(bool(reviewed))
        return self._set(path, changes)

    def set_reviewed(self, path: str | os.PathLike, reviewed: bool) -> Entry | None:
        return self._set(path, {"reviewed": int(bool(reviewed))})

    def _set(self, path: str | os.PathLike, changes: dict[str, Any]) -> Entry | None:
        key, shown = _key(path)
        now = time.time()
        columns = list(changes)  # only names from the two methods above, never user text
        with self._write() as db:
            cursor = db.execute(
                f"UPDATE photos SET {', '.join(f'{c} = ?' for c in columns)}, updated = ? "
                "WHERE key = ?",
                (*changes.values(), now, key),
            )
            if cursor.rowcount == 0:
                # Not captioned yet (or not by this app): a row of its own, so the words stay.
                try:
                    fp = Fingerprint.of(path)
                except OSError:
                    return None
                db.execute(
                    f"INSERT INTO photos (key, path, raw, size, mtime_ns, sha256, "
                    f"{', '.join(columns)}, created, updated) "
                    f"VALUES ({', '.join('?' * (len(columns) + 8))})",
                    (key, shown, os.fsencode(os.path.abspath(path)), fp.size, fp.mtime_ns,
                     fp.sha256, *changes.values(), now, now),
                )  # fmt: skip
            row = db.execute(f"SELECT {_COLUMNS} FROM photos WHERE key = ?", (key,)).fetchone()
        return _entry(row)

    def forget(self, folder: str | os.PathLike) -> int:
        """Remove every photo in ``folder`` (and its sub-folders), or the one photo it names;
        returns how many. Deleted text is overwritten (secure_delete) and the search index
        rewritten, so it does not linger in the file."""
        key, _ = _key(folder)
        prefix = key.rstrip(os.sep) + os.sep
        with self._write() as db:
            count = db.execute(
                "DELETE FROM photos WHERE key = ? OR substr(key, 1, ?) = ?",
                (key, len(prefix), prefix),
            ).rowcount
            if count:
                db.execute("INSERT INTO photos_fts(photos_fts) VALUES ('optimize')")
        if count and not self.in_memory:
            with contextlib.suppress(sqlite3.Error):  # the WAL holds old pages until then
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return count

    # -- reading -------------------------------------------------------------------------------

    def get(self, path: str | os.PathLike) -> Entry | None:
        """The stored row of ``path`` as it is, without looking at the file."""
        key, _ = _key(path)
        row = self._db.execute(f"SELECT {_COLUMNS} FROM photos WHERE key = ?", (key,)).fetchone()
        return None if row is None else _entry(row)

    def lookup(self, path: str | os.PathLike, *, identify: bool = True) -> Entry | None:
        """What is stored for the photo at ``path`` now.

        Unchanged size and mtime: the stored row as it is (no hashing: reopening a folder
        is instant). Otherwise the file is hashed: the same content keeps its row (size and
        mtime brought up to date); other content returns the row with ``changed`` set. A
        path the library does not know is, with ``identify``, hashed and looked up by
        content (a moved or renamed photo): the row moves with it, or is copied where the
        other file still exists. None when nothing is known (or the file cannot be read).
        """
        key, shown = _key(path)
        try:
            st = os.stat(path)
        except OSError:
            return None
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM photos WHERE key = ?", (key,)
        ).fetchone()  # fmt: skip
        if row is not None:
            entry = _entry(row)
            if (entry.size, entry.mtime_ns) == (st.st_size, st.st_mtime_ns):
                return entry
            try:
                sha = file_sha256(path)
            except OSError:
                return replace(entry, changed=True)
            if sha != entry.sha256:
                return replace(entry, changed=True)
            with contextlib.suppress(LibraryError), self._write() as db:  # touched, not changed
                db.execute(
                    "UPDATE photos SET size = ?, mtime_ns = ? WHERE key = ?",
                    (st.st_size, st.st_mtime_ns, key),
                )
            return replace(entry, size=st.st_size, mtime_ns=st.st_mtime_ns)
        if not identify:
            return None
        try:
            sha = file_sha256(path)
        except OSError:
            return None
        return self._adopt(path, key, shown, sha, st)

    def _adopt(self, path, key: str, shown: str, sha: str, st: os.stat_result) -> Entry | None:
        """The row of another path with this content, moved (or copied) to ``path``."""
        candidates = self._db.execute(
            "SELECT id, raw FROM photos WHERE sha256 = ? ORDER BY updated DESC", (sha,)
        ).fetchall()
        if not candidates:
            return None
        # Prefer a row whose file is gone (the photo was moved), else copy the newest.
        gone = [rowid for rowid, raw in candidates if not os.path.exists(os.fsdecode(raw))]
        raw = os.fsencode(os.path.abspath(path))
        now = time.time()
        try:
            with self._write() as db:
                if gone:
                    db.execute(
                        "UPDATE photos SET key = ?, path = ?, raw = ?, size = ?, mtime_ns = ?, "
                        "updated = ? WHERE id = ?",
                        (key, shown, raw, st.st_size, st.st_mtime_ns, now, gone[0]),
                    )
                else:
                    db.execute(
                        "INSERT INTO photos (key, path, raw, size, mtime_ns, sha256, bundle, "
                        "caption, score, confidence, unsure, objects, object_names, "
                        "photo_text, user_caption, reviewed, created, updated) "
                        "SELECT ?, ?, ?, ?, ?, sha256, bundle, caption, score, confidence, "
                        "unsure, objects, object_names, photo_text, user_caption, reviewed, "
                        "?, ? "
                        "FROM photos WHERE id = ?",
                        (key, shown, raw, st.st_size, st.st_mtime_ns, now, now, candidates[0][0]),
                    )
                row = db.execute(
                    f"SELECT {_COLUMNS} FROM photos WHERE key = ?", (key,)
                ).fetchone()  # fmt: skip
        except LibraryError:
            return None
        return _entry(row)

    def search(self, words: str | Sequence[str], limit: int = 200) -> list[Entry]:
        """Photos whose caption, the user's words or objects hold every word (best first)."""
        query = fts_query(words)
        if query is None:
            return []
        rows = self._db.execute(
            f"SELECT {', '.join('p.' + c.strip() for c in _COLUMNS.split(','))} "
            "FROM photos_fts JOIN photos p ON p.id = photos_fts.rowid "
            "WHERE photos_fts MATCH ? ORDER BY photos_fts.rank LIMIT ?",
            (query, limit),
        ).fetchall()
        return [_entry(row) for row in rows]

    def entries(self, folder: str | os.PathLike | None = None) -> list[Entry]:
        """Every stored photo (in ``folder`` and below, if given), by path."""
        if folder is None:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM photos ORDER BY key").fetchall()
        else:
            key, _ = _key(folder)
            prefix = key.rstrip(os.sep) + os.sep
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM photos WHERE key = ? OR substr(key, 1, ?) = ? "
                "ORDER BY key",
                (key, len(prefix), prefix),
            ).fetchall()
        return [_entry(row) for row in rows]

    def count(self) -> int:
        return self._db.execute("SELECT count(*) FROM photos").fetchone()[0]

    @property
    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]


def output_record(entry: Entry) -> Record:
    """``entry`` as a caption-file record (desktop/records.py): the user's words win, and
    then carry no score or confidence (those belong to the model's sentence)."""
    mine = entry.user_caption is not None
    return Record(
        path=entry.path,
        caption=entry.text,
        score=None if mine or entry.score is None else round(entry.score, 4),
        error=None if entry.text else "not captioned",
        objects=entry.objects,
        confidence=None if mine or entry.confidence is None else round(entry.confidence, 4),
        unsure=entry.unsure and not mine,
    )
