"""The polling stage: due feeds → fetch → parse → new articles, one transaction per feed.

`pending` snapshots the feeds that are due; `process`/`stream` fetch and parse them
concurrently without touching the database; `save` writes one feed's outcome (its new articles,
its `fetches` row, its new schedule) in one transaction. `run` saves each feed as soon as it
is done, so a crash loses only the feeds still in flight and never half a feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import queue
import signal
import sqlite3
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

from aggregator.config import Config, Settings
from aggregator.errors import internal_error, is_database_failure
from aggregator.poll import dedupe, schedule
from aggregator.poll.fetch import Fetcher, FetchResult
from aggregator.poll.parse import NotAFeed, ParsedFeed, parse_or_reason
from aggregator.stage import Execution, Progress, StageReport, run_stage, set_total
from aggregator.store import transaction
from aggregator.timeutil import from_iso, to_iso, utcnow

log = logging.getLogger(__name__)

PARALLEL_FROM = 64  # feeds in a run before parsing moves to worker processes
MAX_WORKERS = 8
# Feeds handed out per batch. One batch is fetched concurrently; a batch's slowest feed holds
# up the next batch, so batches are large (one run of a typical feeds.yaml is one batch).
BATCH_FEEDS = 5000
MAX_STATUS_CHARS = 500  # an internal error's status: the exception's message may be long

FEED_COLUMNS = (
    "id, url, name, language, poll_interval_s, etag, last_modified, content_hash, "
    "last_unconditional_at, error_count, state, ttl_minutes, skip_hours, skip_days"
)


@dataclass(frozen=True)
class FeedJob:
    """A snapshot of one feed row: all that fetching and planning it needs."""

    id: int
    url: str
    name: str
    language: str | None  # from feeds.yaml
    interval_s: int
    etag: str | None
    last_modified: str | None
    content_hash: str | None
    last_unconditional_at: datetime | None
    error_count: int
    state: str
    ttl_minutes: int | None
    skip_hours: frozenset[int]
    skip_days: frozenset[int]


@dataclass(frozen=True)
class FeedResult:
    """One feed's outcome, ready to save."""

    job: FeedJob
    fetched_at: datetime
    fetch: FetchResult
    outcome: str  # 'ok', 'not_modified', 'unchanged' or 'error'
    status: str  # for fetches.status and feeds.last_status
    error: str | None  # error kind, None unless outcome == 'error'
    plan: schedule.Plan
    parsed: ParsedFeed | None = None
    body_hash: str | None = None


