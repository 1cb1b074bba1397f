"""``captioner merge``: the checks across shard outputs, the fields carried through, and what
a merge never writes over. Real files; the shards of one test come from the real model."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from desktop.merge import mark_path
from desktop.outputs import COLUMNS, journal_path, read_rows
from desktop.shards import Shard, ShardInfo, info_path, shard_of
from tests.support.shard_runs import caption, make_archive, merge


@pytest.fixture
def archive(tmp_path, flickr_photos) -> Path:
    """``make_archive``: 15 photos in three folders, an unreadable file, a non-UTF-8 name."""
    return make_archive(tmp_path, flickr_photos)


def test_merge_reports_missing_duplicated_and_interrupted(
    archive, tmp_path, default_model_dir, capsys
):
    outs = [tmp_path / f"s{k}.jsonl" for k in range(2)]
    for k, out in enumerate(outs):
        caption(archive, "-r", "--shard", f"{k}/2", "-o", out, model=default_model_dir)
    capsys.readouterr()
    merged = tmp_path / "merged.jsonl"

    assert merge(merged, outs[0]) == 1
    assert "no output for shard(s) 1/2" in capsys.readouterr().err
    assert not merged.exists()  # nothing written unless --partial

    copy = tmp_path / "again.jsonl"
    shutil.copy(outs[0], copy)
    shutil.copy(info_path(outs[0]), info_path(copy))
    assert merge(merged, *outs, copy) == 1
    err = capsys.readouterr().err
    assert "shard 0/2 is given more than once" in err and "more than one record" in err
    assert f"(in {outs[0]}, {copy})" in err

    # A photo added after the shards ran is missing against the folder, not against the lists.
    shutil.copy(archive / "2019" / "empty.jpg", archive / "late.jpg")
    assert merge(merged, *outs) == 0
    assert merge(merged, *outs, "--expect", archive) == 1
    assert "late.jpg" in capsys.readouterr().err
    assert merge(merged, *outs, "--expect", archive, "--partial") == 1
    assert len(read_rows(merged, "jsonl")) == 17

    # A csv shard killed before its end leaves FILE.partial: that shard must be resumed.
    partial = tmp_path / "s1.csv"
    caption(archive, "-r", "--shard", "1/2", "-o", partial, model=default_model_dir)
    journal_path(partial).write_text("")
    assert merge(merged, outs[0], partial) == 1
    assert "run that shard again with --resume" in capsys.readouterr().err

    flat = tmp_path / "flat.jsonl"  # shard 1 again, but without -r: a different walk
    caption(archive, "--shard", "1/2", "-o", flat, model=default_model_dir)
    assert merge(merged, outs[0], flat) == 1
    assert "some shards ran with -r and some without" in capsys.readouterr().err

    assert merge(merged, outs[0], tmp_path / "nope.jsonl") == 2
    assert merge(outs[1], *outs) == 2  # never over one of its inputs
    assert merge(tmp_path / "merged.xyz", *outs) == 2


def test_merge_carries_unknown_fields_and_tolerates_plain_outputs(tmp_path, capsys, monkeypatch):
    """Outputs of a newer version (extra fields) and of unsharded runs (no .shard.json)."""
    a, b = tmp_path / "a.jsonl", tmp_path / "b.json"
    a.write_text(
        json.dumps(
            {
                "path": str(tmp_path / "p" / "x.jpg"),
                "caption": "A dog.",
                "score": -0.5,
                "error": None,
                "objects": [{"name": "dog", "score": 0.9, "count": 1}],
                "faces": [{"box": [1, 2, 30, 40]}],  # a field this version does not know
            }
        )
        + "\n"
    )
    b.write_text(json.dumps([{"path": "p/y.jpg", "caption": None, "score": None, "error": "bad"}]))
    monkeypatch.chdir(tmp_path)
    for out in ("m.jsonl", "m.csv", "m.json"):
        assert merge(tmp_path / out, a, b) == 0
    assert "missing photos are not checked" in capsys.readouterr().err
    rows = read_rows(tmp_path / "m.jsonl", "jsonl")
    assert [r["path"] for r in rows] == [str(tmp_path / "p" / "x.jpg"), "p/y.jpg"]
    assert rows[0]["faces"] == [{"box": [1, 2, 30, 40]}]
    assert rows[0]["objects"] == [{"name": "dog", "score": 0.9, "count": 1}]
    assert read_rows(tmp_path / "m.json", "json") == rows
    csv_rows = read_rows(tmp_path / "m.csv", "csv")
    assert json.loads(csv_rows[0]["faces"]) == rows[0]["faces"] and csv_rows[1]["faces"] == ""
    known = [{k: r[k] for k in COLUMNS} for r in rows]
    assert [{k: r[k] for k in COLUMNS} for r in csv_rows] == known  # csv keeps known fields

    # The same photo by an absolute and a relative path is one photo.
    c = tmp_path / "c.jsonl"
    row = {"path": "p/x.jpg", "caption": "A cat.", "score": -1.0, "error": None}
    c.write_text(json.dumps(row) + "\n")
    assert merge(tmp_path / "m2.jsonl", a, c) == 1
    assert "p/x.jpg  (in" in capsys.readouterr().err


# -- what merge never writes over (issue 21, finding 2) ------------------------------------------


def _shard_outputs(tmp_path: Path, count: int = 3, bundles=None) -> list[Path]:
    """``count`` shard outputs of one photo each, as ``caption --shard`` writes them (the
    records and the .shard.json), without running a model."""
    root = tmp_path / "archive"
    root.mkdir(parents=True, exist_ok=True)
    names = {}
    for i in range(400):  # the first photo name of each shard
        names.setdefault(shard_of(f"p{i}.jpg", count), f"p{i}.jpg")
        if len(names) == count:
            break
    outs = []
    for k in range(count):
        out = tmp_path / f"shard-{k}.jsonl"
        row = {"path": str(root / names[k]), "caption": f"Photo {k}.", "score": -1.0}
        out.write_text(json.dumps({**row, "error": None}) + "\n")
        bundle = bundles[k] if bundles else ("b" * 64, "default")
        info = ShardInfo(
            Shard(k, count), str(root), str(tmp_path), False, "jsonl", (names[k],), *bundle
        )
        info_path(out).write_text(info.to_json() + "\n")
        outs.append(out)
    return outs


def _unchanged(paths: list[Path]):
    before = {p: p.read_bytes() for p in paths}
    return lambda: all(p.read_bytes() == b for p, b in before.items())


def test_merge_never_writes_over_a_file_that_is_not_its_own(tmp_path, capsys):
    outs = _shard_outputs(tmp_path)
    same = _unchanged(outs)
    thesis = tmp_path / "thesis.txt"
    thesis.write_text("notes\n")
    assert merge(thesis, *outs) == 2
    assert thesis.read_text() == "notes\n"
    assert "thesis.txt already exists and is not the output of an earlier merge" in (
        capsys.readouterr().err
    )
    # OUT forgotten: the first shard would have been replaced by the others.
    assert merge("--partial", *outs) == 2
    assert "is a shard's output (shard-0.jsonl.shard.json is beside it)" in capsys.readouterr().err
    # A plain run's output (no .shard.json) named first is no merge's either.
    plain = tmp_path / "a.jsonl"
    shutil.copy(outs[0], plain)
    assert merge(plain, outs[1]) == 2
    assert "a.jsonl already exists" in capsys.readouterr().err
    assert plain.read_bytes() == outs[0].read_bytes()
    # Nor one of the inputs by another name (a hard link).
    os.link(outs[1], tmp_path / "linked.jsonl")
    assert merge(tmp_path / "linked.jsonl", *outs) == 2
    assert "is one of the inputs" in capsys.readouterr().err
    assert same() and not list(tmp_path.glob("*.merge.json"))


def test_merge_writes_again_over_its_own_output_while_it_is_unchanged(tmp_path, capsys):
    outs = _shard_outputs(tmp_path)
    merged = tmp_path / "all.jsonl"
    assert merge(merged, *outs) == 0
    assert mark_path(merged).is_file()
    assert merge(merged, *outs) == 0  # a shard redone: merged again
    assert len(read_rows(merged, "jsonl")) == 3
    edited = merged.read_text().replace("Photo 1.", "Our cat.")
    merged.write_text(edited)  # someone's edit since: theirs
    assert merge(merged, *outs) == 2
    assert "not the output of an earlier merge" in capsys.readouterr().err
    assert merged.read_text() == edited


def test_merge_takes_its_output_as_dash_o_too(tmp_path, capsys):
    outs = _shard_outputs(tmp_path)
    for i, args in enumerate(
        [["-o", tmp_path / "a.csv", *outs], [*outs, "--output", tmp_path / "b.csv"]]
    ):
        assert merge(*args) == 0
        assert len(read_rows(tmp_path / ("a.csv", "b.csv")[i], "csv")) == 3
    assert merge(tmp_path / "c.csv") == 2  # OUT alone, no input
    assert "needs OUT and at least one shard output" in capsys.readouterr().err
    assert all(read_rows(o, "jsonl") for o in outs)


def test_merge_refuses_shards_of_different_models_and_names_them(tmp_path, capsys):
    a, b = ("a" * 64, "default"), ("c" * 64, "retrained")
    outs = _shard_outputs(tmp_path, bundles=[a, b, a])
    merged = tmp_path / "all.jsonl"
    assert merge(merged, *outs) == 1
    err = capsys.readouterr().err
    assert (
        f"the shards were captioned by different models: {outs[0]}, {outs[2]}: model "
        f"'default' (aaaaaaaaaaaa); {outs[1]}: model 'retrained' (cccccccccccc)"
    ) in err
    assert not merged.exists()
    assert merge(merged, *outs, "--partial") == 1 and merged.exists()
    # Shards of an older version say nothing of their model: noted, not refused.
    old = _shard_outputs(tmp_path / "old", bundles=[a, (None, None), a])
    assert merge(tmp_path / "old.jsonl", *old) == 0
    assert "names no model (written by an older version)" in capsys.readouterr().err
