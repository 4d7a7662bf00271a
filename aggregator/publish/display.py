"""How values read on the pages: times, delays, language names, safe links and HTML.

Everything a feed supplied is untrusted. Templates autoescape text; the only HTML that reaches
a page from the database goes through `clean_html` here, and the only links through `safe_url`.
"""

from __future__ import annotations

import ipaddress
import json
from datetime import datetime
from urllib.parse import urlsplit

import nh3
from markupsafe import Markup

from aggregator import provenance
from aggregator.timeutil import from_iso

LANGUAGE_NAMES = {
    "af": "Afrikaans", "am": "Amharic", "ar": "Arabic", "az": "Azerbaijani", "be": "Belarusian",
    "bg": "Bulgarian", "bn": "Bengali", "bs": "Bosnian", "ca": "Catalan", "cs": "Czech",
    "cy": "Welsh", "da": "Danish", "de": "German", "el": "Greek", "en": "English",
    "eo": "Esperanto", "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian",
    "fi": "Finnish", "fr": "French", "ga": "Irish", "gl": "Galician", "gu": "Gujarati",
    "ha": "Hausa", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian",
    "hy": "Armenian", "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese",
    "ka": "Georgian", "kk": "Kazakh", "km": "Khmer", "kn": "Kannada", "ko": "Korean",
    "ky": "Kyrgyz", "lt": "Lithuanian", "lv": "Latvian", "mk": "Macedonian", "ml": "Malayalam",
    "mn": "Mongolian", "mr": "Marathi", "ms": "Malay", "mt": "Maltese", "my": "Burmese",
    "nb": "Norwegian Bokmål", "ne": "Nepali", "nl": "Dutch", "nn": "Norwegian Nynorsk",
    "no": "Norwegian", "pa": "Punjabi", "pl": "Polish", "ps": "Pashto", "pt": "Portuguese",
    "ro": "Romanian", "ru": "Russian", "si": "Sinhala", "sk": "Slovak", "sl": "Slovenian",
    "so": "Somali", "sq": "Albanian", "sr": "Serbian", "sv": "Swedish", "sw": "Swahili",
    "ta": "Tamil", "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish",
    "uk": "Ukrainian", "ur": "Urdu", "uz": "Uzbek", "vi": "Vietnamese", "yo": "Yoruba",
    "zh": "Chinese", "zu": "Zulu",
}  # fmt: skip

# Scripts written right to left: their original text gets dir="rtl".
RTL_LANGUAGES = {"ar", "fa", "he", "ps", "ur", "yi"}

# Summary HTML keeps simple markup; images are dropped so reading never calls third parties.
SUMMARY_TAGS = nh3.ALLOWED_TAGS - {"img"}


def language_name(code: str | None) -> str:
    if not code:
        return "undetermined language"
    return LANGUAGE_NAMES.get(code, code)


def text_direction(code: str | None) -> str:
    return "rtl" if code in RTL_LANGUAGES else "auto"


def codes(value: str | None) -> list[str]:
    """A JSON array column (clusters.languages, clusters.countries) as a list; [] if invalid."""
    try:
        items = json.loads(value or "[]")
    except (TypeError, ValueError):
        return []
    return [str(item) for item in items] if isinstance(items, list) else []


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return from_iso(value)
    except ValueError:
        return None


def format_time(value: str | None) -> str:
    """ "14 Mar 06:10 UTC"; the stored text itself when it is not a valid timestamp."""
    moment = parse_time(value)
    if moment is None:
        return value or "unknown time"
    return moment.strftime("%-d %b %H:%M UTC")


def format_clock(value: str | None) -> str:
    moment = parse_time(value)
    return moment.strftime("%H:%M") if moment else "?"


def format_delay(seconds: float | None) -> str:
    """A delay after the first article: "+25 min", "+2 h 10 min", "+14 h", "+3 d"."""
    if seconds is None:
        return ""
    minutes = max(0, int(float(seconds) + 30) // 60)  # half up, as the SQL twin in queries.py
    if minutes < 60:
        return f"+{minutes} min"
    if minutes < 600:
        hours, rest = divmod(minutes, 60)
        return f"+{hours} h {rest} min" if rest else f"+{hours} h"
    if minutes < 72 * 60:
        return f"+{int(minutes / 60 + 0.5)} h"
    return f"+{int(minutes / 1440 + 0.5)} d"


def safe_url(value: str | None) -> str | None:
    """The URL when it is http(s), else None: a javascript: link from a feed must not render."""
    if not value:
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    return value.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def is_loopback(value: str | None) -> bool:
    """True for a link to the machine it is opened on (localhost, 127.0.0.0/8, ::1, 0.0.0.0).

    The demo's sample articles (and feeds) had such addresses: a loopback server that existed
    only while the demo was built. For a reader such a link is dead, or worse points at their
    own machine, so pages show it as unavailable instead of linking it."""
    try:
        host = urlsplit((value or "").strip()).hostname
    except ValueError:
        return False
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def clean_html(value: str | None) -> Markup:
    """Sanitised HTML, whatever is stored: the poll stage already sanitises summary_html, and
    this second allowlist pass means a row written by anything else still cannot run script.
    Loopback links lose their href (is_loopback)."""
    return Markup(
        nh3.clean(
            value or "",
            tags=SUMMARY_TAGS,
            link_rel="noopener noreferrer nofollow",
            attribute_filter=_drop_loopback_links,
        )
    )


def _drop_loopback_links(tag: str, attribute: str, value: str) -> str | None:
    return None if attribute in ("href", "src") and is_loopback(value) else value


def translation_note(backend: str | None, model: str | None) -> str:
    """How the English text was made, in words."""
    if not backend:
        return "not translated yet"
    if backend == provenance.COPY:
        return "English original"
    reason = provenance.none_reason(backend)
    if reason is not None:
        return f"no English translation ({reason.replace('-', ' ')})"
    return f"machine translation: {model or backend}"


def counted(count: int, noun: str, plural: str = "") -> str:
    """ "1 feed", "3 feeds", "0 feeds"; `plural` for a noun that does not take an s."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def format_ago(seconds: float) -> str:
    """How long ago, as a reader says it: "just now", "12 minutes ago", "5 hours ago",
    "9 days ago" (whole units, rounded down; a time in the future is "just now")."""
    minutes = int(max(0.0, seconds) // 60)
    for size, unit in ((1440, "day"), (60, "hour"), (1, "minute")):
        if minutes >= size:
            return f"{counted(minutes // size, unit)} ago"
    return "just now"


def format_day(day: str, short: bool = False) -> str:
    """A UTC day "2026-11-21" as "Saturday 21 November 2026" (short: "Sat 21 Nov")."""
    moment = datetime.strptime(day, "%Y-%m-%d")
    return moment.strftime("%a %-d %b" if short else "%A %-d %B %Y")