class ByteBudget:
    """Bytes that may be held at once, across tasks. Requests are served in arrival order, so a
    big body is not starved by small ones; one larger than the whole budget waits for it to be
    empty."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(capacity, 1)
        self.used = 0
        self._turn = asyncio.Lock()  # the next request in line; the others queue behind it
        self._freed = asyncio.Condition()

    async def acquire(self, amount: int) -> int:
        """Wait until `amount` fits; return what is held (to pass to `release`)."""
        amount = min(max(amount, 0), self.capacity)
        async with self._turn, self._freed:
            await self._freed.wait_for(lambda: self.used + amount <= self.capacity)
            self.used += amount
        return amount

    async def release(self, amount: int) -> None:
        async with self._freed:
            self.used -= amount
            self._freed.notify_all()


class PollStage:
    """The poll stage (the `aggregator.stage.Stage` contract). `process` fetches a batch of
    feeds concurrently and yields each feed's result as soon as it is fetched and parsed, and
    `save` stores each in its own transaction while the other fetches go on."""

    name = "poll"
    # Feeds per batch: fetched concurrently (bounded by settings.concurrency and per host).
    execution = Execution(batch_size=BATCH_FEEDS)

    def __init__(
        self,
        config: Config,
        *,
        force: bool = False,
        workers: int | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.settings = config.settings
        self.force = force
        self.workers = workers
        self.clock = clock
        self.taken: set[int] = set()  # feeds handed out this run, so --force polls each once
        self.tally: Counter[str] = Counter()

    @classmethod
    def open(
        cls,
        conn: sqlite3.Connection,
        config: Config,
        *,
        progress: Progress | None = None,
        force: bool = False,
        workers: int | None = None,
    ) -> PollStage:
        """`workers`: processes that parse feeds (0: parse in this process; None: one per CPU
        core when a batch has at least PARALLEL_FROM feeds)."""
        stage = cls(config, force=force, workers=workers)
        set_total(progress, len(stage._due(conn)))
        return stage

    def _due(self, conn: sqlite3.Connection) -> list[sqlite3.Row]:
        where = "active = 1"
        params: list[str] = []
        if not self.force:
            where += " AND (next_poll_at IS NULL OR next_poll_at <= ?)"
            params.append(to_iso(self.clock()))
        return conn.execute(
            f"SELECT {FEED_COLUMNS} FROM feeds WHERE {where} "
            "ORDER BY next_poll_at IS NOT NULL, next_poll_at, id",
            params,
        ).fetchall()

    def pending(self, conn: sqlite3.Connection, limit: int | None = None) -> list[FeedJob]:
        """Active feeds that are due (all active feeds with force), never-polled first; none
        handed out before in this run."""
        rows = self._due(conn)
        jobs = [self._job(row) for row in rows if row["id"] not in self.taken][:limit]
        self.taken.update(job.id for job in jobs)
        return jobs

    def _job(self, row: sqlite3.Row) -> FeedJob:
        return FeedJob(
            id=row["id"],
            url=row["url"],
            name=row["name"],
            language=row["language"],
            interval_s=row["poll_interval_s"] or self.settings.poll_interval_s,
            etag=row["etag"],
            last_modified=row["last_modified"],
            content_hash=row["content_hash"],
            last_unconditional_at=_time(row["last_unconditional_at"]),
            error_count=row["error_count"],
            state=row["state"],
            ttl_minutes=row["ttl_minutes"],
            skip_hours=frozenset(json.loads(row["skip_hours"] or "[]")),
            skip_days=frozenset(schedule.skip_days(json.loads(row["skip_days"] or "[]"))),
        )

    def process(self, batch: Sequence[FeedJob]) -> Iterator[FeedResult]:
        """Fetch and parse a batch (no database access): each feed's result as it is done.
        The fetching runs on an event loop of its own thread, so the caller's saving never
        stalls the fetches in flight; closing the iterator early cancels them."""
        return iterate_in_thread(lambda: self.stream(batch), name="poll-fetch")

    async def stream(self, batch: Sequence[FeedJob]) -> AsyncIterator[FeedResult]:
        """Fetch the batch concurrently; yield each feed's result as soon as it is done.

        Parsing waits for the saver: the bodies being parsed and the parsed feeds not yet
        handed to the caller total at most `max_body_bytes` (one big feed or many small ones),
        beside the one feed the caller is saving."""
        # Bodies fetched but not yet parsed are bounded, so a slow parser can't pile up memory.
        in_hand = asyncio.Semaphore(2 * max(self.settings.concurrency, 1))
        # Parsed entries take ~6x their body, and feedparser's tree ~17x while parsing: without
        # this bound, a run of big feeds piled them all up (issue 10: 16 feeds of 60,000 items,
        # 616 MB in the main process, 878 MB with the parse workers).
        unsaved = ByteBudget(self.settings.max_body_bytes)
        with parse_pool(len(batch), self.workers) as pool:
            async with Fetcher(self.settings) as fetcher:
                pending: set[asyncio.Task[tuple[FeedResult, int]]] = set()
                for job in batch:
                    task = asyncio.create_task(self._one(fetcher, pool, in_hand, unsaved, job))
                    # a finished task leaves the set: its result must die once it is saved,
                    # not live on in a task list until the run ends (issue 10)
                    task.add_done_callback(pending.discard)
                    pending.add(task)
                try:
                    for done in asyncio.as_completed(pending):
                        result, held = await done
                        await unsaved.release(held)  # the next parse overlaps this one's save
                        yield result
                        del result  # saved: hold none of its entries while the next is awaited
                finally:
                    for task in list(pending):
                        task.cancel()
                    await asyncio.gather(*pending, return_exceptions=True)

    async def _one(
        self,
        fetcher: Fetcher,
        pool: Executor,
        in_hand: asyncio.Semaphore,
        unsaved: ByteBudget,
        job: FeedJob,
    ) -> tuple[FeedResult, int]:
        """One feed's fetch, parse and plan, and the bytes of `unsaved` it holds. Whatever goes
        wrong in them is this feed's recorded error (`internal`), never the run's: one hostile
        feed must not stop the others."""
        step, fetched, now, held = "fetching", None, self.clock(), 0
        try:
            # The host's politeness slot first: feeds queued behind a slow host hold no body
            # slot, so they never starve the other hosts.
            async with fetcher.gate(job.url).slot(), in_hand:
                unconditional = schedule.needs_unconditional(job.last_unconditional_at, now)
                etag, modified = (None, None) if unconditional else (job.etag, job.last_modified)
                fetched = await fetcher.fetch(job.url, etag, modified, gated=False)
                now = self.clock()
                parsed = None
                if needs_parsing(job, fetched):
                    step = "parsing"
                    # backpressure: no new parse while parsed feeds wait for the saver
                    held = await unsaved.acquire(len(fetched.body or b""))
                    # only the CPU-heavy parse goes to a worker: the body there, entries back
                    work = parse_call(fetched, job, now)
                    parsed = await asyncio.get_running_loop().run_in_executor(pool, work)
                step = "scheduling"
                return outcome(job, fetched, now, self.settings, parsed), held
        except Exception as exc:  # noqa: BLE001 (contained: see the docstring)
            return internal_failure(job, fetched, now, self.settings, step, exc), held

    def save(self, conn: sqlite3.Connection, results: Sequence[FeedResult]) -> int:
        """Each feed's outcome in its own transaction (see `save_contained`)."""
        for result in results:
            new, saved = self.save_contained(conn, result)
            self.tally["new articles"] += new
            self.tally[saved.outcome] += 1
            self.tally["dead"] += saved.plan.state == "dead"
            self.tally["feeds"] += 1
            del result, saved  # its entries go now, not after the next feed arrives
        return len(results)

    def finish(self, conn: sqlite3.Connection) -> StageReport:
        return StageReport(
            stage="poll",
            done=self.tally["feeds"],
            failed=self.tally["error"],
            details={
                "new articles": self.tally["new articles"],
                "not modified": self.tally["not_modified"],
                "unchanged": self.tally["unchanged"],
                "dead feeds": self.tally["dead"],
            },
        )

    def close(self) -> None:
        """Fetchers and parse workers live only as long as one batch's `process`."""

    def save_one(self, conn: sqlite3.Connection, result: FeedResult) -> int:
        """Store one feed's outcome in one transaction; return how many articles were new."""
        with transaction(conn):
            new = insert_articles(conn, result)
            record_fetch(conn, result, new)
            update_feed(conn, result)
        return new

    def save_contained(
        self, conn: sqlite3.Connection, result: FeedResult
    ) -> tuple[int, FeedResult]:
        """`save_one`, with a failure to store this feed's outcome (text SQLite refuses, a value
        out of range, a constraint) recorded as this feed's `internal` error, in a second
        transaction, instead of ending the run. Return the new articles and what was stored.

        Failures of the database itself (disk full, I/O error, corrupt file) still end the run:
        they are no one feed's fault, and every other feed would fail the same way. If even the
        error cannot be recorded, the feed stays due and the run goes on."""
        try:
            return self.save_one(conn, result), result
        except Exception as exc:
            if is_database_failure(exc):
                raise
            failed = internal_failure(
                result.job, result.fetch, result.fetched_at, self.settings, "saving", exc
            )
        try:
            self.save_one(conn, failed)
        except Exception as exc:
            if is_database_failure(exc):
                raise
            log.warning("feed %s: could not record its error: %s", result.job.url, exc)
        return 0, failed


