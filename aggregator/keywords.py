"""Keyword signatures: the lexical signal that tells a translation of an article apart from
another article about the same event.

Each distinct content word of an article becomes an *item*: its identity (`language:lemma`, or
`#number`) and its *alternatives*, the forms under which another language may carry it: the
accent-folded surface and lemma (names, numbers and cognates match as they are) and, when a
FreeDict dictionary exists, every English word it offers (`en:word`). Articles with an English
text (original or translated) are keyed from that text, in English.

Two articles in the same keying language match an item by identity; in different languages, by
any shared alternative (so the other article selects the dictionary sense). Coverage is the
IDF-weighted share of one article's items found in the other; clustering uses the smaller of
the two directions. Everything is stored as 64-bit hashes: a signature is never text, and a
gloss is never a translation.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import cache

import numpy as np
import simplemma

from aggregator import gloss

VERSION = "1"
NUMBER = re.compile(r"\d{1,3}(?:[.,\u00a0\u202f ]\d{3})+(?!\d)|\d+(?:[.,]\d+)?")
WORD = re.compile(r"[^\W\d_]+", re.U)


def key_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") - (
        1 << 63
    )


def fold(word: str) -> str:
    """Lower case without accents, so "Räikkönen" meets "Raikkonen"."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# How a signature's arrays are stored (article_keywords.ids, .alts, .owners).
HASH_DTYPE = np.dtype("<i8")
OWNER_DTYPE = np.dtype("<i4")


@dataclass
class Keywords:
    """An article's signature. `language` is the keying language ("en" when keyed from the
    English text); `glossed` says whether its alternatives include English words."""

    language: str
    glossed: bool
    ids: np.ndarray  # int64, one per distinct item, sorted
    alts: np.ndarray  # int64, alternatives of all items
    owners: np.ndarray  # int32, the item (index into ids) of each alternative

    def to_blobs(self) -> tuple[bytes, bytes, bytes]:
        return (
            self.ids.astype(HASH_DTYPE).tobytes(),
            self.alts.astype(HASH_DTYPE).tobytes(),
            self.owners.astype(OWNER_DTYPE).tobytes(),
        )

    @classmethod
    def from_blobs(
        cls, language: str, glossed: bool, ids: bytes, alts: bytes, owners: bytes
    ) -> Keywords:
        return cls(
            language,
            bool(glossed),
            np.frombuffer(ids, dtype=HASH_DTYPE),
            np.frombuffer(alts, dtype=HASH_DTYPE),
            np.frombuffer(owners, dtype=OWNER_DTYPE),
        )


@cache
def _lemmatizes(language: str) -> bool:
    try:
        simplemma.lemmatize("test", lang=language)
    except ValueError:
        return False
    return True


def version(language: str) -> str:
    """Changes when the signature of an article in `language` would come out differently."""
    if language == "en":
        return f"{VERSION}:en"
    code = gloss.FREEDICT_CODES.get(language)
    signature = gloss._signature(code) if code else None
    return f"{VERSION}:{language}:{signature or '-'}"


def extract(text: str, language: str | None) -> Keywords:
    """The signature of `text`, written in `language` (ISO 639-1; None when unknown)."""
    language = language or "und"
    stop = gloss.stop_words(language)
    glossary = gloss.glossary(language) if language != "en" else None
    lemmatize = _lemmatizes(language)
    items: dict[int, set[int]] = {}
    for number in NUMBER.findall(text):
        key = key_hash("#" + re.sub(r"\D", "", number))
        items.setdefault(key, set()).add(key)
    for token in WORD.findall(NUMBER.sub(" ", text)):
        surface = token.lower()
        if len(surface) < 3 or surface in stop:
            continue
        lemma = simplemma.lemmatize(token, lang=language).lower() if lemmatize else surface
        if lemma in stop:
            continue
        alts = items.setdefault(key_hash(f"{language}:{lemma}"), set())
        alts.update((key_hash("=" + fold(lemma)), key_hash("=" + fold(surface))))
        if language == "en":
            alts.add(key_hash("en:" + lemma))
        elif glossary is not None:
            alts.update(key_hash("en:" + word) for word in glossary.lookup(lemma, surface))
    return _pack(language, language == "en" or glossary is not None, items)


def _pack(language: str, glossed: bool, items: dict[int, set[int]]) -> Keywords:
    ids = np.array(sorted(items), dtype=np.int64)
    alts: list[int] = []
    owners: list[int] = []
    for index, item in enumerate(ids.tolist()):
        alts.extend(items[item])
        owners.extend([index] * len(items[item]))
    return Keywords(
        language, glossed, ids, np.array(alts, dtype=np.int64), np.array(owners, dtype=np.int32)
    )


def comparable(a: Keywords, b: Keywords) -> bool:
    """Whether the two signatures share a space: the same keying language, or English
    alternatives on both sides."""
    return a.language == b.language or (a.glossed and b.glossed)
