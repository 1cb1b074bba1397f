"""Hostile and unlucky outputs for ``captioner caption -o`` (issue 11, findings 4, 5, 7, 8)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.outputs import (
    OutputError,
    Record,
    ResultWriter,
    journal_path,
    read_records,
    render,
    spreadsheet_safe,
)
from desktop.walk import display_path
from tests.test_cli import run

REPO = Path(__file__).resolve().parent.parent


def record_line(path, caption="KEEP ME", score=-1.0) -> str:
    return json.dumps({"path": str(path), "caption": caption, "score": score, "error": None})


def test_resume_from_another_folder_finds_that_folders_photos(
    default_model_dir, tmp_path, samples, monkeypatch
):
    # Finding 4: `caption . -o ~/c.jsonl --resume` in 2023/ then 2024/ skipped 2024's photo.
    out = tmp_path / "c.jsonl"
    for year in ("2023", "2024"):
        (tmp_path / year).mkdir()
        shutil.copy(samples[0], tmp_path / year / "IMG_0001.jpg")
    for year in ("2023", "2024"):
        monkeypatch.chdir(tmp_path / year)
        assert run(".", "--resume", "-o", out, model=default_model_dir) == 0
    paths = [r.path for r in read_records(out, "jsonl")]
    assert paths == [str(tmp_path / y / "IMG_0001.jpg") for y in ("2023", "2024")]


def test_a_complete_last_record_without_newline_is_kept(default_model_dir, tmp_path, samples):
    out = tmp_path / "out.jsonl"
    out.write_text(record_line(samples[0]))  # valid, only the newline is missing
    assert run(*samples[:2], "--resume", "-o", out, model=default_model_dir) == 0
    records = read_records(out, "jsonl")
    assert [r.path for r in records] == [str(p) for p in samples[:2]]
    assert records[0].caption == "KEEP ME"  # not cut and redone


def test_a_lone_cr_does_not_end_the_file(default_model_dir, tmp_path, samples):
    out = tmp_path / "out.jsonl"
    out.write_text(record_line(samples[0]) + "\n\r" + record_line(samples[1]) + "\n", newline="")
    assert run(*samples[:3], "--resume", "-o", out, model=default_model_dir) == 0
    records = read_records(out, "jsonl")
    assert [r.path for r in records] == [str(p) for p in samples[:3]]
    assert [r.caption for r in records[:2]] == ["KEEP ME", "KEEP ME"]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("notes.jsonl", "hello world"),  # no newline: not a torn record either
        ("notes.jsonl", '{"name": "x"}\n'),
        ("notes.csv", "name,age\nann,3\n"),
        ("notes.txt", "my diary\nno tabs here\n"),
        ("notes.json", '{"a": 1}'),
    ],
)
@pytest.mark.parametrize("resume", [True, False])
def test_a_file_that_is_not_our_output_is_refused_and_kept(
    default_model_dir, tmp_path, samples, capsys, name, text, resume
):
    out = tmp_path / name
    out.write_text(text)
    flags = ["--resume"] if resume else []
    assert run(samples[0], *flags, "-o", out, model=default_model_dir) == 2
    assert "not a" in capsys.readouterr().err
    assert out.read_text() == text
    assert not journal_path(out).exists()


@pytest.mark.parametrize(
    "line",
    [
        '{"path": "/a.jpg", "caption": "x", "score": [1], "error": null}',
        '{"path": "/a.jpg", "caption": ["x"], "score": 1, "error": null}',
        '{"path": "/a.jpg", "caption": "x", "score": ' + "[" * 100_000 + "]" * 100_000 + "}",
    ],
)
def test_malformed_records_are_a_clean_error(default_model_dir, tmp_path, samples, capsys, line):
    out = tmp_path / "out.jsonl"
    out.write_text(line + "\n" + record_line(samples[1]) + "\n")
    before = out.read_bytes()
    assert run(samples[0], "--resume", "-o", out, model=default_model_dir) == 2
    err = capsys.readouterr().err
    assert "not a result record" in err and "Traceback" not in err
    assert out.read_bytes() == before


def test_deeply_nested_json_output_is_a_clean_error(tmp_path):
    out = tmp_path / "out.json"
    out.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(OutputError):
        read_records(out, "json")


def test_a_second_writer_is_refused(default_model_dir, tmp_path, samples, capsys):
    out = tmp_path / "out.jsonl"
    with ResultWriter(out, "jsonl") as first:
        first.write(Record(str(samples[0]), "a caption", -1.0, None))
        assert run(samples[1], "--resume", "-o", out, model=default_model_dir) == 2
        assert "being written by another" in capsys.readouterr().err
    assert [r.path for r in read_records(out, "jsonl")] == [str(samples[0])]
    # Once the first run is done, the output is free again.
    assert run(samples[1], "--resume", "-o", out, model=default_model_dir) == 0


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "txt"])
def test_an_interrupted_rerun_keeps_what_the_earlier_run_finished(tmp_path, fmt):
    out = tmp_path / f"out.{fmt}"
    earlier = [Record(f"/p/{i}.jpg", f"old {i}", -1.0, None) for i in range(600)]
    with ResultWriter(out, fmt) as w:
        for r in earlier:
            w.write(r)
    # A re-run (no --resume) is interrupted after 42 photos: nothing earlier is lost.
    w = ResultWriter(out, fmt)
    for i in range(42):
        w.write(Record(f"/p/{i}.jpg", f"new {i}", -0.5, None))
    assert len(read_records(out, fmt)) == 600  # untouched while the run lasts
    w.close(complete=False)
    records = read_records(out, fmt)
    assert len(records) == 600
    assert records[0].caption == "new 0" and records[42].caption == "old 42"
    assert not journal_path(out).exists()
    # A complete re-run replaces the output with its own records.
    with ResultWriter(out, fmt) as w:
        w.write(Record("/p/0.jpg", "newest", -0.1, None))
    assert [r.caption for r in read_records(out, fmt)] == ["newest"]


def test_a_symlinked_output_is_written_through(default_model_dir, tmp_path, samples):
    target = tmp_path / "real" / "captions.csv"
    target.parent.mkdir()
    link = tmp_path / "captions.csv"
    link.symlink_to(target)
    assert run(samples[0], "-o", link, model=default_model_dir) == 0
    assert run(samples[1], "--resume", "-o", link, model=default_model_dir) == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert [r.path for r in read_records(target, "csv")] == [str(p) for p in samples[:2]]


def test_non_regular_outputs_are_refused(default_model_dir, tmp_path, samples, capsys):
    fifo = tmp_path / "out.jsonl"
    os.mkfifo(fifo)  # opening it for writing would hang
    assert run(samples[0], "-o", fifo, model=default_model_dir) == 2
    assert "not a regular file" in capsys.readouterr().err
    if os.path.exists("/dev/null"):
        assert run(samples[0], "-o", "/dev/null", "-f", "txt", model=default_model_dir) == 2
        assert "not a regular file" in capsys.readouterr().err
        assert Path("/dev/null").is_char_device()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["caption", "x.jpg", "--threads", "100000"], "threads must be at most"),
        (["caption", "x.jpg", "--beam", "20000"], "beam must be at most"),
        (["caption", "x.jpg", "--max-length", "100000"], "max-length must be at most"),
        (["serve", "--port", "99999"], "port must be at most"),
        (["serve", "--port", "-1"], "must be at least 0"),
        (["bench", "--threads", "0"], "must be at least 1"),
    ],
)
def test_flags_have_upper_bounds(args, message, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_a_full_disk_is_a_clean_error_and_loses_nothing(default_model_dir, tmp_path, samples):
    out = tmp_path / "out.csv"
    out.write_text("path,caption,score,error\n/p/a.jpg,old,-1.0,\n")
    before = out.read_bytes()
    # RLIMIT_FSIZE makes writes past 150 bytes fail (EFBIG), like a full disk would.
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (150, 150))\n"
        "from desktop.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    args = ["caption", *map(str, samples[:3]), "-o", str(out), "--no-progress", "--beam", "1"]
    proc = subprocess.run(
        [sys.executable, "-c", script, *args, "--model", str(default_model_dir)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 1, proc.stderr
    assert "cannot write" in proc.stderr and "Traceback" not in proc.stderr
    assert out.read_bytes() == before  # the earlier output is still whole


def test_a_byte_name_and_its_escape_text_do_not_collide(default_model_dir, tmp_path, samples):
    # Finding 9: the byte \xe9 and the four characters "\xe9" were displayed alike, so one
    # of the two photos was skipped as a duplicate (and --resume would skip it for good).
    folder = tmp_path / "photos"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.jpg"), "wb") as f:
        f.write(samples[0].read_bytes())
    shutil.copy(samples[0], folder / "caf\\xe9.jpg")
    out = tmp_path / "out.jsonl"
    assert run(folder, "-o", out, model=default_model_dir) == 0
    paths = sorted(r.path for r in read_records(out, "jsonl"))
    assert paths == [f"{folder}/caf\\x5cxe9.jpg", f"{folder}/caf\\xe9.jpg"]
    assert run(folder, "--resume", "-o", out, model=default_model_dir) == 0
    assert len(read_records(out, "jsonl")) == 2


# -- issue 21, findings 8, 10, 13 ----------------------------------------------------------------


def _number(cell: str) -> bool:
    try:
        float(cell)  # a score: a number to a spreadsheet, never a formula
    except ValueError:
        return False
    return True


FORMULAS = ["=1+1.jpg", "+SUM(1,1).jpg", "@SUM(1,1).jpg", '=HYPERLINK("x.invalid").jpg']


def test_csv_cells_never_start_a_formula(default_model_dir, tmp_path, samples, capsys, monkeypatch):
    """Finding 8: photo names reached CSV cells as formulas (`caption -f csv *.jpg`, `merge
    --relative all.csv`). Such cells start with a quote, and read back as they were."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in FORMULAS:
        shutil.copy(samples[0], folder / name)
    monkeypatch.chdir(folder)
    capsys.readouterr()
    assert main(["caption", *FORMULAS, "-f", "csv", "--no-progress", "--beam", "1",
                 "--model", str(default_model_dir)]) == 0  # fmt: skip
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))[1:]
    assert [r[0] for r in rows] == [f"'{n}" for n in FORMULAS]
    out = tmp_path / "out.jsonl"
    assert run(folder, "-o", out, model=default_model_dir) == 0
    merged = tmp_path / "all.csv"
    assert main(["merge", "--relative", str(merged), str(out), "--expect", str(folder)]) == 0
    cells = [c for r in csv.reader(merged.open(newline="")) for c in r]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(c)]
    assert sorted(r[0] for r in csv.reader(merged.open(newline="")))[:4] == sorted(
        f"'{n}" for n in FORMULAS
    )
    # Read back (resume, merge) the names are exactly the photos' names again.
    assert sorted(r.path for r in read_records(merged, "csv")) == sorted(FORMULAS)
    again = tmp_path / "again.csv"
    assert run(folder, "-o", again, model=default_model_dir) == 0
    assert run(folder, "-o", again, "--resume", model=default_model_dir) == 0
    assert len(read_records(again, "csv")) == len(FORMULAS)
    assert "0 to go" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text", ["-1", "\tx", "'=1", "'quoted", "''", "'", "plain", "a=b", "", "+", "@x"]
)
def test_every_csv_cell_reads_back_as_it_was(tmp_path, text):
    assert spreadsheet_safe("\rx") == "'\rx" and spreadsheet_safe(-1.5) == -1.5
    record = Record(f"/p/{text}x.jpg", text or None, -0.5, None)
    edge = Record(text or "p", "A dog.", None, text or None)
    for r in (record, edge):
        out = tmp_path / "one.csv"
        out.write_text(render([r], "csv"))
        assert read_records(out, "csv") == [r]
    assert (
        render([Record("x", "A dog.", -0.5, None)], "csv")
        .splitlines()[1]
        .startswith("x,A dog.,-0.5,")
    )  # numbers are numbers, not quoted text


