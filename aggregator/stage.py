"""The shape every pipeline stage has, and the loop that drives one.

A stage asks the database for pending work, processes a batch without touching the database
(so `process` can later run in a process pool or on another machine), and saves the results in
one short transaction. Crash anywhere and the next run picks up exactly what is still pending.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol


class Stage(Protocol):
    name: str

    def pending(self, conn: sqlite3.Connection, limit: int) -> Sequence[Any]:
        """Up to `limit` work items not yet done (an empty sequence means finished)."""

    def process(self, batch: Sequence[Any]) -> Sequence[Any]:
        """Do the work. Pure with respect to the database."""

    def save(self, conn: sqlite3.Connection, results: Sequence[Any]) -> int:
        """Write results in one transaction; return how many items were completed."""


Progress = Callable[[int], None]


def set_total(progress: Progress | None, total: int) -> None:
    """Tell a progress display how many items to expect, when it can use it (the CLI's bar has
    `set_total`; a plain callable, such as a test's counter, is left alone)."""
    setter = getattr(progress, "set_total", None)
    if setter is not None:
        setter(total)


def run_stage(
    stage: Stage,
    conn: sqlite3.Connection,
    batch_size: int = 64,
    progress: Progress | None = None,
    max_batches: int | None = None,
) -> int:
    """Drive a stage until it has no pending work. Return the number of items completed.

    A batch that completes nothing (every item failed and stays pending for the next run) ends
    the loop, so a run never spins on the same failures. Stages order pending work so that items
    which failed before come last.
    """
    done = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        batch = stage.pending(conn, batch_size)
        if not batch:
            break
        completed = stage.save(conn, stage.process(batch))
        done += completed
        batches += 1
        if progress is not None:
            progress(completed)
        if completed == 0:
            break
    return done


def run_stage_overlapped(
    stage: Stage,
    conn: sqlite3.Connection,
    batch_size: int,
    progress: Progress | None = None,
    *,
    workers: int,
    in_flight: int,
    name: str = "stage",
) -> int:
    """`run_stage`, with `process` on worker threads: up to `in_flight` batches are submitted
    while this thread reads the next batch and saves finished ones, so the database work hides
    behind the processing. The connection stays on this thread and batches are saved in order.

    With `workers=1`, batches are processed one after another in order, so a stage whose batch
    depends on the one before (clustering) still overlaps its reading and writing; its
    `pending` must then not touch what `process` changes. Return the number of items completed.
    """
    done = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        running: deque[Future[Any]] = deque()
        while True:
            while len(running) < in_flight:
                batch = stage.pending(conn, batch_size)
                if not batch:
                    break
                running.append(pool.submit(stage.process, batch))
            if not running:
                return done
            completed = stage.save(conn, running.popleft().result())
            done += completed
            if progress is not None:
                progress(completed)