def outcome(
    job: FeedJob,
    fetched: FetchResult,
    now: datetime,
    settings: Settings,
    parsed: ParsedFeed | NotAFeed | None = None,
) -> FeedResult:
    """Turn a fetch into what to store: parse a new body, skip a known one, plan the next poll.

    `parsed` is the body already parsed elsewhere (a worker), else it is parsed here when
    needed. The result no longer carries the body: once parsed it is not needed."""
    hints = _hints(job, fetched, now)
    if fetched.kind == "not_modified":
        return _success(job, fetched, now, "not_modified", fetched.status, hints)
    if fetched.kind == "error":
        kind = fetched.error or "other"
        return _failure(job, fetched, now, kind, fetched.status, hints, settings)
    digest = dedupe.body_hash(fetched.body or b"")
    if not needs_parsing(job, fetched):
        return _success(job, _lean(fetched), now, "unchanged", "unchanged", hints, body_hash=digest)
    if parsed is None:
        parsed = parse_call(fetched, job, now)()
    if isinstance(parsed, NotAFeed):
        return _failure(job, _lean(fetched), now, "parse", str(parsed), hints, settings)
    hints = _with_feed_hints(hints, parsed)
    status = fetched.status
    if parsed.problem:
        status += f"; {parsed.problem} (kept {len(parsed.entries)} entries)"
    lean = _lean(fetched)
    return _success(job, lean, now, "ok", status, hints, parsed=parsed, body_hash=digest)


