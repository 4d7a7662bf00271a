"""When two articles are the same story, and how strongly: the rule `kernel.strength`
compiles, for one pair.

The signals, per pair of articles:
- the language-centred multilingual cosine (aggregator/cluster/centering.py): the same event
  when it reaches `threshold_event`, or `threshold_event_cross` for two languages;
- English cosine (English texts), when both have one: must reach `threshold_en`;
- keyword coverage (aggregator/keywords.py), when the two share a keyword space: at
  `threshold_keywords` one is a *version* of the other (a translation, rewrite or wire copy:
  most of its words are the other's). Without a shared keyword space, a centred cosine of
  `threshold_version` marks a version.

A match's strength (to pick the best story) is its margin above the event bar; a version's is
1 + its keyword coverage, so an article joins the story of its own original first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aggregator.cluster import kernel
from aggregator.keywords import Keywords


@dataclass(frozen=True)
class Pair:
    multi: float  # centred multilingual cosine
    english: float | None
    keywords: float | None
    cross: bool = False  # in two different languages

    def judge(self, params: np.ndarray) -> tuple[float | None, bool]:
        """How far the pair is above the bar (higher is better; None below it), and whether
        one is a version of the other. `params` as ClusterStage.parameters()."""
        value, version = kernel.strength(
            self.multi, self.cross, self.english is not None, self.english or 0.0,
            self.keywords is not None, self.keywords or 0.0, params,
        )
        return (None if value == kernel.NONE else value), bool(version)


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
