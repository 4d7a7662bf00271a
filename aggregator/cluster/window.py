"""What clustering holds in memory: the recent articles as row-aligned arrays (vectors, time,
keyword signature), the stories they belong to as slot-aligned arrays (running sum of the
multilingual vectors, time span, member list), and each story's summary for the `clusters`
and `cluster_languages` tables.

Only articles within the time window of the work at hand are kept, so memory and cost follow
the window, not the archive. The arrays are what the compiled loop (aggregator/cluster/
kernel.py) reads and updates; they grow by doubling, expired rows are reclaimed when they make
up half of them, and a story's slot is reused once its last article has left.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field

import numpy as np

from aggregator.cluster import kernel
from aggregator.timeutil import to_epoch

# The same few times are parsed again each time a story is written (its first time and each
# language's): ~160,000 parses on the 100,000-article rebuild, most of them repeats.
_epoch = functools.lru_cache(maxsize=1 << 16)(to_epoch)


@dataclass(slots=True)
class Article:
    """What the stories' summaries and headlines need of an article."""

    id: int
    at: str  # article time: publication, else fetch time
    language: str
    feed_id: int
    country: str | None
    title: str | None
    title_en: str | None
    t: float  # `at` in epoch seconds


@dataclass
class Rows:
    """Articles as loaded for clustering, column by column. Keyword items and alternatives are
    concatenated over the articles (`id_count`, `alt_count` per article); each article's
    alternatives are sorted, with the item (`owners`) each belongs to."""

    articles: list[Article]
    multi: np.ndarray  # float32 (n, dim), centred per language; zeros where has_multi is False
    has_multi: np.ndarray
    lang: np.ndarray  # int32: the article's language as a number (cluster/load.py numbers them)
    english: np.ndarray  # float32 (n, dim); zeros where has_english is False
    has_english: np.ndarray
    kw_lang: np.ndarray  # int32 keying-language code, -1 without a signature
    kw_glossed: np.ndarray
    kw_total: np.ndarray  # float64 sum of the item weights
    id_count: np.ndarray  # int64
    ids: np.ndarray  # int64, sorted within an article
    weights: np.ndarray  # float64, one per id
    alt_count: np.ndarray  # int64
    alts: np.ndarray  # int64, sorted within an article
    owners: np.ndarray  # int32, the item (index among the article's ids) of each alternative

    def __len__(self) -> int:
        return len(self.articles)

    def time_range(self) -> tuple[float, float]:
        """The earliest and latest article time, in epoch seconds."""
        times = [article.t for article in self.articles]
        return min(times), max(times)


@dataclass
class LanguageFirst:
    first_seen_at: str
    first_article_id: int
    first_feed_id: int
    article_count: int

    def take_if_earlier(self, at: str, article_id: int, feed_id: int) -> None:
        if at < self.first_seen_at:
            self.first_seen_at, self.first_article_id, self.first_feed_id = (
                at,
                article_id,
                feed_id,
            )


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

    @classmethod
    def start(cls, story_id: int, article: Article) -> Story:
        story = cls(story_id, article.at, article.at)
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
            first.take_if_earlier(article.at, article.id, article.feed_id)
        if article.country and article.country not in self.countries:
            self.countries.append(article.country)

    def absorb(self, other: Story) -> None:
        """Take in the summary of a story found to be the same event (merged into this one)."""
        self.article_count += other.article_count
        if other.first_seen_at < self.first_seen_at:
            self.first_seen_at = other.first_seen_at
            self.first_language = other.first_language
            self.first_feed_id = other.first_feed_id
            self.first_article_id = other.first_article_id
        self.last_seen_at = max(self.last_seen_at, other.last_seen_at)
        for language, theirs in other.languages.items():
            ours = self.languages.get(language)
            if ours is None:
                self.languages[language] = dataclasses.replace(theirs)
                continue
            ours.article_count += theirs.article_count
            ours.take_if_earlier(
                theirs.first_seen_at, theirs.first_article_id, theirs.first_feed_id
            )
        self.countries += [c for c in other.countries if c not in self.countries]

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
        start = _epoch(self.first_seen_at)
        return [
            (
                self.id,
                lang,
                first.first_seen_at,
                first.first_article_id,
                first.first_feed_id,
                first.article_count,
                int(round(_epoch(first.first_seen_at) - start)),
            )
            for lang, first in self.languages.items()
        ]


