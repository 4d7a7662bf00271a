"""When two articles are the same story, and how strongly.

The signals, per pair of articles:
- multilingual cosine (original texts): every pair must reach `min_multi`;
- English cosine (English texts), when both have one: must reach `threshold_en`;
- keyword coverage (aggregator/keywords.py), when the two share a keyword space: must reach
  `threshold_keywords`. It is what separates a story from another story about the same event,
  which dense vectors cannot do (measured: README, "How the thresholds were chosen");
- for a pair with no shared keyword space (a language with neither a translation nor a
  dictionary), the multilingual cosine alone must reach `threshold_multi`.

A match's strength (to pick the best story) is the keyword coverage, or for a multilingual-
only match the same margin above its threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aggregator.cluster.window import Article
from aggregator.config import ClusterSettings
from aggregator.keywords import Lexicon, comparable, coverage


@dataclass(frozen=True)
class Pair:
    multi: float
    english: float | None
    keywords: float | None

    def strength(self, settings: ClusterSettings) -> float | None:
        """How far the pair is above the bar (higher is better), or None below it."""
        if self.multi < settings.min_multi:
            return None
        if self.english is not None and self.english < settings.threshold_en:
            return None
        if self.keywords is not None:
            return self.keywords if self.keywords >= settings.threshold_keywords else None
        if self.multi >= settings.threshold_multi:
            return settings.threshold_keywords + (self.multi - settings.threshold_multi)
        return None


def judge(a: Article, b: Article, multi: float, settings: ClusterSettings) -> float | None:
    """`Pair(...).strength(settings)`, computing the costly signals only while they can still
    change the answer: the English cosine before the keywords, and one keyword direction
    before the other."""
    if multi < settings.min_multi:
        return None
    english = None
    if a.english is not None and b.english is not None:
        english = float(np.dot(a.english, b.english))
        if english < settings.threshold_en:
            return None
    return Pair(multi, english, keyword_coverage(a, b, settings.threshold_keywords)).strength(
        settings
    )


def keyword_coverage(a: Article, b: Article, floor: float = 0.0) -> float | None:
    """The smaller of the two directions' coverage (or the first, when it is already below
    `floor`), or None without a shared keyword space."""
    if a.signature is None or b.signature is None:
        return None
    if not comparable(a.signature, b.signature):
        return None
    forward = coverage(lexicon(a), lexicon(b))
    if forward <= 0 or forward < floor:
        return forward
    return min(forward, coverage(lexicon(b), lexicon(a)))


def lexicon(article: Article) -> Lexicon:
    if article.lexicon is None:
        if article.weights is None:
            raise AssertionError("keyword weights are set before matching")
        article.lexicon = Lexicon(article.signature, article.weights)
    return article.lexicon
