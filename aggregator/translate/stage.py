"""The translation stage: pending articles → English titles and summaries.

Two passes per run, titles first, so that a short or interrupted run leaves every pending
article with at least an English title: the title pass fills `title_en` and the provenance
columns (`translated_at` stays NULL while the summary is pending); the summary pass fills
`summary_en` and sets `translated_at`. English articles are copied, articles in a language
no backend covers are marked `none:no-model-for-LANG` (and re-opened once a model covers it).
Texts go through the cache first; only misses reach a backend, grouped per language.

Articles Apertium translated in a language whose route now picks another backend (an Argos
model was installed since) are re-translated by the summary pass once no untranslated work is
left, newest first and at most RETRANSLATE_BATCHES batches per run: their Apertium text and
provenance stay until the new translation is saved in one UPDATE, and a failure keeps them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from aggregator import provenance
from aggregator.config import Config, TranslationSettings
from aggregator.errors import internal_error, is_database_failure
from aggregator.stage import Execution, Progress, StageReport, run_stage
from aggregator.store import transaction
from aggregator.timeutil import now_iso
from aggregator.translate import cache, segment
from aggregator.translate.base import Backend, BackendError, create_backends
from aggregator.translate.models import models_dir
from aggregator.translate.routing import Route, Router

log = logging.getLogger(__name__)

TITLE, SUMMARY = "title", "summary"
PASS_NAMES = {TITLE: "titles", SUMMARY: "summaries"}
ELLIPSIS = " …"  # appended to the English text of a summary that was truncated
MAX_ERROR_CHARS = 500
IN_FLIGHT = 2  # batches being translated at once
UPGRADED_FROM = "apertium"  # the fallback backend whose translations a better route redoes
# Re-translations per run, in batches: they follow new work in every run without delaying
# `run --loop`'s next poll by hours when a model for a big language arrives.
RETRANSLATE_BATCHES = 4


@dataclass
class Source:
    """One text to render in English: the prepared original and, if known, its translation."""

    text: str
    truncated: bool
    cached: str | None = None
    key: cache.Key | None = None  # set for texts a backend translates


@dataclass
class Item:
    article_id: int
    language: str | None
    route: Route
    finishes: bool  # completes the article (sets translated_at)
    phase: str = TITLE  # the pass that handed it out (its results are saved by that pass)
    retranslates: bool = False  # replaces an Apertium translation (kept if this one fails)
    sources: dict[str, Source | None] = field(default_factory=dict)  # None: no text
    error: str | None = None  # preparing it failed: recorded as its translation_error


@dataclass
class Result:
    item: Item
    english: dict[str, str | None] = field(default_factory=dict)
    error: str | None = None
    fresh: dict[cache.Key, str] = field(default_factory=dict)  # new translations to cache
    cached: int = 0


class TranslatePass:
    """One pass over the articles: titles, or summaries (see TranslateStage)."""

    def __init__(
        self, phase: str, router: Router, settings: TranslationSettings, limit: int | None
    ) -> None:
        self.name = f"translate {PASS_NAMES[phase]}"
        self.phase = phase
        self.router = router
        self.settings = settings
        self.remaining = limit
        # Handed out already in this run: in flight, or failed (retried on the next run only).
        self.skip: set[int] = set()
        self.stats: Counter[str] = Counter()
        self.locks: dict[str, threading.Lock] = {}
        self.retranslations_left = RETRANSLATE_BATCHES * settings.articles_per_batch

    # -- pending: read the next articles of this pass, with their cached translations -------
    def pending(self, conn: sqlite3.Connection, limit: int) -> list[Item]:
        if self.remaining is not None:
            limit = min(limit, self.remaining)
            if limit <= 0:
                return []
        # Written to match idx_articles_untranslated, which serves the ORDER BY too.
        rows = conn.execute(
            """
            SELECT a.id, a.language, a.title, a.summary, a.translation_model, f.url AS feed_url
            FROM articles a JOIN feeds f ON f.id = a.feed_id
            WHERE a.translated_at IS NULL AND (a.translation_backend IS NULL) = ?
              AND a.id NOT IN (SELECT value FROM json_each(?))
            ORDER BY a.translation_attempts, a.id
            LIMIT ?
            """,
            (self.phase == TITLE, _json_list(self.skip), limit),
        ).fetchall()
        retranslating = not rows and self.phase == SUMMARY
        if retranslating:  # new work first; then Apertium's translations that Argos can redo
            rows = self._retranslations(conn, limit)
        if self.remaining is not None:
            self.remaining -= len(rows)
        self.skip.update(row["id"] for row in rows)
        items = []
        for row in rows:
            try:
                items.append(self._item(row, retranslating))
            except Exception as exc:  # noqa: BLE001 (one bad article is its own error)
                items.append(
                    Item(row["id"], row["language"], FAILED, True, self.phase, error=describe(exc))
                )
        self._attach_cached(conn, items)
        return items

    def _retranslations(self, conn: sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
        """The newest articles Apertium translated whose route now picks another backend
        (re-translations that failed before come last)."""
        languages = self._upgradable_languages()
        while languages and self.retranslations_left > 0:
            rows = conn.execute(
                """
                SELECT a.id, a.language, a.title, a.summary, a.translation_model,
                       f.url AS feed_url
                FROM articles a JOIN feeds f ON f.id = a.feed_id
                WHERE a.translation_backend = ? AND a.translated_at IS NOT NULL
                  AND a.language IN (SELECT value FROM json_each(?))
                  AND a.id NOT IN (SELECT value FROM json_each(?))
                ORDER BY a.translation_error IS NOT NULL, a.id DESC
                LIMIT ?
                """,
                (
                    UPGRADED_FROM,
                    _json_list(languages),
                    _json_list(self.skip),
                    min(limit, self.retranslations_left),
                ),
            ).fetchall()
            if not rows:
                return []
            # A feed's own backend list may still choose Apertium: those are left as they are.
            self.skip.update(row["id"] for row in rows)
            wanted = [row for row in rows if self._upgrades(row["language"], row["feed_url"])]
            if wanted:
                self.retranslations_left -= len(wanted)
                return wanted
        return []

    def _upgradable_languages(self) -> set[str]:
        """Languages in which some article's route now picks a backend other than Apertium."""
        feeds = [None, *self.router.per_feed]
        return {
            language
            for language in self.router.covered()
            if any(self._upgrades(language, feed) for feed in feeds)
        }

    def _upgrades(self, language: str | None, feed_url: str | None) -> bool:
        route = self.router.route(language, feed_url)
        return route.translates and route.backend != UPGRADED_FROM

    def _item(self, row: sqlite3.Row, retranslates: bool = False) -> Item:
        route = self.router.route(row["language"], row["feed_url"])
        item = Item(
            row["id"],
            row["language"],
            route,
            finishes=True,
            phase=self.phase,
            retranslates=retranslates,
        )
        if not route.translates:
            copy = route.backend == provenance.COPY
            item.sources = {
                TITLE: _copy_source(row["title"]) if copy else None,
                SUMMARY: _copy_source(row["summary"]) if copy else None,
            }
            return item
        summary = self._prepare(row["summary"])
        if self.phase == TITLE:
            item.sources[TITLE] = self._prepare(row["title"])
            item.finishes = summary is None
        else:
            item.sources[SUMMARY] = summary
            if retranslates or row["translation_model"] != route.model:
                # The model changed since the title pass (or the article is re-translated): redo
                # the title for consistent provenance.
                item.sources[TITLE] = self._prepare(row["title"])
        return item

    def _prepare(self, text: str | None) -> Source | None:
        prepared, truncated = segment.truncate(text or "", self.settings.max_chars)
        return Source(prepared, truncated) if prepared else None

    def _attach_cached(self, conn: sqlite3.Connection, items: list[Item]) -> None:
        sources = []
        for item in items:
            if item.error is not None or not item.route.translates:
                continue
            try:
                route, language = item.route, item.language
                assert route.model is not None and language is not None
                for source in item.sources.values():
                    if source is not None:
                        source.key = cache.key(source.text, language, route.backend, route.model)
                        sources.append((item, source))
            except Exception as exc:  # noqa: BLE001 (one bad article is its own error)
                item.error = describe(exc)
        found = cache.lookup(conn, [source.key for _, source in sources if source.key])
        for _, source in sources:
            source.cached = found.get(source.key) if source.key else None

    # -- process: translate cache misses, grouped per backend and language (no database) ----
    def process(self, batch: Sequence[Item]) -> list[Result]:
        results = [Result(item, error=item.error) for item in batch]
        wanted: dict[tuple[str, str], dict[str, list[tuple[Result, str]]]] = {}
        for result in results:
            if result.error is None:
                try:
                    self._gather(result, wanted)
                except Exception as exc:  # noqa: BLE001 (one bad article is its own error)
                    result.error = describe(exc)
        for (backend_name, language), texts in wanted.items():
            try:
                translations = self._translate(backend_name, language, list(texts))
            except Exception as exc:  # noqa: BLE001 (backends' own failures are per text already)
                translations = dict.fromkeys(texts, exc)
            for text, outcome in translations.items():
                for result, name in texts[text]:
                    self._apply(result, name, text, outcome)
        return results

    def _gather(
        self, result: Result, wanted: dict[tuple[str, str], dict[str, list[tuple[Result, str]]]]
    ) -> None:
        """The article's texts that are known already (copied, cached, none) into `result`;
        the others into `wanted`, grouped per backend and language."""
        item = result.item
        for name, source in item.sources.items():
            if source is None:
                result.english[name] = None
            elif not item.route.translates:
                result.english[name] = source.text
            elif source.cached is not None:
                result.english[name] = _finish(source.cached, source)
                result.cached += 1
            else:
                group = wanted.setdefault((item.route.backend, str(item.language)), {})
                group.setdefault(source.text, []).append((result, name))

    def _apply(self, result: Result, name: str, text: str, outcome: str | Exception) -> None:
        if result.error is not None:
            return  # the other text of a failed article: nothing of it is stored
        if isinstance(outcome, Exception):
            result.error = storable(f"{name}: {outcome}")
            return
        source = result.item.sources[name]
        assert source is not None
        result.english[name] = _finish(outcome, source)
        assert source.key is not None
        result.fresh[source.key] = outcome

    def _translate(
        self, backend_name: str, language: str, texts: list[str]
    ) -> dict[str, str | Exception]:
        backend = self.router.backends[backend_name]
        with self._exclusive(backend):
            return self._translate_isolated(backend, language, texts)

    def _exclusive(self, backend: Backend) -> contextlib.AbstractContextManager[object]:
        """One thread at a time in a backend that is not thread-safe."""
        if backend.thread_safe:
            return contextlib.nullcontext()
        return self.locks.setdefault(backend.name, threading.Lock())

    def _translate_isolated(
        self, backend: Backend, language: str, texts: list[str]
    ) -> dict[str, str | Exception]:
        """Translate as one batch; if that fails, text by text, so one bad text fails alone."""
        try:
            return dict(zip(texts, _checked(backend, texts, language), strict=True))
        except Exception as exc:
            if len(texts) == 1:
                return {texts[0]: exc}
        outcomes: dict[str, str | Exception] = {}
        for text in texts:
            try:
                outcomes[text] = _checked(backend, [text], language)[0]
            except Exception as exc:
                outcomes[text] = exc
        return outcomes

    # -- save: one transaction per batch ------------------------------------------------------
    def save(self, conn: sqlite3.Connection, results: Sequence[Result]) -> int:
        """One transaction for the batch; if one article's results cannot be stored (text SQLite
        refuses), each article in its own, and the one that fails is stored as its error.
        Failures of the database itself (disk full, corrupt) still end the run."""
        now = now_iso()
        try:
            self._save_batch(conn, results, now)
        except Exception as exc:
            if is_database_failure(exc):
                raise
            results = [self._save_alone(conn, result, now) for result in results]
        for result in results:
            if result.error is None:
                self.skip.discard(result.item.article_id)
        fresh = {key for result in results if result.error is None for key in result.fresh}
        self._count(results, len(fresh))
        return sum(1 for result in results if result.error is None)

    def _save_batch(self, conn: sqlite3.Connection, results: Sequence[Result], now: str) -> None:
        fresh: dict[cache.Key, str] = {}
        updates: dict[str, list[list[object]]] = {}  # one executemany per statement shape
        for result in results:
            if result.error is None:
                fresh.update(result.fresh)
            sql, values = _update(result, now)
            updates.setdefault(sql, []).append(values)
        with transaction(conn):
            for sql, rows in updates.items():
                conn.executemany(sql, rows)
            cache.store(conn, fresh, now)

    def _save_alone(self, conn: sqlite3.Connection, result: Result, now: str) -> Result:
        try:
            self._save_batch(conn, [result], now)
            return result
        except Exception as exc:
            if is_database_failure(exc):
                raise
            failed = Result(result.item, error=describe(exc))
        try:
            self._save_batch(conn, [failed], now)
        except Exception as exc:
            if is_database_failure(exc):
                raise
            # not even its error could be stored: it stays pending, for the next run
            log.warning("article %s: could not record its error: %s", result.item.article_id, exc)
        return failed

    def _count(self, results: Sequence[Result], translated: int) -> None:
        for result in results:
            item = result.item
            if result.error is not None:
                self.stats["failed"] += 1
                continue
            self.stats[PASS_NAMES[self.phase]] += 1
            self.stats["re-translated"] += item.retranslates
            self.stats["cached"] += result.cached
            self.stats["finished"] += item.finishes
            if not item.route.translates:  # by kind: copied, or why there is no English text
                self.stats[provenance.none_reason(item.route.backend) or item.route.backend] += 1
        self.stats["translated"] += translated


