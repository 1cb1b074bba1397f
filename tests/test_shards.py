"""``captioner caption --shard K/N`` and ``captioner merge``: real model, real files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from desktop.bundle import load_bundle
from desktop.cli import main
from desktop.merge import mark_path
from desktop.outputs import COLUMNS, journal_path, read_rows
from desktop.shards import Shard, ShardInfo, info_path, shard_of


def caption(*args, model) -> int:
    return main(["caption", *map(str, args), "--model", str(model), "--no-progress", "--beam", "1"])


def merge(*args) -> int:
    return main(["merge", *map(str, args)])


@pytest.fixture
def archive(tmp_path, flickr_photos) -> Path:
    """A small archive: photos in the root and two sub-folders, an unreadable file and a
    name that is not UTF-8 (both must be reported by exactly one shard)."""
    root = tmp_path / "archive"
    for i, photo in enumerate(flickr_photos[:15]):
        folder = root / ("", "2019", "2019/june")[i % 3]
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(photo, folder / photo.name)
    (root / "2019" / "empty.jpg").write_bytes(b"")
    with open(os.path.join(os.fsencode(root), b"caf\xe9.jpg"), "wb") as f:
        f.write(flickr_photos[0].read_bytes())
    return root


def keyed(rows: list[dict], root: Path) -> dict[str, dict]:
    return {os.path.relpath(r["path"], root): r for r in rows}


def test_shard_parsing_says_what_is_wrong():
    assert Shard.parse("0/1") == Shard(0, 1) and str(Shard.parse("2/3")) == "2/3"
    for bad, words in [
        ("3/3", "0 to 2"),
        ("-1/3", "0 to 2"),
        ("1/0", "at least 1"),
        ("1", "expected K/N"),
        ("a/3", "whole numbers"),
        ("1/3/4", "whole numbers"),
    ]:
        with pytest.raises(ValueError, match=words):
            Shard.parse(bad)


def test_assignment_is_pinned_and_balanced():
    # Machines running different versions must agree: these values may never change
    # (sha256("a.jpg") starts 509b0d4641a7c3ba; its first 8 bytes mod N pick the shard).
    assert [shard_of(k, 7) for k in ("a.jpg", "2019/june/b.jpg", "caf\\xe9.jpg")] == [4, 3, 6]
    assert [shard_of(k, 1000) for k in ("a.jpg", "2019/june/b.jpg")] == [26, 102]
    counts = [0] * 4
    for i in range(4000):
        counts[shard_of(f"photos/{i:06d}.jpg", 4)] += 1
    assert min(counts) > 900, counts


def test_three_shards_merge_to_exactly_one_run(archive, tmp_path, default_model_dir, monkeypatch):
    """Three shards, from three "machines" that see the archive at different paths and
    write different formats, merge to the records of one unsharded run."""
    single = tmp_path / "single.jsonl"
    assert caption(archive, "-r", "-o", single, model=default_model_dir) == 1  # empty.jpg fails

    mount = tmp_path / "mnt" / "photos"  # another machine's mount point of the same archive
    mount.parent.mkdir()
    mount.symlink_to(archive)
    monkeypatch.chdir(tmp_path)
    shards = [tmp_path / "s0.jsonl", tmp_path / "s1.csv", tmp_path / "s2.json"]
    roots = [archive, mount, Path("archive")]  # absolute, another prefix, relative to the cwd
    codes = [
        caption(root, "-r", "--shard", f"{k}/3", "-o", out, model=default_model_dir)
        for k, (root, out) in enumerate(zip(roots, shards, strict=True))
    ]
    assert sorted(codes) == [0, 0, 1]  # exactly one shard holds empty.jpg
    counts = [len(json.loads(info_path(s).read_text())["photos"]) for s in shards]
    assert sum(counts) == 17 and min(counts) > 0, counts
    bundle = load_bundle(default_model_dir, verify=False)
    infos = [json.loads(info_path(s).read_text()) for s in shards]
    assert {(i["bundle"], i["bundle_name"]) for i in infos} == {(bundle.id, bundle.name)}

    merged = tmp_path / "merged.jsonl"
    assert merge(merged, *shards, "--relative") == 0
    want = keyed(read_rows(single, "jsonl"), archive)
    got = read_rows(merged, "jsonl")
    assert [r["path"] for r in got] == sorted(want)  # sorted by the root-relative path
    assert {r["path"]: {**r, "path": None} for r in got} == {
        k: {**r, "path": None} for k, r in want.items()
    }
    assert "caf\\xe9.jpg" in want

    # Without --relative every record keeps the (absolute) path it was written with.
    as_written = tmp_path / "merged.csv"
    assert merge(as_written, *shards, "--expect", archive) == 0
    paths = {r["path"] for r in read_rows(as_written, "csv")}
    assert any(p.startswith(f"{mount}/") for p in paths)
    assert any(p.startswith(f"{archive}/") for p in paths)


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


def test_sharded_runs_resume_and_refuse_another_shard(archive, tmp_path, default_model_dir, capsys):
    out = tmp_path / "s1.csv"
    assert caption(archive, "-r", "--shard", "1/3", "-o", out, model=default_model_dir) in (0, 1)
    before = read_rows(out, "csv")
    photo = next(archive.glob("*.jpg"))
    for i in range(12):  # some of them fall to shard 1
        shutil.copy(photo, archive / f"new{i}.jpg")
    again = caption(archive, "-r", "--shard", "1/3", "-o", out, "--resume", model=default_model_dir)
    assert again in (0, 1)
    after = read_rows(out, "csv")
    new = {os.path.basename(r["path"]) for r in after[len(before) :]}
    assert after[: len(before)] == before
    assert new == {f"new{i}.jpg" for i in range(12) if Shard(1, 3).owns(f"new{i}.jpg")} != set()
    assert "resuming" in capsys.readouterr().err

    other = caption(archive, "-r", "--shard", "2/3", "-o", out, "--resume", model=default_model_dir)
    assert other == 2
    assert "holds shard 1/3" in capsys.readouterr().err
    assert caption(archive, archive, "--shard", "0/3", "-o", out, model=default_model_dir) == 2
    assert caption(archive, "--shard", "0/3", model=default_model_dir) == 2
    assert "needs --output" in capsys.readouterr().err
    assert caption(archive, "--shard", "3/3", "-o", out, model=default_model_dir) == 2


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


def test_a_shard_is_resumed_only_with_the_model_that_began_it(tmp_path, default_model_dir, capsys):
    folder = tmp_path / "archive"
    folder.mkdir()
    out = tmp_path / "shard-0.jsonl"
    out.write_text("")
    other = ShardInfo(Shard(0, 1), str(folder), str(tmp_path), False, "jsonl", (),
                      "a" * 64, "older")  # fmt: skip
    info_path(out).write_text(other.to_json() + "\n")
    code = caption(folder, "--shard", "0/1", "-o", out, "--resume", model=default_model_dir)
    assert code == 2
    assert "was captioned by another model ('older', aaaaaaaaaaaa)" in capsys.readouterr().err
    assert json.loads(info_path(out).read_text())["bundle"] == "a" * 64  # left as it was
