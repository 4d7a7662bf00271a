"""The Python API: what the `aggregator` command does, for notebooks, scripts and cron jobs.

    from aggregator import Aggregator

    with Aggregator("db/aggregator.db", feeds="feeds.yaml") as agg:
        for report in agg.run():            # every stage once, in order
            print(report)
        agg.run("translate", "embed")       # some of them
        agg.db["clusters"].count            # a sqlite_utils.Database, for reading

The feeds of feeds.yaml (or of a `Config` built in code) are synced into the database when the
database is first opened, as every filling command does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aggregator import config as config_module
from aggregator import store
from aggregator.config import Config
from aggregator.stage import Processor, Progress, StageReport
from aggregator.timeutil import now_iso

if TYPE_CHECKING:
    import sqlite_utils

DEFAULT_FEEDS = "feeds.yaml"
DEFAULT_DB = "db/aggregator.db"


class Aggregator:
    """One database and one feed list: run stages on them, read the results.

    `feeds` is a feeds.yaml path or a `Config`. Mistakes a user can make (a bad feeds.yaml, a
    file that is not an aggregator database) raise `aggregator.UserError` with a one-line
    reason; nothing is created until a stage runs or `conn` is used."""

    def __init__(
        self, db_path: str | Path = DEFAULT_DB, feeds: str | Path | Config = DEFAULT_FEEDS
    ) -> None:
        self.path = Path(db_path)
        self.config = feeds if isinstance(feeds, Config) else config_module.load(feeds)
        self._conn: sqlite3.Connection | None = None
        self._db: sqlite_utils.Database | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        """The writing connection: the database created or upgraded, the feeds synced."""
        if self._conn is None:
            conn = store.connect(self.path)
            try:
                store.sync_feeds(conn, self.config.feeds, now_iso())
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    @property
    def db(self) -> sqlite_utils.Database:
        """The database for reading (opened read-only: `agg.db["clusters"].rows`,
        `agg.db.query(sql)`). Refused with a UserError while there is no database yet."""
        if self._db is None:
            import sqlite_utils  # imports numpy: only for those who read through it

            readonly = store.connect_readonly(self.path)
            readonly.row_factory = None  # sqlite-utils builds its own dicts from tuples
            self._db = sqlite_utils.Database(readonly)
        return self._db

    def run(
        self,
        *stages: str,
        progress_factory: Callable[[str], Progress | None] | None = None,
        processors: Mapping[str, Processor] | None = None,
        **options: Mapping[str, Any],
    ) -> list[StageReport]:
        """Run the named stages (every stage when none is named) once each, in pipeline order
        (poll, translate, embed, cluster), and return their reports. Options go per stage:
        `agg.run("poll", poll={"force": True})`, `agg.run(cluster={"rebuild": True})`."""
        from aggregator import pipeline  # the stages' modules load models and numba: on use

        names = stages or None
        unknown = sorted((set(stages) | set(options)) - set(pipeline.STAGES))
        if unknown:  # before the database is touched
            raise ValueError(f"no stage {unknown[0]!r} (stages: {', '.join(pipeline.STAGES)})")
        return pipeline.run(
            self.conn,
            self.config,
            names,
            progress_factory=progress_factory,
            processors=processors,
            options=options,
        )

    def close(self) -> None:
        for conn in (self._conn, self._db.conn if self._db is not None else None):
            if conn is not None:
                conn.close()
        self._conn, self._db = None, None

    def __enter__(self) -> Aggregator:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