# The route of an article whose preparation failed (never stored: its error is).
FAILED = Route(provenance.none_backend(provenance.INTERNAL_ERROR))


def describe(exc: BaseException) -> str:
    """An exception nobody foresaw, as an article's translation_error."""
    return internal_error(exc, limit=MAX_ERROR_CHARS)


def storable(message: str) -> str:
    """At most MAX_ERROR_CHARS, and encodable: the message may quote the text that failed."""
    return message[:MAX_ERROR_CHARS].encode("utf-8", "backslashreplace").decode("utf-8")


def _copy_source(text: str | None) -> Source | None:
    """English originals are stored as they are (no truncation: nothing is translated)."""
    return Source(text, False) if text and text.strip() else None


def _finish(english: str, source: Source) -> str:
    return english + ELLIPSIS if source.truncated else english


def _checked(backend: Backend, texts: list[str], language: str) -> list[str]:
    out = backend.translate(texts, language)
    if len(out) != len(texts):
        raise BackendError(f"{backend.name}: {len(out)} translations for {len(texts)} texts")
    empty = [text for text, english in zip(texts, out, strict=True) if not english.strip()]
    if empty:
        raise BackendError(f"{backend.name}: empty translation for {empty[0][:60]!r}")
    return out


def _update(result: Result, now: str) -> tuple[str, list[object]]:
    """The UPDATE that records one result: its English text and provenance, or its failure."""
    item = result.item
    if result.error is not None:
        # Only the failure is written: a re-translated article keeps its Apertium text.
        sql = (
            "UPDATE articles SET translation_error = ?, "
            "translation_attempts = translation_attempts + 1 WHERE id = ?"
        )
        error = result.error
        if item.retranslates:
            error = storable(f"re-translation by {item.route.backend} failed: {error}")
        return sql, [error, item.article_id]
    columns = {f"{name}_en": value for name, value in sorted(result.english.items())}
    columns |= {
        "translation_backend": item.route.backend,
        "translation_model": item.route.model,
        "translation_error": None,
        "translated_at": now if item.finishes else None,
    }
    assignments = ", ".join(f"{column} = ?" for column in columns)
    return f"UPDATE articles SET {assignments} WHERE id = ?", [*columns.values(), item.article_id]


