"""The cluster stage: assign each new article to a story, online and incrementally.

Each run takes the articles that are ready (embedded and signed, translation settled) and have
no story, in a canonical order, (article time, content hash, feed url), so the result does not
depend on the order feeds were polled in. Each article is compared with the stories that have
articles within `window_days` of it: first by the multilingual centroid (a matrix product over
the window), then, for the best few stories, pair by pair with their closest articles
(aggregator/cluster/match.py). It joins the story of its strongest match, or starts a story of
its own: a story covered once is a cluster with article_count 1, so "stories covered in N
languages" is a plain query. Existing story ids never change; `--rebuild` starts over.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from aggregator.cluster import kernel, load
from aggregator.cluster.weights import DocumentFrequency, count_new
from aggregator.cluster.window import Rows, Story, Window
from aggregator.config import ClusterSettings, Config
from aggregator.embed import models
from aggregator.embed.stage import keyword_versions
from aggregator.errors import UserError
from aggregator.pipeline import StageReport
from aggregator.stage import Progress, run_stage
from aggregator.store import transaction
from aggregator.timeutil import now_iso, to_iso

BATCH = 512
SAVE_EVERY = 4096  # articles per write transaction: each commit costs ~10 ms at any size
CANDIDATE_STORIES = 4  # stories examined pair by pair, best centroids first
CANDIDATE_ARTICLES = 2  # closest articles per story examined
CENTROID_SLACK = 0.05  # a centroid sits below its closest member: look a little lower
DAY = 86400.0
STORY_COLUMNS = (
    "id", "headline_en", "headline", "first_seen_at", "last_seen_at", "article_count",
    "language_count", "languages", "countries", "first_language", "first_feed_id",
    "first_article_id", "updated_at",
)


@dataclass
class Batch:
    rows: Rows
    next_id: int

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class Outcome:
    assignments: list[tuple[int, int, str]] = field(default_factory=list)  # article, story, at
    touched: list[Story] = field(default_factory=list)
    created: int = 0


class ClusterStage:
    name = "cluster"

    def __init__(self, conn: sqlite3.Connection, config: Config) -> None:
        self.settings: ClusterSettings = config.settings.cluster
        self.window_s = self.settings.window_days * DAY
        embedding = config.settings.embedding
        self.params = {
            "multi": models.identity(embedding.multilingual_model),
            "english": models.identity(embedding.model),
            "versions": json.dumps(keyword_versions(conn)),
        }
        self.queue: list[int] | None = None
        self.position = 0
        self.frequency = DocumentFrequency.load(conn)
        self.codes: dict[str, int] = {}  # keying language -> number, for the compiled loop
        self.window: Window | None = None
        self.in_window: set[int] = set()
        self.loaded_until: str | None = None
        self.next_id = 1
        self.counts: Counter[str] = Counter()
        self.unsaved: list[Outcome] = []
        self.unsaved_count = 0

    # -- pending: the next articles in canonical order, and the window around them ----------
    def pending(self, conn: sqlite3.Connection, limit: int) -> Batch | None:
        if self.queue is None:
            self.queue = load.ready_ids(conn, self.params)
            last = conn.execute("SELECT COALESCE(MAX(id), 0) FROM clusters").fetchone()[0]
            self.next_id = last + 1
        ids = self.queue[self.position : self.position + limit]
        self.position += len(ids)
        if not ids:
            return None
        found = load.articles(conn, ids, self.params)
        if self.window is None:
            self.window = Window(*load.dims(conn, found, self.params))
        rows = self._rows(found)
        self._extend_window(conn, rows)
        return Batch(rows, self.next_id)

    def _rows(self, found: list[tuple]) -> Rows:
        dims = (self.window.multi.shape[1], self.window.english.shape[1])
        return load.to_rows(found, self.frequency, self.codes, dims)

    def _extend_window(self, conn: sqlite3.Connection, batch: Rows) -> None:
        """Load the clustered articles within the window of this batch that are not in memory
        yet (the window slides forward with the canonical order)."""
        times = [article.t for article in batch.articles]
        low = to_iso_s(min(times) - self.window_s)
        high = to_iso_s(max(times) + self.window_s)
        start = low if self.loaded_until is None else max(low, self.loaded_until)
        if self.loaded_until is not None and high <= self.loaded_until:
            return
        found = load.clustered(conn, start, high, self.params)
        self.loaded_until = high
        fresh = [r for r in found if r[0] not in self.in_window and r[load.MULTI] is not None]
        if not fresh:
            return
        window = self.window
        story_ids = [r[-1] for r in fresh]
        window.stories.update(load.stories(conn, list(set(story_ids) - set(window.stories))))
        rows = self._rows([r[:-1] for r in fresh])
        window.join(window.append(rows, np.arange(len(rows))), story_ids)
        self.in_window.update(r[0] for r in fresh)

    # -- process: the online assignment (no database) ---------------------------------------
    def process(self, batch: Batch) -> Outcome:
        times = [article.t for article in batch.rows.articles]
        dropped = self.window.forget_before(min(times) - self.window_s)
        self.in_window.difference_update(dropped)
        outcome = self._assign(batch)
        self._headlines(outcome.touched)
        return outcome

    def _assign(self, batch: Batch) -> Outcome:
        """Each article of the batch, in order, joins its best story or starts one: compared
        first with the story centroids of the window (those passing the gate, nearest first),
        then pair by pair with the closest articles of the best CANDIDATE_STORIES
        (aggregator/cluster/kernel.py, rules in aggregator/cluster/match.py)."""
        window, rows, settings = self.window, batch.rows, self.settings
        with_vector = np.flatnonzero(rows.has_multi)
        batch_rows = np.full(len(rows), -1, dtype=np.int64)
        batch_rows[with_vector] = window.append(rows, with_vector)
        slots, sums = window.centroids()
        times = [article.t for article in rows.articles]
        col_ok = ((window.slot_tmax[slots] >= min(times) - self.window_s)
                  & (window.slot_tmin[slots] <= max(times) + self.window_s))
        spare = window.spare(len(rows))
        story_out = np.empty(len(rows), dtype=np.int64)
        slot_out = np.empty(len(rows), dtype=np.int64)
        new_out = np.empty(len(rows), dtype=bool)
        params = np.array([settings.min_multi, settings.threshold_en, settings.threshold_keywords,
                           settings.threshold_multi, self.window_s,
                           settings.min_multi - CENTROID_SLACK])
        w = window
        next_id, used = kernel.assign_batch(
            batch_rows, rows.multi @ sums.T, np.einsum("ij,ij->i", sums, sums, dtype=np.float64),
            slots, col_ok, rows.multi @ rows.multi.T, spare, batch.next_id, params,
            CANDIDATE_STORIES, CANDIDATE_ARTICLES,
            w.t, w.multi, w.english, w.has_english, w.row_slot, w.next_row, w.alive,
            w.kw_lang, w.kw_glossed, w.kw_total, w.id_start, w.id_count, w.alt_start,
            w.alt_count, w.ids_pool, w.w_pool, w.alts_pool, w.owners_pool,
            w.slot_sum, w.slot_tmin, w.slot_tmax, w.slot_live, w.slot_head, w.slot_tail,
            w.slot_story, story_out, slot_out, new_out,
        )
        window.took(spare, used)
        self.next_id = next_id
        return self._summaries(rows, story_out.tolist(), slot_out.tolist(), new_out.tolist())

    def _summaries(self, rows: Rows, story_ids: list[int], slots: list[int],
                   new: list[bool]) -> Outcome:
        """The stories' summaries, kept current as the batch's articles joined them."""
        window = self.window
        outcome = Outcome()
        touched: dict[int, Story] = {}
        for article, story_id, slot, is_new in zip(rows.articles, story_ids, slots, new,
                                                   strict=True):
            if is_new:
                story = Story.start(story_id, article)
                outcome.created += 1
                if slot >= 0:
                    window.slot_of[story_id] = slot
                    window.stories[story_id] = story
            else:
                story = window.stories[story_id]
                story.add(article)
            touched[story_id] = story
            outcome.assignments.append((article.id, story_id, article.at))
            if slot >= 0:
                self.in_window.add(article.id)
        outcome.touched = list(touched.values())
        return outcome

    def _headlines(self, stories: list[Story]) -> None:
        """The most central title (English, and any language) among each story's recent
        articles: the one closest to their centroid; for English, among English originals
        when the story has any."""
        window = self.window
        in_window = [story for story in stories if story.id in window.slot_of]
        slots = np.array([window.slot_of[story.id] for story in in_window], dtype=np.int64)
        members, starts = window.members(slots)
        for index, story in enumerate(in_window):
            rows = members[starts[index] : starts[index + 1]]
            story.headline = _central(window, rows, window.multi, "title") or story.headline
            english_rows = rows[window.has_english[rows]]
            # An English original reads better than a machine translation: prefer originals.
            originals = [row for row in english_rows if window.articles[row].language == "en"]
            if originals:
                english_rows = np.array(originals, dtype=np.int64)
            if len(english_rows):
                story.headline_en = (
                    _central(window, english_rows, window.english, "title_en")
                    or story.headline_en
                )

    # -- save: one transaction per batch -----------------------------------------------------
    def save(self, conn: sqlite3.Connection, outcome: Outcome) -> int:
        """Keep the batch's outcome; write what is kept once it covers SAVE_EVERY articles
        (`flush` writes the rest at the end). Each write is one transaction, so a crash loses
        at most the unwritten batches, which the next run redoes."""
        self.unsaved.append(outcome)
        self.unsaved_count += len(outcome.assignments)
        if self.unsaved_count >= SAVE_EVERY:
            self.flush(conn)
        return len(outcome.assignments)

    def flush(self, conn: sqlite3.Connection) -> None:
        """Write every kept outcome in one transaction: each touched story once, as it
        stands now."""
        if not self.unsaved:
            return
        touched = {story.id: story for outcome in self.unsaved for story in outcome.touched}
        merged = Outcome(
            assignments=[item for outcome in self.unsaved for item in outcome.assignments],
            touched=list(touched.values()),
            created=sum(outcome.created for outcome in self.unsaved),
        )
        now = now_iso()
        rows = [story.row(now) for story in merged.touched]
        try:
            with transaction(conn):
                conn.executemany(
                    f"INSERT INTO clusters ({', '.join(STORY_COLUMNS)}) "
                    f"VALUES ({', '.join(':' + c for c in STORY_COLUMNS)})",
                    [row for row, story in zip(rows, merged.touched, strict=True) if story.new],
                )
                conn.executemany(
                    f"UPDATE clusters SET {', '.join(f'{c} = :{c}' for c in STORY_COLUMNS[1:])} "
                    "WHERE id = :id",
                    [row for row, story in zip(rows, merged.touched, strict=True)
                     if not story.new],
                )
                self._save_members(conn, merged)
        except sqlite3.IntegrityError:
            raise UserError(
                "stories changed under this run (is another `aggregator cluster` running?); "
                "run it again"
            ) from None
        for story in merged.touched:
            story.new = False
        self.unsaved, self.unsaved_count = [], 0
        self.counts["created"] += merged.created
        self.counts["joined"] += len(merged.assignments) - merged.created

    def _save_members(self, conn: sqlite3.Connection, outcome: Outcome) -> None:
        conn.executemany(
            "DELETE FROM cluster_languages WHERE cluster_id = ?",
            [(story.id,) for story in outcome.touched],
        )
        conn.executemany(
            "INSERT INTO cluster_languages (cluster_id, language, first_seen_at, "
            "first_article_id, first_feed_id, article_count, delay_s) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [row for story in outcome.touched for row in story.language_rows()],
        )
        conn.executemany(
            "UPDATE articles SET cluster_id = ? WHERE id = ?",
            [(story_id, article_id) for article_id, story_id, _ in outcome.assignments],
        )
        conn.executemany(
            "INSERT OR REPLACE INTO cluster_members (article_id, cluster_id, at) "
            "VALUES (?, ?, ?)",
            outcome.assignments,
        )


def _central(window: Window, rows: np.ndarray, vectors: np.ndarray, attribute: str) -> str | None:
    if len(rows) == 1:
        return getattr(window.articles[rows[0]], attribute) or None
    matrix = vectors[rows]
    centroid = matrix.sum(axis=0)
    scores = matrix @ centroid
    for index in np.argsort(-scores, kind="stable"):
        value = getattr(window.articles[rows[index]], attribute)
        if value:
            return value
    return None


def to_iso_s(seconds: float) -> str:
    from datetime import UTC, datetime

    return to_iso(datetime.fromtimestamp(seconds, UTC))


def forget_all(conn: sqlite3.Connection) -> None:
    """Forget every story (ids start again from 1) and every keyword count."""
    with transaction(conn):
        conn.execute("UPDATE articles SET cluster_id = NULL WHERE cluster_id IS NOT NULL")
        conn.execute("DELETE FROM cluster_members")
        conn.execute("DELETE FROM cluster_languages")
        conn.execute("DELETE FROM clusters")
        conn.execute("DELETE FROM cluster_state")
        conn.execute("DELETE FROM keywords_counted")


def waiting(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM articles WHERE cluster_id IS NULL").fetchone()[0]


def run(
    conn: sqlite3.Connection,
    config: Config,
    *,
    progress: Progress | None = None,
    rebuild: bool = False,
) -> StageReport:
    """Assign every ready article without a story to one (all of them, with `rebuild`)."""
    if rebuild:
        forget_all(conn)
    count_new(conn)
    stage = ClusterStage(conn, config)
    # The matrix products here are small (a batch against the window's centroids, an article
    # against a few stories): a second BLAS thread mostly spins between them. Measured on the
    # 100k bench: 50 s CPU for 33 s wall with two threads, 33 s CPU for the same wall with one.
    with threadpool_limits(1, user_api="blas"):
        done = run_stage(stage, conn, batch_size=BATCH, progress=progress)
        stage.flush(conn)
    details = {"new stories": stage.counts["created"], "joined": stage.counts["joined"]}
    left = waiting(conn)
    return StageReport("cluster", done=done, skipped=left, details=details)