def needs_parsing(job: FeedJob, fetched: FetchResult) -> bool:
    """A body arrived and it is not the one parsed last time (servers whose validators lie)."""
    return fetched.kind == "ok" and dedupe.body_hash(fetched.body or b"") != job.content_hash


def parse_call(fetched: FetchResult, job: FeedJob, now: datetime) -> partial[ParsedFeed | NotAFeed]:
    """The parse of a fetched body, as a picklable call: parse.py imports no HTTP stack, so a
    worker process running it starts light."""
    return partial(
        parse_or_reason,
        fetched.body or b"",
        url=fetched.final_url or job.url,
        headers=fetched.headers,
        config_language=job.language,
        now=now,
    )


def internal_failure(
    job: FeedJob,
    fetched: FetchResult | None,
    now: datetime,
    settings: Settings,
    step: str,
    exc: BaseException,
) -> FeedResult:
    """An exception nobody foresaw while handling one feed, as that feed's error: kind
    `internal`, the step, the exception's type and message in the status; backoff as for any
    error (no server hints: reading them may be what failed)."""
    status = internal_error(exc, f"while {step}", MAX_STATUS_CHARS)
    count = job.error_count + 1
    try:
        plan = schedule.after_error(
            now,
            count,
            job.interval_s,
            settings.max_backoff_s,
            settings.dead_after_errors,
            schedule.Hints(),
        )
    except Exception:  # noqa: BLE001 (planning may be what failed: a plain, safe delay)
        plan = schedule.Plan("backoff", count, now + schedule.DEAD_CHECK_EVERY)
    if plan.state == "dead":
        status += " (dead: checked daily)"
    # kind "error": an unfinished feed keeps its old validators and body hash, so the next
    # poll fetches and parses it again instead of trusting what was not stored
    base = FetchResult(job.url, "error", status, 0) if fetched is None else fetched
    lean = replace(base, kind="error", body=None, error="internal")
    return FeedResult(job, now, lean, "error", status, "internal", plan)


def _lean(fetched: FetchResult) -> FetchResult:
    return replace(fetched, body=None)


def _success(
    job: FeedJob,
    fetched: FetchResult,
    now: datetime,
    kind: str,
    status: str,
    hints: schedule.Hints,
    parsed: ParsedFeed | None = None,
    body_hash: str | None = None,
) -> FeedResult:
    plan = schedule.Plan("active", 0, schedule.after_success(now, job.interval_s, hints))
    return FeedResult(job, now, fetched, kind, status, None, plan, parsed, body_hash)


def _failure(
    job: FeedJob,
    fetched: FetchResult,
    now: datetime,
    kind: str,
    status: str,
    hints: schedule.Hints,
    settings: Settings,
) -> FeedResult:
    plan = schedule.after_error(
        now,
        job.error_count + 1,
        job.interval_s,
        settings.max_backoff_s,
        settings.dead_after_errors,
        hints,
        gone=fetched.http_status == 410,
    )
    if plan.state == "dead":
        status += " (dead: checked daily)"
    return FeedResult(job, now, fetched, "error", status, kind, plan)


