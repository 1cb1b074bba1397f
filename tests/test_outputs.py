"""Caption files without a model: records, each format's writer, reading back, atomic
writes, the run's writer (desktop/records.py, formats.py, files.py, outputs.py).

The results are made-up ``CaptionResult``s; what the CLI does with real captions is
tests/test_cli.py and tests/test_hostile_outputs.py.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import stat

import numpy as np
import pytest

from desktop.captioner import CaptionResult, Timings
from desktop.files import FileLock, LockedError, regular_target, write_atomic
from desktop.formats import (
    FORMATS,
    WRITERS,
    CsvWriter,
    JsonlWriter,
    JsonWriter,
    OutputError,
    TxtWriter,
    format_for,
    get_writer,
    read_jsonl,
    read_records,
    read_rows,
    render,
    rendered_rows,
)
from desktop.objects import DetectedObject
from desktop.outputs import ResultWriter, journal_path
from desktop.records import (
    COLUMNS,
    Record,
    merge,
    objects_cell,
    parse_objects,
    spreadsheet_safe,
    unneutralised,
)
from desktop.walk import display_path


def result(text="A dog runs.", score=-0.512345, objects=(), confidence=0.876543, unsure=False):
    return CaptionResult(
        text=text,
        words=tuple(text.lower().rstrip(".").split()),
        score=score,
        attention=np.zeros((0, 0, 0), np.float32),
        timings=Timings(1.0, 2.0, 3.0, 6.0),
        objects=tuple(objects),
        confidence=confidence,
        unsure=unsure,
    )


DOG = Record.from_result(
    "/photos/dog.jpg",
    result(objects=[DetectedObject("dog", 0.9123, 2), DetectedObject("ball", 0.25)]),
)
UNSURE = Record.from_result("/photos/wall.jpg", result("A man sits.", unsure=True, confidence=0.2))
FAILED = Record("/photos/broken.jpg", None, None, "cannot read the photo: truncated")
OLD_MODEL = Record.from_result("/photos/cat.jpg", result("A cat.", confidence=None))
RECORDS = [DOG, UNSURE, FAILED, OLD_MODEL]


# -- records -----------------------------------------------------------------------------------


def test_a_result_becomes_a_record_with_rounded_numbers():
    seen = [DetectedObject("dog", 0.912345, 2)]
    record = Record.from_result("/p/dog.jpg", result(objects=seen, unsure=True))
    assert record == Record("/p/dog.jpg", "A dog runs.", -0.5123, None, tuple(seen), 0.8765, True)
    assert record.to_dict()["objects"] == [{"name": "dog", "score": 0.9123, "count": 2}]
    assert DOG.ok and not FAILED.ok and OLD_MODEL.confidence is None


def test_an_edited_caption_loses_the_models_score_confidence_and_doubt():
    edited = Record.from_result("/p/x.jpg", result(unsure=True), caption="My dog Rex.")
    assert (edited.caption, edited.score, edited.confidence, edited.unsure) == (
        "My dog Rex.",
        None,
        None,
        False,
    )
    # The same words as the model's are not an edit.
    same = Record.from_result("/p/x.jpg", result(unsure=True), caption="A dog runs.")
    assert same == Record.from_result("/p/x.jpg", result(unsure=True))


def test_a_later_run_wins_and_first_appearance_keeps_the_order():
    again = Record("/photos/dog.jpg", "Another dog.", -1.0, None)
    assert merge([DOG, FAILED], [again, UNSURE]) == [again, FAILED, UNSURE]
    assert merge([Record("/p/./a.jpg", "x", None, None), Record("/p/a.jpg", "y", None, None)]) == [
        Record("/p/a.jpg", "y", None, None)
    ]


@pytest.mark.parametrize(
    "row, message",
    [
        ({"path": "/p", "caption": "x", "score": 1}, "needs path, caption, score, error"),
        ({"path": "", "caption": "x", "score": 1, "error": None}, "'path' must be text"),
        ({"path": "/p", "caption": 3, "score": 1, "error": None}, "'caption' must be text"),
        ({"path": "/p", "caption": "x", "score": True, "error": None}, "'score' must be a number"),
        (
            {"path": "/p", "caption": "x", "score": 1, "error": None, "confidence": 1.5},
            "between 0 and 1",
        ),
        (
            {"path": "/p", "caption": "x", "score": 1, "error": None, "objects": [{"n": 1}]},
            "'objects' is not a list of objects",
        ),
        (
            {"path": "/p", "caption": "x", "score": 1, "error": None, "objects": "cat:nan"},
            "finite scores",
        ),
    ],
)
def test_a_row_this_tool_would_not_write_is_refused(row, message):
    with pytest.raises(ValueError, match=message):
        Record.from_dict(row)


def test_the_objects_cell_reads_back():
    assert objects_cell(DOG.objects) == "dog:0.9123:2; ball:0.25"
    assert parse_objects("dog:0.9123:2; ball:0.25") == [
        {"name": "dog", "score": 0.9123, "count": 2},
        {"name": "ball", "score": 0.25, "count": None},
    ]
    assert parse_objects("") == []
    assert objects_cell([DetectedObject("cup", 0.123456)]) == "cup:0.1235"


# -- each format's writer ----------------------------------------------------------------------


def test_the_writers_table_names_every_format_once():
    assert FORMATS == ("csv", "jsonl", "json", "txt")
    assert {fmt: type(get_writer(fmt)) for fmt in FORMATS} == {
        "csv": CsvWriter,
        "jsonl": JsonlWriter,
        "json": JsonWriter,
        "txt": TxtWriter,
    }
    assert all(WRITERS[fmt].name == fmt for fmt in FORMATS)
    assert [fmt for fmt in FORMATS if not WRITERS[fmt].streams] == ["json"]
    with pytest.raises(ValueError, match=r"unknown format 'xml' \(choose from csv, jsonl, json"):
        get_writer("xml")


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("a.csv", "csv"),
        ("a.CSV", "csv"),
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.json", "json"),
        ("a.txt", "txt"),
        ("a.tsv", "txt"),
        ("a.text", "txt"),
        ("a.xml", None),
        ("captions", None),
        (None, None),
    ],
)
def test_a_file_name_implies_its_format(name, fmt):
    assert format_for(name) == fmt


def test_csv_holds_every_field_in_its_column():
    text = render(RECORDS, "csv")
    assert text == (
        "path,caption,score,error,objects,confidence,unsure,text,text_kind\n"
        "/photos/dog.jpg,A dog runs.,-0.5123,,dog:0.9123:2; ball:0.25,0.8765,false,,\n"
        "/photos/wall.jpg,A man sits.,-0.5123,,,0.2,true,,\n"
        "/photos/broken.jpg,,,cannot read the photo: truncated,,,false,,\n"
        "/photos/cat.jpg,A cat.,-0.5123,,,,false,,\n"
    )
    assert next(csv.reader(io.StringIO(text))) == list(COLUMNS)


def test_jsonl_is_one_record_a_line():
    lines = render(RECORDS, "jsonl").splitlines()
    assert [json.loads(line) for line in lines] == [r.to_dict() for r in RECORDS]
    assert lines[0] == (
        '{"path": "/photos/dog.jpg", "caption": "A dog runs.", "score": -0.5123, '
        '"error": null, "objects": [{"name": "dog", "score": 0.9123, "count": 2}, '
        '{"name": "ball", "score": 0.25, "count": null}], "confidence": 0.8765, '
        '"unsure": false, "text": [], "text_kind": ""}'
    )


@pytest.mark.parametrize("records", [[], [FAILED], RECORDS])
def test_json_is_the_list_json_dumps_writes(records):
    rows = [r.to_dict() for r in records]
    assert render(records, "json") == json.dumps(rows, ensure_ascii=False, indent=2) + "\n"


def test_txt_holds_the_caption_or_the_error():
    assert render(RECORDS, "txt") == (
        "/photos/dog.jpg\tA dog runs.\n"
        "/photos/wall.jpg\tA man sits.\n"
        "/photos/broken.jpg\tERROR: cannot read the photo: truncated\n"
        "/photos/cat.jpg\tA cat.\n"
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_reads_back_what_it_wrote(tmp_path, fmt):
    out = tmp_path / f"out.{fmt}"
    out.write_text(render(RECORDS, fmt), encoding="utf-8")
    if fmt == "txt":  # the caption only
        assert read_records(out, fmt) == [Record(r.path, r.caption, None, r.error) for r in RECORDS]
    else:
        assert read_records(out, fmt) == RECORDS
    out.write_text("\n", encoding="utf-8")
    assert read_records(out, fmt) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_line_breaks_inside_a_caption_or_an_error_keep_the_file_readable(tmp_path, fmt):
    # An error text is the exception's own ("bad\rthing"); a caption may be a user's edit.
    records = [
        Record("a.jpg", "A cat.\rOn a mat.", -0.5, None),
        Record("b.jpg", None, None, "OSError: bad\rthing"),
        Record("c.jpg", "Two\r\nlines\nhere.", -0.4, None),
        Record("d.jpg", "A dog.", -0.3, None),
    ]
    out = tmp_path / f"out.{fmt}"
    out.write_text(render(records, fmt), encoding="utf-8", newline="")
    back = read_records(out, fmt)
    if fmt == "txt":  # one line a record: the breaks become spaces
        assert [(r.path, r.caption, r.error) for r in back] == [
            ("a.jpg", "A cat. On a mat.", None),
            ("b.jpg", None, "OSError: bad thing"),
            ("c.jpg", "Two lines here.", None),
            ("d.jpg", "A dog.", None),
        ]
    else:
        assert back == records


def test_fields_of_a_newer_version_are_carried_through(tmp_path):
    rows = [{**DOG.to_dict(), "faces": [{"age": 30}], "note": "=1"}, FAILED.to_dict()]
    for fmt in ("jsonl", "json", "csv"):
        out = tmp_path / f"merged.{fmt}"
        out.write_text("".join(rendered_rows(rows, fmt)), encoding="utf-8")
        back = read_rows(out, fmt)
        if fmt == "csv":  # extra columns after the known ones, non-text as JSON
            assert out.read_text().splitlines()[0] == ",".join((*COLUMNS, "faces", "note"))
            assert (back[0]["faces"], back[0]["note"], back[1]["faces"]) == (
                '[{"age": 30}]',
                "=1",
                "",
            )
        else:
            assert back == rows
    assert "faces" not in render([DOG], "csv")


@pytest.mark.parametrize(
    "fmt, text, why",
    [
        ("csv", "name,caption\nx,y\n", "the header is not path,caption,score,error"),
        ("json", '{"path": "x"}', "expected a JSON list of records"),
        ("json", "[1, 2]", "not a result record"),
        ("txt", "no tab here\n", "line 1 is not 'path<TAB>caption'"),
        (
            "jsonl",
            '{"path": "x"}\n{"path": "y", "caption": null, "score": null, "error": null}\n',
            "line 1 is not a result record",
        ),
        ("jsonl", "someone's notes\n{", "line 1 is not a result record"),
        ("csv", "\udcff", "not a csv output"),
    ],
)
def test_a_file_that_is_not_this_tools_output_is_named(tmp_path, fmt, text, why):
    out = tmp_path / f"theirs.{fmt}"
    out.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(OutputError, match=why) as refused:
        read_records(out, fmt)
    assert str(out) in str(refused.value) and "left unchanged" in str(refused.value)


def test_only_a_torn_last_jsonl_record_is_dropped(tmp_path):
    whole = render([DOG, FAILED], "jsonl")
    out = tmp_path / "run.jsonl"
    out.write_text(whole + '{"path": "/photos/ha', encoding="utf-8")
    log = read_jsonl(out)
    assert (log.records, log.good, log.needs_newline) == ([DOG, FAILED], len(whole.encode()), False)
    out.write_text(whole.rstrip("\n"), encoding="utf-8")  # the newline never came
    log = read_jsonl(out)
    assert (log.records, log.good, log.needs_newline) == ([DOG, FAILED], len(whole) - 1, True)
    # Only LF ends a record: not a CR (JSON white space) inside or between records, nor
    # U+2028 or NEL inside a caption.
    odd = Record("/photos/odd.jpg", "A\u2028dog\x85runs.", None, None)
    text = whole.replace(', "caption"', ',\r "caption"', 1).replace("\n", "\n\r", 1)
    out.write_text(text + render([odd], "jsonl"), encoding="utf-8")
    assert read_jsonl(out).records == [DOG, FAILED, odd]


# -- neutralising and escaping -----------------------------------------------------------------


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "'", "'=1", "''"])
def test_a_cell_a_spreadsheet_would_run_is_quoted_and_reads_back(cell):
    safe = spreadsheet_safe(cell)
    assert safe == "'" + cell and unneutralised(safe) == cell


@pytest.mark.parametrize("cell", ["plain", "a=b", "", "x'"])
def test_a_harmless_cell_is_left_as_it_is(cell):
    assert spreadsheet_safe(cell) == cell and unneutralised(cell) == cell


def test_a_quote_in_a_file_from_before_neutralising_is_kept():
    assert unneutralised("'plain") == "'plain" and unneutralised("'=1") == "=1"


def test_no_csv_cell_starts_a_formula_and_every_cell_reads_back(tmp_path):
    hostile = [
        Record('=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", None, None),
        Record("@me.jpg", "-1", -0.5, None, (DetectedObject("=cat", 0.5),)),
        Record("'quoted.jpg", None, None, "\tERROR"),
    ]
    out = tmp_path / "hostile.csv"
    out.write_text(render(hostile, "csv"), encoding="utf-8")
    cells = [c for row in csv.reader(out.open(newline="")) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r") and c != "-0.5"]
    assert "-0.5" in cells  # a number stays a number
    assert read_records(out, "csv") == hostile


def test_control_and_bidirectional_characters_in_names_stay_escaped_in_every_format(tmp_path):
    name = display_path("/photos/a\tb\nc\u202egpj.exe\u2066.jpg")
    assert name == "/photos/a\\x09b\\x0ac\\u202egpj.exe\\u2066.jpg"
    record = Record(name, "A dog.", None, None)
    for fmt in FORMATS:
        text = render([record], fmt)
        assert "\u202e" not in text and "\u2066" not in text
        # One line a record; in txt the only tab is the one after the path.
        assert text.count("\t") == (fmt == "txt")
        assert fmt == "json" or text.count("\n") == 1 + (fmt == "csv")
        out = tmp_path / f"names.{fmt}"
        out.write_text(text, encoding="utf-8")
        assert [r.path for r in read_records(out, fmt)] == [name]


def test_a_lone_surrogate_is_written_as_an_escape_not_a_crash(tmp_path):
    record = Record("/p/\ud800.jpg", "A \udfff dog.", None, None)
    for fmt in FORMATS:
        out = tmp_path / f"sur.{fmt}"
        write_atomic(out, render([record], fmt))
        text = out.read_bytes().decode("utf-8")  # valid UTF-8
        back = read_records(out, fmt)[0]
        if fmt in ("json", "jsonl"):  # \ud800 is JSON's own escape: the same string again
            assert back == record
        else:
            assert "\\ud800" in text and back.path == "/p/\\ud800.jpg"


# -- atomic writes -----------------------------------------------------------------------------


def test_a_file_is_replaced_whole_and_keeps_its_permissions(tmp_path):
    out = tmp_path / "settings.json"
    write_atomic(out, "first\n")
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # readable, not mkstemp's 0600
    out.chmod(0o600)
    write_atomic(out, iter(["sec", "ond\n"]))
    assert out.read_text() == "second\n" and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    out = tmp_path / "captions.csv"
    out.write_text("the old file\n")

    def pieces():
        yield "half of the new "
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_atomic(out, pieces())
    assert out.read_text() == "the old file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["captions.csv"]


def test_a_link_is_written_through_and_a_non_file_is_refused(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    write_atomic(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    assert regular_target(link) == target.resolve()
    os.mkfifo(tmp_path / "fifo")
    for path, kind in ((tmp_path / "fifo", "not a regular file"), (tmp_path, "a folder")):
        with pytest.raises(OSError, match=kind):
            write_atomic(path, "x")
    assert (tmp_path / "fifo").exists() and stat.S_ISFIFO((tmp_path / "fifo").stat().st_mode)


def test_the_lock_admits_one_writer_and_is_gone_after_release(tmp_path):
    out = tmp_path / "captions.jsonl"
    first = FileLock(out)
    with pytest.raises(LockedError, match="being written by another captioner run"):
        FileLock(out)
    first.release()
    assert not (tmp_path / "captions.jsonl.lock").exists()
    FileLock(out).release()


# -- a run's writer ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_stdout_gets_what_the_file_would_hold(fmt):
    stream = io.StringIO()
    with ResultWriter(None, fmt, stream=stream) as writer:
        for record in RECORDS:
            writer.write(record)
            if fmt == "json":  # one document: nothing until the end
                assert stream.getvalue() == ""
    assert stream.getvalue() == render(RECORDS, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_finished_run_writes_the_file_and_leaves_no_journal(tmp_path, fmt):
    out = tmp_path / f"captions.{fmt}"
    with ResultWriter(out, fmt) as writer:
        for record in RECORDS:
            writer.write(record)
        # jsonl is its own journal; the others go to FILE.partial until the end.
        assert journal_path(out).exists() is (fmt != "jsonl")
    assert out.read_text(encoding="utf-8") == render(RECORDS, fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


@pytest.mark.parametrize("fmt", FORMATS)
def test_resume_reads_back_what_is_done_and_adds_the_rest(tmp_path, fmt):
    out = tmp_path / f"captions.{fmt}"
    with ResultWriter(out, fmt) as writer:
        writer.write(DOG)
        writer.write(FAILED)
    with ResultWriter(out, fmt, resume=True) as writer:
        assert writer.done == {DOG.key, FAILED.key}
        writer.write(UNSURE)
    expected = [DOG, FAILED, UNSURE]
    if fmt == "txt":
        expected = [Record(r.path, r.caption, None, r.error) for r in expected]
    assert read_records(out, fmt) == expected


def test_resume_after_kill_cuts_the_torn_line_and_finishes_a_whole_one(tmp_path):
    out = tmp_path / "captions.jsonl"
    out.write_text(render([DOG], "jsonl") + '{"path": "/photos/wa', encoding="utf-8")
    with ResultWriter(out, "jsonl", resume=True) as writer:
        assert writer.done == {DOG.key}
        writer.write(UNSURE)
    assert out.read_text(encoding="utf-8") == render([DOG, UNSURE], "jsonl")
    out.write_text(render([DOG], "jsonl").rstrip("\n"), encoding="utf-8")  # newline lost
    with ResultWriter(out, "jsonl", resume=True) as writer:
        writer.write(UNSURE)
    assert out.read_text(encoding="utf-8") == render([DOG, UNSURE], "jsonl")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_killed_replacing_run_resumes_from_its_journal(tmp_path, fmt):
    out = tmp_path / f"captions.{fmt}"
    with ResultWriter(out, fmt) as writer:
        writer.write(DOG)
    # What kill -9 leaves of a run replacing that file (a jsonl one too: it had records):
    # its journal, torn, beside the old file.
    journal_path(out).write_text(render([FAILED], "jsonl") + '{"path": "/ph', encoding="utf-8")
    with ResultWriter(out, fmt, resume=True) as writer:
        assert writer.done == {DOG.key, FAILED.key}
        writer.write(UNSURE)
    assert read_records(out, fmt) == [DOG, FAILED, UNSURE]
    assert not journal_path(out).exists()


@pytest.mark.parametrize("fmt", ["csv", "json", "txt", "jsonl"])
def test_an_interrupted_rerun_keeps_the_records_it_did_not_redo(tmp_path, fmt):
    out = tmp_path / f"captions.{fmt}"
    with ResultWriter(out, fmt) as writer:
        writer.write(DOG)
        writer.write(FAILED)
    retried = Record(FAILED.path, "A broken photo, read at last.", -1.0, None)
    with pytest.raises(KeyboardInterrupt), ResultWriter(out, fmt) as writer:
        writer.write(retried)
        raise KeyboardInterrupt
    paths = [(r.path, r.caption) for r in read_records(out, fmt)]
    assert paths == [(DOG.path, DOG.caption), (retried.path, retried.caption)]
    with ResultWriter(out, fmt) as writer:  # a finished rerun replaces the file
        writer.write(retried)
    assert [r.path for r in read_records(out, fmt)] == [retried.path]


def test_a_second_writer_or_someone_elses_file_is_refused_and_left_alone(tmp_path):
    out = tmp_path / "captions.jsonl"
    with ResultWriter(out, "jsonl") as writer:
        writer.write(DOG)
        with pytest.raises(OutputError, match="being written by another captioner run"):
            ResultWriter(out, "jsonl", resume=True)
    theirs = tmp_path / "notes.csv"
    theirs.write_text("date,amount\n2024-01-01,3\n")
    with pytest.raises(OutputError, match="the header is not"):
        ResultWriter(theirs, "csv")
    assert theirs.read_text() == "date,amount\n2024-01-01,3\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["captions.jsonl", "notes.csv"]
    with pytest.raises(OutputError, match="is a folder; name a file"):
        ResultWriter(tmp_path, "csv")
    with pytest.raises(ValueError, match="--resume needs an output file"):
        ResultWriter(None, "csv", resume=True)


def test_the_text_read_in_the_photo_reaches_every_format_and_reads_back(tmp_path):
    from desktop.text_reader import TextLine

    lines = (
        TextLine("EXIT", 0.97, (0.1, 0.1, 0.3, 0.2)),
        TextLine("Platform 3", 0.91, (0, 0, 1, 1)),
    )
    read = dataclasses.replace(result(), text_lines=lines, text_kind="short")
    sign = Record.from_result("/photos/sign.jpg", read)
    assert sign.text == (("EXIT", 0.97), ("Platform 3", 0.91)) and sign.text_kind == "short"
    assert json.loads(render([sign], "jsonl"))["text"] == [
        {"text": "EXIT", "confidence": 0.97}, {"text": "Platform 3", "confidence": 0.91},
    ]  # fmt: skip
    row = next(csv.DictReader(io.StringIO(render([sign], "csv"))))
    assert (row["text"], row["text_kind"]) == ("EXIT\nPlatform 3", "short")
    for fmt in ("jsonl", "json", "csv"):
        out = tmp_path / f"sign.{fmt}"
        out.write_text(render([sign], fmt), encoding="utf-8")
        (back,) = read_records(out, fmt)
        # CSV keeps the lines, not their confidences.
        assert [t for t, _ in back.text] == ["EXIT", "Platform 3"] and back.text_kind == "short"
