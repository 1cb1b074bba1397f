"""desktop/library.py: the caption library on a real SQLite file, real photos' bytes, real
processes (kill -9, two writers), a corrupt / foreign / read-only / older / newer file and a
full disk (a small tmpfs)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from desktop.library import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    Library,
    LibraryFull,
    fts_query,
    library_path,
    output_record,
)
from desktop.objects import DetectedObject

REPO = Path(__file__).resolve().parent.parent


def photo(folder: Path, name: str, content: bytes | None = None) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if content is not None else os.urandom(2048))
    return path


def record(library: Library, path: Path, caption: str, bundle: str = "b1", **kw):
    return library.record(path, bundle=bundle, caption=caption, score=-0.5, **kw)


def child(code: str, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kw,
    )


@pytest.fixture
def lib(tmp_path) -> Library:
    with Library(tmp_path / "lib" / "library.sqlite3") as library:
        assert library.notes == [] and not library.in_memory
        yield library


# -- what is stored -----------------------------------------------------------------------------


def test_path_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CAPTIONER_LIBRARY", str(tmp_path / "x.sqlite3"))
    assert library_path() == tmp_path / "x.sqlite3"
    monkeypatch.delenv("CAPTIONER_LIBRARY")
    assert library_path().name == "library.sqlite3"
    assert "captioner" in library_path().parts


def test_a_caption_is_stored_with_everything_asked(lib, tmp_path):
    p = photo(tmp_path, "a.jpg")
    objects = (DetectedObject("cat", 0.84, 2), DetectedObject("suitcase", 0.4))
    entry = record(lib, p, "A cat on a suitcase.", confidence=0.7, unsure=False, objects=objects)
    again = lib.lookup(p)
    assert again == entry
    assert (again.size, again.bundle, again.caption, again.score) == (
        2048,
        "b1",
        entry.caption,
        -0.5,
    )
    assert again.objects == objects and again.confidence == 0.7 and again.user_caption is None
    assert len(again.sha256) == 64 and again.created <= again.updated
    assert not again.needs_model("b1") and again.needs_model("b2")


def test_the_users_words_win_and_the_model_never_replaces_them(lib, tmp_path):
    p = photo(tmp_path, "a.jpg")
    record(lib, p, "A dog.")
    lib.set_user_caption(p, "Rex, my dog, at the beach")
    lib.set_reviewed(p, True)
    entry = record(lib, p, "A dog runs.", bundle="b2")  # a later run of another model
    assert entry.user_caption == "Rex, my dog, at the beach" and entry.reviewed
    assert entry.text == "Rex, my dog, at the beach" and entry.caption == "A dog runs."
    assert not entry.needs_model("b3")
    out = output_record(entry)
    assert (out.caption, out.score, out.confidence) == (entry.text, None, None)


def test_an_edit_before_any_caption_is_kept(lib, tmp_path):
    p = photo(tmp_path, "a.jpg")
    assert lib.set_user_caption(p, "My words").text == "My words"
    assert lib.lookup(p).caption is None


def test_a_moved_photo_keeps_its_caption_and_a_copy_gets_one(lib, tmp_path):
    p = photo(tmp_path, "a.jpg")
    record(lib, p, "A red kite.")
    lib.set_user_caption(p, "The kite Anna made")
    moved = tmp_path / "sub" / "renamed.jpg"
    moved.parent.mkdir()
    p.rename(moved)
    assert lib.lookup(moved, identify=False) is None  # no hashing unless asked
    entry = lib.lookup(moved)
    assert entry.path == str(moved) and entry.text == "The kite Anna made"
    assert lib.count() == 1  # moved, not copied
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(moved.read_bytes())
    assert lib.lookup(copy).text == "The kite Anna made" and lib.count() == 2


def test_a_changed_photo_is_flagged_and_a_touched_one_is_not(lib, tmp_path):
    p = photo(tmp_path, "a.jpg")
    record(lib, p, "A boat.")
    os.utime(p, ns=(1, 1))  # touched: same bytes
    entry = lib.lookup(p)
    assert not entry.changed and entry.mtime_ns == 1
    assert lib.get(p).mtime_ns == 1  # brought up to date, so the next open does not hash
    p.write_bytes(os.urandom(100))
    entry = lib.lookup(p)
    assert entry.changed and entry.needs_model("b1") and entry.caption == "A boat."


def test_search_finds_captions_users_words_and_objects(lib, tmp_path):
    a, b, c = (photo(tmp_path, f"{n}.jpg") for n in "abc")
    record(lib, a, "A cat sleeping on a suitcase.")
    record(lib, b, "Two dogs in the snow.", objects=(DetectedObject("frisbee", 0.5),))
    record(lib, c, "A man on a bench.")
    lib.set_user_caption(c, "Grandpa Jürgen in Hamburg")
    assert [e.path for e in lib.search("cat suitcase")] == [str(a)]
    assert [e.path for e in lib.search("dog")] == [str(b)]  # a prefix: "dog" finds "dogs"
    assert [e.path for e in lib.search("FRISBEE")] == [str(b)]
    assert [e.path for e in lib.search("jurgen")] == [str(c)]  # diacritics folded
    assert lib.search("score") == [] and lib.search("cat dogs") == []
    # FTS syntax typed by the user is only words
    assert lib.search('cat" OR "dogs') == [] and lib.search("NEAR(") == []
    assert fts_query("  ,;  ") is None and lib.search("*") == []
    lib.set_user_caption(c, "Someone else")  # the index follows the edit
    assert lib.search("jurgen") == []


def test_forget_removes_a_folder_and_leaves_no_trace_in_the_file(lib, tmp_path):
    keep = photo(tmp_path / "keep", "a.jpg")
    gone = [photo(tmp_path / "private", f"{i}.jpg") for i in range(5)]
    gone.append(photo(tmp_path / "private" / "deeper", "x.jpg"))
    near = photo(tmp_path / "privateer", "b.jpg")  # a name that only starts the same
    record(lib, keep, "A tree.")
    record(lib, near, "A ship.")
    for p in gone:
        record(lib, p, "Zanzibarwords on the secret beach.")
        lib.set_user_caption(p, "Myverysecretname")
    assert lib.forget(tmp_path / "private") == len(gone)
    assert lib.count() == 2 and lib.search("zanzibarwords") == []
    lib.close()
    data = b"".join(
        Path(str(lib.path) + s).read_bytes()
        for s in ("", "-wal")
        if Path(str(lib.path) + s).exists()
    )
    assert b"Myverysecretname" not in data and b"Zanzibarwords" not in data.replace(b"zanz", b"")
    assert b"private/" not in data and b"privateer" in data


# -- crashes and two writers --------------------------------------------------------------------

_EDITS = """
    import sys
    from desktop.library import Library
    lib = Library(sys.argv[1])
    for i in range(1000):
        lib.set_user_caption(sys.argv[2], f"edit {i}")
        print(i, flush=True)  # after the commit: this edit was stored