def _hints(job: FeedJob, fetched: FetchResult, now: datetime) -> schedule.Hints:
    """Freshness hints from the response headers and what the feed said last time."""
    headers = fetched.headers
    retry = None
    if fetched.http_status in (429, 503):
        retry = schedule.retry_after(headers.get("retry-after"), now)
    return schedule.Hints(
        ttl_minutes=job.ttl_minutes,
        max_age_s=schedule.max_age(headers.get("cache-control")),
        expires=schedule.http_date(headers.get("expires")),
        retry_after=retry,
        skip_hours=job.skip_hours,
        skip_days=job.skip_days,
    )


def _with_feed_hints(hints: schedule.Hints, parsed: ParsedFeed) -> schedule.Hints:
    return schedule.Hints(
        ttl_minutes=parsed.ttl_minutes,
        max_age_s=hints.max_age_s,
        expires=hints.expires,
        retry_after=hints.retry_after,
        skip_hours=parsed.skip_hours,
        skip_days=parsed.skip_days,
    )


INSERT_ARTICLE = """
INSERT INTO articles (feed_id, guid, url, url_key, content_hash, title, summary, summary_html,
                      author, language, language_source, published_at, fetched_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING
"""


def insert_articles(conn: sqlite3.Connection, result: FeedResult) -> int:
    """Insert the entries not stored yet; the unique indexes decide (GUID, url_key, hash).

    Feeds list newest first; inserting oldest first keeps article ids in publication order.
    """
    if result.parsed is None:
        return 0
    fetched_at = to_iso(result.fetched_at)
    rows = (  # a generator: a big feed's rows are not all built at once beside its entries
        (result.job.id, e.guid, e.url, e.url_key, e.content_hash, e.title, e.summary,
         e.summary_html, e.author, e.language, e.language_source, e.published_at, fetched_at)
        for e in reversed(result.parsed.entries)
    )  # fmt: skip
    # rowcount sums the rows inserted (0 for none); conflicts (duplicates) insert nothing
    return conn.executemany(INSERT_ARTICLE, rows).rowcount


def record_fetch(conn: sqlite3.Connection, result: FeedResult, new: int) -> None:
    fetched = result.fetch
    conn.execute(
        "INSERT INTO fetches (feed_id, fetched_at, status, http_status, error, new_articles, "
        "duration_ms, bytes, final_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            result.job.id,
            to_iso(result.fetched_at),
            result.status,
            fetched.http_status,
            result.error,
            new,
            fetched.duration_ms,
            fetched.size,
            fetched.final_url,
        ),
    )


def update_feed(conn: sqlite3.Connection, result: FeedResult) -> None:
    """The feed's visible state and validators after this fetch."""
    now = to_iso(result.fetched_at)
    plan = result.plan
    fields = {
        "last_status": result.status,
        "last_http_status": result.fetch.http_status,
        "last_fetched_at": now,
        "error_count": plan.error_count,
        "state": plan.state,
        "next_poll_at": to_iso(plan.next_poll_at),
    }
    if result.outcome != "error":
        fields["last_success_at"] = now
        fields.update(_validators(result))
    if result.body_hash is not None:
        fields["content_hash"] = result.body_hash
    if result.fetch.kind == "ok" and not result.fetch.conditional:
        fields["last_unconditional_at"] = now
    if result.parsed is not None:
        parsed = result.parsed
        fields["title"] = parsed.title
        fields["ttl_minutes"] = parsed.ttl_minutes
        fields["skip_hours"] = json.dumps(sorted(parsed.skip_hours))
        fields["skip_days"] = json.dumps(
            [schedule.DAYS[d].title() for d in sorted(parsed.skip_days)]
        )
    assignments = ", ".join(f"{name} = ?" for name in fields)
    conn.execute(f"UPDATE feeds SET {assignments} WHERE id = ?", [*fields.values(), result.job.id])


def _validators(result: FeedResult) -> dict[str, str | None]:
    """A 200 replaces the validators (a server that stopped sending one clears it); a 304 may
    refresh them."""
    headers = result.fetch.headers
    if result.fetch.kind == "ok":
        return {"etag": headers.get("etag"), "last_modified": headers.get("last-modified")}
    return {
        name: headers[header]
        for name, header in (("etag", "etag"), ("last_modified", "last-modified"))
        if header in headers
    }


