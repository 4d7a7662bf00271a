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
SENTENCE = re.compile(r"(?<=[.!?…])\s+")
MIN_REPEATS = 3
MIN_SHARE = 0.2


@dataclass
class FeedBoilerplate:
    """What one feed repeats, learned from its recent titles and summaries."""

    segments: set[str] = field(default_factory=set)  # title prefixes/suffixes, lower-case
    sentences: set[str] = field(default_factory=set)  # summary sentences, lower-case

    @classmethod
    def learn(
        cls, titles: Iterable[str | None], summaries: Iterable[str | None], names: Iterable[str]
    ) -> FeedBoilerplate:
        titles = [t for t in titles if t]
        summaries = [s for s in summaries if s]
        segment_counts: Counter[str] = Counter()
        for title in titles:
            parts = [p.strip().lower() for p in SEPARATORS.split(title) if p.strip()]
            if len(parts) >= 2:
                segment_counts.update({parts[0], parts[-1]})
        sentence_counts: Counter[str] = Counter()
        for summary in summaries:
            sentence_counts.update({s.strip().lower() for s in SENTENCE.split(summary) if s})
        return cls(
            segments=_frequent(segment_counts, len(titles)) | {n.lower() for n in names if n},
            sentences=_frequent(sentence_counts, len(summaries)),
        )

    def title(self, text: str | None) -> str:
        if not text:
            return ""
        text = LABEL_PREFIX.sub("", CREDIT.sub(" ", text)).strip()
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
        return " ".join(s.strip() for s in kept).strip()


def _frequent(counts: Counter[str], total: int) -> set[str]:
    return {
        text
        for text, count in counts.items()
        if count >= MIN_REPEATS and count >= MIN_SHARE * total
    }


NONE = FeedBoilerplate()