"""


@pytest.mark.parametrize("after", [50, 400])
def test_kill_9_during_rapid_edits_loses_at_most_the_last(tmp_path, after):
    p = photo(tmp_path, "a.jpg")
    db = tmp_path / "library.sqlite3"
    Library(db).close()
    proc = child(_EDITS, str(db), str(p))
    acked = -1
    for line in proc.stdout:
        acked = int(line)
        if acked >= after:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    # Acknowledgements the child wrote before the kill landed, still in the pipe.
    for line in proc.stdout:
        acked = int(line)
    with Library(db) as lib:
        stored = int(lib.get(p).user_caption.split()[1])
    # Every acknowledged edit is there; at most the one being made when killed is beyond.
    assert acked <= stored <= acked + 1


_WRITER = """
    import os, sys, time
    from desktop.library import Library
    db, folder, name, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    lib = Library(db)
    shared = os.path.join(folder, "shared.jpg")
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        p = os.path.join(folder, f"{name}-{i}.jpg")
        with open(p, "wb") as f:
            f.write(f"{name}{i}".encode())
        lib.record(p, bundle=name, caption=f"caption {name} {i}")
        lib.set_user_caption(shared, f"{name} {i}")  # both fight over one row too
        lib.set_reviewed(p, True)
        print(i, flush=True)
        i += 1