def run(
    conn: sqlite3.Connection,
    config: Config,
    *,
    progress: Progress | None = None,
    force: bool = False,
    workers: int | None = None,
) -> StageReport:
    """Poll every due feed (every active feed with force) and store what is new."""
    stage = PollStage.open(conn, config, progress=progress, force=force, workers=workers)
    return run_stage(stage, conn, progress=progress)


_END = object()


def iterate_in_thread(
    make: Callable[[], AsyncIterator[FeedResult]], name: str
) -> Iterator[FeedResult]:
    """Run an async iterator on an event loop in a thread of its own and yield its items here.

    The async iterator is asked for its next item only when the caller has finished with the
    one before (as if the caller were awaiting it): so it holds back exactly as it would on
    one event loop (poll: parsed feeds wait for the saver). Its other tasks (fetches in flight)
    go on meanwhile. Closing this iterator (or an exception in the caller) cancels the async
    side and waits for it."""
    wanted: queue.Queue[None] = queue.Queue(maxsize=1)  # the caller is ready for the next item
    handoff: queue.Queue[tuple[object, Any]] = queue.Queue(maxsize=1)
    started = threading.Event()
    running: dict[str, Any] = {}

    async def pump() -> None:
        running["loop"], running["task"] = asyncio.get_running_loop(), asyncio.current_task()
        started.set()
        items = make()
        final: tuple[object, Any] = (_END, None)
        try:
            while True:
                await asyncio.to_thread(wanted.get)
                try:
                    item = await anext(items)
                except StopAsyncIteration:
                    break
                await asyncio.to_thread(handoff.put, (None, item))
                del item  # being saved: held here no longer
        except asyncio.CancelledError:
            return  # the caller stopped early and is draining: nothing more to hand over
        except BaseException as exc:  # noqa: BLE001 (handed to the caller)
            final = (_END, exc)
        finally:
            with contextlib.suppress(BaseException):
                await items.aclose()  # type: ignore[attr-defined]  # an async generator's
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.to_thread(handoff.put, final)

    thread = threading.Thread(target=asyncio.run, args=(pump(),), name=name, daemon=True)
    thread.start()
    started.wait()
    finished = False
    try:
        while True:
            wanted.put(None)
            kind, value = handoff.get()
            if kind is _END:
                finished = True
                if value is not None:
                    raise value
                return
            yield value
            del value
    finally:
        if not finished:
            with contextlib.suppress(RuntimeError):  # its loop has closed already
                running["loop"].call_soon_threadsafe(running["task"].cancel)
            while thread.is_alive():  # unblock what it still waits for, so it can finish
                with contextlib.suppress(queue.Full):
                    wanted.put_nowait(None)
                with contextlib.suppress(queue.Empty):
                    handoff.get(timeout=0.05)
        thread.join()


@contextmanager
def parse_pool(feeds: int, workers: int | None) -> Iterator[Executor]:
    """Where feeds are parsed: off the event loop, so parsing a big feed never stalls the
    fetches in flight. Large runs get worker processes (parsing is CPU-bound pure Python, and
    they use every core while this process fetches and writes); small runs one thread, as
    starting processes would cost more than it saves."""
    if workers is None:
        workers = min(os.cpu_count() or 1, MAX_WORKERS) if feeds >= PARALLEL_FROM else 0
    pool: Executor
    if workers <= 0:
        pool = ThreadPoolExecutor(1, thread_name_prefix="poll-parse")
    else:
        pool = ProcessPoolExecutor(
            workers,
            # spawn, not fork: forking this process, which has threads, could copy a held lock
            mp_context=multiprocessing.get_context("spawn"),
            # Ctrl-C is this process's to handle: workers ignore it instead of dying mid-parse
            initializer=signal.signal,
            initargs=(signal.SIGINT, signal.SIG_IGN),
        )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # on Ctrl-C, don't parse the backlog


def _time(value: str | None) -> datetime | None:
    return from_iso(value) if value else None
