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

from aggregator.cluster.match import judge
from aggregator.cluster.weights import DocumentFrequency, count_new
from aggregator.cluster.window import Article, LanguageFirst, Story, Window
from aggregator.config import ClusterSettings, Config
from aggregator.embed import from_blob, models
from aggregator.embed.stage import (
    ENGLISH,
    HAS_ENGLISH,
    HAS_TEXT,
    MULTILINGUAL,
    SETTLED,
    keyword_versions,
)
from aggregator.errors import UserError
from aggregator.keywords import Keywords
from aggregator.pipeline import StageReport
from aggregator.stage import Progress, run_stage
from aggregator.store import transaction
from aggregator.timeutil import now_iso, to_iso

BATCH = 512
CANDIDATE_STORIES = 4  # stories examined pair by pair, best centroids first
CANDIDATE_ARTICLES = 2  # closest articles per story examined
CENTROID_SLACK = 0.05  # a centroid sits below its closest member: look a little lower
DAY = 86400.0
STORY_COLUMNS = (
    "id", "headline_en", "headline", "first_seen_at", "last_seen_at", "article_count",
    "language_count", "languages", "countries", "first_language", "first_feed_id",
    "first_article_id", "updated_at",
)

# Article time: publication, else fetch time; a publication date in the future is not trusted.
AT = (
    "CASE WHEN a.published_at IS NOT NULL AND a.published_at <= a.fetched_at "
    "THEN a.published_at ELSE a.fetched_at END"
)
ARTICLE_COLUMNS = f"""
    a.id, {AT} AS at, CAST(strftime('%s', {AT}) AS REAL) AS t, a.content_hash,
    f.url AS feed_url, a.feed_id, f.country,
    COALESCE(a.language, f.language, 'und') AS language, a.title, a.title_en,
    m.vector AS multi, e.vector AS english,
    k.language AS k_language, k.glossed, k.ids, k.alts, k.owners"""
ARTICLE_JOINS = f"""
    JOIN feeds f ON f.id = a.feed_id
    LEFT JOIN embeddings m
        ON m.article_id = a.id AND m.space = '{MULTILINGUAL}' AND m.model = :multi
    LEFT JOIN embeddings e
        ON e.article_id = a.id AND e.space = '{ENGLISH}' AND e.model = :english
    LEFT JOIN article_keywords k ON k.article_id = a.id"""
READY = f"""
SELECT a.id, {AT} AS at FROM articles a {ARTICLE_JOINS}
WHERE a.cluster_id IS NULL AND {SETTLED} AND (NOT {HAS_TEXT} OR (
    m.article_id IS NOT NULL
    AND k.version IN (SELECT value FROM json_each(:versions))
    AND (NOT {HAS_ENGLISH} OR e.article_id IS NOT NULL)))
ORDER BY at, a.content_hash, f.url
"""