"""


def test_two_processes_writing_one_library_lose_nothing(tmp_path):
    db = tmp_path / "library.sqlite3"
    photo(tmp_path, "shared.jpg")
    Library(db).close()
    procs = {n: child(_WRITER, str(db), str(tmp_path), n, "4") for n in ("gui", "cli")}
    results = {n: p.communicate(timeout=120) for n, p in procs.items()}
    for n, (_, err) in results.items():
        assert procs[n].returncode == 0, err
        assert "locked" not in err and err == ""
    with Library(db) as lib:
        for n, (out, _) in results.items():
            done = [int(x) for x in out.split()]
            assert len(done) > 10, f"{n} wrote only {len(done)}"
            for i in done:
                entry = lib.get(tmp_path / f"{n}-{i}.jpg")
                assert entry.caption == f"caption {n} {i}" and entry.reviewed
        assert lib.get(tmp_path / "shared.jpg").user_caption.split()[0] in results


# -- files that are not what they should be -----------------------------------------------------


def test_a_corrupt_file_is_moved_aside_and_a_fresh_library_made(tmp_path):
    db = tmp_path / "library.sqlite3"
    db.write_bytes(b"this is not a database, it is someone's notes\n" * 100)
    with Library(db) as lib:
        assert not lib.in_memory and lib.count() == 0
        (note,) = lib.notes
        assert "could not be read" in note and "moved aside" in note and "new, empty" in note
        record(lib, photo(tmp_path, "a.jpg"), "A cat.")
    (aside,) = tmp_path.glob("library.sqlite3.unreadable-*")
    assert aside.read_bytes().startswith(b"this is not a database")
    with Library(db) as lib:
        assert lib.notes == [] and lib.count() == 1


def test_a_damaged_library_is_moved_aside(tmp_path):
    db = tmp_path / "library.sqlite3"
    with Library(db) as lib:
        record(lib, photo(tmp_path, "a.jpg"), "A cat.")
    data = bytearray(db.read_bytes())
    data[100:4096] = os.urandom(3996)  # the schema page
    db.write_bytes(bytes(data))
    with Library(db) as lib:
        assert lib.count() == 0 and "moved aside" in lib.notes[0]


def test_another_programs_database_is_not_taken_for_a_library(tmp_path):
    db = tmp_path / "library.sqlite3"
    other = sqlite3.connect(db)
    other.execute("CREATE TABLE bookmarks (url TEXT)")
    other.execute("INSERT INTO bookmarks VALUES ('https://example.org')")
    other.commit()
    other.close()
    with Library(db) as lib:
        assert "not a caption library" in lib.notes[0] and lib.count() == 0
    (aside,) = tmp_path.glob("library.sqlite3.unreadable-*")
    assert sqlite3.connect(aside).execute("SELECT url FROM bookmarks").fetchone()


# Version 1 as that version of the app wrote it (frozen here: never generate it from the code).
_V1_DDL = """
CREATE TABLE photos (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, path TEXT NOT NULL, raw BLOB NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL, bundle TEXT,
    caption TEXT, score REAL, confidence REAL, unsure INTEGER NOT NULL DEFAULT 0,
    objects TEXT NOT NULL DEFAULT '[]', user_caption TEXT, reviewed INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL, updated REAL NOT NULL
);
CREATE INDEX photos_sha256 ON photos(sha256);
"""


def test_a_library_of_the_previous_schema_version_is_upgraded_in_place(tmp_path):
    db = tmp_path / "library.sqlite3"
    p = photo(tmp_path, "a.jpg")
    old = sqlite3.connect(db)
    old.executescript(_V1_DDL)
    st = p.stat()
    old.execute(
        "INSERT INTO photos (key, path, raw, size, mtime_ns, sha256, bundle, caption, objects, "
        "user_caption, reviewed, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (str(p), str(p), os.fsencode(p), st.st_size, st.st_mtime_ns, "0" * 64, "b1", "A cat.",
         '[{"name": "umbrella", "score": 0.6, "count": null}]', "Minou", 1, 1.0, 2.0),
    )  # fmt: skip
    old.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    old.execute("PRAGMA user_version = 1")
    old.commit()
    old.close()
    with Library(db) as lib:
        assert lib.notes == [] and lib.schema_version == SCHEMA_VERSION
        entry = lib.lookup(p)
        assert (entry.text, entry.caption, entry.reviewed) == ("Minou", "A cat.", True)
        assert [e.path for e in lib.search("umbrella")] == [str(p)]
        assert [e.path for e in lib.search("minou")] == [str(p)]
        # Version 3: the text read in the photo is searched with the rest.
        lib.record(p, bundle="b2", caption="A door.", text="EXIT\nPlatform 3")
        assert [e.path for e in lib.search("platform exit")] == [str(p)]
        assert lib.search("umbrella") == []  # the new caption's objects replaced the old


def test_a_library_of_a_newer_version_is_left_alone(tmp_path):
    db = tmp_path / "library.sqlite3"
    with Library(db) as lib:
        record(lib, photo(tmp_path, "a.jpg"), "A cat.")
        lib._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = db.read_bytes()
    with Library(db) as lib:
        assert lib.in_memory and "newer version" in lib.notes[0] and "memory" in lib.notes[0]
        record(lib, photo(tmp_path, "b.jpg"), "A dog.")  # this session's work still works
    assert db.read_bytes() == before


def _mount_tmpfs(folder: Path, size: str) -> None:
    if os.name != "posix" or os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (the test makes its own disk)")
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")


@pytest.fixture
def small_disk(tmp_path):
    folder = tmp_path / "disk"
    _mount_tmpfs(folder, "512k")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_read_only_library_falls_back_to_memory_and_says_so(tmp_path, small_disk):
    db = small_disk / "library.sqlite3"
    p = photo(tmp_path, "a.jpg")
    with Library(db) as lib:
        record(lib, p, "A lighthouse.")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with Library(db) as lib:
        assert lib.in_memory and "cannot be written" in lib.notes[0]
        assert "memory only" in lib.notes[0]
        assert lib.lookup(p).caption == "A lighthouse."  # what was stored is still shown
        assert lib.set_user_caption(p, "Our lighthouse").text == "Our lighthouse"
        assert [e.path for e in lib.search("lighthouse")] == [str(p)]


def test_a_full_disk_is_reported_and_nothing_stored_before_is_lost(tmp_path, small_disk):
    db = small_disk / "library.sqlite3"
    stored = []
    with Library(db) as lib:
        with pytest.raises(LibraryFull, match="is full.*everything stored before is kept"):
            for i in range(100_000):
                p = photo(tmp_path, f"{i}.jpg", f"photo {i}".encode())
                record(lib, p, f"Caption number {i} " + "with many words " * 40)
                stored.append(p)
        assert len(stored) >= 5
        # The library still answers, and a small change may still fit once space is freed.
        assert lib.get(stored[-1]).caption.startswith(f"Caption number {len(stored) - 1} ")
    with Library(db) as lib:
        assert lib.notes == [] and lib.count() == len(stored)
        assert all(lib.get(p) is not None for p in stored)


# -- a large library ----------------------------------------------------------------------------

_SENTENCE = (
    "man woman dog cat boy girl ball grass beach water snow bike street table cup red blue "
    "green yellow black white running sitting jumping playing holding standing small large "
    "suitcase bench tree sky car bus train kite horse bird"
)
_WORDS = tuple(_SENTENCE.split())


def test_search_over_100000_rows(tmp_path):
    """Not a timed assertion (the machine is shared); the time goes to docs/runtime.md."""
    import random

    db = tmp_path / "library.sqlite3"
    Library(db).close()
    rng = random.Random(23)
    rows = []
    for i in range(100_000):
        words = " ".join(rng.choice(_WORDS) for _ in range(9))
        path = f"/photos/{i // 1000}/{i}.jpg"
        rows.append((path, path, path.encode(), 1000, 1, f"{i:064x}", "b1", f"A {words}.",
                     rng.choice(_WORDS), 1.0, 1.0))  # fmt: skip
    rows.append(("/photos/x.jpg", "/photos/x.jpg", b"/photos/x.jpg", 1, 1, "f" * 64, "b1",
                 "The cat on the suitcase.", "", 1.0, 1.0))  # fmt: skip
    bulk = sqlite3.connect(db)
    with bulk:
        bulk.executemany(
            "INSERT INTO photos (key, path, raw, size, mtime_ns, sha256, bundle, caption, "
            "object_names, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
    bulk.close()
    with Library(db) as lib:
        assert lib.count() == 100_001
        lib.search("warm up")
        timings = {}
        for query in ("cat suitcase", "dog", "red bike street", "zebra"):
            start = time.perf_counter()
            hits = lib.search(query)
            timings[query] = (time.perf_counter() - start) * 1000, len(hits)
        assert "/photos/x.jpg" in [e.path for e in lib.search("cat suitcase")]
    print(
        "\nsearch over 100,001 rows:",
        {q: f"{ms:.1f} ms, {n} hits" for q, (ms, n) in timings.items()},
    )
