"""The pipeline: which stages exist and in which order `aggregator run` runs them.

Each stage module exposes `run(conn, config, *, progress=None, **options) -> StageReport`.
Adding a stage means one module, one entry in STAGES and one CLI command.
"""

from __future__ import annotations

import importlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aggregator.config import Config


@dataclass
class StageReport:
    """What one stage did in one run, for the CLI to print and tests to check."""

    stage: str
    done: int = 0
    failed: int = 0
    skipped: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = [f"{self.stage}: {self.done} done"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        parts.extend(f"{key} {value}" for key, value in self.details.items())
        return ", ".join(parts)


# (name, module path). Each module has `run(conn, config, *, progress=None, **options)`.
STAGES: list[tuple[str, str]] = [
    ("poll", "aggregator.poll.stage"),
    ("translate", "aggregator.translate.stage"),
    ("embed", "aggregator.embed"),
    ("cluster", "aggregator.cluster"),
]


def stage_runner(name: str) -> Callable[..., StageReport]:
    module = dict(STAGES)[name]
    return importlib.import_module(module).run


def run_stage(
    name: str,
    conn: sqlite3.Connection,
    config: Config,
    progress: Callable[[int], None] | None = None,
    **options: Any,
) -> StageReport:
    """Run one stage. A progress object with a `close()` is closed when the stage ends, so a
    terminal progress line is finished before the stage's report is printed."""
    try:
        return stage_runner(name)(conn, config, progress=progress, **options)
    finally:
        close = getattr(progress, "close", None)
        if close is not None:
            close()


def run_all(
    conn: sqlite3.Connection,
    config: Config,
    progress_factory: Callable[[str], Callable[[int], None] | None] | None = None,
    **options: Any,
) -> list[StageReport]:
    reports = []
    for name, _module in STAGES:
        progress = progress_factory(name) if progress_factory else None
        reports.append(run_stage(name, conn, config, progress, **options.get(name, {})))
    return reports
