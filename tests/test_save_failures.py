"""A failure raised inside a stage's save leaves nothing half-written, and the next run ends
where an undisturbed one would.

Each stage runs on the same five articles as tests/test_crash_every_write.py (poll over
loopback, Apertium, the real embedding models, the cluster stage), from the database the stages
before it left. A trigger makes SQLite refuse the stage's last write for one article (poll: one
feed's fetch row; translate: the Spanish article's cache rows, after its English text; embed: one
article's keyword signature, after its vectors; cluster: the language means, the last write of
its single flush, so the whole flush fails). Then: nothing of the refused unit is in any table
(its other rows were in the same transaction), the others are stored, and once the trigger is
gone the next run brings the database to exactly the content of a run that never failed (wall
clock columns aside). The poll stage's own test of this (tests/test_poll_stage.py) checks one
feed; here the four stages are checked the same way.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml

from aggregator import config as config_module
from aggregator import pipeline, store
from aggregator.errors import UserError
from aggregator.timeutil import now_iso
from tests import cluster_helpers as helpers
from tests.crash_at_write import WALL_CLOCK
from tests.loopback import LoopbackServer
from tests.reliability_helpers import consistency_problems
from tests.test_crash_every_write import STORIES, same_content, tables

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("apertium") is None, reason="Apertium (scripts/install-system-deps.sh) missing"
    ),
]
STAGES = ("poll", "translate", "embed", "cluster")
# An article that failed once is retried by the next run; its attempt count says so. The
# poll stage's retried feed saves its articles after the others': their ids differ.
RETRIED = {"poll": {"id"}, "translate": {"translation_attempts"}}
STORY_TABLES = (
    "articles", "clusters", "cluster_members", "cluster_languages", "article_versions",
    "cluster_merges", "language_means",
)  # fmt: skip


def copy_db(source: Path, target: Path) -> None:
    conn = sqlite3.connect(source)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    shutil.copyfile(source, target)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """The database before each stage and after it (an undisturbed run)."""
    folder = tmp_path_factory.mktemp("save-failures")
    server = LoopbackServer().start()
    items = [
        item
        for item in json.loads((helpers.FIXTURES / "events.json").read_text(encoding="utf-8"))
        if item["story"] in STORIES
    ]
    feeds = helpers.serve(server, items, feed_order=sorted({item["feed"] for item in items}))
    settings = {
        "allow_private_addresses": True,
        "per_host_interval_s": 0.0,
        "concurrency": 1,
        "translation": {"order": ["apertium"]},
    }
    path = folder / "feeds.yaml"
    path.write_text(yaml.safe_dump({"settings": settings, "feeds": feeds}), encoding="utf-8")
    config = config_module.load(path)
    db = folder / "before-poll.db"
    conn = store.connect(db)
    store.sync_feeds(conn, config.feeds, now_iso())
    conn.close()
    for index, stage in enumerate(STAGES):
        after = folder / f"after-{stage}.db"
        copy_db(db, after)
        conn = store.connect(after)
        run_stage(conn, config, stage)
        conn.close()
        if index + 1 < len(STAGES):
            db = folder / f"before-{STAGES[index + 1]}.db"
            copy_db(after, db)
    yield folder, config
    server.stop()


def run_stage(conn: sqlite3.Connection, config, stage: str):
    # poll: only the feeds that are due (the refused feed stays due; the others are not)
    (report,) = pipeline.run(conn, config, [stage])
    return report


def dump(conn: sqlite3.Connection, skip: set[str] = frozenset()) -> dict[str, list[tuple]]:
    conn.row_factory = None
    got = tables(conn, WALL_CLOCK | skip)
    conn.row_factory = sqlite3.Row
    return got


# (stage, the trigger, the unit whose rows must be absent after the failure)
REFUSALS = {
    "poll": (
        "AFTER INSERT ON fetches WHEN NEW.feed_id = (SELECT id FROM feeds WHERE name = 'monde-fr')",
        "SELECT count(*) FROM articles WHERE feed_id = "
        "(SELECT id FROM feeds WHERE name = 'monde-fr')",
    ),
    "translate": (
        "AFTER INSERT ON translation_cache WHEN NEW.source_language = 'es'",
        "SELECT (SELECT count(*) FROM translation_cache WHERE source_language = 'es') + "
        "(SELECT count(*) FROM articles WHERE language = 'es' AND title_en IS NOT NULL)",
    ),
    "embed": (
        "AFTER INSERT ON article_keywords WHEN NEW.language = 'de'",
        "SELECT count(*) FROM embeddings WHERE article_id IN "
        "(SELECT id FROM articles WHERE language = 'de')",
    ),
    "cluster": (
        "AFTER INSERT ON language_means",
        "SELECT (SELECT count(*) FROM clusters) + (SELECT count(*) FROM cluster_members) + "
        "(SELECT count(*) FROM article_versions) + (SELECT count(*) FROM cluster_languages) + "
        "(SELECT count(*) FROM articles WHERE cluster_id IS NOT NULL)",
    ),
}


@pytest.mark.parametrize("stage", STAGES)
def test_a_refused_save_leaves_nothing_half_written(chain, tmp_path, stage):
    folder, config = chain
    trigger, unit_rows = REFUSALS[stage]
    db = tmp_path / "failing.db"
    copy_db(folder / f"before-{stage}.db", db)
    conn = store.connect(db)
    before = dump(conn)
    conn.execute(f"CREATE TRIGGER refuse {trigger} BEGIN SELECT RAISE(ABORT, 'refused'); END")
    if stage == "cluster":  # one flush for the whole run: the run fails, and says so
        with pytest.raises(UserError):
            run_stage(conn, config, stage)
        # (the keyword-weight sketch is counted and committed on its own before the flush)
        after = dump(conn)
        assert {t: after[t] for t in STORY_TABLES} == {t: before[t] for t in STORY_TABLES}
    else:  # the unit fails alone: the others are stored
        report = run_stage(conn, config, stage)
        assert report.failed >= 1 or stage == "poll", report
        assert dump(conn) != before
    assert conn.execute(unit_rows).fetchone()[0] == 0, "the refused unit was half-written"
    assert consistency_problems(conn) == []

    conn.execute("DROP TRIGGER refuse")
    run_stage(conn, config, stage)
    clean = store.connect(folder / f"after-{stage}.db")
    retried = RETRIED.get(stage, set())
    assert same_content(dump(clean, retried), dump(conn, retried)) == []
    clean.close()
    conn.close()
