"""Caption text: normalisation, vocabulary and token ids.

Ids are fixed for the specials (``<pad>`` 0, ``<start>`` 1, ``<end>`` 2, ``<unk>`` 3) so that
the bundle's manifest and the desktop runtime agree without a lookup.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from desktop.files import write_atomic

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)

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
        ids = [3 if w in SPECIALS else index.get(w, 3) for w in normalize(text)]
        if max_length is not None:
            ids = ids[:max_length]
        return [1, *ids, 2]

    def decode(self, ids: Iterable[int]) -> list[str]:
        words = []
        for i in ids:
            if i == 2:
                break
            if i > 3:
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
        if words[:4] != SPECIALS:
            raise ValueError(f"{path}: vocabulary must start with {SPECIALS}")
        return cls(words)