# name: (dtype, columns); columns "multi"/"english" means a row per item holds a vector.
ROW_ARRAYS = {
    "t": (np.float64, None),
    "alive": (bool, None),
    "row_slot": (np.int64, None),
    "next_row": (np.int64, None),
    "multi": (np.float32, "multi"),
    "lang": (np.int32, None),
    "english": (np.float32, "english"),
    "has_english": (bool, None),
    "kw_lang": (np.int32, None),
    "kw_glossed": (bool, None),
    "kw_total": (np.float64, None),
    "id_start": (np.int64, None),
    "id_count": (np.int64, None),
    "alt_start": (np.int64, None),
    "alt_count": (np.int64, None),
}
POOL_ARRAYS = {
    "ids_pool": (np.int64, None),
    "w_pool": (np.float64, None),
    "alts_pool": (np.int64, None),
    "owners_pool": (np.int32, None),
}
SLOT_ARRAYS = {
    "slot_sum": (np.float32, "multi"),
    "slot_tmin": (np.float64, None),
    "slot_tmax": (np.float64, None),
    "slot_live": (np.int64, None),
    "slot_head": (np.int64, None),
    "slot_tail": (np.int64, None),
    "slot_story": (np.int64, None),
}


@dataclass
class Assignment:
    """What `Window.assign` decided for a batch, article by article (in batch order)."""

    stories: list[int]  # the story each joined or started
    slots: list[int]  # its slot (-1: no vector, so not in the window)
    new: list[bool]  # whether it started its story
    next_id: int  # the next free story id
    versions: list[tuple[int, int, float]]  # (batch index, window row it is a version of, score)
    # (batch index, story merged away, story it was merged into), in order: the article at
    # that index showed the two are one
    merges: list[tuple[int, int, int]]


def _grown(array: np.ndarray, capacity: int, used: int) -> np.ndarray:
    bigger = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    bigger[:used] = array[:used]
    return bigger


def _starts(counts: np.ndarray) -> np.ndarray:
    starts = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    return starts


