"""desktop.decoding: greedy and beam search, scores, masking, attention.

Two kinds of step function: small numpy language models whose best caption is known (to
check the search itself), and the real decoder_step.tflite of the shipped bundle.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from desktop.bundle import Tokens
from desktop.captioner import CaptionOptions
from desktop.decoding import Decoder, sentence

TOKENS = Tokens(pad=0, start=1, end=2, unk=3)
CELLS = 4
UNITS = 6


def table_step(table: dict[int, dict[int, float]], vocab: int):
    """Next-token probabilities depend on the previous token only (a bigram model);
    a token missing from the table is followed by <end>."""

    def step(token, hidden, features):
        logits = np.full((len(token), vocab), -30.0, dtype=np.float32)
        for row, t in enumerate(token):
            for word, p in table.get(int(t), {TOKENS.end: 1.0}).items():
                logits[row, word] = np.log(p)
        attention = np.zeros((len(token), CELLS), dtype=np.float32)
        attention[np.arange(len(token)), token % CELLS] = 1.0
        return logits, hidden + 1.0, attention

    return step


def recurrent_step(vocab: int, seed: int):
    """Logits depend on the whole history through the hidden state (tests beam reordering)."""
    rng = np.random.default_rng(seed)
    embed = rng.standard_normal((vocab, UNITS)).astype(np.float32)
    mix = rng.standard_normal((UNITS, UNITS)).astype(np.float32) * 0.5
    out = rng.standard_normal((UNITS, vocab)).astype(np.float32) * 1.5

    def step(token, hidden, features):
        new_hidden = np.tanh(hidden @ mix + embed[token])
        logits = new_hidden @ out
        score = new_hidden[:, :CELLS]
        attention = np.exp(score) / np.exp(score).sum(axis=1, keepdims=True)
        return logits.astype(np.float32), new_hidden.astype(np.float32), attention

    return step


def features(batch: int = 1) -> np.ndarray:
    return np.zeros((batch, CELLS, 2), dtype=np.float32)


def log_softmax(x):
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


def teacher_forced_score(decoder: Decoder, feats, ids, finished: bool, alpha: float = 1.0):
    """Mean masked log-probability of a given caption, step by step."""
    seq = [*ids, decoder.tokens.end] if finished else list(ids)
    hidden = np.zeros((1, decoder.units), np.float32)
    token = decoder.tokens.start
    total = 0.0
    for t, word in enumerate(seq):
        logits, hidden, _ = decoder.step(np.array([token], np.int32), hidden, feats)
        x = logits[0].astype(np.float64) + (decoder.first_mask if t == 0 else decoder.mask)
        total += log_softmax(x)[word]
        token = word
    return total / len(seq) ** alpha


# -- the search, on models with a known answer --------------------------------------------------

A, B, C = 4, 5, 6


def test_unk_pad_start_are_never_emitted_and_end_not_first():
    table = {
        TOKENS.start: {
            TOKENS.unk: 0.4,
            TOKENS.end: 0.3,
            TOKENS.pad: 0.1,
            TOKENS.start: 0.1,
            A: 0.1,
        },
        A: {TOKENS.unk: 0.5, TOKENS.end: 0.4, B: 0.1},
    }
    decoder = Decoder(table_step(table, 7), TOKENS, vocab_size=7, units=UNITS, max_length=10)
    for width in (1, 2, 3):
        out = decoder.decode(features(), beam_width=width)
        assert out.tokens == (A,), width
        assert out.finished


def test_beam_finds_the_better_caption_greedy_misses():
    table = {
        TOKENS.start: {A: 0.6, B: 0.4},
        A: {TOKENS.end: 0.3, A: 0.25, B: 0.25, C: 0.2},
        B: {TOKENS.end: 0.99, C: 0.01},
        C: {TOKENS.end: 1.0},
    }
    decoder = Decoder(table_step(table, 7), TOKENS, vocab_size=7, units=UNITS, max_length=10)
    greedy = decoder.decode(features(), beam_width=1)
    beam = decoder.decode(features(), beam_width=3)
    assert greedy.tokens == (A,)
    assert greedy.score == pytest.approx((np.log(0.6) + np.log(0.3)) / 2, abs=1e-5)
    assert beam.tokens == (B,)
    assert beam.score == pytest.approx((np.log(0.4) + np.log(0.99)) / 2, abs=1e-5)
    # Attention of every word, none for <end>: the table model looks at cell (prev token % 4).
    np.testing.assert_array_equal(beam.attention, [[0, 1, 0, 0]])


def test_length_cut_at_max_length():
    table = {t: {A: 0.9, TOKENS.end: 0.1} for t in (TOKENS.start, A)}
    decoder = Decoder(table_step(table, 7), TOKENS, vocab_size=7, units=UNITS, max_length=5)
    for width in (1, 3):
        out = decoder.decode(features(), beam_width=width)
        assert out.tokens == (A,) * 5 and not out.finished
        assert out.attention.shape == (5, CELLS)
    assert len(decoder.decode(features(), beam_width=3, max_length=2).tokens) == 2
    # One word, cut: its score is its own log-probability (n = 1).
    table = {TOKENS.start: {A: 0.6, B: 0.4}}
    decoder = Decoder(table_step(table, 7), TOKENS, vocab_size=7, units=UNITS, max_length=5)
    for width in (1, 3):
        out = decoder.decode(features(), beam_width=width, max_length=1)
        assert out.tokens == (A,) and not out.finished
        assert out.score == pytest.approx(np.log(0.6), abs=1e-5)
        assert out.attention.dtype == np.float32 and out.attention.shape == (1, CELLS)


@pytest.mark.parametrize("width", [1, 3])
def test_huge_logits_give_the_same_caption_and_finite_scores(width):
    """A model whose logits are far from 0 (a bad export, an unnormalised head) must not
    overflow the softmax: the caption is that of the same logits shifted to around 0."""
    step = recurrent_step(9, 3)

    def shifted(token, hidden, feats, by):
        logits, new_hidden, attention = step(token, hidden, feats)
        return logits + by, new_hidden, attention

    decoders = [
        Decoder(lambda t, h, f, by=by: shifted(t, h, f, by), TOKENS, 9, UNITS, max_length=6)
        for by in (0.0, 1000.0)
    ]
    plain, huge = (d.decode(features(), beam_width=width) for d in decoders)
    assert huge.tokens == plain.tokens and np.isfinite(huge.score)
    assert huge.score == pytest.approx(plain.score, abs=1e-3)


def test_beam_wider_than_the_vocabulary():
    table = {TOKENS.start: {A: 0.7, B: 0.3}, A: {TOKENS.end: 1.0}, B: {TOKENS.end: 1.0}}
    decoder = Decoder(table_step(table, 6), TOKENS, vocab_size=6, units=UNITS, max_length=4)
    out = decoder.decode(features(), beam_width=8)
    assert out.tokens == (A,)


def test_defaults_greedy_and_attention_only_when_asked():
    decoder = Decoder(recurrent_step(12, 0), TOKENS, vocab_size=12, units=UNITS, max_length=8)
    default = decoder.decode(features())
    greedy = decoder.greedy(features(), 8, True, 1.0)
    assert (default.tokens, default.score) == (greedy.tokens, greedy.score)
    for width in (1, 3):
        assert decoder.decode(features(), beam_width=width, with_attention=False).attention is None


@pytest.mark.parametrize("seed", range(5))
def test_beam_width_one_is_greedy(seed):
    decoder = Decoder(recurrent_step(12, seed), TOKENS, vocab_size=12, units=UNITS, max_length=8)
    greedy = decoder.greedy(features(), 8, True, 1.0)
    beam = decoder.beam(features(), 1, 8, True, 1.0)
    assert greedy.tokens == beam.tokens
    assert greedy.finished == beam.finished
    assert greedy.score == pytest.approx(beam.score, abs=1e-6)
    np.testing.assert_allclose(greedy.attention, beam.attention, atol=1e-6)


@pytest.mark.parametrize("alpha", [1.0, 0.0, 2.0])
@pytest.mark.parametrize("seed", range(5))
def test_exhaustive_beam_equals_brute_force(seed, alpha):
    """A beam wider than every possible caption must find the best one, with its exact score
    and attention: this checks the back-pointers and the hidden-state reordering, and (with
    alpha 0 and 2) that the length penalty ranks the finished captions."""
    vocab, max_length = 7, 3  # words 4, 5, 6
    decoder = Decoder(recurrent_step(vocab, seed), TOKENS, vocab, UNITS, max_length)
    feats = features()
    candidates = []
    for n in range(1, max_length + 1):
        for ids in itertools.product((A, B, C), repeat=n):
            for finished in (True, False) if n < max_length else (False,):
                score = teacher_forced_score(decoder, feats, ids, finished, alpha)
                candidates.append((score, ids, finished))
    # Only captions that reached max_length may end without <end>.
    candidates = [c for c in candidates if c[2] or len(c[1]) == max_length]
    best_score, best_ids, best_finished = max(candidates)
    out = decoder.decode(feats, beam_width=64, alpha=alpha)
    assert out.tokens == best_ids and out.finished == best_finished
    assert out.score == pytest.approx(best_score, abs=1e-5)
    # Attention rows are those the model produced while emitting each word.
    hidden = np.zeros((1, UNITS), np.float32)
    token = TOKENS.start
    for i, word in enumerate(best_ids):
        _, hidden, attention = decoder.step(np.array([token], np.int32), hidden, feats)
        np.testing.assert_allclose(out.attention[i], attention[0], atol=1e-6)
        token = word


def reference_beam(decoder: Decoder, feats, width: int, max_length: int, alpha: float):
    """The documented beam search written plainly, one hypothesis at a time (slow, obvious):
    an <end> among the top ``width`` candidates finishes a hypothesis; the search stops when
    no beam is live, or ``width`` are finished and none of the live beams scores better so far
    than the best finished one; captions cut at ``max_length`` compete with the finished."""
    tokens = decoder.tokens
    live = [(0.0, (), np.zeros((1, decoder.units), np.float32))]
    done = []  # (normalised score, words, finished)
    for t in range(max_length):
        candidates = []
        for total, words, hidden in live:
            token = np.array([words[-1] if words else tokens.start], np.int32)
            logits, new_hidden, _ = decoder.step(token, hidden, feats)
            mask = decoder.first_mask if t == 0 else decoder.mask
            logp = log_softmax(logits[0].astype(np.float64) + mask)
            candidates += [
                (total + logp[w], words, w, new_hidden) for w in np.flatnonzero(logp > -np.inf)
            ]
        candidates.sort(key=lambda c: -c[0])
        live = []
        for rank, (score, words, word, hidden) in enumerate(candidates):
            if word == tokens.end:
                if rank < width:
                    done.append((score / (t + 1) ** alpha, words, True))
                continue
            live.append((score, (*words, int(word)), hidden))
            if len(live) == width:
                break
        if not live or (
            len(done) >= width and max(d[0] for d in done) >= live[0][0] / (t + 1) ** alpha
        ):
            break
    else:
        done += [(score / max_length**alpha, words, False) for score, words, _ in live]
    return max(done, key=lambda d: d[0])


@pytest.mark.parametrize("end_bias", [0.0, 2.0])
@pytest.mark.parametrize("alpha", [1.0, 0.5])
@pytest.mark.parametrize("width", [2, 3, 5])
def test_beam_equals_the_plain_reference(width, alpha, end_bias):
    """Narrow beams, which finish and stop early, against the plain reference on many small
    random models: same caption, same score, and so the same finishing and stopping rules.
    ``end_bias`` makes <end> likely, so that it often ranks just inside or outside the
    beam (an <end> ranked ``width``-th must not finish a hypothesis)."""
    for seed in range(30):
        step = recurrent_step(9, seed)

        def biased(token, hidden, feats, step=step):
            logits, new_hidden, attention = step(token, hidden, feats)
            logits[:, TOKENS.end] += end_bias
            return logits, new_hidden, attention

        decoder = Decoder(biased, TOKENS, 9, UNITS, max_length=7)
        score, words, finished = reference_beam(decoder, features(), width, 7, alpha)
        out = decoder.decode(features(), beam_width=width, alpha=alpha)
        assert (out.tokens, out.finished) == (words, finished), seed
        assert out.score == pytest.approx(score, abs=1e-6), seed


def test_beam_stops_once_nothing_live_can_win():
    """Both beams end at the first chance: the search stops there (2 steps), not at
    max_length, and not a step later."""
    table = {
        TOKENS.start: {A: 0.6, B: 0.4},
        A: {TOKENS.end: 0.9, A: 0.1},
        B: {TOKENS.end: 0.9, B: 0.1},
    }
    calls = []
    step = table_step(table, 7)

    def counted(token, hidden, feats):
        calls.append(len(token))
        return step(token, hidden, feats)

    decoder = Decoder(counted, TOKENS, vocab_size=7, units=UNITS, max_length=20)
    assert decoder.decode(features(), beam_width=2).tokens == (A,)
    assert calls == [2, 2]


def test_length_penalty_alpha():
    table = {
        TOKENS.start: {A: 0.5, B: 0.5},
        A: {TOKENS.end: 0.5, A: 0.5},
        B: {TOKENS.end: 0.5, B: 0.5},
    }
    decoder = Decoder(table_step(table, 7), TOKENS, vocab_size=7, units=UNITS, max_length=6)
    for width in (1, 3):
        mean = decoder.decode(features(), beam_width=width)
        total = decoder.decode(features(), beam_width=width, alpha=0.0)
        assert mean.score == pytest.approx(np.log(0.5), abs=1e-5), width
        assert total.score == pytest.approx(2 * np.log(0.5), abs=1e-5), width


def test_length_penalty_alpha_chooses_the_beams_caption():
    """Short "A." (p 0.6, 2 tokens) against long "B C A." (p 0.4, 4 tokens): the total
    log-probability (alpha 0) prefers the short caption, the per-token mean (alpha 1) the
    long one, so a beam that ignored alpha would return the same caption for both."""
    table = {TOKENS.start: {A: 0.6, B: 0.4}, A: {TOKENS.end: 1.0}, B: {C: 1.0}, C: {A: 1.0}}
    decoder = Decoder(table_step(table, 7), TOKENS, vocab_size=7, units=UNITS, max_length=6)
    assert decoder.decode(features(), beam_width=3, alpha=0.0).tokens == (A,)
    assert decoder.decode(features(), beam_width=3, alpha=1.0).tokens == (B, C, A)
    assert decoder.decode(features(), beam_width=3).tokens == (B, C, A)  # alpha 1 by default


def test_bad_beam_width():
    decoder = Decoder(recurrent_step(8, 0), TOKENS, 8, UNITS, 5)
    with pytest.raises(ValueError, match="beam width"):
        decoder.decode(features(), beam_width=0)


@pytest.mark.parametrize(
    ("words", "text"),
    [
        (("a", "dog", "runs"), "A dog runs."),
        (("two", "dogs", "play", "."), "Two dogs play ."),
        (("is", "it", "raining", "?"), "Is it raining ?"),
        (("x",), "X."),
        ((), ""),
    ],
)
def test_sentence(words, text):
    assert sentence(words) == text


# -- the real model ------------------------------------------------------------------------------

SPECIALS = {"<pad>", "<start>", "<end>", "<unk>"}


@pytest.mark.parametrize("width", [1, 3])
def test_real_model_captions_are_sentences(captioner, samples, width):
    gh, gw = captioner.bundle.feature_grid
    for photo in samples:
        result = captioner.caption(photo, CaptionOptions(beam_width=width))
        assert result.words, photo
        assert not SPECIALS & set(result.words)
        assert result.text[0].isupper() and result.text.endswith(".")
        assert result.text.lower().rstrip(".") == " ".join(result.words)
        assert np.isfinite(result.score) and result.score <= 0
        assert result.attention.shape == (len(result.words), gh, gw)
        np.testing.assert_allclose(result.attention.sum(axis=(1, 2)), 1.0, rtol=1e-3)
        assert not result.attention.flags.writeable
        t = result.timings
        assert min(t.load_ms, t.encode_ms, t.decode_ms) > 0
        assert t.objects_ms >= 0  # naming the objects and the confidence (format 2)
        assert t.total_ms == pytest.approx(
            t.load_ms + t.detect_ms + t.encode_ms + t.decode_ms + t.objects_ms + t.text_ms
        )


@pytest.mark.parametrize("width", [1, 3, 5])
def test_real_model_scores_are_the_mean_log_probability(captioner, samples, width):
    decoder = captioner.decoder
    for photo in samples[:2]:
        feats = captioner.encode(captioner.pixels(photo))
        out = decoder.decode(feats, beam_width=width)
        expected = teacher_forced_score(decoder, feats, out.tokens, out.finished)
        assert out.score == pytest.approx(expected, abs=1e-4)


def test_real_model_beam_keeps_one_batch_size(captioner, samples):
    options = CaptionOptions(beam_width=3)
    captioner.caption(samples[0], options)
    resizes = captioner.decoder_model.resizes
    for photo in samples:
        captioner.caption(photo, options)
    assert captioner.decoder_model.resizes == resizes  # no re-plan per photo or per step


def test_real_model_options(captioner, samples):
    gh, gw = captioner.bundle.feature_grid
    short = captioner.caption(samples[0], CaptionOptions(beam_width=3, max_length=2))
    assert 1 <= len(short.words) <= 2
    bare = captioner.caption(samples[0], CaptionOptions(with_attention=False))
    assert bare.attention.shape == (0, gh, gw)
    assert bare.words == captioner.caption(samples[0], CaptionOptions()).words


@pytest.mark.parametrize("width", [1, 3])
def test_guidance_asks_for_a_word_once(width):
    """After "cat" (5) a language model sometimes says "cat" again: a bonus that stayed on
    would tip it into "cat cat cat"; guidance stops at the first "cat"."""
    vocab = 8
    table = {
        TOKENS.start: {4: 0.6, 5: 0.4},  # "a" more likely than "cat"
        4: {6: 0.7, 5: 0.3},  # a → "dog" (6) or "cat"
        5: {5: 0.4, TOKENS.end: 0.6},  # cat → stop, or cat again
        6: {TOKENS.end: 1.0},
    }
    decoder = Decoder(table_step(table, vocab), TOKENS, vocab, UNITS, max_length=6)
    plain = decoder.decode(features(), beam_width=width)
    assert plain.tokens == (4, 6)  # "a dog"
    bonus = np.zeros((1, vocab), np.float32)
    bonus[0, 5] = 2.0
    guided = decoder.decode(features(), beam_width=width, guidance=bonus)
    assert guided.tokens.count(5) == 1, guided.tokens
    # Without the stop, the same bonus on every step repeats the word.
    sticky = Decoder(table_step(table, vocab), TOKENS, vocab, UNITS, max_length=6)
    sticky.mask = sticky.mask + bonus[0]
    sticky.first_mask = sticky.first_mask + bonus[0]
    assert sticky.decode(features(), beam_width=width).tokens.count(5) > 1
    # An empty guidance (nothing seen) changes nothing.
    empty = decoder.decode(features(), beam_width=width, guidance=np.zeros((0, vocab)))
    assert empty.tokens == plain.tokens and empty.score == plain.score


@pytest.mark.parametrize("width", [1, 3])
def test_bias_refuses_words_and_never_blocks_the_end(width):
    """Grounding: -inf on "man" (5) makes the search say "dog" (6) instead; refusing every
    word still leaves <end> after the first word, so the caption ends rather than loops."""
    vocab = 8
    table = {
        TOKENS.start: {4: 1.0},  # "a"
        4: {5: 0.7, 6: 0.3},  # a → "man" or "dog"
        5: {TOKENS.end: 1.0},
        6: {TOKENS.end: 1.0},
    }
    decoder = Decoder(table_step(table, vocab), TOKENS, vocab, UNITS, max_length=6)
    assert decoder.decode(features(), beam_width=width).tokens == (4, 5)
    bias = np.zeros(vocab, np.float32)
    bias[5] = -np.inf
    assert decoder.decode(features(), beam_width=width, bias=bias).tokens == (4, 6)
    everything = np.full(vocab, -np.inf, np.float32)
    everything[4] = 0.0  # only "a" may be said
    got = decoder.decode(features(), beam_width=width, bias=everything)
    assert got.tokens == (4,) and got.finished


def test_repeated_names_the_words_that_would_repeat_an_ngram():
    from desktop.decoding import repeated

    # "a coffee cup with a coffee" → "cup" would repeat "a coffee cup"
    assert sorted(repeated([4, 5, 6, 7, 4, 5], 3)) == [5, 6]  # and no "coffee coffee"
    assert repeated([4, 5, 6, 7, 4, 5], 0) == []
    assert repeated([4, 5], 3) == [5] and repeated([4], 3) == [4]  # no "cat cat" either
    assert repeated([], 3) == []
    assert sorted(repeated([4, 5, 4, 6, 4], 2)) == [4, 5, 6]


@pytest.mark.parametrize("width", [1, 3])
def test_no_repeat_stops_a_looping_caption(width):
    """A bigram model that loops "a cat a cat a cat …" until max_length: with no_repeat=3 the
    caption never says the same three words twice and ends."""
    vocab = 8
    table = {
        TOKENS.start: {4: 1.0},
        4: {5: 0.9, 6: 0.1},  # a → cat (or dog)
        5: {4: 0.8, TOKENS.end: 0.2},  # cat → a (loop) or end
        6: {TOKENS.end: 1.0},
    }
    decoder = Decoder(table_step(table, vocab), TOKENS, vocab, UNITS, max_length=12)
    loops = decoder.decode(features(), beam_width=width)
    assert loops.tokens[:4] == (4, 5, 4, 5)
    got = decoder.decode(features(), beam_width=width, no_repeat=3)
    trigrams = [got.tokens[i : i + 3] for i in range(len(got.tokens) - 2)]
    assert len(trigrams) == len(set(trigrams)), got.tokens
    assert got.finished


@pytest.mark.parametrize("width", [1, 3])
def test_unsure_gender_becomes_the_neutral_word(width):
    """ "a man" (5) at 0.55 against "a woman" (6) at 0.45 is a guess: with min_share 0.8 the
    caption says "a person" (7), whose probability is the two together; at 0.95 / 0.05 the
    model is sure and keeps "man"."""
    from desktop.decoding import Neutral

    vocab = 8
    pair = (Neutral(first=5, second=6, neutral=7),)

    def decoder(p_man: float) -> Decoder:
        table = {
            TOKENS.start: {4: 1.0},
            4: {5: p_man * 0.9, 6: (1 - p_man) * 0.9, 7: 0.1},
            5: {TOKENS.end: 1.0},
            6: {TOKENS.end: 1.0},
            7: {TOKENS.end: 1.0},
        }
        return Decoder(table_step(table, vocab), TOKENS, vocab, UNITS, max_length=4)

    guess = decoder(0.55)
    assert guess.decode(features(), beam_width=width).tokens == (4, 5)
    got = guess.decode(features(), beam_width=width, neutral=pair, min_share=0.8)
    assert got.tokens == (4, 7)
    # log p("person") = log(0.1 + 0.9): the pair's probability moved, none was lost.
    assert got.score == pytest.approx(np.log(1.0) / 2, abs=1e-4)
    sure = decoder(0.95).decode(features(), beam_width=width, neutral=pair, min_share=0.8)
    assert sure.tokens == (4, 5)
