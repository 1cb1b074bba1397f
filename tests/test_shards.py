"""``captioner caption --shard K/N``: which photos a shard takes, resuming one, and three
shards merged back into exactly one run (merge's own checks: test_merge.py). Real model,
real files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from desktop.bundle import load_bundle
from desktop.outputs import read_rows
from desktop.shards import Shard, ShardInfo, info_path, shard_of
from tests.support.shard_runs import caption, make_archive, merge


@pytest.fixture
def archive(tmp_path, flickr_photos) -> Path:
    """``make_archive``: 15 photos in three folders, an unreadable file, a non-UTF-8 name."""
    return make_archive(tmp_path, flickr_photos)


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
