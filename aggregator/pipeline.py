"""The pipeline: which stages exist, in which order `aggregator run` runs them, and how one is
opened by name.

Every stage is a class following `aggregator.stage.Stage`, with a classmethod
`open(conn, config, *, progress=None, **options)` that makes it ready for one run. Adding a
stage means one class, one entry in STAGES and one CLI command.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aggregator.config import Config
from aggregator.stage import Processor, Progress, Stage, StageReport, run_stage

__all__ = ["STAGES", "open_stage", "run", "stage_class"]


# Each stage's class, imported when the stage is first used: the cluster stage loads numba
# (~3.5 s) and the embed stage torch, which `aggregator poll` should not pay for.
def _poll() -> Any:
    from aggregator.poll.stage import PollStage

    return PollStage


def _translate() -> Any:
    from aggregator.translate.stage import TranslateStage

    return TranslateStage


def _embed() -> Any:
    from aggregator.embed.stage import EmbedStage

    return EmbedStage


def _cluster() -> Any:
    from aggregator.cluster.stage import ClusterStage

    return ClusterStage


# In the order `aggregator run` runs them. Each class has `open(conn, config, *, progress,
# **options) -> Stage` (its options differ: poll's force, translate's limit, cluster's rebuild).
STAGES: dict[str, Callable[[], Any]] = {
    "poll": _poll,
    "translate": _translate,
    "embed": _embed,
    "cluster": _cluster,
}


def stage_class(name: str) -> Any:
    """The class of the stage called `name` (a ValueError for an unknown name)."""
    if name not in STAGES:
        raise ValueError(f"no stage {name!r} (stages: {', '.join(STAGES)})")
    return STAGES[name]()


def open_stage(
    name: str,
    conn: sqlite3.Connection,
    config: Config,
    progress: Progress | None = None,
    **options: Any,
) -> Stage:
    """The stage called `name`, ready to run on `conn` (a ValueError for an unknown name)."""
    return stage_class(name).open(conn, config, progress=progress, **options)


def run(
    conn: sqlite3.Connection,
    config: Config,
    names: Iterable[str] | None = None,
    *,
    progress_factory: Callable[[str], Progress | None] | None = None,
    processors: Mapping[str, Processor] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[StageReport]:
    """Run the named stages (all of them by default) once each, in pipeline order.

    `options` maps a stage's name to its `open` options (`{"poll": {"force": True}}`);
    `processors` maps a stage's name to where its `process` runs (default: this machine)."""
    wanted = list(STAGES) if names is None else list(names)
    for name in wanted:
        if name not in STAGES:
            raise ValueError(f"no stage {name!r} (stages: {', '.join(STAGES)})")
    reports = []
    for name in (name for name in STAGES if name in wanted):
        progress = progress_factory(name) if progress_factory else None
        stage = open_stage(name, conn, config, progress, **(options or {}).get(name, {}))
        processor = (processors or {}).get(name)
        reports.append(run_stage(stage, conn, progress=progress, processor=processor))
    return reports
