"""converter.text: normalisation, vocabulary building, token ids, save/load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from converter import text
from converter.text import SPECIALS, Vocabulary
from desktop.bundle import SPECIAL_WORDS

REPO = Path(__file__).resolve().parent.parent

CAPTIONS = [
    "A dog runs through the grass.",
    "A black dog is running on the grass!",
    "Two dogs play in the snow.",
    "A man rides a bike; the dog follows.",
    "A girl in a pink-dress climbs stairs.",
]


def test_normalize_applies_the_seed_filter():
    # The seed's Tokenizer filter turns these into spaces: !"#$%&()*+.,-/:;=?@[\]^_`{|}~
    assert text.normalize('A "big" dog, (brown) - runs: fast!') == [
        "a", "big", "dog", "brown", "runs", "fast",
    ]  # fmt: skip
    assert text.normalize("pink-dress/blue_hat.") == ["pink", "dress", "blue", "hat"]
    # Apostrophes are not in the filter: "dog's" stays one word, as in the seed.
    assert text.normalize("The dog's ball") == ["the", "dog's", "ball"]
    assert text.normalize("  Tabs\tand\nnewlines  ") == ["tabs", "and", "newlines"]
    assert text.normalize("") == []
    assert text.normalize(" .,!? ") == []  # punctuation only: no words, not one ""


def test_specials_have_fixed_ids():
    vocab = Vocabulary.build(CAPTIONS)
    assert vocab.words[:4] == ("<pad>", "<start>", "<end>", "<unk>")
    assert [vocab.index[w] for w in SPECIALS] == [0, 1, 2, 3]
    assert text.TOKEN_IDS == {"pad": 0, "start": 1, "end": 2, "unk": 3}
    assert (text.PAD_ID, text.START_ID, text.END_ID, text.UNK_ID) == (0, 1, 2, 3)
    assert text.BANNED_IDS == (0, 1, 3)  # <end> may be said (only not first)


def test_the_ids_are_the_words_the_runtime_checks():
    # desktop/bundle.py refuses a bundle whose vocabulary has other words at its tokens' ids.
    vocab = Vocabulary.build(CAPTIONS)
    assert {key: vocab.words[i] for key, i in text.TOKEN_IDS.items()} == SPECIAL_WORDS
    shipped = REPO / "models" / "default" / "manifest.json"
    if shipped.is_file():  # exported with these ids
        assert json.loads(shipped.read_text())["tokens"] == text.TOKEN_IDS


def test_build_ranks_by_count_then_alphabetically():
    vocab = Vocabulary.build(CAPTIONS)
    # a ×6, the ×4, dog ×3, then grass ×2 and in ×2 (the tie broken alphabetically).
    assert vocab.words[4:9] == ("a", "the", "dog", "grass", "in")
    assert len(vocab) == 4 + len({w for c in CAPTIONS for w in text.normalize(c)})


def test_top_k_and_min_count():
    assert Vocabulary.build(CAPTIONS, top_k=3).words == SPECIALS + ("a", "the", "dog")
    frequent = Vocabulary.build(CAPTIONS, min_count=2)
    assert frequent.words == SPECIALS + ("a", "the", "dog", "grass", "in")
    assert Vocabulary.build(CAPTIONS, top_k=5, min_count=4).words == SPECIALS + ("a", "the")


def test_round_trip_gives_the_normalised_words():
    vocab = Vocabulary.build(CAPTIONS)
    for caption in CAPTIONS:
        ids = vocab.encode(caption)
        assert ids[0] == 1 and ids[-1] == 2
        assert vocab.decode(ids) == text.normalize(caption)


def test_a_caption_of_punctuation_encodes_to_start_end():
    assert Vocabulary.build(CAPTIONS).encode(" ... ") == [1, 2]


def test_unknown_words_become_unk():
    vocab = Vocabulary.build(CAPTIONS)
    ids = vocab.encode("A zebra runs")
    assert ids == [1, vocab.index["a"], 3, vocab.index["runs"], 2]
    assert vocab.decode(ids) == ["a", "runs"]  # decode drops <unk> along with the specials


def test_special_tokens_written_in_a_caption_are_unknown_words():
    vocab = Vocabulary.build(CAPTIONS + ["a <end> b <start> c <pad>"])
    assert "<end>" not in vocab.words[4:]
    ids = vocab.encode("a dog <end> runs")
    assert ids == [1, vocab.index["a"], vocab.index["dog"], 3, vocab.index["runs"], 2]
    assert ids.count(2) == 1


def test_max_length_caps_the_words():
    vocab = Vocabulary.build(CAPTIONS)
    ids = vocab.encode(CAPTIONS[3], max_length=4)
    assert ids == [1, *vocab.encode(CAPTIONS[3])[1:5], 2]
    assert vocab.decode(ids) == ["a", "man", "rides", "a"]
    short = vocab.encode("a dog", max_length=4)
    assert short == [1, vocab.index["a"], vocab.index["dog"], 2]


def test_decode_stops_at_end_and_skips_padding():
    vocab = Vocabulary.build(CAPTIONS)
    dog, runs = vocab.index["dog"], vocab.index["runs"]
    assert vocab.decode([1, dog, runs, 2, dog, 0, 0]) == ["dog", "runs"]
    assert vocab.decode([dog, 0, runs]) == ["dog", "runs"]
    assert vocab.decode([2, dog]) == []


def test_save_and_load(tmp_path):
    vocab = Vocabulary.build(CAPTIONS + ["Un café près de l'église"])
    path = tmp_path / "vocab.json"
    vocab.save(path)
    assert json.loads(path.read_text(encoding="utf-8")) == list(vocab.words)
    assert "café" in path.read_text(encoding="utf-8")  # UTF-8, not \\u escapes
    loaded = Vocabulary.load(path)
    assert loaded == vocab
    assert loaded.encode(CAPTIONS[0]) == vocab.encode(CAPTIONS[0])
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.json"]  # no temp file left


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (["a", "b"], r"must start with"),
        ({"words": []}, r"a JSON list of words"),
        ([*SPECIALS, "dog", 3], r"a JSON list of words"),
        ([*SPECIALS, "dog", "dog"], r"duplicate words"),
    ],
)
def test_load_refuses_a_bad_vocabulary(tmp_path, content, message):
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        Vocabulary.load(path)
