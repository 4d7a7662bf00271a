"""The texts an article is compared by: original and English, without outlet boilerplate."""

from __future__ import annotations

import hashlib

from aggregator.boilerplate import FeedBoilerplate

# Enough for the lead and first sentences; past this, dense models only spend time.
MAX_DENSE_CHARS = 700


def join(title: str, summary: str) -> str:
    if title and summary:
        separator = " " if title.rstrip()[-1:] in ".!?…" else ". "
        return f"{title.rstrip()}{separator}{summary}"
    return title or summary


def original(title: str | None, summary: str | None, boilerplate: FeedBoilerplate) -> str:
    """Title and summary without boilerplate (or as they are, if nothing else is left)."""
    cleaned = join(boilerplate.title(title), boilerplate.summary(summary))
    return cleaned or join((title or "").strip(), (summary or "").strip())


def english(title_en: str | None, summary_en: str | None, boilerplate: FeedBoilerplate) -> str:
    return original(title_en, summary_en, boilerplate)


def dense(text: str) -> str:
    """The text a dense model sees: cut at a word boundary past MAX_DENSE_CHARS."""
    if len(text) <= MAX_DENSE_CHARS:
        return text
    cut = text.rfind(" ", 0, MAX_DENSE_CHARS)
    return text[: cut if cut > 0 else MAX_DENSE_CHARS]


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()
