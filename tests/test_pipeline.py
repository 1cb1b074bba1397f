"""desktop/pipeline.py driven directly: the real default model, real files, a real SQLite
library and real sidecars; every assertion reads back what the sinks left on disk."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from desktop import pipeline
from desktop.captioner import CaptionOptions
from desktop.library import Library
from desktop.outputs import journal_path, read_records
from desktop.shards import Shard, read_info
from desktop.xmp import get_description, get_keywords, sidecar_path

FAST = CaptionOptions(beam_width=1, with_attention=False)


@pytest.fixture()
def folder(tmp_path: Path, samples: list[Path]) -> Path:
    """Three sample photos with a broken one (a JPEG name over text) sorted between them."""
    d = tmp_path / "photos"
    d.mkdir()
    for photo in samples[:3]:
        shutil.copy(photo, d / photo.name)
    (d / "b-broken.jpg").write_bytes(b"this is not a JPEG, only its name says so\n")
    return d


def events_of(job: pipeline.Job, captioner, cancel: threading.Event | None = None):
    events: list[pipeline.Event] = []
    summary = pipeline.run(job, captioner, events.append, cancel=cancel)
    return summary, events


def done_events(events) -> list[pipeline.PhotoDone]:
    return [e for e in events if isinstance(e, pipeline.PhotoDone)]


def test_every_sink_gets_every_photo_and_a_broken_one_does_not_stop_the_batch(
    captioner, folder, tmp_path
):
    (folder / "c-dangling.jpg").symlink_to(tmp_path / "gone.jpg")  # the walk knows it is bad
    out = tmp_path / "captions.jsonl"
    db = tmp_path / "library.sqlite3"
    job = pipeline.Job(
        paths=(str(folder),),
        options=FAST,
        sinks=(
            pipeline.OutputFile(str(out), "jsonl"),
            pipeline.LibraryRecords(str(db)),
            pipeline.Sidecars(),
        ),
    )
    summary, events = events_of(job, captioner)

    assert isinstance(events[0], pipeline.Started) and events[0].total == 5
    photos = done_events(events)
    names = [Path(e.path).name for e in photos]
    assert names == sorted(p.name for p in folder.iterdir() if p.suffix == ".jpg")
    assert [e.done for e in photos] == [1, 2, 3, 4, 5] and {e.total for e in photos} == {5}
    broken, dangling = (photos[names.index(n)] for n in ("b-broken.jpg", "c-dangling.jpg"))
    assert broken.result is None and broken.error
    assert dangling.result is None and "broken symbolic link" in dangling.error
    after = photos[names.index("b-broken.jpg") + 1 :]
    assert [e.error is None for e in after] == [False, True, True]  # the batch went on
    assert (summary.captioned, summary.failed, summary.stopped) == (3, 2, False)
    assert not summary.ok  # the broken photos make it a partial run (exit status 1)

    records = {Path(r.path).name: r for r in read_records(out, "jsonl")}
    assert set(records) == set(names)
    assert all(os.path.isabs(r.path) for r in records.values())  # a file holds absolute paths
    assert records["b-broken.jpg"].error == broken.error and records["b-broken.jpg"].caption is None
    assert records["c-dangling.jpg"].error == dangling.error
    with Library(db) as lib:
        assert lib.count() == 3  # the broken photo has no caption to keep
        for e in photos:
            entry = lib.get(e.path)
            if e.result is None:
                assert entry is None
                assert not sidecar_path(e.path).exists()
                continue
            caption = records[Path(e.path).name].caption
            assert caption == e.result.text == entry.caption
            assert entry.bundle == captioner.bundle.id
            assert get_description(sidecar_path(e.path)).removeprefix("Not sure: ") == caption
            assert get_keywords(sidecar_path(e.path)) == [o.name for o in e.result.objects]


def test_resume_captions_only_what_the_output_does_not_hold(captioner, folder, tmp_path, samples):
    out = tmp_path / "captions.csv"
    first = pipeline.Job(
        paths=(str(folder),), options=FAST, sinks=(pipeline.OutputFile(str(out), "csv"),)
    )
    pipeline.run(first, captioner)
    before = {r.path: r for r in read_records(out, "csv")}
    shutil.copy(samples[3], folder / "z-new.jpg")

    again = pipeline.Job(
        paths=(str(folder),),
        options=FAST,
        sinks=(pipeline.OutputFile(str(out), "csv", resume=True),),
    )
    summary, events = events_of(again, captioner)

    started = events[0]
    assert isinstance(started, pipeline.Started) and (started.total, started.previous) == (1, 4)
    assert [Path(e.path).name for e in done_events(events)] == ["z-new.jpg"]
    assert summary.captioned == 1 and summary.failed == 0
    assert summary.previous_failed == 1 and not summary.ok  # the broken one, from run one
    after = {r.path: r for r in read_records(out, "csv")}
    assert {k: v for k, v in after.items() if k in before} == before  # untouched
    assert [Path(p).name for p in set(after) - set(before)] == ["z-new.jpg"]
    assert not journal_path(out).exists()


def test_cancel_stops_after_the_current_photo_and_keeps_what_was_done(captioner, folder, tmp_path):
    out = tmp_path / "captions.json"
    job = pipeline.Job(
        paths=(str(folder),), options=FAST, sinks=(pipeline.OutputFile(str(out), "json"),)
    )
    pipeline.run(job, captioner)
    earlier = {r.path: r for r in read_records(out, "json")}
    # Right after the first photo, an entry the walk already knows is bad: not recorded
    # once the run is cancelled either.
    (folder / "az-dangling.jpg").symlink_to(tmp_path / "gone.jpg")
    cancel = threading.Event()
    events: list[pipeline.Event] = []

    def tell(event):
        events.append(event)
        if isinstance(event, pipeline.PhotoDone):
            cancel.set()  # as the app's Cancel button does, from the first result on

    summary = pipeline.run(job, captioner, tell, cancel=cancel)  # replacing the file

    (first,) = done_events(events)
    assert summary.stopped and summary.captioned + summary.failed == 1
    # Stopped early, the replacing run kept the earlier records of the photos it never
    # reached (a complete run would have written only its own one).
    after = {r.path: r for r in read_records(out, "json")}
    assert after == earlier and Path(first.path).name in {Path(p).name for p in after}
    assert not journal_path(out).exists()


def test_a_persons_sidecar_description_is_kept_and_said(captioner, folder, tmp_path):
    photo = folder / sorted(p.name for p in folder.glob("*.jpg"))[0]
    theirs = (
        '<?xml version="1.0"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt><rdf:li '
        'xml:lang="x-default">Grandma at the lake, 1962</rdf:li></rdf:Alt></dc:description>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    sidecar_path(photo).write_text(theirs, encoding="utf-8")
    job = pipeline.Job(paths=(str(photo),), options=FAST, sinks=(pipeline.Sidecars(),))
    summary, events = events_of(job, captioner)

    assert sidecar_path(photo).read_text(encoding="utf-8") == theirs
    (note,) = [e for e in events if isinstance(e, pipeline.Message)]
    assert note.level == "note" and str(sidecar_path(photo).name) in note.text
    assert summary.ok and summary.sink_failures == 0  # kept as asked: not a failure


def test_a_sidecar_that_cannot_be_written_fails_the_run_and_the_batch_goes_on(captioner, folder):
    first, *rest = sorted(p for p in folder.glob("*.jpg") if p.name != "b-broken.jpg")
    sidecar_path(first).mkdir()  # a folder where the sidecar should be
    job = pipeline.Job(paths=(str(folder),), options=FAST, sinks=(pipeline.Sidecars(),))
    summary, events = events_of(job, captioner)

    (warning,) = [e for e in events if isinstance(e, pipeline.Message)]
    assert warning.level == "warning" and sidecar_path(first).name in warning.text
    assert summary.sink_failures == 1 and not summary.ok
    assert all(get_description(sidecar_path(p)) for p in rest)


def test_an_output_that_is_not_ours_is_refused_before_anything_is_captioned(
    captioner, folder, tmp_path
):
    out = tmp_path / "notes.txt"
    out.write_text("my shopping list\n")
    db = tmp_path / "library.sqlite3"
    job = pipeline.Job(
        paths=(str(folder),),
        options=FAST,
        sinks=(pipeline.OutputFile(str(out), "txt"), pipeline.LibraryRecords(str(db))),
    )
    events: list[pipeline.Event] = []
    with pytest.raises(pipeline.SinkError, match="cannot write"):
        pipeline.run(job, captioner, events.append)
    assert events == [] and out.read_text() == "my shopping list\n"
    assert not db.exists() and not Path(f"{out}.lock").exists()


def test_two_shards_split_the_folder_and_list_their_photos(captioner, folder, tmp_path):
    assert "needs --output" in pipeline.Job(paths=(str(folder),), shard=Shard(0, 2)).problem()
    seen: list[set[str]] = []
    for k in (0, 1):
        out = tmp_path / f"shard-{k}.jsonl"
        job = pipeline.Job(
            paths=(str(folder),),
            options=FAST,
            shard=Shard(k, 2),
            sinks=(pipeline.OutputFile(str(out), "jsonl"),),
        )
        assert job.problem() is None
        _, events = events_of(job, captioner)
        info = read_info(out)  # written before the first photo: an interrupted shard is checked
        assert info is not None and info.shard == Shard(k, 2)
        assert info.bundle == captioner.bundle.id
        mine = {Path(e.path).name for e in done_events(events)}
        assert mine == {Path(key).name for key in info.photos}
        assert mine == {Path(r.path).name for r in read_records(out, "jsonl")}
        seen.append(mine)
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == {p.name for p in folder.glob("*.jpg")}


def test_listed_photos_are_taken_as_given(captioner, folder, tmp_path):
    """The app's rows: not walked (a name without a photo extension is still tried)."""
    renamed = folder / "scan-0001.dat"
    shutil.copy(next(folder.glob("[!b]*.jpg")), renamed)
    job = pipeline.Job(paths=(str(renamed), str(folder / "b-broken.jpg")), listed=True)
    summary, events = events_of(job, captioner)

    first, second = done_events(events)
    assert first.path == str(renamed) and first.result is not None
    assert first.result.attention is not None  # the app's default options: with the heat map
    assert second.error and summary.captioned == 1 and summary.failed == 1