def _json_list(values: set[int] | set[str]) -> str:
    return json.dumps(sorted(values))


def reopen_covered(conn: sqlite3.Connection, languages: set[str]) -> int:
    """Articles left untranslated for want of a model become pending once one covers them."""
    if not languages:
        return 0
    with transaction(conn):
        cursor = conn.execute(
            "UPDATE articles SET translated_at = NULL, translation_backend = NULL, "
            f"translation_model = NULL WHERE translation_backend LIKE '{provenance.NO_MODEL_LIKE}' "
            "AND language IN (SELECT value FROM json_each(?))",
            (_json_list(languages),),
        )
    return cursor.rowcount


class TranslateStage:
    """The translate stage (the `aggregator.stage.Stage` contract): titles first, then
    summaries, each a `TranslatePass`; `limit` caps each pass.

    An article's summary is pending once its title is saved, so the summary pass starts while
    the last title batches are still being translated and picks up each as it is saved. Worker
    threads translate up to IN_FLIGHT batches while the driving thread reads the next batch and
    saves finished ones, so a backend always has its next batch waiting (Apertium's programs
    and CTranslate2 release the GIL while they work). `pending` never hands out an article in
    flight: see TranslatePass.skip."""

    name = "translate"

    def __init__(self, conn: sqlite3.Connection, config: Config, limit: int | None = None):
        settings = config.settings.translation
        self.execution = Execution(settings.articles_per_batch, IN_FLIGHT, IN_FLIGHT)
        self.backends = create_backends(settings, models_dir(settings))
        try:
            router = Router(self.backends, settings, config.feeds)
            self.reopened = reopen_covered(conn, router.covered())
        except BaseException:
            self.close()
            raise
        self.passes = {phase: TranslatePass(phase, router, settings, limit) for phase in PASSES}
        self.phases = list(PASSES)

    @classmethod
    def open(
        cls,
        conn: sqlite3.Connection,
        config: Config,
        *,
        progress: Progress | None = None,
        limit: int | None = None,
    ) -> TranslateStage:
        return cls(conn, config, limit)

    def pending(self, conn: sqlite3.Connection, limit: int) -> list[Item]:
        while self.phases:
            batch = self.passes[self.phases[0]].pending(conn, limit)
            if batch or len(self.phases) == 1:
                return batch
            self.phases.pop(0)  # titles all handed out: on to the summaries
        return []

    def process(self, batch: Sequence[Item]) -> list[Result]:
        return self.passes[batch[0].phase].process(batch) if batch else []

    def save(self, conn: sqlite3.Connection, results: Sequence[Result]) -> int:
        return self.passes[results[0].item.phase].save(conn, results) if results else 0

    def finish(self, conn: sqlite3.Connection) -> StageReport:
        stats: Counter[str] = Counter()
        for one in self.passes.values():
            stats += one.stats
        return _report(stats, self.reopened)

    def close(self) -> None:
        for backend in self.backends.values():
            backend.close()