class Window:
    """The recent articles and their stories (see the module's docstring)."""

    # The arrays of ROW_ARRAYS, POOL_ARRAYS and SLOT_ARRAYS, made in __init__ and grown by name.
    t: np.ndarray
    alive: np.ndarray
    row_slot: np.ndarray
    next_row: np.ndarray
    multi: np.ndarray
    lang: np.ndarray
    english: np.ndarray
    has_english: np.ndarray
    kw_lang: np.ndarray
    kw_glossed: np.ndarray
    kw_total: np.ndarray
    id_start: np.ndarray
    id_count: np.ndarray
    alt_start: np.ndarray
    alt_count: np.ndarray
    ids_pool: np.ndarray
    w_pool: np.ndarray
    alts_pool: np.ndarray
    owners_pool: np.ndarray
    slot_sum: np.ndarray
    slot_tmin: np.ndarray
    slot_tmax: np.ndarray
    slot_live: np.ndarray
    slot_head: np.ndarray
    slot_tail: np.ndarray
    slot_story: np.ndarray

    def __init__(self, dim_multi: int, dim_en: int) -> None:
        self.articles: list[Article | None] = []
        self.size = 0
        self.dead = 0
        widths = {"multi": (dim_multi,), "english": (dim_en,), None: ()}
        for name, (dtype, width) in {**ROW_ARRAYS, **POOL_ARRAYS, **SLOT_ARRAYS}.items():
            setattr(self, name, np.zeros((0, *widths[width]), dtype=dtype))
        self.ids_used = self.alts_used = 0
        self.slots_used = 0  # slots ever handed out; freed ones wait in `free`
        self.free: list[int] = []
        self.slot_of: dict[int, int] = {}  # story id -> slot, for stories with live rows
        self.stories: dict[int, Story] = {}

    def __len__(self) -> int:
        return self.size - self.dead

    # -- rows ---------------------------------------------------------------------------------
    def append(self, rows: Rows, which: np.ndarray) -> np.ndarray:
        """Append `rows[which]` (articles with a multilingual vector), not yet in any story;
        return their rows."""
        n = len(which)
        first = self.size
        if first + n > len(self.t):
            self._grow_rows(max(1024, 2 * (first + n)))
        new = np.arange(first, first + n)
        self.articles.extend(rows.articles[i] for i in which.tolist())
        self.t[new] = [rows.articles[i].t for i in which.tolist()]
        self.alive[new] = False
        self.row_slot[new] = -1
        self.next_row[new] = -1
        self.multi[new] = rows.multi[which]
        self.lang[new] = rows.lang[which]
        self.english[new] = rows.english[which]
        self.has_english[new] = rows.has_english[which]
        self.kw_lang[new] = rows.kw_lang[which]
        self.kw_glossed[new] = rows.kw_glossed[which]
        self.kw_total[new] = rows.kw_total[which]
        id_counts, alt_counts = rows.id_count[which], rows.alt_count[which]
        id_from, alt_from = _starts(rows.id_count)[which], _starts(rows.alt_count)[which]
        ids = kernel.gather_ranges(id_from, id_counts, rows.ids)
        self.id_start[new] = self.ids_used + _starts(id_counts)
        self.id_count[new] = id_counts
        self._put("ids_pool", ids, self.ids_used)
        self._put("w_pool", kernel.gather_ranges(id_from, id_counts, rows.weights), self.ids_used)
        self.ids_used += len(ids)
        alts = kernel.gather_ranges(alt_from, alt_counts, rows.alts)
        self.alt_start[new] = self.alts_used + _starts(alt_counts)
        self.alt_count[new] = alt_counts
        self._put("alts_pool", alts, self.alts_used)
        self._put(
            "owners_pool", kernel.gather_ranges(alt_from, alt_counts, rows.owners), self.alts_used
        )
        self.alts_used += len(alts)
        self.size += n
        return new

    def _put(self, name: str, values: np.ndarray, at: int) -> None:
        pool = getattr(self, name)
        if at + len(values) > len(pool):
            pool = _grown(pool, max(4096, 2 * (at + len(values))), at)
            setattr(self, name, pool)
        pool[at : at + len(values)] = values

    def _grow_rows(self, capacity: int) -> None:
        for name in ROW_ARRAYS:
            setattr(self, name, _grown(getattr(self, name), capacity, self.size))

    def join(self, rows: np.ndarray, story_ids: list[int]) -> None:
        """Put appended rows into their (already clustered) stories, in row order."""
        fresh = [story_id for story_id in dict.fromkeys(story_ids) if story_id not in self.slot_of]
        if fresh:
            spare = self.spare(len(fresh))
            self.took(spare, len(fresh))
            slots = spare[: len(fresh)]
            self.slot_story[slots] = fresh
            self.slot_sum[slots] = 0
            self.slot_live[slots] = 0
            self.slot_of.update(zip(fresh, slots.tolist(), strict=True))
        slot_of = self.slot_of
        slots = np.fromiter(
            (slot_of[story_id] for story_id in story_ids), dtype=np.int64, count=len(story_ids)
        )
        self.row_slot[rows] = slots
        self.alive[rows] = True
        kernel.add_to_slots(rows, slots, self.multi, self.slot_sum, self.slot_live)
        self._relink()

    def _relink(self) -> None:
        kernel.relink(
            self.size,
            self.t,
            self.alive,
            self.row_slot,
            self.next_row,
            self.slot_head,
            self.slot_tail,
            self.slot_tmin,
            self.slot_tmax,
        )

    # -- slots --------------------------------------------------------------------------------
    def spare(self, n: int) -> np.ndarray:
        """At least n slots free for new stories, in the order they are to be used."""
        fresh = max(0, n - len(self.free))
        if self.slots_used + fresh > len(self.slot_live):
            capacity = max(1024, 2 * (self.slots_used + fresh))
            for name in SLOT_ARRAYS:
                setattr(self, name, _grown(getattr(self, name), capacity, self.slots_used))
        self.free.sort()
        return np.array(
            self.free + list(range(self.slots_used, self.slots_used + fresh)), dtype=np.int64
        )

    def took(self, spare: np.ndarray, used: int) -> None:
        """The first `used` of `spare` are now stories' slots."""
        taken = spare[:used].tolist()
        reused = min(used, len(self.free))
        del self.free[:reused]
        self.slots_used = max([self.slots_used, *(slot + 1 for slot in taken[reused:])])

    def centroids(self) -> tuple[np.ndarray, np.ndarray]:
        """The slots of the stories with live rows, and their vector sums."""
        slots = np.flatnonzero(self.slot_live[: self.slots_used] > 0)
        return slots, self.slot_sum[slots]

    # -- assignment ---------------------------------------------------------------------------
    def assign(
        self,
        rows: Rows,
        params: np.ndarray,
        next_id: int,
        candidate_stories: int,
        candidate_articles: int,
    ) -> Assignment:
        """Each of `rows`, in order, joins its best story or starts one (kernel.assign_batch;
        params as kernel.THRESHOLD_EVENT...). Stories found to be one are merged into the
        older (the stage merges their summaries)."""
        with_vector = np.flatnonzero(rows.has_multi)
        batch_rows = np.full(len(rows), -1, dtype=np.int64)
        batch_rows[with_vector] = self.append(rows, with_vector)
        slots, sums = self.centroids()
        earliest, latest = rows.time_range()
        window_s = params[kernel.WINDOW_S]
        col_ok = (self.slot_tmax[slots] >= earliest - window_s) & (
            self.slot_tmin[slots] <= latest + window_s
        )
        spare = self.spare(len(rows))
        n = len(rows)
        story_out = np.empty(n, dtype=np.int64)
        slot_out = np.empty(n, dtype=np.int64)
        new_out = np.empty(n, dtype=bool)
        version_out = np.full(n, -1, dtype=np.int64)
        version_score_out = np.zeros(n, dtype=np.float64)
        merged_out = np.empty((n, 4), dtype=np.int64)
        next_id, used, n_merged = kernel.assign_batch(
            batch_rows,
            rows.multi @ sums.T,
            np.einsum("ij,ij->i", sums, sums, dtype=np.float64),
            slots,
            col_ok,
            rows.multi @ rows.multi.T,
            spare,
            next_id,
            params,
            candidate_stories,
            candidate_articles,
            self.t,
            self.multi,
            self.lang,
            self.english,
            self.has_english,
            self.row_slot,
            self.next_row,
            self.alive,
            self.kw_lang,
            self.kw_glossed,
            self.kw_total,
            self.id_start,
            self.id_count,
            self.alt_start,
            self.alt_count,
            self.ids_pool,
            self.w_pool,
            self.alts_pool,
            self.owners_pool,
            self.slot_sum,
            self.slot_tmin,
            self.slot_tmax,
            self.slot_live,
            self.slot_head,
            self.slot_tail,
            self.slot_story,
            story_out,
            slot_out,
            new_out,
            version_out,
            version_score_out,
            merged_out,
        )
        self.took(spare, used)
        merges = [tuple(m) for m in merged_out[:n_merged].tolist()]
        for gone_id, _, gone_slot, _ in merges:
            self.slot_of.pop(gone_id, None)
            self.free.append(gone_slot)
        return Assignment(
            story_out.tolist(),
            slot_out.tolist(),
            new_out.tolist(),
            next_id,
            [
                (i, int(version_out[i]), float(version_score_out[i]))
                for i in np.flatnonzero(version_out >= 0).tolist()
            ],
            [(index, gone, keep) for gone, keep, _, index in merges],
        )

    def members(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The live rows of each slot (ascending), concatenated, and where each slot starts."""
        return kernel.members(slots, self.slot_head, self.slot_live, self.next_row)

    # -- expiry -------------------------------------------------------------------------------
    def forget_before(self, cutoff: float) -> list[int]:
        """Drop articles older than `cutoff` (epoch seconds), and stories left without any;
        return the ids of the articles dropped."""
        out = np.empty(self.size, dtype=np.int64)
        count = kernel.expire(
            cutoff,
            self.size,
            self.t,
            self.alive,
            self.row_slot,
            self.multi,
            self.slot_sum,
            self.slot_live,
            out,
        )
        if count == 0:
            return []
        expired = out[:count]
        self.dead += count
        dropped = []
        for row in expired.tolist():
            dropped.append(self.articles[row].id)
            self.articles[row] = None
        for slot in np.unique(self.row_slot[expired]).tolist():
            if self.slot_live[slot] == 0:
                story_id = int(self.slot_story[slot])
                self.slot_of.pop(story_id, None)
                self.stories.pop(story_id, None)
                self.free.append(slot)
        if self.dead * 2 > self.size:
            self._compact()
        self._relink()
        return dropped

    def _compact(self) -> None:
        index = np.flatnonzero(self.alive[: self.size])
        self.articles = [self.articles[i] for i in index.tolist()]
        ids = kernel.gather_ranges(self.id_start[index], self.id_count[index], self.ids_pool)
        weights = kernel.gather_ranges(self.id_start[index], self.id_count[index], self.w_pool)
        alts = kernel.gather_ranges(self.alt_start[index], self.alt_count[index], self.alts_pool)
        owners = kernel.gather_ranges(
            self.alt_start[index], self.alt_count[index], self.owners_pool
        )
        self.size, self.dead = len(index), 0
        for name in ROW_ARRAYS:
            array = getattr(self, name)
            array[: self.size] = array[index]
        self.id_start[: self.size] = _starts(self.id_count[: self.size])
        self.alt_start[: self.size] = _starts(self.alt_count[: self.size])
        self.ids_used, self.alts_used = len(ids), len(alts)
        self.ids_pool[: len(ids)], self.w_pool[: len(ids)] = ids, weights
        self.alts_pool[: len(alts)], self.owners_pool[: len(alts)] = alts, owners


def toy_rows(times: list[float], dim: int = 2) -> Rows:
    """Articles with one keyword each and the same vector: enough to run every compiled
    function once (see `warm_up`)."""
    n = len(times)
    counts = np.ones(n, dtype=np.int64)
    multi = np.zeros((n, dim), dtype=np.float32)
    multi[:, 0] = 1
    return Rows(
        articles=[
            Article(i, "2026-01-01T00:00:00Z", "en", 1, None, "", "", t)
            for i, t in enumerate(times)
        ],
        multi=multi,
        has_multi=np.ones(n, dtype=bool),
        lang=np.zeros(n, dtype=np.int32),
        english=multi.copy(),
        has_english=np.ones(n, dtype=bool),
        kw_lang=np.zeros(n, dtype=np.int32),
        kw_glossed=np.ones(n, dtype=bool),
        kw_total=np.ones(n),
        id_count=counts,
        ids=np.arange(n, dtype=np.int64),
        weights=np.ones(n),
        alt_count=counts,
        alts=np.arange(n, dtype=np.int64),
        owners=np.zeros(n, dtype=np.int32),
    )


def warm_up() -> None:
    """Run every compiled function once on a toy window, so that numba has loaded them (from
    its cache, or compiled them) before the real work needs them."""
    window = Window(2, 2)
    rows = toy_rows([0.0, 1.0, 2.0])
    kernel.sort_within(rows.alts, rows.owners, rows.alt_count)
    window.join(window.append(rows, np.arange(1)), [1])
    params = np.array([0.5, 0.5, 0.5, 0.5, 0.9, 10.0, 0.45, 0.5, 0.0])
    result = window.assign(toy_rows([1.0, 2.0]), params, 2, 4, 2)
    window.members(np.array(result.slots, dtype=np.int64))
    window.forget_before(1.5)
