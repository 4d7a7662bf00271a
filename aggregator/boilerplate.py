"""Remove what an outlet repeats on every article before comparing articles.

Feed names, "Live:" labels, photo credits and "Read more" tails would otherwise make two
unrelated articles from the same feed look alike. Two sources of knowledge: generic patterns
(labels and credits in the languages we poll), and what this feed itself repeats: a title
prefix or suffix segment, or a summary sentence, seen in several of its recent articles.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

LABELS = (
    r"live|live blog|liveblog|live-ticker|liveticker|ticker|newsticker|video|vidéo|videos|"
    r"photos?|fotos?|bilder|galerie|gallery|en direct|direct|breaking|breaking news|eilmeldung|"
    r"exclusive|exclusif|exklusiv|update|mise à jour|en vivo|en directo|última hora|al minuto|"
    r"in diretta|diretta|podcast|audio|interview|opinion|tribune|kommentar|editorial|édito|"
    r"watch|watch live|ao vivo|на живо|прямой эфир"
)
LABEL_PREFIX = re.compile(rf"^\s*(?:\+\+\+\s*)?(?:{LABELS})\s*(?:\+\+\+|[:|\-–—]+)\s*", re.I)
CREDIT = re.compile(
    r"\(?\s*(?:photo|photos|foto|fotos|bild|image|picture|crédits? photo|credit|copyright|©)"
    r"\s*(?::|©)\s*[^.()\n]{0,80}\)?",
    re.I,
)
TAILS = re.compile(
    r"(?:\bThe post\b.{0,300}\bappeared first on\b.*$|\b(?:read more|continue reading|lire la "
    r"suite|weiterlesen|mehr lesen|leer más|leggi tutto|ler mais)\b.{0,40}$|\[(?:…|\.\.\.)\]\s*$)",
    re.I | re.S,
)
# Site names and section labels hang off titles after these (not ":", which usually starts
# the topic: "Omicron: ...").
SEPARATORS = re.compile(r"\s+(?:\||-|–|—|::|·|/)\s+")
SPACES = re.compile(r"\s{2,}")
SENTENCE = re.compile(r"(?<=[.!?…])\s+")
MIN_REPEATS = 3
MIN_SHARE = 0.2
MAX_SEGMENT = 40  # site names and section labels are short; headlines are not
MAX_SENTENCE = 150


@dataclass
class FeedBoilerplate:
    """What one feed repeats, learned from its recent titles and summaries."""

    segments: set[str] = field(default_factory=set)  # title prefixes/suffixes, lower-case
    sentences: set[str] = field(default_factory=set)  # summary sentences, lower-case

    @classmethod
    def learn(
        cls,
        articles: Iterable[tuple[Iterable[str | None], Iterable[str | None]]],
        names: Iterable[str],
    ) -> FeedBoilerplate:
        """Learn from recent articles, each given as (its titles, its summaries), original and
        English: a short edge segment of titles, or a short summary sentence, that recurs in
        several articles is boilerplate. Each article counts once."""
        segment_counts: Counter[str] = Counter()
        sentence_counts: Counter[str] = Counter()
        total = 0
        for titles, summaries in articles:
            segments: set[str] = set()
            for title in filter(None, titles):
                parts = [p.strip().lower() for p in SEPARATORS.split(title) if p.strip()]
                if len(parts) >= 2:
                    segments.update(p for p in (parts[0], parts[-1]) if len(p) <= MAX_SEGMENT)
            sentences = {
                sentence.strip().lower()
                for summary in filter(None, summaries)
                for sentence in SENTENCE.split(summary)
                if sentence.strip() and len(sentence) <= MAX_SENTENCE
            }
            total += 1
            segment_counts.update(segments)
            sentence_counts.update(sentences)
        return cls(
            segments=_frequent(segment_counts, total) | {n.lower() for n in names if n},
            sentences=_frequent(sentence_counts, total),
        )

    def title(self, text: str | None) -> str:
        if not text:
            return ""
        text = SPACES.sub(" ", LABEL_PREFIX.sub("", CREDIT.sub(" ", text))).strip()
        parts = [p for p in SEPARATORS.split(text) if p.strip()]
        if len(parts) >= 2:
            kept = [p for p in parts if p.strip().lower() not in self.segments]
            if kept and len(kept) < len(parts):
                text = " - ".join(p.strip() for p in kept)
        return text.strip()

    def summary(self, text: str | None) -> str:
        if not text:
            return ""
        text = TAILS.sub("", CREDIT.sub(" ", text))
        sentences = [s for s in SENTENCE.split(text) if s.strip()]
        kept = [s for s in sentences if s.strip().lower() not in self.sentences]
        return SPACES.sub(" ", " ".join(s.strip() for s in kept)).strip()


def _frequent(counts: Counter[str], total: int) -> set[str]:
    return {
        text
        for text, count in counts.items()
        if count >= MIN_REPEATS and count >= MIN_SHARE * total
    }


NONE = FeedBoilerplate()
