"""What clustering holds in memory: the recent articles (vectors, signatures) and the stories
they belong to, with the summaries the `clusters` and `cluster_languages` tables show.

Only articles within the time window of the work at hand are kept, so memory and cost follow
the window, not the archive.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from aggregator.keywords import Keywords, Lexicon
from aggregator.timeutil import from_iso


def epoch(iso: str) -> float:
    return from_iso(iso).timestamp()


@dataclass
class Article:
    """An article as clustering sees it."""

    id: int
    at: str  # article time: publication, else fetch time
    key: tuple[str, str, str]  # canonical order: (at, content hash, feed url)
    language: str
    feed_id: int
    country: str | None
    title: str | None
    title_en: str | None
    multi: np.ndarray | None
    english: np.ndarray | None
    signature: Keywords | None
    t: float | None = None  # `at` in epoch seconds (computed when not given)
    weights: np.ndarray | None = None  # keyword weights, set once per run
    lexicon: Lexicon | None = None  # built on first comparison

    def __post_init__(self) -> None:
        if self.t is None:
            self.t = epoch(self.at)


@dataclass
class LanguageFirst:
    first_seen_at: str
    first_article_id: int
    first_feed_id: int
    article_count: int


@dataclass
class Story:
    """One cluster's summary, kept current as articles join."""

    id: int
    first_seen_at: str
    last_seen_at: str
    article_count: int = 0
    languages: dict[str, LanguageFirst] = field(default_factory=dict)
    countries: list[str] = field(default_factory=list)
    first_language: str | None = None
    first_feed_id: int | None = None
    first_article_id: int | None = None
    headline_en: str | None = None
    headline: str | None = None
    new: bool = False

    @classmethod
    def start(cls, story_id: int, article: Article) -> Story:
        story = cls(story_id, article.at, article.at, new=True)
        story.add(article)
        return story

    def add(self, article: Article) -> None:
        self.article_count += 1
        if self.article_count == 1 or article.at < self.first_seen_at:
            self.first_seen_at = article.at
            self.first_language = article.language
            self.first_feed_id = article.feed_id
            self.first_article_id = article.id
        self.last_seen_at = max(self.last_seen_at, article.at)
        first = self.languages.get(article.language)
        if first is None:
            self.languages[article.language] = LanguageFirst(
                article.at, article.id, article.feed_id, 1
            )
        else:
            first.article_count += 1
            if article.at < first.first_seen_at:
                first.first_seen_at = article.at
                first.first_article_id = article.id
                first.first_feed_id = article.feed_id
        if article.country and article.country not in self.countries:
            self.countries.append(article.country)

    def language_order(self) -> list[str]:
        return sorted(self.languages, key=lambda lang: (self.languages[lang].first_seen_at, lang))

    def row(self, now: str) -> dict:
        return {
            "id": self.id,
            "headline_en": self.headline_en,
            "headline": self.headline,
            "first_seen_at": self.first_seen_at,
            "last_seen_at": self.last_seen_at,
            "article_count": self.article_count,
            "language_count": len(self.languages),
            "languages": json.dumps(self.language_order()),
            "countries": json.dumps(self.countries),
            "first_language": self.first_language,
            "first_feed_id": self.first_feed_id,
            "first_article_id": self.first_article_id,
            "updated_at": now,
        }

    def language_rows(self) -> list[tuple]:
        start = epoch(self.first_seen_at)
        return [
            (self.id, lang, first.first_seen_at, first.first_article_id, first.first_feed_id,
             first.article_count, int(round(epoch(first.first_seen_at) - start)))
            for lang, first in self.languages.items()
        ]


