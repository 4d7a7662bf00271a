"""The cluster stage: assign each new article to a story, online and incrementally.

Each run takes the articles that are ready (embedded and signed, translation settled) and have
no story, in a canonical order, (article time, content hash, feed url), so the result does not
depend on the order feeds were polled in. Each article is compared with the stories that have
articles within `window_days` of it: first by the multilingual centroid (a matrix product over
the window), then, for the best few stories, pair by pair with their closest articles
(aggregator/cluster/kernel.py). It joins the story of its strongest match, or starts a story of
its own: a story covered once is a cluster with article_count 1, so "stories covered in N
languages" is a plain query. Existing story ids never change; `--rebuild` starts over.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from aggregator.cluster import load, versions
from aggregator.cluster.centering import LanguageMeans
from aggregator.cluster.kernel import DAY, rule_parameters
from aggregator.cluster.weights import DocumentFrequency, count_new
from aggregator.cluster.window import Assignment, Rows, Story, Window, warm_up
from aggregator.config import ClusterSettings, Config
from aggregator.embed import models
from aggregator.embed.stage import keyword_versions
from aggregator.errors import UserError
from aggregator.stage import Execution, Progress, StageReport, run_stage, set_total
from aggregator.store import transaction
from aggregator.timeutil import from_epoch, now_iso

if TYPE_CHECKING:
    from threadpoolctl import threadpool_limits

BATCH = 512
SAVE_EVERY = 4096  # articles per write transaction: each commit costs ~10 ms at any size
CANDIDATE_STORIES = 4  # stories examined pair by pair, best centroids first
CANDIDATE_ARTICLES = 2  # closest articles per story examined
STORY_COLUMNS = (
    "id",
    "headline_en",
    "headline",
    "first_seen_at",
    "last_seen_at",
    "article_count",
    "language_count",
    "languages",
    "countries",
    "first_language",
    "first_feed_id",
    "first_article_id",
    "updated_at",
)


@dataclass
class Batch:
    rows: Rows  # the articles to assign, in canonical order
    sums: LanguageMeans  # their raw multilingual vectors, summed per language
    known: Rows | None = None  # clustered articles newly within the window
    known_stories: list[int] = field(default_factory=list)  # the story of each of `known`
    stored: dict[int, Story] = field(default_factory=dict)  # those stories as stored

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class Outcome:
    """A batch's assignments, and each touched story's `clusters` row and `cluster_languages`
    rows as they stood after it (copies: the stories change again in the next batch while
    this one is being written)."""

    assignments: list[tuple[int, int, str]] = field(default_factory=list)  # article, story, at
    stories: dict[int, tuple[dict, list[tuple]]] = field(default_factory=dict)
    created: set[int] = field(default_factory=set)
    merges: list[tuple[int, int]] = field(default_factory=list)  # story gone, story kept
    versions: list[tuple[int, int, str, float]] = field(default_factory=list)  # article_versions
    sums: LanguageMeans | None = None


class ClusterStage:
    """`pending` reads (database only), `process` assigns (memory only: the window and the
    stories), `save` writes; so reading and writing can overlap the assignment of the batch
    before or after (its `execution`: one worker, two batches in flight)."""

    name = "cluster"
    # One worker: each batch is assigned against the stories the one before left.
    execution = Execution(BATCH, workers=1, in_flight=2)

    def __init__(self, conn: sqlite3.Connection, config: Config) -> None:
        self.settings: ClusterSettings = config.settings.cluster
        self.window_s = self.settings.window_days * DAY
        self.params_array = rule_parameters(self.settings)
        embedding = config.settings.embedding
        self.params = {
            "multi": models.identity(embedding.multilingual_model),
            "english": models.identity(embedding.model),
            "versions": json.dumps(keyword_versions(conn)),
        }
        self.queue: list[int] | None = None
        self.on_queue: Callable[[int], None] | None = None  # told the queue's length (progress)
        # Per-language means: as stored (what clustered articles added), and as this run
        # centres with (those plus the articles it is about to cluster).
        self.stored_means = LanguageMeans.load(conn, self.params["multi"])
        self.means: LanguageMeans | None = None
        self.position = 0
        self.frequency = DocumentFrequency.load(conn)
        self.codes: dict[str, int] = {}  # keying language -> number, for the compiled loop
        self.dims: tuple[int, int] | None = None
        self.loaded_until: str | None = None
        # Owned by `process`:
        self.window: Window | None = None
        self.in_window: set[int] = set()
        self.next_id = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM clusters").fetchone()[0]
        # Owned by `save`:
        self.counts: Counter[str] = Counter()
        self.unsaved: list[Outcome] = []
        self.unsaved_count = 0
        self.changed = False  # built with other settings or models than this run's
        self.limits: threadpool_limits | None = None

    @classmethod
    def open(
        cls,
        conn: sqlite3.Connection,
        config: Config,
        *,
        progress: Progress | None = None,
        rebuild: bool = False,
    ) -> ClusterStage:
        """Ready to assign every ready article without a story (all of them, with `rebuild`)."""
        # Loading the compiled loop (numba's cache) takes ~0.3 s: do it while the database is
        # read.
        threading.Thread(target=warm_up, name="cluster-warm-up", daemon=True).start()
        if rebuild:
            forget_all(conn)
        count_new(conn)
        stage = cls(conn, config)
        stage.on_queue = functools.partial(set_total, progress)
        stage.changed = _settings_changed(conn, stage)
        # BLAS on one thread: a second one competes with this thread's SQLite work for the
        # second core (100k bench: 11.8 s wall, 20.5 s CPU with two threads; 10.3 s, 12.2 s
        # with one). Restored by `close`.
        # imported here, not with the module: importing threadpoolctl sets
        # KMP_DUPLICATE_LIB_OK in os.environ
        from threadpoolctl import threadpool_limits

        stage.limits = threadpool_limits(1, user_api="blas")
        return stage

    def finish(self, conn: sqlite3.Connection) -> StageReport:
        self.flush(conn)
        details: dict[str, object] = {
            "new stories": self.counts["created"],
            "joined": self.counts["joined"],
            "merged": self.counts["merged"],
        }
        note = None
        if self.changed:
            note = (
                "settings or models changed since the stories were built; "
                "`aggregator cluster --rebuild` applies them to all"
            )
        done = self.counts["assigned"]
        return StageReport("cluster", done=done, skipped=waiting(conn), details=details, note=note)

    def close(self) -> None:
        if self.limits is not None:
            self.limits.restore_original_limits()
            self.limits = None

    # -- pending: the next articles in canonical order, and the window around them ----------
    def pending(self, conn: sqlite3.Connection, limit: int) -> Batch | None:
        if self.queue is None:
            self.means = self.stored_means.copy()
            self.queue = load.ready(conn, self.params, self.means)
            if self.on_queue is not None:
                self.on_queue(len(self.queue))
        ids = self.queue[self.position : self.position + limit]
        self.position += len(ids)
        if not ids:
            return None
        found = load.articles(conn, ids, self.params)
        if self.dims is None:
            self.dims = load.dims(conn, found, self.params)
        sums = LanguageMeans(self.params["multi"])
        batch = Batch(self._rows(found, count_into=sums), sums)
        self._read_window(conn, batch)
        return batch

    def _rows(self, found: list[sqlite3.Row], count_into: LanguageMeans | None = None) -> Rows:
        assert self.dims is not None  # read by `pending` before any rows
        return load.to_rows(found, self.frequency, self.codes, self.dims, self.means, count_into)

    def _read_window(self, conn: sqlite3.Connection, batch: Batch) -> None:
        """The clustered articles within the window of this batch that no earlier batch read
        (the window slides forward with the canonical order), and their stories."""
        earliest, latest = batch.rows.time_range()
        low = from_epoch(earliest - self.window_s)
        high = from_epoch(latest + self.window_s)
        start = low if self.loaded_until is None else max(low, self.loaded_until)
        if self.loaded_until is not None and high <= self.loaded_until:
            return
        found = load.clustered(conn, start, high, self.params)
        self.loaded_until = high
        if found:
            batch.known = self._rows(found)
            batch.known_stories = [r["cluster_id"] for r in found]
            batch.stored = load.stories(conn, list(set(batch.known_stories)))

    # -- process: the online assignment (no database) ---------------------------------------
    def process(self, batch: Batch) -> Outcome:
        if self.window is None:
            assert self.dims is not None  # read by the first `pending`
            self.window = Window(*self.dims)
        self._extend_window(batch)
        dropped = self.window.forget_before(batch.rows.time_range()[0] - self.window_s)
        self.in_window.difference_update(dropped)
        touched, outcome = self._assign(batch)
        outcome.sums = batch.sums
        self._headlines(touched)
        now = now_iso()
        outcome.stories = {story.id: (story.row(now), story.language_rows()) for story in touched}
        return outcome

    def _window(self) -> Window:
        """The window, made by the first `process` before the steps below run."""
        assert self.window is not None
        return self.window

    def _extend_window(self, batch: Batch) -> None:
        """Put the batch's newly read clustered articles (those not in memory yet) into the
        window, with their stories."""
        if batch.known is None:
            return
        window = self._window()
        fresh = [
            i for i, article in enumerate(batch.known.articles) if article.id not in self.in_window
        ]
        if not fresh:
            return
        story_ids = [batch.known_stories[i] for i in fresh]
        for story_id in set(story_ids) - set(window.stories):
            window.stories[story_id] = batch.stored[story_id]
        window.join(window.append(batch.known, np.array(fresh, dtype=np.int64)), story_ids)
        self.in_window.update(batch.known.articles[i].id for i in fresh)

    def _assign(self, batch: Batch) -> tuple[list[Story], Outcome]:
        """Each article of the batch, in order, joins its best story or starts one: compared
        first with the story centroids of the window (those passing the gate, nearest first),
        then pair by pair with the closest articles of the best CANDIDATE_STORIES
        (aggregator/cluster/kernel.py: the loop and the pair rule)."""
        result = self._window().assign(
            batch.rows, self.params_array, self.next_id, CANDIDATE_STORIES, CANDIDATE_ARTICLES
        )
        self.next_id = result.next_id
        return self._summaries(batch.rows, result)

    def _summaries(self, rows: Rows, result: Assignment) -> tuple[list[Story], Outcome]:
        """The stories' summaries, kept current as the batch's articles joined them (and as
        stories merged); return the stories touched, and the outcome."""
        window = self._window()
        outcome = Outcome()
        touched: dict[int, Story] = {}
        merges: dict[int, list[tuple[int, int]]] = {}
        for index, gone, keep in result.merges:
            merges.setdefault(index, []).append((gone, keep))
        versions = {index: (row, score) for index, row, score in result.versions}
        for index, (article, story_id, slot, is_new) in enumerate(
            zip(rows.articles, result.stories, result.slots, result.new, strict=True)
        ):
            for gone, keep in merges.get(index, ()):
                window.stories[keep].absorb(window.stories.pop(gone))
                touched.pop(gone, None)
                touched[keep] = window.stories[keep]
                outcome.merges.append((gone, keep))
            if is_new:
                story = Story.start(story_id, article)
                outcome.created.add(story_id)
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
            if index in versions:
                row, score = versions[index]
                original = window.articles[row]
                assert original is not None  # assigned in this batch: still in the window
                kind = "translation" if original.language != article.language else "copy"
                outcome.versions.append((article.id, original.id, kind, round(score, 4)))
        return list(touched.values()), outcome

    def _headlines(self, stories: list[Story]) -> None:
        """The most central title (English, and any language) among each story's recent
        articles: the one closest to their centroid; for English, among English originals
        when the story has any."""
        window = self._window()
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
                    _central(window, english_rows, window.english, "title_en") or story.headline_en
                )

    # -- save: one transaction per SAVE_EVERY articles ---------------------------------------
    def save(self, conn: sqlite3.Connection, outcome: Outcome) -> int:
        """Keep the batch's outcome; write what is kept once it covers SAVE_EVERY articles
        (`flush` writes the rest at the end). Each write is one transaction, so a crash loses
        at most the unwritten batches, which the next run redoes."""
        self.unsaved.append(outcome)
        self.unsaved_count += len(outcome.assignments)
        self.counts["assigned"] += len(outcome.assignments)
        if self.unsaved_count >= SAVE_EVERY:
            self.flush(conn)
        return len(outcome.assignments)

    def flush(self, conn: sqlite3.Connection) -> None:
        """Write every kept outcome in one transaction: each touched story once, as it stood
        after the last batch that touched it; merged stories redirected to the story they
        joined; versions; the language means with the articles now clustered."""
        if not self.unsaved:
            return
        stories: dict[int, tuple[dict, list[tuple]]] = {}
        created: set[int] = set()
        merged_into: dict[int, int] = {}
        for outcome in self.unsaved:
            stories.update(outcome.stories)
            created |= outcome.created
            for gone, keep in outcome.merges:
                merged_into[gone] = keep
        for gone in merged_into:
            stories.pop(gone, None)

        def final(story_id: int) -> int:
            while story_id in merged_into:
                story_id = merged_into[story_id]
            return story_id

        survivors = {gone: final(gone) for gone in merged_into}
        assignments = [
            (article, final(story), at)
            for outcome in self.unsaved
            for article, story, at in outcome.assignments
        ]
        means = self.stored_means.copy()
        for outcome in self.unsaved:
            assert outcome.sums is not None  # set by `process`
            for language, (count, total) in outcome.sums.sums.items():
                means.add_sum(language, count, total)
        try:
            with transaction(conn):
                conn.executemany(
                    f"INSERT INTO clusters ({', '.join(STORY_COLUMNS)}) "
                    f"VALUES ({', '.join(':' + c for c in STORY_COLUMNS)})",
                    [row for story_id, (row, _) in stories.items() if story_id in created],
                )
                conn.executemany(
                    f"UPDATE clusters SET {', '.join(f'{c} = :{c}' for c in STORY_COLUMNS[1:])} "
                    "WHERE id = :id",
                    [row for story_id, (row, _) in stories.items() if story_id not in created],
                )
                self._save_merges(conn, survivors)
                self._save_members(conn, stories, assignments)
                self._save_versions(conn, [v for o in self.unsaved for v in o.versions])
                means.save(conn)
        except sqlite3.IntegrityError:
            raise UserError(
                "stories changed under this run (is another `aggregator cluster` running?); "
                "run it again"
            ) from None
        self.stored_means = means
        self.unsaved, self.unsaved_count = [], 0
        self.counts["created"] += len(created - set(merged_into))
        self.counts["joined"] += len(assignments) - len(created)
        self.counts["merged"] += len(merged_into)

    @staticmethod
    def _save_merges(conn: sqlite3.Connection, survivors: dict[int, int]) -> None:
        """Stories found to be one event: the older id keeps every article, the other id
        redirects to it (cluster_merges, flattened so each redirect is one step).
        `survivors`: each story merged away -> the story that has its articles now."""
        now = now_iso()
        for gone, keep in survivors.items():
            conn.execute("UPDATE articles SET cluster_id = ? WHERE cluster_id = ?", (keep, gone))
            conn.execute(
                "UPDATE cluster_members SET cluster_id = ? WHERE cluster_id = ?", (keep, gone)
            )
            conn.execute("DELETE FROM cluster_languages WHERE cluster_id = ?", (gone,))
            conn.execute("DELETE FROM clusters WHERE id = ?", (gone,))
            conn.execute(
                "UPDATE cluster_merges SET merged_into = ? WHERE merged_into = ?", (keep, gone)
            )
            conn.execute(
                "INSERT OR REPLACE INTO cluster_merges (cluster_id, merged_into, "
                "merged_at) VALUES (?, ?, ?)",
                (gone, keep, now),
            )

    @staticmethod
    def _save_versions(conn: sqlite3.Connection, links: list[tuple[int, int, str, float]]) -> None:
        """Each version points at the original of the article it matched (in order, so a
        version saved earlier in the same list is seen); a translation only when the two
        texts' numbers agree (aggregator/cluster/versions.py)."""
        conn.executemany(
            "INSERT OR REPLACE INTO article_versions (article_id, version_of_id, kind, score) "
            "VALUES (?1, COALESCE((SELECT version_of_id FROM article_versions "
            "WHERE article_id = ?2), ?2), ?3, ?4)",
            versions.marked(conn, links),
        )

    def _save_members(
        self,
        conn: sqlite3.Connection,
        stories: dict[int, tuple[dict, list]],
        assignments: list[tuple[int, int, str]],
    ) -> None:
        conn.executemany(
            "DELETE FROM cluster_languages WHERE cluster_id = ?", [(i,) for i in stories]
        )
        conn.executemany(
            "INSERT INTO cluster_languages (cluster_id, language, first_seen_at, "
            "first_article_id, first_feed_id, article_count, delay_s) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [row for _, languages in stories.values() for row in languages],
        )
        # In article id order: the rows then come page after page, not in the canonical
        # (time) order, which can be any order of ids (each row gets the same values either way).
        by_id = sorted(assignments)
        conn.executemany(
            "UPDATE articles SET cluster_id = ? WHERE id = ?",
            [(story_id, article_id) for article_id, story_id, _ in by_id],
        )
        conn.executemany(
            "INSERT OR REPLACE INTO cluster_members (article_id, cluster_id, at) VALUES (?, ?, ?)",
            by_id,
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


def forget_all(conn: sqlite3.Connection) -> None:
    """Forget every story (ids start again from 1) and every keyword count."""
    with transaction(conn):
        conn.execute("UPDATE articles SET cluster_id = NULL WHERE cluster_id IS NOT NULL")
        conn.execute("DELETE FROM cluster_members")
        conn.execute("DELETE FROM cluster_languages")
        conn.execute("DELETE FROM clusters")
        conn.execute("DELETE FROM cluster_state")
        conn.execute("DELETE FROM keywords_counted")
        conn.execute("DELETE FROM article_versions")
        conn.execute("DELETE FROM cluster_merges")
        conn.execute("DELETE FROM language_means")


def _settings_changed(conn: sqlite3.Connection, stage: ClusterStage) -> bool:
    """Whether the stories were built with other cluster settings, models or keyword
    dictionaries than this run's. The first run (and every rebuild, which empties the state)
    records them."""
    current = json.dumps({**dataclasses.asdict(stage.settings), **stage.params}, sort_keys=True)
    stored = conn.execute("SELECT value FROM cluster_state WHERE key = 'built_with'").fetchone()
    if stored is None:
        with transaction(conn):
            conn.execute(
                "INSERT OR REPLACE INTO cluster_state (key, value) VALUES ('built_with', ?)",
                (current,),
            )
        return False
    return stored[0] != current


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
    stage = ClusterStage.open(conn, config, progress=progress, rebuild=rebuild)
    return run_stage(stage, conn, progress=progress)
