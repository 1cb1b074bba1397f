"""Caption text: normalisation, vocabulary and token ids.

Ids are fixed for the specials (``<pad>`` 0, ``<start>`` 1, ``<end>`` 2, ``<unk>`` 3): every
vocabulary starts with them, the bundle's manifest says so (``TOKEN_IDS``, its ``tokens``) and
the desktop runtime checks the words there (``desktop.bundle.SPECIAL_WORDS``). This module is
the one place the converter takes those ids from.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from desktop.bundle import SPECIAL_WORDS
from desktop.files import write_atomic

# The manifest's "tokens", in id order: a special's id is its place at the start of every
# vocabulary (Vocabulary.build).
TOKEN_IDS = {"pad": 0, "start": 1, "end": 2, "unk": 3}
PAD_ID, START_ID, END_ID, UNK_ID = TOKEN_IDS.values()
SPECIALS = tuple(SPECIAL_WORDS[key] for key in TOKEN_IDS)
PAD, START, END, UNK = SPECIALS
# Never emitted: every decode masks them (training's dev captions, export's parity check,
# evaluation, and the desktop runtime). <end> is masked only at the first step.
BANNED_IDS = (PAD_ID, START_ID, UNK_ID)

# The seed's Keras Tokenizer filter: these characters become spaces.
_FILTERED = '!"#$%&()*+.,-/:;=?@[\\]^_`{|}~\t\n'
_FILTER_TABLE = str.maketrans({c: " " for c in _FILTERED})


def normalize(text: str) -> list[str]:
    # split() without a separator drops empty strings: " ... " has no words, not one "".
    return text.lower().translate(_FILTER_TABLE).split()


@dataclass(frozen=True)
class Vocabulary:
    words: tuple[str, ...]

    @cached_property
    def index(self) -> dict[str, int]:
        # Cached: encode() looks words up for every caption (30,000 on Flickr8k).
        return {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def build(cls, captions: Iterable[str], top_k: int = 5000, min_count: int = 1) -> Vocabulary:
        counts = Counter(w for text in captions for w in normalize(text))
        # Ties broken alphabetically so the vocabulary is reproducible.
        ranked = sorted(
            (w for w, n in counts.items() if n >= min_count and w not in SPECIALS),
            key=lambda w: (-counts[w], w),
        )
        return cls(SPECIALS + tuple(ranked[:top_k]))

    def encode(self, text: str, max_length: int | None = None) -> list[int]:
        """``<start> words… <end>``; captions longer than ``max_length`` words are cut."""
        index = self.index
        # A caption that literally says "<end>" must not end itself early: specials → <unk>.
        ids = [UNK_ID if w in SPECIALS else index.get(w, UNK_ID) for w in normalize(text)]
        if max_length is not None:
            ids = ids[:max_length]
        return [START_ID, *ids, END_ID]

    def decode(self, ids: Iterable[int]) -> list[str]:
        words = []
        for i in ids:
            if i == END_ID:
                break
            if i >= len(SPECIALS):
                words.append(self.words[i])
        return words

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps(list(self.words), ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        words = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ValueError(f"{path}: a vocabulary is a JSON list of words")
        words = tuple(words)
        if len(set(words)) != len(words):
            raise ValueError(f"{path}: vocabulary has duplicate words")
        if words[: len(SPECIALS)] != SPECIALS:
            raise ValueError(f"{path}: vocabulary must start with {SPECIALS}")
        return cls(words)
