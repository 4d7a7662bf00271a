"""The one contract every pipeline stage follows, and `run_stage`, the loop that drives it.

A stage asks the database for pending work, processes a batch without touching the database
(so `process` can run on worker threads here, or on Ray actors on other machines), and saves
the results in short transactions. Crash anywhere and the next run picks up exactly what is
still pending. After the last batch, `finish` writes what the stage kept back (the cluster
stage saves in large groups) and says what the run did; `close` releases models and processes.

Where `process` runs is the `Processor`'s business, not the stage's: `LocalProcessor` runs it on
this thread or on a few worker threads (as the stage's `Execution` asks); the Ray executor in
`aggregator.compute` runs it on actors. The connection never leaves the calling thread, and
batches are saved in the order they were read.
"""

from __future__ import annotations

import os
import sqlite3
from collections import deque
from collections.abc import Callable, Iterator, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


Progress = Callable[[int], None]


@dataclass
class StageReport:
    """What one stage did in one run, for the CLI to print and tests and scripts to check.

    `details` are counts and facts shown after the totals ("new articles 12"); `note`, when
    set, is advice for the user shown after them ("settings changed ...; run --rebuild")."""

    stage: str
    done: int = 0
    failed: int = 0
    skipped: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    note: str | None = None

    def __str__(self) -> str:
        parts = [f"{self.stage}: {self.done} done"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        parts.extend(f"{key} {value}" for key, value in self.details.items())
        if self.note:
            parts.append(f"note: {self.note}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Execution:
    """How a stage's batches are best processed on one machine.

    `workers` threads run `process` (0: the calling thread runs it, one batch at a time);
    `in_flight` batches are handed out ahead of the one being saved, so the next batch is read
    and the last one written while a worker processes. A stage whose batch depends on the one
    before (clustering) asks for one worker: batches are then processed in order."""

    batch_size: int
    workers: int = 0
    in_flight: int = 1


@runtime_checkable
class Stage(Protocol):
    """What `run_stage` drives. Build one with the stage class's `open(conn, config, ...)`."""

    name: str
    execution: Execution

    def pending(self, conn: sqlite3.Connection, limit: int) -> Sized | None:
        """Up to `limit` work items not yet handed out in this run (empty or None: finished)."""

    def process(self, batch: Any) -> Any:
        """Do the work; touch no database. What it returns is saved with one `save` call,
        except an iterator (poll: feeds fetched concurrently finish in any order), whose items
        are each saved as they arrive (as a one-item list), so results never pile up."""

    def save(self, conn: sqlite3.Connection, results: Any) -> int:
        """Write results in short transactions; return how many items were completed."""

    def finish(self, conn: sqlite3.Connection) -> StageReport:
        """After the last batch: write anything kept back and report on the run."""

    def close(self) -> None:
        """Release what the stage holds (backends, processes, thread limits). Always called."""


class Processor(Protocol):
    """Where `process` runs: `submit` returns a future of the batch's results."""

    in_flight: int

    def submit(self, stage: Stage, batch: Any) -> Future[Any]: ...

    def close(self) -> None: ...


class LocalProcessor:
    """`process` on this machine, as the stage's `Execution` asks: inline (0 workers) or on
    worker threads (backends that release the GIL, such as CTranslate2 and Apertium's pipes,
    overlap with this thread's reads and writes)."""

    def __init__(self, execution: Execution, name: str = "stage") -> None:
        self.in_flight = max(execution.in_flight, 1) if execution.workers else 1
        self.pool = (
            ThreadPoolExecutor(execution.workers, thread_name_prefix=name)
            if execution.workers
            else None
        )

    def submit(self, stage: Stage, batch: Any) -> Future[Any]:
        if self.pool is not None:
            return self.pool.submit(stage.process, batch)
        future: Future[Any] = Future()
        try:
            future.set_result(stage.process(batch))
        except BaseException as exc:  # handed to the caller through the future, as a pool would
            future.set_exception(exc)
        return future

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def set_total(progress: Progress | None, total: int) -> None:
    """Tell a progress display how many items to expect, when it can use it (the CLI's bar has
    `set_total`; a plain callable, such as a test's counter, is left alone)."""
    setter = getattr(progress, "set_total", None)
    if setter is not None:
        setter(total)


def run_stage(
    stage: Stage,
    conn: sqlite3.Connection,
    *,
    progress: Progress | None = None,
    processor: Processor | None = None,
    max_batches: int | None = None,
) -> StageReport:
    """Drive a stage until it has no pending work, then `finish` it; return its report.

    The stage is closed, and a progress object with a `close()` closed, whatever happens, so a
    terminal progress line ends before the report is printed. A batch that completes nothing
    (every item failed and stays pending for the next run) ends the loop, so a run never spins
    on the same failures; stages order pending work so that items that failed before come last.
    """
    own = processor is None
    processor = processor or LocalProcessor(stage.execution, stage.name)
    try:
        _drive(stage, conn, processor, progress, max_batches)
        return stage.finish(conn)
    finally:
        if own:
            processor.close()
        stage.close()
        close = getattr(progress, "close", None)
        if close is not None:
            close()


def _drive(
    stage: Stage,
    conn: sqlite3.Connection,
    processor: Processor,
    progress: Progress | None,
    max_batches: int | None,
) -> None:
    running: deque[Future[Any]] = deque()
    handed_out = 0
    try:
        while True:
            while len(running) < processor.in_flight and (
                max_batches is None or handed_out < max_batches
            ):
                batch = stage.pending(conn, stage.execution.batch_size)
                if not batch:
                    break
                running.append(processor.submit(stage, batch))
                handed_out += 1
            if not running:
                return
            completed = 0
            for results in _saves(running.popleft().result()):
                saved = stage.save(conn, results)
                completed += saved
                if progress is not None:
                    progress(saved)
            if completed == 0 and processor.in_flight == 1:
                return  # nothing of it could be done: the rest waits for the next run
    finally:
        for future in running:
            future.cancel()


def _saves(results: Any) -> Iterator[Any]:
    """What each `save` call gets: an iterator's items one by one (each as a one-item list),
    anything else (a list, or a stage's own batch outcome) whole."""
    if not isinstance(results, Iterator):
        yield results
        return
    try:
        for result in results:
            yield [result]
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()  # a generator stops its work (poll: cancels fetches in flight)
