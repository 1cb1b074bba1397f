"""desktop.captioner: the Captioner facade over the runtime (what the GUI, the CLI and the
service call): photos by path, bytes or image, errors, many photos in order, threads."""

from __future__ import annotations

import pytest


def test_caption_accepts_path_bytes_and_image(captioner, samples):
    from PIL import Image

    from desktop.captioner import CaptionOptions

    options = CaptionOptions(beam_width=1)
    by_path = captioner.caption(samples[0], options)
    assert captioner.caption(str(samples[0]), options).words == by_path.words
    assert captioner.caption(samples[0].read_bytes(), options).words == by_path.words
    with Image.open(samples[0]) as img:
        assert captioner.caption(img, options).words == by_path.words


def test_caption_raises_photo_error(captioner, tmp_path):
    from desktop import PhotoError

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a photo")
    with pytest.raises(PhotoError, match="bad.jpg: not an image"):
        captioner.caption(bad)


def test_caption_many_in_order_with_errors(captioner, samples, tmp_path):
    from desktop import PhotoError
    from desktop.captioner import CaptionOptions

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    paths = [samples[0], bad, *samples[1:], tmp_path / "missing.png", samples[0]]
    progress = []
    items = list(
        captioner.caption_many(
            paths,
            CaptionOptions(beam_width=1),
            on_progress=lambda done, total: progress.append((done, total)),
        )
    )
    assert [i.path for i in items] == paths
    assert progress == [(n, len(paths)) for n in range(1, len(paths) + 1)]
    for item in items:
        assert (item.result is None) != (item.error is None)
    assert isinstance(items[1].error, PhotoError) and "not an image" in items[1].error.reason
    assert "file not found" in items[-2].error.reason
    single = captioner.caption(samples[0], CaptionOptions(beam_width=1))
    assert items[0].result.words == items[-1].result.words == single.words


def test_caption_many_accepts_a_generator_and_stops_on_cancel(captioner, samples):
    import threading

    from desktop.captioner import CaptionOptions

    cancel = threading.Event()
    progress = []

    def on_progress(done, total):
        progress.append((done, total))
        if done == 2:
            cancel.set()

    paths = (p for p in samples * 5)
    items = list(captioner.caption_many(paths, CaptionOptions(beam_width=1), cancel, on_progress))
    assert len(items) == 2  # stopped after the photo in hand
    assert progress == [(1, None), (2, None)]


def test_caption_many_is_thread_safe_with_caption(captioner, samples):
    """The service and GUI may call one Captioner from several threads at once."""
    from concurrent.futures import ThreadPoolExecutor

    from desktop.captioner import CaptionOptions

    options = CaptionOptions(beam_width=3)
    expected = [captioner.caption(p, options).words for p in samples]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda p: captioner.caption(p, options).words, samples * 3))
    assert got == expected * 3
