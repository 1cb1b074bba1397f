"""``captioner caption`` into the library, ``captioner search``, ``captioner library``
(desktop/library_cli.py) with the shipped model and the sample photos."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.library import Library, library_path


@pytest.fixture
def folder(tmp_path, samples) -> Path:
    d = tmp_path / "photos"
    d.mkdir()
    for s in samples[:2]:
        shutil.copy(s, d / s.name)
    return d


def caption(*args, model) -> int:
    return main(["caption", *map(str, args), "--model", str(model), "--no-progress", "--beam", "1"])


def test_caption_records_into_the_library_and_search_finds_it(folder, default_model_dir, capsys):
    assert caption(folder, model=default_model_dir) == 0
    printed = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    with Library() as lib:
        entries = lib.entries(folder)
        assert [e.path for e in entries] == sorted(printed)
        for e in entries:
            assert e.caption == printed[e.path] and e.bundle and len(e.sha256) == 64
    word = next(w for w in entries[0].caption.split() if len(w) > 3).strip(".")
    assert main(["search", word]) == 0
    out = capsys.readouterr().out
    assert f"{entries[0].path}\t{entries[0].caption}" in out.splitlines()
    assert main(["search", word, "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert entries[0].path in [r["path"] for r in rows]
    assert {"caption", "user_caption", "reviewed", "objects", "bundle"} <= set(rows[0])


def test_no_library_records_nothing(folder, default_model_dir, capsys):
    assert caption(folder, "--no-library", model=default_model_dir) == 0
    assert not library_path().exists()
    assert main(["search", "a"]) == 1
    assert "no photo in the library matches" in capsys.readouterr().err


def test_search_without_words_is_a_usage_error(capsys):
    assert main(["search", "..."]) == 2
    assert "at least one word" in capsys.readouterr().err


def test_library_path_forget_and_export(folder, default_model_dir, tmp_path, capsys):
    assert main(["library", "--path"]) == 0
    assert capsys.readouterr().out.strip() == str(library_path())
    assert caption(folder, model=default_model_dir) == 0
    first, second = sorted(folder.iterdir())
    with Library() as lib:
        lib.set_user_caption(first, "=My own words, reviewed")
        lib.set_reviewed(first, True)
    out = tmp_path / "export.csv"
    assert main(["library", str(folder), "--export", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    by_path = {r["path"]: r for r in rows}
    assert by_path[str(first)]["caption"] == "'=My own words, reviewed"  # neutralised, and mine
    assert by_path[str(first)]["score"] == ""
    assert by_path[str(second)]["score"] != ""
    capsys.readouterr()
    assert main(["library", "--export", "-", "-f", "jsonl"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["library", str(folder), "--write-xmp"]) == 0
    sidecar = first.with_suffix(".xmp")
    assert "=My own words, reviewed" in sidecar.read_text(encoding="utf-8")
    assert main(["library"]) == 0
    assert "photos: 2 (1 with your own words, 1 reviewed)" in capsys.readouterr().out
    assert main(["library", "--forget", str(folder)]) == 0
    assert "forgot 2 photos" in capsys.readouterr().err
    with Library() as lib:
        assert lib.count() == 0


def test_a_corrupt_library_does_not_stop_a_caption_run(folder, default_model_dir, capsys):
    path = library_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"garbage" * 100)
    assert caption(folder, model=default_model_dir) == 0
    err = capsys.readouterr().err
    assert "moved aside" in err and "new, empty library" in err
    with Library() as lib:
        assert lib.count() == 2
    assert any(n.startswith(path.name + ".unreadable-") for n in os.listdir(path.parent))
