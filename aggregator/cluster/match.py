"""When two articles are the same story, and how strongly: the rule `kernel.strength`
compiles, for one pair.

The signals, per pair of articles:
- where both have English text: the mean of the English cosine and the language-centred
  multilingual cosine (aggregator/cluster/centering.py), the same event at
  `threshold_en_event`; below `threshold_en` English cosine, never;
- otherwise the centred multilingual cosine: the same event at `threshold_event`, or
  `threshold_event_cross` for two languages;
- keyword coverage (aggregator/keywords.py), when the two share a keyword space: at
  `threshold_keywords` (across languages; `threshold_copy` within one) a same-event pair is a
  *version*: one is a translation, rewrite or wire copy of the other. Without a shared
  keyword space, a centred cosine of `threshold_version` marks a version.

A match's strength (to pick the best story) is its margin above the event bar; a version's is
1 + its keyword coverage, so an article joins the story of its own original first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aggregator.cluster import kernel
from aggregator.config import ClusterSettings
from aggregator.keywords import Keywords

CENTROID_SLACK = 0.1  # a centroid sits below its closest member: look a little lower
# How far below the event bar a multilingual cosine may be for the pair to be judged at all:
# the English cosine can still make it the same event.
CANDIDATE_FLOOR = 0.2
DAY = 86400.0


def rule_parameters(settings: ClusterSettings) -> np.ndarray:
    """The settings as the compiled loop takes them (kernel.THRESHOLD_EVENT...)."""
    lowest = min(settings.threshold_event, settings.threshold_event_cross)
    params = np.zeros(kernel.PARAM_COUNT)
    params[kernel.THRESHOLD_EVENT] = settings.threshold_event
    params[kernel.THRESHOLD_EVENT_CROSS] = settings.threshold_event_cross
    params[kernel.THRESHOLD_EN] = settings.threshold_en
    params[kernel.THRESHOLD_KEYWORDS] = settings.threshold_keywords
    params[kernel.THRESHOLD_VERSION] = settings.threshold_version
    params[kernel.WINDOW_S] = settings.window_days * DAY
    params[kernel.GATE] = lowest - CANDIDATE_FLOOR - CENTROID_SLACK
    params[kernel.MIN_CANDIDATE] = lowest - CANDIDATE_FLOOR
    params[kernel.THRESHOLD_MERGE] = settings.merge_margin
    params[kernel.THRESHOLD_EN_EVENT] = settings.threshold_en_event
    params[kernel.THRESHOLD_COPY] = settings.threshold_copy
    return params


@dataclass(frozen=True)
class Pair:
    multi: float  # centred multilingual cosine
    english: float | None
    keywords: float | None
    cross: bool = False  # in two different languages

    def judge(self, settings: ClusterSettings) -> tuple[float | None, bool]:
        """How far the pair is above the bar (higher is better; None below it), and whether
        one is a version of the other."""
        params = rule_parameters(settings)
        value, version = kernel.strength(
            self.multi,
            self.cross,
            self.english is not None,
            self.english or 0.0,
            self.keywords is not None,
            self.keywords or 0.0,
            params,
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
    return kernel.coverage_cross(
        a.alts[order], a.owners[order], a_weights, total, np.sort(b.alts), marks
    )