SURROGATE = {"path": "/p/\ud800.jpg", "caption": "A \udfff dog.", "score": -1.0, "error": None}


def test_a_record_with_a_lone_surrogate_is_merged_without_a_crash(tmp_path, capsys):
    """Finding 10: `merge o.csv sur.jsonl` died with UnicodeEncodeError."""
    source = tmp_path / "sur.jsonl"
    source.write_text(json.dumps(SURROGATE) + "\n")  # ASCII: "\ud800" as a JSON escape
    for fmt in ("csv", "jsonl", "json", "txt"):
        out = tmp_path / f"o.{fmt}"
        assert main(["merge", str(out), str(source)]) == 0
        assert "Traceback" not in capsys.readouterr().err
        out.read_bytes().decode("utf-8")  # valid UTF-8
        (record,) = read_records(out, fmt)
        if fmt in ("jsonl", "json"):
            assert record.path == SURROGATE["path"] and record.caption == SURROGATE["caption"]
        else:  # as readable escapes
            assert record.path == "/p/\\ud800.jpg"


def test_resume_over_a_record_with_a_lone_surrogate_finishes(default_model_dir, tmp_path, samples):
    """Finding 10: `caption … -o res.json --resume` captioned everything, crashed at the
    final write, and did the same on every retry."""
    out = tmp_path / "res.json"
    out.write_text(json.dumps([SURROGATE]))
    for _ in range(2):
        assert run(samples[0], "-o", out, "--resume", model=default_model_dir) == 0
        records = read_records(out, "json")
        assert [r.path for r in records] == [SURROGATE["path"], str(samples[0])]
    assert not journal_path(out).exists()


def test_bidi_controls_in_names_are_escaped(default_model_dir, tmp_path, samples):
    """Finding 13: U+202E made "photo\u202egpj.exe" display as "photoexe.jpg"."""
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(samples[0], folder / "photo\u202egpj.exe.jpg")
    shutil.copy(samples[0], folder / "a\u2066b\u2069\u200e\u200f\u202a.jpg")
    out = tmp_path / "out.jsonl"
    assert run(folder, "-o", out, model=default_model_dir) == 0
    text = out.read_text(encoding="utf-8")
    assert not any(c in text for c in "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2069")
    paths = sorted(r.path for r in read_records(out, "jsonl"))
    assert paths == [
        f"{folder}/a\\u2066b\\u2069\\u200e\\u200f\\u202a.jpg",
        f"{folder}/photo\\u202egpj.exe.jpg",
    ]
    assert display_path("x\u202bz\u2067\u2068") == "x\\u202bz\\u2067\\u2068"
    assert run(folder, "-o", out, "--resume", model=default_model_dir) == 0
    assert len(read_records(out, "jsonl")) == 2