@dataclass
class Batch:
    articles: list[Article]
    next_id: int

    def __len__(self) -> int:
        return len(self.articles)


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
        self.window: Window | None = None
        self.in_window: set[int] = set()
        self.loaded_until: str | None = None
        self.next_id = 1
        self.counts: Counter[str] = Counter()

    # -- pending: the next articles in canonical order, and the window around them ----------
    def pending(self, conn: sqlite3.Connection, limit: int) -> Batch | None:
        if self.queue is None:
            self.queue = [row["id"] for row in conn.execute(READY, self.params)]
            last = conn.execute("SELECT COALESCE(MAX(id), 0) FROM clusters").fetchone()[0]
            self.next_id = last + 1
        ids = self.queue[self.position : self.position + limit]
        self.position += len(ids)
        if not ids:
            return None
        articles = self._articles(conn, "a.id IN (SELECT value FROM json_each(:ids))",
                                  {"ids": json.dumps(ids)})
        order = {article_id: index for index, article_id in enumerate(ids)}
        articles.sort(key=lambda article: order[article.id])
        self._extend_window(conn, articles)
        return Batch(articles, self.next_id)

    def _articles(self, conn: sqlite3.Connection, where: str, params: dict) -> list[Article]:
        rows = conn.execute(
            f"SELECT {ARTICLE_COLUMNS} FROM articles a {ARTICLE_JOINS} WHERE {where}",
            {**self.params, **params},
        ).fetchall()
        return [self._article(row) for row in rows]

    def _article(self, row: sqlite3.Row) -> Article:
        signature = None
        if row["ids"] is not None:
            signature = Keywords.from_blobs(
                row["k_language"], row["glossed"], row["ids"], row["alts"], row["owners"]
            )
        article = Article(
            id=row["id"],
            at=row["at"],
            key=(row["at"], row["content_hash"], row["feed_url"]),
            language=row["language"],
            feed_id=row["feed_id"],
            country=row["country"],
            title=row["title"],
            title_en=row["title_en"],
            multi=from_blob(row["multi"]) if row["multi"] is not None else None,
            english=from_blob(row["english"]) if row["english"] is not None else None,
            signature=signature,
            t=row["t"],
        )
        if signature is not None:
            article.weights = self.frequency.weights(signature)
        return article

    def _extend_window(self, conn: sqlite3.Connection, batch: list[Article]) -> None:
        """Load the clustered articles within the window of this batch that are not in memory
        yet (the window slides forward with the canonical order)."""
        times = [article.t for article in batch]
        low = to_iso_s(min(times) - self.window_s)
        high = to_iso_s(max(times) + self.window_s)
        if self.window is None:
            dims = self._dims(conn, batch)
            self.window = Window(*dims)
        start = low if self.loaded_until is None else max(low, self.loaded_until)
        if self.loaded_until is not None and high <= self.loaded_until:
            return
        rows = conn.execute(
            f"SELECT cm.cluster_id AS story, {ARTICLE_COLUMNS} FROM cluster_members cm "
            f"JOIN articles a ON a.id = cm.article_id {ARTICLE_JOINS} "
            "WHERE cm.at >= :low AND cm.at <= :high ORDER BY cm.at, a.content_hash, f.url",
            {**self.params, "low": start, "high": high},
        ).fetchall()
        self.loaded_until = high
        fresh = [row for row in rows if row["id"] not in self.in_window and row["multi"]]
        self._load_stories(conn, {row["story"] for row in fresh})
        for row in fresh:
            article = self._article(row)
            self.window.add(article, row["story"])
            self.in_window.add(article.id)

    def _dims(self, conn: sqlite3.Connection, batch: list[Article]) -> tuple[int, int]:
        def dim(space: str, model: str, vectors: list[np.ndarray | None]) -> int:
            for vector in vectors:
                if vector is not None:
                    return len(vector)
            found = conn.execute(
                "SELECT dim FROM embeddings WHERE space = ? AND model = ? LIMIT 1", (space, model)
            ).fetchone()
            return found[0] if found else 1

        return (
            dim(MULTILINGUAL, self.params["multi"], [a.multi for a in batch]),
            dim(ENGLISH, self.params["english"], [a.english for a in batch]),
        )

    def _load_stories(self, conn: sqlite3.Connection, story_ids: set[int]) -> None:
        wanted = json.dumps(sorted(story_ids - set(self.window.stories)))
        for row in conn.execute(
            "SELECT * FROM clusters WHERE id IN (SELECT value FROM json_each(?))", (wanted,)
        ):
            self.window.stories[row["id"]] = Story(
                id=row["id"],
                first_seen_at=row["first_seen_at"],
                last_seen_at=row["last_seen_at"],
                article_count=row["article_count"],
                countries=json.loads(row["countries"]),
                first_language=row["first_language"],
                first_feed_id=row["first_feed_id"],
                first_article_id=row["first_article_id"],
                headline_en=row["headline_en"],
                headline=row["headline"],
            )
        for row in conn.execute(
            "SELECT * FROM cluster_languages WHERE cluster_id IN (SELECT value FROM json_each(?))",
            (wanted,),
        ):
            self.window.stories[row["cluster_id"]].languages[row["language"]] = LanguageFirst(
                row["first_seen_at"], row["first_article_id"], row["first_feed_id"],
                row["article_count"],
            )

    # -- process: the online assignment (no database) ---------------------------------------
    def process(self, batch: Batch) -> Outcome:
        window = self.window
        dropped = window.forget_before(min(a.t for a in batch.articles) - self.window_s)
        self.in_window.difference_update(dropped)
        centroids = Centroids(window, self.window_s)
        centroids.prepare(batch.articles, self.settings.min_multi - CENTROID_SLACK)
        outcome = self._assign(batch, centroids)
        for story in outcome.touched:
            self._headlines(story)
        return outcome

    def _assign(self, batch: Batch, centroids: Centroids) -> Outcome:
        """Each article of the batch, in order, joins its best story or starts one."""
        window = self.window
        outcome = Outcome()
        touched: dict[int, Story] = {}
        next_id = batch.next_id
        for index, article in enumerate(batch.articles):
            story_id = None
            if article.multi is not None:
                story_id = self._best_story(article, index, centroids)
            if story_id is None:
                story_id, next_id = next_id, next_id + 1
                window.stories[story_id] = Story.start(story_id, article)
                outcome.created += 1
            else:
                window.stories[story_id].add(article)
            touched[story_id] = window.stories[story_id]
            outcome.assignments.append((article.id, story_id, article.at))
            if article.multi is not None:
                window.add(article, story_id)
                self.in_window.add(article.id)
                centroids.add(story_id)
        outcome.touched = list(touched.values())
        self.next_id = next_id
        return outcome

    def _best_story(self, article: Article, index: int, centroids: Centroids) -> int | None:
        """The story of the strongest match among the closest articles of the stories with the
        nearest centroids, or None."""
        window = self.window
        found = centroids.nearest(article, index, CANDIDATE_STORIES)
        if not found:
            return None
        # A story of one article is its centroid; the others are compared article by article.
        sims, ranks, rows = [], [], []
        member_ranks, member_rows = [], []
        for rank, (similarity, story_id) in enumerate(found):
            members = window.rows_of[story_id]
            if len(members) == 1:
                sims.append(similarity)
                ranks.append(rank)
                rows.append(members[0])
            else:
                member_rows.extend(members)
                member_ranks.extend([rank] * len(members))
        sims = np.array(sims, dtype=np.float64)
        ranks = np.array(ranks, dtype=np.int64)
        rows = np.array(rows, dtype=np.int64)
        if member_rows:
            member_sims = window.gather(member_rows) @ article.multi
            sims = np.concatenate([sims, member_sims.astype(np.float64)])
            ranks = np.concatenate([ranks, np.array(member_ranks, dtype=np.int64)])
            rows = np.concatenate([rows, np.array(member_rows, dtype=np.int64)])
        # Candidates below the bar or out of the window never count; the rest are judged best
        # first (ties: nearer centroid, then older row), at most CANDIDATE_ARTICLES per story.
        keep = (sims >= self.settings.min_multi) & (
            np.abs(window.t[rows] - article.t) <= self.window_s
        )
        sims, ranks, rows = sims[keep], ranks[keep], rows[keep]
        order = np.lexsort((rows, ranks, -sims))
        best, best_strength = None, -np.inf
        examined = [0] * len(found)
        for similarity, rank, row in zip(sims[order].tolist(), ranks[order].tolist(),
                                         rows[order].tolist(), strict=True):
            if examined[rank] == CANDIDATE_ARTICLES:
                continue
            examined[rank] += 1
            strength = judge(article, window.articles[row], similarity, self.settings)
            if strength is not None and strength > best_strength:
                best, best_strength = found[rank][1], strength
        return best

    def _headlines(self, story: Story) -> None:
        """The most central title (English, and any language) among the story's recent
        articles: the one closest to their centroid; for English, among English originals
        when the story has any."""
        window = self.window
        rows = np.array(window.rows_of.get(story.id, []), dtype=np.int64)
        if len(rows) == 0:
            return
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

    # -- save: one transaction per batch -----------------------------------------------------
    def save(self, conn: sqlite3.Connection, outcome: Outcome) -> int:
        now = now_iso()
        rows = [story.row(now) for story in outcome.touched]
        try:
            with transaction(conn):
                conn.executemany(
                    f"INSERT INTO clusters ({', '.join(STORY_COLUMNS)}) "
                    f"VALUES ({', '.join(':' + c for c in STORY_COLUMNS)})",
                    [row for row, story in zip(rows, outcome.touched, strict=True) if story.new],
                )
                conn.executemany(
                    f"UPDATE clusters SET {', '.join(f'{c} = :{c}' for c in STORY_COLUMNS[1:])} "
                    "WHERE id = :id",
                    [row for row, story in zip(rows, outcome.touched, strict=True)
                     if not story.new],
                )
                self._save_members(conn, outcome)
        except sqlite3.IntegrityError:
            raise UserError(
                "stories changed under this run (is another `aggregator cluster` running?); "
                "run it again"
            ) from None
        for story in outcome.touched:
            story.new = False
        self.counts["created"] += outcome.created
        self.counts["joined"] += len(outcome.assignments) - outcome.created
        return len(outcome.assignments)

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


