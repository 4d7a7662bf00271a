"""Offline sentence splitting and truncation.

Argos Translate's own splitters (MiniSBD, Stanza) download models on first use and fail
offline, so the backends split text here: a rule-based splitter that knows common
abbreviations, initials and ordinal numbers, and the full stops of CJK, Arabic, Urdu, Hindi,
Armenian, Ethiopic and Burmese scripts.
"""

from __future__ import annotations

import re

# Sentence-final marks that need no following space (CJK, Devanagari, Burmese, Ethiopic...).
_CLOSED_ENDERS = "。！？｡︒﹒．।॥။።፧؟۔"
_CLOSERS = "\"'”’»›)]}」』】〕〉》）"
_OPENERS = "\"'“‘«‹([{「『【〔〈《（¿¡"

# Abbreviations (lower-cased, without the final period) after which a period rarely ends a
# sentence, in the languages news feeds most often use.
_ABBREVIATION_LIST = """
    mr mrs ms dr prof sr sra srta jr st mt ft vs etc approx ca cf e.g i.e u.s u.k u.n
    gen col lt sgt capt cmdr adm gov sen rep rev hon pres dept univ inc ltd corp co jan feb
    apr jun jul aug sep sept oct nov dec mme mlle mgr av bd pp vol
    hr fr frl nr str bzw ca ggf usw z.b d.h u.a v.a s.o inkl evtl vgl abs
    dña dª núm pág tel ud uds sres avda
    dott sig sigg avv
    sr.ª sra.ª
    г гг ул им тыс млн млрд руб т.е т.д т.п см др
"""
ABBREVIATIONS = frozenset(_ABBREVIATION_LIST.split())

_SPACE = re.compile(r"\s+")
_CLOSED_BOUNDARY = re.compile(rf"[{_CLOSED_ENDERS}]+[{re.escape(_CLOSERS)}]*")
_OPEN_BOUNDARY = re.compile(
    # French sets a space before a closing guillemet: « Oui. » Puis...
    rf"[.!?…]+(?:[{re.escape(_CLOSERS)}]|\s[»›])*(?=\s+[{re.escape(_OPENERS)}\w])"
)
_WORD_BEFORE = re.compile(r"(\S+)$")


def normalize(text: str) -> str:
    """One line of plain text: whitespace collapsed, control characters gone."""
    text = _SPACE.sub(" ", text)
    if not text.isprintable():  # rare, so the character loop runs only when needed
        text = _SPACE.sub(" ", "".join(ch if ch.isprintable() else " " for ch in text))
    return text.strip()


def split_sentences(text: str, max_chars: int = 400) -> list[str]:
    """Split normalised text into sentences; overlong ones are cut at word boundaries so no
    piece exceeds `max_chars` (NMT models degrade or truncate on very long inputs)."""
    text = normalize(text)
    if not text:
        return []
    sentences = []
    for chunk in _split_closed(text):
        sentences.extend(_split_open(chunk))
    pieces = []
    for sentence in sentences:
        pieces.extend(_cut(sentence, max_chars))
    return pieces


def truncate(text: str, max_chars: int) -> tuple[str, bool]:
    """Keep whole sentences up to `max_chars`; return (text, whether anything was dropped).

    A first sentence longer than `max_chars` is cut at the last word boundary that fits.
    """
    text = normalize(text)
    if len(text) <= max_chars:
        return text, False
    kept = ""
    for sentence in split_sentences(text, max_chars=max_chars):
        candidate = f"{kept} {sentence}".strip()
        if len(candidate) > max_chars:
            break
        kept = candidate
    if not kept:
        kept = _cut(text, max_chars)[0]
    return kept, True


def _split_closed(text: str) -> list[str]:
    parts, start = [], 0
    for match in _CLOSED_BOUNDARY.finditer(text):
        parts.append(text[start : match.end()].strip())
        start = match.end()
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _split_open(text: str) -> list[str]:
    parts, start = [], 0
    for match in _OPEN_BOUNDARY.finditer(text):
        if _is_abbreviation(text[start : match.start()], text[match.start() : match.end()]):
            continue
        parts.append(text[start : match.end()].strip())
        start = match.end()
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _is_abbreviation(before: str, mark: str) -> bool:
    """A single period after an abbreviation, an initial or a short number is not an end."""
    if mark.rstrip(_CLOSERS) != ".":
        return False
    found = _WORD_BEFORE.search(before)
    if not found:
        return False
    word = found.group(1).lstrip(_OPENERS)
    if len(word) == 1 and word.isalpha():
        return True  # an initial: "J. Smith"
    if word.isdigit() and len(word) <= 2:
        return True  # an ordinal or day: "am 3. Oktober"
    return word.lower() in ABBREVIATIONS or _is_dotted_acronym(word)


def _is_dotted_acronym(word: str) -> bool:
    """'U.S', 'E.E.U.U', 'z.B': letters separated by periods."""
    letters = word.split(".")
    return len(letters) > 1 and all(len(x) <= 2 and x.isalpha() for x in letters)


def _cut(sentence: str, max_chars: int) -> list[str]:
    pieces = []
    while len(sentence) > max_chars:
        cut = sentence.rfind(" ", 0, max_chars + 1)
        if cut <= 0:
            cut = max_chars  # no space at all (CJK without punctuation): cut hard
        pieces.append(sentence[:cut].strip())
        sentence = sentence[cut:].strip()
    if sentence:
        pieces.append(sentence)
    return pieces
