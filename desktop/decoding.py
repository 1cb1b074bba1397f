"""The one decode loop of the codebase: greedy and beam search over the decoder step.

``step(tokens [B] int32, hidden [B, units], features [B, L, D]) -> (logits [B, V],
new_hidden [B, units], attention [B, L])`` is the bundle's ``decoder_step`` signature.

- ``<pad>``, ``<start>`` and ``<unk>`` are never emitted (their logits are masked before the
  softmax), and ``<end>`` is masked at the first step so a caption has at least one word.
- Scores are length-normalised: ``sum(log p) / n ** alpha`` over the emitted tokens including
  ``<end>``; ``alpha = 1`` (the default) is the mean log-probability per token.
- Beam search runs all beams in one decoder call with a constant batch of ``beam_width``
  (the first step too, its duplicate beams held at -inf), so the interpreter is never
  resized between photos or steps. Finished hypotheses leave the beam as in fairseq: an
  ``<end>`` ranked within the top ``beam_width`` candidates finishes a hypothesis. The
  search stops at ``max_length``, or once ``beam_width`` hypotheses are finished and none
  of the live beams scores better so far than the best finished one (fairseq alone stops
  at ``beam_width`` finished, which can return a poor caption when improbable ones
  finish early). Captions cut at ``max_length`` compete with the finished ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from desktop.bundle import Tokens

StepFn = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True, eq=False)
class Decoded:
    tokens: tuple[int, ...]  # emitted word ids, without <end>
    score: float  # length-normalised log-probability
    attention: np.ndarray | None  # [len(tokens), L] float32, or None when not asked for
    finished: bool  # True when the caption ended with <end> (not cut at max_length)


def masks(vocab_size: int, tokens: Tokens) -> tuple[np.ndarray, np.ndarray]:
    """Additive logit masks: (first step, later steps)."""
    later = np.zeros(vocab_size, dtype=np.float32)
    later[[tokens.pad, tokens.start, tokens.unk]] = -np.inf
    first = later.copy()
    first[tokens.end] = -np.inf
    return first, later


def repeated(history: Sequence[int], n: int) -> list[int]:
    """Words that would repeat one of ``history``'s ``n``-grams if said next ("a coffee cup
    with a coffee cup": the second "cup" with n = 3), or its last word. A caption read aloud
    that loops is worse than a shorter one; n = 0 allows everything."""
    if n <= 0 or not history:
        return []
    if len(history) < n - 1:
        return [history[-1]]
    prefix = tuple(history[len(history) - n + 1 :]) if n > 1 else ()
    banned = [
        history[i + n - 1]
        for i in range(len(history) - n + 1)
        if tuple(history[i : i + n - 1]) == prefix
    ]
    # Nor the same word twice in a row ("young asian asian"): never a caption's English.
    return [*banned, history[-1]]


@dataclass(frozen=True)
class Neutral:
    """Words the decoder must be sure between (``first`` / ``second``: "man" / "woman"),
    else it says ``neutral`` ("person") with their combined probability."""

    first: int
    second: int
    neutral: int


def neutralise(x: np.ndarray, pairs: Sequence[Neutral], min_share: float) -> None:
    """In place, per row of logits ``x``: where neither word of a pair holds ``min_share``
    of the pair's probability, the pair's mass moves to the neutral word. A blind user
    cannot check "a man" against the photo; "a person" is right either way."""
    if not pairs or min_share <= 0.5:
        return
    rows = x if x.ndim == 2 else x[None]
    limit = np.log(min_share)
    for pair in pairs:
        a, b = rows[:, pair.first], rows[:, pair.second]
        both = np.logaddexp(a, b)
        with np.errstate(invalid="ignore"):  # both words refused: -inf - -inf, not unsure
            unsure = (np.maximum(a, b) - both < limit) & np.isfinite(both)
        if unsure.any():
            rows[unsure, pair.neutral] = np.logaddexp(rows[unsure, pair.neutral], both[unsure])
            rows[unsure, pair.first] = -np.inf
            rows[unsure, pair.second] = -np.inf


def _log_softmax(x: np.ndarray) -> np.ndarray:
    top = x.max(axis=-1, keepdims=True)
    shifted = x - top
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _normalise(total: float, n: int, alpha: float) -> float:
    return total / (max(n, 1) ** alpha)


@dataclass(frozen=True)
class _Filters:
    """The per-step word filters of one decode call (``Decoder.decode``)."""

    no_repeat: int = 0
    neutral: tuple[Neutral, ...] = ()
    min_share: float = 0.0


class Decoder:
    """Greedy and beam search for one bundle; holds the masks so each call allocates little."""

    def __init__(
        self,
        step: StepFn,
        tokens: Tokens,
        vocab_size: int,
        units: int,
        max_length: int,
    ):
        self.step = step
        self.tokens = tokens
        self.vocab_size = vocab_size
        self.units = units
        self.max_length = max_length
        self.first_mask, self.mask = masks(vocab_size, tokens)

    def decode(
        self,
        features: np.ndarray,
        beam_width: int = 1,
        max_length: int | None = None,
        with_attention: bool = True,
        alpha: float = 1.0,
        guidance: np.ndarray | None = None,
        bias: np.ndarray | None = None,
        no_repeat: int = 0,
        neutral: Sequence[Neutral] = (),
        min_share: float = 0.0,
    ) -> Decoded:
        """``guidance`` ([G, vocab_size], optional): logit bonuses, one row per thing the
        photo shows (the words that name it). A caption gets a row's bonus until it has said
        one of that row's words, then no more: the bonus asks for "cat" once, it does not
        reward "a cat cat cat". The bonus is part of the caption's score.

        ``bias`` ([vocab_size], optional): added to every step's logits, as the masks are
        (``-inf`` for the words of things the photo does not show: grounding).

        ``no_repeat`` (n): no caption says the same n words twice (0: no limit).

        ``neutral`` / ``min_share``: word pairs ("man" / "woman") the caption names only when
        one holds at least ``min_share`` of the pair's probability, else their neutral word
        ("person"); 0: off (``neutralise``)."""
        if beam_width < 1:
            raise ValueError(f"beam width must be at least 1, got {beam_width}")
        limit = self.max_length if max_length is None else max(1, int(max_length))
        if guidance is not None and not len(guidance):
            guidance = None
        first, later = self.first_mask, self.mask
        if bias is not None:
            first, later = first + bias, later + bias
            # Never a dead end: <end> stays possible after the first word whatever is refused.
            later[self.tokens.end] = self.mask[self.tokens.end]
        masks = (first, later)
        filters = _Filters(no_repeat, tuple(neutral), min_share)
        if beam_width == 1:
            return self.greedy(features, limit, with_attention, alpha, guidance, masks, filters)
        return self.beam(
            features, beam_width, limit, with_attention, alpha, guidance, masks, filters
        )

    def greedy(
        self,
        features: np.ndarray,
        max_length: int,
        with_attention: bool,
        alpha: float,
        guidance: np.ndarray | None = None,
        masks: tuple[np.ndarray, np.ndarray] | None = None,
        filters: _Filters | None = None,
    ) -> Decoded:
        first_mask, mask = masks or (self.first_mask, self.mask)
        filters = filters or _Filters()
        end = self.tokens.end
        said = np.zeros(0 if guidance is None else len(guidance), dtype=bool)
        token = np.array([self.tokens.start], dtype=np.int32)
        hidden = np.zeros((1, self.units), dtype=np.float32)
        words: list[int] = []
        maps: list[np.ndarray] = []
        total = 0.0
        finished = False
        for t in range(max_length):
            logits, hidden, attention = self.step(token, hidden, features)
            x = logits[0] + (first_mask if t == 0 else mask)
            x[repeated(words, filters.no_repeat)] = -np.inf
            neutralise(x, filters.neutral, filters.min_share)
            if guidance is not None:
                x = x + guidance[~said].sum(axis=0)
            best = int(x.argmax())
            # log p(best) = x[best] - logsumexp(x), with x[best] the maximum.
            total -= float(np.log(np.exp(x - x[best]).sum()))
            if best == end:
                finished = True
                break
            words.append(best)
            if guidance is not None:
                said |= guidance[:, best] > 0
            if with_attention:
                maps.append(attention[0])
            token[0] = best
        n = len(words) + (1 if finished else 0)
        return Decoded(
            tokens=tuple(words),
            score=_normalise(total, n, alpha),
            attention=_stack(maps, features.shape[1]) if with_attention else None,
            finished=finished,
        )

    def beam(
        self,
        features: np.ndarray,
        width: int,
        max_length: int,
        with_attention: bool,
        alpha: float,
        guidance: np.ndarray | None = None,
        masks: tuple[np.ndarray, np.ndarray] | None = None,
        filters: _Filters | None = None,
    ) -> Decoded:
        first_mask, mask = masks or (self.first_mask, self.mask)
        filters = filters or _Filters()
        no_repeat = filters.no_repeat
        end, vocab = self.tokens.end, self.vocab_size
        said = np.zeros((width, 0 if guidance is None else len(guidance)), dtype=bool)
        feats = np.repeat(features, width, axis=0)
        hidden = np.zeros((width, self.units), dtype=np.float32)
        token = np.full(width, self.tokens.start, dtype=np.int32)
        sums = np.full(width, -np.inf, dtype=np.float64)
        sums[0] = 0.0  # all beams start identical: only the first one may expand
        token_hist: list[np.ndarray] = []
        parent_hist: list[np.ndarray] = []
        attention_hist: list[np.ndarray] = []
        # (normalised score, step, input beam): an <end> chosen at `step` from `input beam`.
        done: list[tuple[float, int, int]] = []
        n_candidates = min(2 * width, width * vocab)
        said_words: list[list[int]] = [[] for _ in range(width)]
        for t in range(max_length):
            logits, new_hidden, attention = self.step(token, hidden, feats)
            if with_attention:
                attention_hist.append(attention)
            x = logits.astype(np.float64) + (first_mask if t == 0 else mask)
            if no_repeat:
                for j in range(width):
                    x[j, repeated(said_words[j], no_repeat)] = -np.inf
            neutralise(x, filters.neutral, filters.min_share)
            if guidance is not None:
                x = x + (~said).astype(np.float64) @ guidance
            candidates = sums[:, None] + _log_softmax(x)
            flat = candidates.ravel()
            top = np.argpartition(-flat, n_candidates - 1)[:n_candidates]
            top = top[np.argsort(-flat[top], kind="stable")]
            parents = np.zeros(width, dtype=np.intp)
            words = np.full(width, self.tokens.start, dtype=np.int32)
            scores = np.full(width, -np.inf, dtype=np.float64)
            live = 0
            for rank, index in enumerate(top):
                score = float(flat[index])
                if score == -np.inf:
                    break
                beam, word = divmod(int(index), vocab)
                if word == end:
                    if rank < width:
                        done.append((_normalise(score, t + 1, alpha), t, beam))
                    continue
                parents[live], words[live], scores[live] = beam, word, score
                live += 1
                if live == width:
                    break
            token_hist.append(words)
            parent_hist.append(parents)
            if no_repeat:
                said_words = [[*said_words[parents[j]], int(words[j])] for j in range(width)]
            if guidance is not None:
                said = said[parents] | (guidance[:, words].T > 0)
            sums, token = scores, words
            if live == 0 or (
                len(done) >= width
                # A live beam that already scores better than every finished caption would
                # beat them if it ended next (with a tiny vocabulary a beam can fill up with
                # improbable finished captions early).
                and max(d[0] for d in done) >= _normalise(scores[0], t + 1, alpha)
            ):
                break
            hidden = new_hidden[parents]
        else:
            # Cut at max_length: the live beams compete too (no <end> to count).
            for j in range(width):
                if sums[j] != -np.inf:
                    done.append((_normalise(float(sums[j]), max_length, alpha), -1, j))

        best = max(done, key=lambda d: d[0]) if done else None
        assert best is not None, "beam search found no hypothesis"
        score, t, beam = best
        if t == -1:  # cut at max_length: live beam `beam` after the last step
            ids, maps = self._backtrack(
                max_length - 1, beam, token_hist, parent_hist, attention_hist
            )
            finished = False
        else:
            ids, maps = self._backtrack(t - 1, beam, token_hist, parent_hist, attention_hist)
            finished = True
        return Decoded(
            tokens=tuple(ids),
            score=float(score),
            attention=_stack(maps, features.shape[1]) if with_attention else None,
            finished=finished,
        )

    @staticmethod
    def _backtrack(
        t: int,
        beam: int,
        token_hist: Sequence[np.ndarray],
        parent_hist: Sequence[np.ndarray],
        attention_hist: Sequence[np.ndarray],
    ) -> tuple[list[int], list[np.ndarray]]:
        """Words (and their attention) of live beam ``beam`` after step ``t``."""
        ids: list[int] = []
        maps: list[np.ndarray] = []
        for s in range(t, -1, -1):
            ids.append(int(token_hist[s][beam]))
            parent = int(parent_hist[s][beam])
            if attention_hist:
                maps.append(attention_hist[s][parent])
            beam = parent
        ids.reverse()
        maps.reverse()
        return ids, maps


def _stack(maps: list[np.ndarray], cells: int) -> np.ndarray:
    if not maps:
        return np.zeros((0, cells), dtype=np.float32)
    return np.stack(maps).astype(np.float32, copy=False)


def sentence(words: Sequence[str]) -> str:
    """``("a", "dog", "runs")`` → ``"A dog runs."``"""
    text = " ".join(w for w in words if w).strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."
