"""Concept-conditioned captioning (converter/concepts.py): the classifier's best everyday
groups as extra attention positions, and caption-only text that trains through them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.support.converter_cli import FLICKR, ROOT, run_converter, tiny_train_args

tf = pytest.importorskip(
    "tensorflow", reason="the training extra (tensorflow-cpu) is not installed"
)

from converter import text  # noqa: E402
from converter.concepts import ConceptTable, TextNoise, read_caption_text, text_slots, top_k  # noqa: E402
from converter.model import CaptionModel, ModelConfig  # noqa: E402


@pytest.fixture(scope="module")
def table() -> ConceptTable:
    return ConceptTable()


def test_table_sums_classes_into_everyday_groups(table):
    groups = {g: i for i, g in enumerate(table.groups)}
    probabilities = np.zeros((1, table.matrix.shape[0]), np.float32)
    # ImageNet 281 tabby and 285 Egyptian cat are one "cat"; 963 pizza is "pizza".
    probabilities[0, [281, 285, 963]] = [0.3, 0.2, 0.4]
    scores = table.scores(probabilities)[0]
    assert scores[groups["cat"]] == pytest.approx(0.5)
    assert scores[groups["pizza"]] == pytest.approx(0.4)
    ids, best = top_k(table.scores(probabilities), 3)
    assert [table.groups[i] for i in ids[0][:2]] == ["cat", "pizza"]
    assert best[0][2] == 0.0


def test_caption_words_name_groups_with_plurals_and_synonyms(table):
    named = [table.groups[i] for i in table.in_caption("Two kittens sleep on a sofa by laptops")]
    assert named == sorted(["cat", "couch", "laptop"], key=table.groups.index)
    assert table.in_caption("A man walks down the street") == []  # people are the grid's job


def test_text_slots_put_the_caption_s_concepts_among_real_noise(table):
    rng = np.random.default_rng(0)
    background_ids = np.tile(np.arange(5, dtype=np.int32), (10, 1))
    background_scores = np.tile(np.linspace(0.9, 0.1, 5, dtype=np.float32), (10, 1))
    pizza = table.groups.index("pizza")
    named = [[pizza]] * 400
    ids, scores, photos = text_slots(named, background_ids, background_scores, rng)
    assert photos.shape == (400,) and photos.max() < 10
    assert ids.shape == scores.shape == (400, 5)
    assert np.all(np.diff(scores, axis=1) <= 0), "slots are ordered best first, as top_k is"
    has = (ids == pizza).any(axis=1)
    assert 0.78 < has.mean() < 0.92  # kept with probability 0.85: the rest teach doubt
    assert scores[ids == pizza].min() >= TextNoise().score_low
    # The real photo's slots are damped below what they were.
    assert scores[~has].max() <= 0.9 * TextNoise().background_scale[1] + 1e-6


def test_read_caption_text_leaves_out_flickr8k_photos(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"source": "coco", "image_id": 1, "caption": "A pizza on a plate."},
                {
                    "source": "flickr30k",
                    "image": "9.jpg",
                    "caption": "A dog.",
                    "flickr8k": "9_x.jpg",
                },
                {"source": "flickr30k", "image": "8.jpg", "caption": "  "},
            ]
        )
    )
    assert read_caption_text([corpus]) == ["A pizza on a plate."]


def test_the_decoder_learns_a_word_from_the_concept_slot_alone():
    """Grid noise carries nothing; which word to say is only in the concept slot. After
    training, the same grid with concept 1 or 2 gives that concept's word: the slots reach
    the decoder through attention (the route caption-only text trains)."""
    tf.keras.utils.set_random_seed(0)  # unseeded, one initialisation in many did not learn it
    config = ModelConfig(
        vocab_size=8, feature_channels=16, dropout=0.0, concepts=2, concept_groups=4
    )
    model = CaptionModel(config)
    model.build_all()
    rng = np.random.default_rng(0)
    n = 32
    features = tf.constant(rng.normal(size=(n, 4, 16)), tf.float32)
    which = rng.integers(1, 3, n)
    ids = np.stack([which, np.zeros(n, int)], axis=1).astype(np.int32)
    scores = np.tile(np.array([[0.9, 0.05]], np.float32), (n, 1))
    word = which + 4  # concept 1 → word 5, concept 2 → word 6
    inputs = tf.constant(np.stack([np.ones(n), word], axis=1).astype(np.int32))
    targets = tf.constant(np.stack([word, np.full(n, 2)], axis=1).astype(np.int32))
    optimizer = tf.keras.optimizers.Adam(1e-2)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            _, total = model.caption_loss(features, (ids, scores), inputs, targets, training=True)
        grads = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))

    for _ in range(150):
        step()
    banned = tf.constant(text.BANNED_IDS, tf.int32)
    grid = features[:1]
    for concept in (1, 2):
        slots = (np.array([[concept, 0]], np.int32), np.array([[0.9, 0.05]], np.float32))
        said = model.greedy_tokens(grid, slots, 2, banned).numpy()[0]
        assert said[0] == concept + 4, (concept, said)


@pytest.mark.skipif(
    not (FLICKR / "Flickr8k.token.txt").is_file(), reason=f"Flickr8k not found at {FLICKR}"
)
def test_concept_run_trains_on_caption_text_and_exports_a_format_3_bundle(tmp_path):
    corpus = tmp_path / "text.jsonl"
    lines = [
        "a slice of pizza on a white plate",
        "a laptop on a wooden desk",
        "a cat sleeping on a couch",
        "a red bus on a city street",
    ] * 10
    corpus.write_text("\n".join(json.dumps({"caption": c}) for c in lines))
    run, bundle, cache = tmp_path / "run", tmp_path / "bundle", tmp_path / "cache"
    args = tiny_train_args(run, cache, 24, 4, "--concepts", "3")
    no_concepts = run_converter(
        *args, "--caption-text", str(corpus), "--concepts", "0", cwd=tmp_path
    )
    assert no_concepts.returncode == 2 and "--concepts" in no_concepts.stderr
    trained = run_converter(*args, "--caption-text", str(corpus), "--epochs", "1", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "40 caption-only examples" in trained.stderr
    vocab = json.loads((run / "vocab.json").read_text())
    assert {"pizza", "laptop", "bus"} <= set(vocab), "caption text words join the vocabulary"

    exported = run_converter(
        *("export", "--run", str(run), "--out", str(bundle)),
        *("--quantize", "float32", "--parity-photos", "3"),
        cwd=tmp_path,
    )
    assert exported.returncode == 0, exported.stderr[-3000:]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["format_version"] == 3 and manifest["concepts"]["count"] == 3
    assert manifest["parity"] == {"photos": 3, "agreement": 1.0}

    from desktop.bundle import load_bundle
    from desktop.captioner import Captioner

    loaded = load_bundle(bundle)
    assert loaded.positions == 7 * 7 + 3
    result = Captioner.load(bundle).caption(ROOT / "samples" / "chelsea.jpg")
    # The heat map covers the photo's grid only; the concept positions are not places.
    assert result.attention.shape == (len(result.words), 7, 7)
    assert result.objects and result.objects[0].name == "cat"
