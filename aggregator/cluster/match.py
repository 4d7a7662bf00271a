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

from aggregator.cluster import kernel
from aggregator.config import ClusterSettings
from aggregator.keywords import Keywords


@dataclass(frozen=True)
class Pair:
    multi: float
    english: float | None
    keywords: float | None

    def strength(self, settings: ClusterSettings) -> float | None:
        """How far the pair is above the bar (higher is better), or None below it."""
        value = kernel.strength(
            self.multi, self.english is not None, self.english or 0.0,
            self.keywords is not None, self.keywords or 0.0, settings.min_multi,
            settings.threshold_en, settings.threshold_keywords, settings.threshold_multi,
        )
        return None if value == kernel.NONE else value


def coverage(a: Keywords, a_weights: np.ndarray, b: Keywords) -> float:
    """The share of a's keyword weight that b carries: by identity in the same keying language,
    else by any shared alternative (what the compiled loop computes, for one pair)."""
    total = float(a_weights.sum())
    marks = np.zeros(len(a.ids), dtype=bool)
    if a.language == b.language:
        return kernel.coverage_same(a.ids, a_weights, total, b.ids, marks)
    order = np.argsort(a.alts, kind="stable")
    return kernel.coverage_cross(a.alts[order], a.owners[order], a_weights, total,
                                 np.sort(b.alts), marks)
