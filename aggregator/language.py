"""Language codes and offline language detection (lingua).

Codes are ISO 639-1 ('fr-FR', 'FR', 'fra' → 'fr'). Detection uses a fixed set of the languages
news feeds are most often written in, in lingua's low-accuracy (trigram) mode: measured on this
project's machine, the high-accuracy models for these 45 languages take ~800 MB and 6-8 s to
load, the trigram models ~60 MB and 0.3 s, with the same results on headline-length samples.
Short or ambiguous text is 'undetermined' rather than guessed.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from lingua import IsoCode639_1, IsoCode639_3, Language, LanguageDetector, LanguageDetectorBuilder

from aggregator.config import ISO_639_1

# fmt: off
DETECTABLE = (
    "en", "fr", "de", "es", "it", "pt", "nl", "ru", "uk", "pl", "cs", "sk", "sl", "hr", "sr",
    "bs", "bg", "ro", "hu", "el", "tr", "ar", "fa", "he", "hi", "bn", "ur", "zh", "ja", "ko",
    "vi", "th", "id", "ms", "sv", "da", "nb", "fi", "et", "lt", "lv", "ca", "eu", "sq", "sw",
)
# fmt: on
MIN_CONFIDENCE = 0.6
MIN_LETTERS = 15  # below this, headlines like "Live: Macron" are guesses, not detections
# Old or alternative codes feeds still declare, mapped to today's ISO 639-1 code.
ALIASES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "no": "nb", "mo": "ro", "sh": "sr"}
_CODE = re.compile(r"^([a-zA-Z]{2,3})(?:[-_].*)?$")


def normalise(code: str | None) -> str | None:
    """ISO 639-1 code for a declared language tag, or None when it names no known language."""
    if not code:
        return None
    match = _CODE.match(code.strip())
    if not match:
        return None
    primary = match.group(1).lower()
    primary = ALIASES.get(primary, primary)
    if len(primary) == 3:
        primary = _from_639_3(primary)
    return primary if primary in ISO_639_1 else None


def _from_639_3(code: str) -> str | None:
    try:
        language = Language.from_iso_code_639_3(IsoCode639_3.from_str(code))
    except ValueError:
        return None
    return language.iso_code_639_1.name.lower()


@functools.cache
def detector() -> LanguageDetector:
    """Built once per process on first use; lingua's models are read-only."""
    codes = [getattr(IsoCode639_1, code.upper()) for code in DETECTABLE]
    return LanguageDetectorBuilder.from_iso_codes_639_1(*codes).with_low_accuracy_mode().build()


def detect(text: str | None) -> str | None:
    """ISO 639-1 code of the text's language, or None when too short or too uncertain."""
    if not text or _letters(text) < MIN_LETTERS:
        return None
    values = detector().compute_language_confidence_values(text)
    if not values or values[0].value < MIN_CONFIDENCE:
        return None
    return values[0].language.iso_code_639_1.name.lower()


def _letters(text: str) -> int:
    """Letters in the text, an ideograph, kana or hangul syllable counting as a short word."""
    count = 0
    for char in text:
        if char.isalpha():
            count += 3 if unicodedata.east_asian_width(char) == "W" else 1
    return count