class Window:
    """Recent articles as row-aligned arrays (for matrix products), per-story row lists, and
    per-story running sums of the multilingual vectors (the centroids' numerators).

    Arrays grow by doubling, so adding an article is O(1). Expired articles leave the sums and
    row lists at once; their rows are reclaimed when they make up half of the arrays.
    """

    def __init__(self, dim_multi: int, dim_en: int) -> None:
        self.articles: list[Article | None] = []
        self.size = 0
        self.story = np.zeros(0, dtype=np.int64)
        self.t = np.zeros(0, dtype=np.float64)
        self.alive = np.zeros(0, dtype=bool)
        self.multi = np.zeros((0, dim_multi), dtype=np.float32)
        self.english = np.zeros((0, dim_en), dtype=np.float32)
        self.has_english = np.zeros(0, dtype=bool)
        self.rows_of: dict[int, list[int]] = {}
        self.stories: dict[int, Story] = {}
        self.sums: dict[int, np.ndarray] = {}  # story id → sum of its live rows' vectors
        self.span: dict[int, list[float]] = {}  # story id → [earliest, latest] live row time
        self.dead = 0
        self._gathered = np.zeros((0, dim_multi), dtype=np.float32)

    def __len__(self) -> int:
        return self.size - self.dead

    def add(self, article: Article, story_id: int) -> int:
        """Append an article with a vector; return its row."""
        row = self.size
        if row == len(self.story):
            self._grow(max(1024, 2 * row))
        self.articles.append(article)
        self.story[row] = story_id
        self.t[row] = article.t
        self.alive[row] = True
        self.multi[row] = article.multi
        if article.english is not None:
            self.english[row] = article.english
            self.has_english[row] = True
        self.rows_of.setdefault(story_id, []).append(row)
        total = self.sums.get(story_id)
        if total is None:
            self.sums[story_id] = article.multi.astype(np.float32, copy=True)
            self.span[story_id] = [article.t, article.t]
        else:
            total += article.multi
            span = self.span[story_id]
            span[0], span[1] = min(span[0], article.t), max(span[1], article.t)
        self.size += 1
        return row

    def gather(self, rows: list[int]) -> np.ndarray:
        """The multilingual vectors of `rows`, copied into a reused buffer (valid until the
        next call): a fresh array of a few hundred rows per article costs page faults."""
        if len(rows) > len(self._gathered):
            self._gathered = np.zeros((2 * len(rows), self.multi.shape[1]), dtype=np.float32)
        out = self._gathered[: len(rows)]
        np.take(self.multi, rows, axis=0, out=out)
        return out

    def _grow(self, capacity: int) -> None:
        def grown(array: np.ndarray) -> np.ndarray:
            bigger = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
            bigger[: self.size] = array[: self.size]
            return bigger

        self.story, self.t, self.alive = grown(self.story), grown(self.t), grown(self.alive)
        self.multi, self.english = grown(self.multi), grown(self.english)
        self.has_english = grown(self.has_english)

    def forget_before(self, cutoff: float) -> list[int]:
        """Drop articles older than `cutoff` (epoch seconds), and stories left without any;
        return the ids of the articles dropped."""
        n = self.size
        expired = np.flatnonzero(self.alive[:n] & (self.t[:n] < cutoff))
        if len(expired) == 0:
            return []
        self.alive[expired] = False
        self.dead += len(expired)
        touched: set[int] = set()
        dropped = []
        for row in expired.tolist():
            story_id = int(self.story[row])
            self.sums[story_id] -= self.multi[row]
            dropped.append(self.articles[row].id)
            self.articles[row] = None
            touched.add(story_id)
        for story_id in touched:
            rows = [r for r in self.rows_of[story_id] if self.alive[r]]
            if rows:
                self.rows_of[story_id] = rows
                times = self.t[rows]
                self.span[story_id] = [float(times.min()), float(times.max())]
            else:
                for table in (self.rows_of, self.sums, self.span, self.stories):
                    table.pop(story_id, None)
        if self.dead * 2 > self.size:
            self._compact()
        return dropped

    def _compact(self) -> None:
        index = np.flatnonzero(self.alive[: self.size])
        self.articles = [self.articles[i] for i in index]
        self.size, self.dead = len(index), 0
        for name in ("story", "t", "alive", "multi", "english", "has_english"):
            array = getattr(self, name)
            array[: self.size] = array[index]
        self.rows_of = {}
        for row, story_id in enumerate(self.story[: self.size].tolist()):
            self.rows_of.setdefault(story_id, []).append(row)
