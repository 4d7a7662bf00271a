"""English keyword glosses from Debian's FreeDict dictionaries, fully offline.

A gloss maps one source-language word to the English words a dictionary offers for it (all
senses: the other article picks the sense, because a gloss only counts when one of its words
occurs there). It is a matching signal for clustering only, never shown or stored as a
translation.

Both directions are used: `X-eng` dictionaries as they are, and `eng-X` ones inverted, since
either alone misses common words (Ding's German-English lacks "Polizei", for instance). Parsing
a large dictionary takes seconds, so the finished table is cached per user, keyed by the
dictionary files' size and time.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import re
from collections import defaultdict
from functools import cache
from pathlib import Path

import simplemma
from stop_words import StopWordError, get_stop_words

DICT_DIR = Path(os.environ.get("AGGREGATOR_DICT_DIR", "/usr/share/dictd"))
BUILDER_VERSION = "3"

# ISO 639-1 → FreeDict's ISO 639-3 names.
FREEDICT_CODES = {
    "af": "afr", "ar": "ara", "bg": "bul", "cs": "ces", "cy": "cym", "da": "dan", "de": "deu",
    "el": "ell", "eo": "epo", "es": "spa", "fi": "fin", "fr": "fra", "ga": "gle", "hi": "hin",
    "hr": "hrv", "hu": "hun", "id": "ind", "is": "isl", "it": "ita", "ja": "jpn", "ku": "kur",
    "la": "lat", "lt": "lit", "nl": "nld", "no": "nor", "pl": "pol", "pt": "por", "ru": "rus",
    "sk": "slk", "sl": "slv", "sr": "srp", "sv": "swe", "sw": "swh", "tr": "tur",
}  # fmt: skip
# Languages that glue nouns together, where an unknown word is worth splitting.
COMPOUNDING = {"de", "nl", "sv", "da", "no", "is", "af"}
ARTICLES = re.compile(
    r"^(der|die|das|den|dem|des|ein|eine|einen|einem|einer|le|la|les|l'|un|une|du|el|los|las|"
    r"una|il|lo|gli|uno|o|os|as|um|uma|het|een|en|ett)\s+",
    re.I,
)
MARKUP = re.compile(r"\[[^\]]*\]|<[^>]*>|\([^)]*\)|\{[^}]*\}")
FUNCTION_POS = re.compile(r"\b(art|prep|conj|pron|ppron|int|num)\b")
CONTENT_POS = re.compile(r"\b(n|v|adj)\b")
ENGLISH_WORD = re.compile(r"[a-z]+")
SKIP_LINE = ('"', "see:", "Synonym", "Note:")
B64_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
B64 = {c: i for i, c in enumerate(B64_DIGITS)}


def _english_stop() -> frozenset[str]:
    return frozenset(get_stop_words("en")) | {"sb", "sth", "someone", "something", "oneself"}


def english_words(phrase: str, stop: frozenset[str]) -> list[str]:
    return [w for w in ENGLISH_WORD.findall(phrase.lower()) if len(w) > 2 and w not in stop]


def _b64(text: str) -> int:
    number = 0
    for char in text:
        number = number * 64 + B64[char]
    return number


def _entries(path_stem: Path):
    """Yield (headword, part-of-speech text, translation phrases) for every dictd entry."""
    with gzip.open(path_stem.with_suffix(".dict.dz")) as compressed:
        data = compressed.read()
    seen: set[tuple[int, int]] = set()
    with open(path_stem.with_suffix(".index"), encoding="utf-8") as index:
        for line in index:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or parts[0].startswith("00database"):
                continue
            span = (_b64(parts[1]), _b64(parts[2]))
            if span in seen:
                continue
            seen.add(span)
            yield _parse(data[span[0] : span[0] + span[1]].decode("utf-8", "replace"))


def _parse(entry: str) -> tuple[str, str, list[str]]:
    lines = entry.split("\n")
    head = lines[0]
    headword = head.split(" /")[0].strip()
    pos = " ".join(re.findall(r"<([^>]*)>", head))
    phrases: list[str] = []
    for line in lines[1:]:
        text = line.strip()
        if not text or text.startswith(SKIP_LINE):
            continue
        text = MARKUP.sub("", re.sub(r"^\d+\.\s*", "", text))
        phrases.extend(p.strip() for p in re.split(r"[,;]", text) if p.strip())
    return headword, pos, phrases


def _build(code: str) -> dict[str, tuple[str, ...]]:
    stop = _english_stop()
    table: dict[str, set[str]] = defaultdict(set)
    forward = DICT_DIR / f"freedict-{code}-eng"
    if forward.with_suffix(".index").exists():
        for headword, pos, phrases in _entries(forward):
            if " " in headword or (FUNCTION_POS.search(pos) and not CONTENT_POS.search(pos)):
                continue
            for phrase in phrases:
                words = english_words(phrase, stop)
                if len(words) <= 2:  # longer phrases are explanations, not equivalents
                    table[headword.lower()].update(words)
    backward = DICT_DIR / f"freedict-eng-{code}"
    if backward.with_suffix(".index").exists():
        for headword, _pos, phrases in _entries(backward):
            words = english_words(headword, stop)
            if not 1 <= len(words) <= 2:
                continue
            for phrase in phrases:
                phrase = ARTICLES.sub("", phrase.strip())
                if phrase and " " not in phrase:
                    table[phrase.lower()].update(words)
    return {
        word: tuple(sorted({simplemma.lemmatize(w, lang="en").lower() for w in english}))
        for word, english in table.items()
        if english
    }


def _signature(code: str) -> str | None:
    parts = [BUILDER_VERSION]
    for name in (f"freedict-{code}-eng", f"freedict-eng-{code}"):
        path = DICT_DIR / f"{name}.index"
        if path.exists():
            stat = path.stat()
            parts.append(f"{name}:{stat.st_size}:{int(stat.st_mtime)}")
    if len(parts) == 1:
        return None
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "news-aggregator" / "gloss"


class Glossary:
    """Source word → English words, for one language."""

    def __init__(self, language: str, table: dict[str, tuple[str, ...]], signature: str) -> None:
        self.language = language
        self.table = table
        self.signature = signature
        self.compounding = language in COMPOUNDING

    def lookup(self, *forms: str) -> tuple[str, ...]:
        """English words for the first of `forms` (lower-case) the dictionary knows; unknown
        compounds fall back to their longest known head plus its modifier."""
        found: set[str] = set()
        for form in forms:
            found.update(self.table.get(form, ()))
        if not found and self.compounding:
            found.update(self._split(forms[0]))
        return tuple(sorted(found))

    def _split(self, word: str) -> set[str]:
        if len(word) < 8:
            return set()
        for cut in range(3, len(word) - 3):
            head = self.table.get(word[cut:])
            if head is None:
                continue
            found = set(head)
            modifier = word[:cut]
            for candidate in (modifier, modifier[:-1] if modifier.endswith("s") else None):
                if candidate and candidate in self.table:
                    found.update(self.table[candidate])
                    break
            return found
        return set()


@cache
def glossary(language: str) -> Glossary | None:
    """The glossary for an ISO 639-1 language, or None when no FreeDict dictionary for it is
    installed (`apt-get install dict-freedict-XXX-eng` adds one)."""
    code = FREEDICT_CODES.get(language)
    if code is None or language == "en":
        return None
    signature = _signature(code)
    if signature is None:
        return None
    path = cache_dir() / f"{code}-{signature}.pickle"
    try:
        with open(path, "rb") as handle:
            return Glossary(language, pickle.load(handle), signature)
    except (OSError, pickle.UnpicklingError, EOFError):
        pass
    table = _build(code)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        with open(temporary, "wb") as handle:
            pickle.dump(table, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only home only costs the rebuild next time
    return Glossary(language, table, signature)


@cache
def stop_words(language: str) -> frozenset[str]:
    """Function words to ignore (empty for a language the stop-words package lacks)."""
    try:
        return frozenset(get_stop_words(language))
    except StopWordError:
        return frozenset()
