"""converter.metrics (pycocoevalcap, Java tokenizer and METEOR) and converter.plots."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from converter import metrics, plots
from converter.metrics import MetricsError

SHARED_FLICKR8K = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "flickr8k"
requires_java = pytest.mark.skipif(
    shutil.which("java") is None,
    reason="needs Java for the PTB tokenizer and METEOR (Debian: openjdk-17-jre-headless)",
)

# Six photos, three references each; the first reference doubles as the "perfect" caption.
REFERENCES = {
    "dog": ["A brown dog runs through the tall grass.", "A dog is running in a field.",
            "A puppy races across the meadow."],
    "bike": ["A man rides a bicycle down a dirt road.", "A cyclist on a country path.",
             "Someone is riding a bike outdoors."],
    "kids": ["Two children splash in a swimming pool.", "Kids play in the water.",
             "Two young boys swim in a pool."],
    "climber": ["A climber scales a steep rock face.", "A person climbing a cliff.",
                "A woman rock climbing with a rope."],
    "beach": ["People walk along the beach at sunset.", "A couple strolls on the sand.",
              "Two people walking by the ocean."],
    "snow": ["A skier jumps over a snowy hill.", "A person skiing down a mountain.",
             "A snowboarder in the air above the snow."],
}  # fmt: skip
IDENTICAL = {k: refs[0] for k, refs in REFERENCES.items()}
UNRELATED = {k: "purple elephants juggle seven quantum spreadsheets" for k in REFERENCES}


@pytest.fixture(scope="module")
def identical_scores():
    # One full score() per module: METEOR's JVM takes ~10 s to load its paraphrase table.
    if shutil.which("java") is None:
        pytest.skip("needs Java for the PTB tokenizer and METEOR")
    return metrics.score(REFERENCES, IDENTICAL)


@requires_java
def test_identical_captions_score_perfectly(identical_scores):
    assert list(identical_scores) == [
        "BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr",
    ]  # fmt: skip
    for name in ("BLEU-1", "BLEU-4", "METEOR", "ROUGE-L"):
        assert identical_scores[name] == pytest.approx(1.0, abs=1e-6), name
    assert identical_scores["CIDEr"] > 2.0  # CIDEr is ×10 scaled; a perfect match is high
    assert all(isinstance(v, float) for v in identical_scores.values())


@requires_java
def test_unrelated_captions_score_low(identical_scores):
    scores = metrics.score(REFERENCES, UNRELATED, with_meteor=False)
    assert "METEOR" not in scores
    assert scores["BLEU-1"] < 0.05
    assert scores["BLEU-4"] < 1e-3
    assert scores["ROUGE-L"] < 0.05
    assert scores["CIDEr"] < 0.05
    # And a half-right corpus lands in between.
    mixed = {k: IDENTICAL[k] if i % 2 else UNRELATED[k] for i, k in enumerate(REFERENCES)}
    half = metrics.score(REFERENCES, mixed, with_meteor=False)
    assert scores["CIDEr"] < half["CIDEr"] < identical_scores["CIDEr"]
    assert scores["ROUGE-L"] < half["ROUGE-L"] < identical_scores["ROUGE-L"]


@requires_java
def test_ptb_tokenizer_lowercases_and_drops_punctuation():
    tokens = metrics.ptb_tokenize({
        "a": ["A dog, running!", "The dog's ball -- \"red\"."],
        "b": ["Line one\nstill line one", ""],
    })  # fmt: skip
    assert tokens == {
        "a": ["a dog running", "the dog 's ball red"],
        "b": ["line one still line one", ""],  # a newline must not shift later captions
    }


def test_bleu4_without_java():
    assert metrics.bleu4(REFERENCES, IDENTICAL) == pytest.approx(1.0, abs=1e-6)
    assert metrics.bleu4(REFERENCES, UNRELATED) < 1e-3
    # An empty caption (the model said <end> at once) scores, it does not crash.
    assert metrics.bleu4(REFERENCES, {**IDENTICAL, "dog": ""}) < 1.0


@pytest.mark.skipif(not SHARED_FLICKR8K.is_dir(), reason=f"{SHARED_FLICKR8K} not present")
@requires_java
def test_bleu4_agrees_with_the_ptb_protocol_on_flickr8k_dev():
    """Human against human on the real dev set: the quick score tracks the reported one."""
    from converter import datasets

    dev = datasets.load("flickr8k", SHARED_FLICKR8K, check_images=False).splits["dev"]
    references = {e.image_id: list(e.captions[1:]) for e in dev}
    hypotheses = {e.image_id: e.captions[0] for e in dev}
    quick = metrics.bleu4(references, hypotheses)
    full = metrics.score(references, hypotheses, with_meteor=False)
    assert 0.1 < full["BLEU-4"] < 0.4  # humans disagree: about 0.21 here
    assert quick == pytest.approx(full["BLEU-4"], abs=0.005)


@pytest.mark.parametrize(
    ("references", "hypotheses", "message"),
    [
        ({}, {}, r"no hypotheses"),
        ({"a": ["x"]}, {"b": "x"}, r"1 hypothesis id\(s\) without references \['b'\]"),
        ({"a": ["x"], "b": ["y"]}, {"a": "x"}, r"1 reference id\(s\) without a hypothesis"),
        ({"a": "a dog"}, {"a": "a dog"}, r"must be a list of captions, not a str"),
        ({"a": ["", " "]}, {"a": "a dog"}, r"photo 'a' has no non-empty reference"),
        ({"a": ["a dog"]}, {"a": ["a dog"]}, r"must be one caption \(str\)"),
    ],
)
def test_bad_input_is_refused_clearly(references, hypotheses, message):
    with pytest.raises(MetricsError, match=message):
        metrics.bleu4(references, hypotheses)
    with pytest.raises(MetricsError, match=message):
        metrics.score(references, hypotheses)


def test_missing_java_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not metrics.available()
    with pytest.raises(MetricsError, match=r"need Java, but `java` is not on PATH"):
        metrics.score(REFERENCES, IDENTICAL)
    assert metrics.bleu4(REFERENCES, IDENTICAL) == pytest.approx(1.0)  # no Java needed


def test_a_failing_jvm_is_reported_not_hung(monkeypatch, tmp_path):
    """A java that dies at start (e.g. no memory for -Xmx2G) gives its own message back."""
    java = tmp_path / "java"
    java.write_text(
        "#!/bin/sh\necho 'Error: Could not create the Java Virtual Machine.' >&2\nexit 1\n"
    )
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MetricsError, match=r"PTB tokenizer failed \(exit 1\): Error: Could not"):
        metrics.score(REFERENCES, IDENTICAL)
    gts = {k: [r.lower() for r in refs] for k, refs in REFERENCES.items()}
    res = {k: [v.lower()] for k, v in IDENTICAL.items()}
    with pytest.raises(MetricsError, match=r"METEOR failed \(java exit 1.*Could not create"):
        metrics.meteor(gts, res)


# --- plots -------------------------------------------------------------------------------

HISTORY = [
    {"epoch": 1, "train_loss": 3.2, "dev_loss": 2.9, "dev_BLEU-4": 0.11, "dev_CIDEr": 0.30},
    {"epoch": 2, "train_loss": 2.6, "dev_loss": 2.7, "dev_BLEU-4": 0.15, "dev_CIDEr": 0.38},
    {"epoch": 3, "train_loss": 2.3, "dev_loss": 2.75, "dev_BLEU-4": 0.14, "dev_CIDEr": 0.36},
]


def png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def test_plot_loss_writes_a_png_atomically(tmp_path):
    out = tmp_path / "run" / "loss.png"
    out.parent.mkdir()
    out.write_bytes(b"an older, half-written plot")
    assert plots.plot_loss(HISTORY, out) == out
    pixels = png(out)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 300
    assert sorted(p.name for p in out.parent.iterdir()) == ["loss.png"]  # no temp file left
    # One epoch with no dev scores yet, and loss only: still a plot, not a crash.
    plots.plot_loss([{"train_loss": 3.0, "dev_loss": None}], tmp_path / "one.png")
    assert png(tmp_path / "one.png").size


def test_plot_loss_refuses_an_unusable_history(tmp_path):
    with pytest.raises(ValueError, match=r"history is empty"):
        plots.plot_loss([], tmp_path / "loss.png")
    with pytest.raises(ValueError, match=r"none of the keys train_loss"):
        plots.plot_loss([{"epoch": 1, "accuracy": 0.5}], tmp_path / "loss.png")
    assert not list(tmp_path.iterdir())


@pytest.fixture()
def photo(tmp_path) -> Path:
    gradient = np.linspace(60, 200, 300, dtype=np.uint8)
    pixels = np.stack([np.tile(gradient, (200, 1))] * 3, axis=-1)
    path = tmp_path / "photo.jpg"
    Image.fromarray(pixels).save(path)
    return path


def test_plot_attention_overlays_each_word(tmp_path, photo):
    words = ["a", "dog", "runs", "on", "grass"]
    corner = np.zeros((5, 7, 7), np.float32)
    corner[:, 0, 0] = 1.0  # every word looks at the top-left cell
    spread = np.full((5, 7, 7), 1 / 49, np.float32)
    spread[:, 6, 6] = 0.5
    a = plots.plot_attention(photo, words, corner, tmp_path / "a.png")
    b = plots.plot_attention(photo, words, spread.reshape(5, 49), tmp_path / "b.png")  # [n, L]
    first, second = png(a), png(b)
    assert first.shape == second.shape
    assert first.shape[1] > first.shape[0]  # 5 panels: 4 columns by 2 rows
    assert np.abs(first.astype(int) - second.astype(int)).mean() > 1.0  # the maps show
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "photo.jpg"]


def test_plot_attention_with_an_empty_caption(tmp_path, photo):
    out = plots.plot_attention(photo, [], np.zeros((0, 7, 7)), tmp_path / "empty.png")
    assert png(out).size


def test_plot_attention_refuses_mismatched_input(tmp_path, photo):
    with pytest.raises(ValueError, match=r"2 word\(s\) but 3 attention map\(s\)"):
        plots.plot_attention(photo, ["a", "dog"], np.zeros((3, 7, 7)), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"must be \[n_words, grid_h, grid_w\]"):
        plots.plot_attention(photo, ["a", "dog"], np.zeros((2, 48)), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