class Centroids:
    """Story centroids (multilingual) over the window, for the first, coarse comparison.

    The whole batch is compared with the centroids as they stand at its start in one matrix
    product; a story that changes within the batch is compared exactly from then on, from the
    window's running sums.
    """

    def __init__(self, window: Window, window_s: float) -> None:
        self.window = window
        self.window_s = window_s
        story_ids = sorted(window.sums)
        self.ids = story_ids
        self.index = {sid: i for i, sid in enumerate(story_ids)}
        dim = window.multi.shape[1]
        sums = (np.stack([window.sums[s] for s in story_ids]) if story_ids
                else np.zeros((0, dim), dtype=np.float32))
        spans = np.array([window.span[s] for s in story_ids]).reshape(-1, 2)
        self.t_min, self.t_max = spans[:, 0], spans[:, 1]
        self.static = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        self.changed: list[int] = []  # stories changed in this batch, by slot
        self.slot: dict[int, int] = {}
        self.extra = np.zeros((256, dim), dtype=np.float32)
        self.extra_norm = np.ones(256, dtype=np.float32)
        self.extra_t = np.zeros((256, 2))

    def prepare(self, articles: list[Article], gate: float) -> None:
        """Compare the whole batch with the static centroids in one matrix product; stories
        out of the batch's time range or below the gate drop out here."""
        dim = self.static.shape[1]
        matrix = np.stack(
            [a.multi if a.multi is not None else np.zeros(dim, np.float32) for a in articles]
        )
        sims = matrix @ self.static.T
        times = [a.t for a in articles]
        out = (self.t_max < min(times) - self.window_s) | (self.t_min > max(times) + self.window_s)
        sims[:, out] = -np.inf
        sims[sims < gate] = -np.inf
        self.batch_sims = sims
        self.gate = gate

    def nearest(self, article: Article, index: int, k: int) -> list[tuple[float, int]]:
        """Up to k (centroid cosine, story id), best first, for the stories whose centroid
        passes the gate and that have an article within the window of this one (`index`: the
        article's position in the prepared batch)."""
        x, t, w = article.multi, article.t, self.window_s
        found: list[tuple[float, int]] = []
        if self.ids:
            sims = self.batch_sims[index]
            top = np.argpartition(-sims, k - 1)[:k] if len(sims) > k else range(len(sims))
            for i in top:
                if sims[i] > -np.inf and self.t_max[i] >= t - w and self.t_min[i] <= t + w:
                    found.append((float(sims[i]), self.ids[i]))
        m = len(self.changed)
        if m:
            sims = (self.extra[:m] @ x) / self.extra_norm[:m]
            top = np.argpartition(-sims, k - 1)[:k] if m > k else range(m)
            for i in top:
                low, high = self.extra_t[i]
                if sims[i] >= self.gate and high >= t - w and low <= t + w:
                    found.append((float(sims[i]), self.changed[i]))
        found.sort(key=lambda item: (-item[0], item[1]))
        return found[:k]

    def add(self, story_id: int) -> None:
        """A story gained an article in this batch: compare it exactly from now on."""
        slot = self.slot.get(story_id)
        if slot is None:
            slot = self.slot[story_id] = len(self.changed)
            self.changed.append(story_id)
            if slot == len(self.extra):
                self.extra = np.concatenate([self.extra, np.zeros_like(self.extra)])
                self.extra_norm = np.concatenate([self.extra_norm, np.ones_like(self.extra_norm)])
                self.extra_t = np.concatenate([self.extra_t, np.zeros_like(self.extra_t)])
            i = self.index.get(story_id)
            if i is not None:
                self.batch_sims[:, i] = -np.inf
        total = self.window.sums[story_id]
        self.extra[slot] = total
        self.extra_norm[slot] = max(float(np.sqrt(total @ total)), 1e-12)
        self.extra_t[slot] = self.window.span[story_id]


def _central(window: Window, rows: np.ndarray, vectors: np.ndarray, attribute: str) -> str | None:
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
        conn.execute("UPDATE article_keywords SET df_counted = 0 WHERE df_counted != 0")


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
    details = {"new stories": stage.counts["created"], "joined": stage.counts["joined"]}
    left = waiting(conn)
    return StageReport("cluster", done=done, skipped=left, details=details)