PASSES = (TITLE, SUMMARY)


def run(
    conn: sqlite3.Connection,
    config: Config,
    *,
    progress: Progress | None = None,
    limit: int | None = None,
) -> StageReport:
    """Translate pending articles: titles first, then summaries; `limit` caps each pass."""
    return run_stage(TranslateStage.open(conn, config, limit=limit), conn, progress=progress)


def _report(stats: Counter[str], reopened: int) -> StageReport:
    details: dict[str, object] = {
        "titles": stats["titles"],
        "summaries": stats["summaries"],
        "translated": stats["translated"],
        "cached": stats["cached"],
    }
    for key, label in (
        (provenance.COPY, "copied (English)"),
        (provenance.UNKNOWN_LANGUAGE, "unknown language"),
    ):
        if stats[key]:
            details[label] = stats[key]
    no_model = provenance.NO_MODEL_FOR
    missing = sorted(k.removeprefix(no_model) for k in stats if k.startswith(no_model))
    if missing:
        details["no model for"] = " ".join(missing) + " (see `aggregator models list`)"
    if reopened:
        details["reopened"] = reopened
    if stats["re-translated"]:
        details["re-translated (was Apertium)"] = stats["re-translated"]
    return StageReport("translate", done=stats["finished"], failed=stats["failed"], details=details)
