"""Cross-language clustering end to end: the team's fixture stories (en, fr, de, es, pl) served
over loopback, through the real poll, translate (Apertium for fr/es; none for de/pl), embed
(packaged models) and cluster stages."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aggregator import store
from tests import cluster_helpers as helpers
from tests.loopback import LoopbackServer

pytestmark = pytest.mark.skipif(
    shutil.which("apertium") is None, reason="Apertium (scripts/install-system-deps.sh) missing"
)

GOLD = {
    "quake": {"en", "fr", "de", "es", "pl"},
    "rates": {"en", "de", "fr"},
    "fire": {"en", "es"},
    "vote": {"de", "fr"},
    "museum": {"en"},
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """One database polled, translated and embedded (the slow part), copied per test."""
    folder = tmp_path_factory.mktemp("cluster")
    server = LoopbackServer().start()
    items = helpers.stories()
    config = helpers.write_config(folder, helpers.serve(server, items))
    conn = store.connect(folder / "embedded.db")
    helpers.run(conn, config, "poll", "translate", "embed")
    conn.close()
    yield folder / "embedded.db", config, items, server
    server.stop()


@pytest.fixture
def db(prepared, tmp_path):
    path = tmp_path / "aggregator.db"
    shutil.copy(prepared[0], path)
    conn = store.connect(path)
    yield conn
    conn.close()


def slugs_of(items: list[dict], story: str) -> set[str]:
    return {item["slug"] for item in items if item["story"] == story}


def gold_partition(items: list[dict]) -> set[frozenset[str]]:
    return {frozenset(slugs_of(items, story)) for story in GOLD}


def test_same_story_in_five_languages_is_one_cluster(prepared, db):
    _, config, items, _ = prepared
    report = helpers.run(db, config, "cluster")["cluster"]
    assert report.done == len(items)
    clusters = helpers.clusters_by_slug(db)
    quake = {clusters[slug] for slug in slugs_of(items, "quake")}
    assert len(quake) == 1, "the five versions of the earthquake story were split"


def test_different_stories_stay_apart_even_from_one_feed(prepared, db):
    """The Herald's four stories share a title suffix and a photo credit: boilerplate must
    not glue them together."""
    _, config, items, _ = prepared
    helpers.run(db, config, "cluster")
    assert helpers.partition(db) == gold_partition(items)
    herald = {helpers.clusters_by_slug(db)[i["slug"]] for i in items if i["feed"] == "herald-en"}
    assert len(herald) == 4


def test_untranslated_languages_join_by_fallback_signals(prepared, db):
    """German has no translator but a dictionary (keyword glosses); Polish has neither, so
    only the multilingual embedding can place it."""
    _, config, items, _ = prepared
    helpers.run(db, config, "cluster")
    rows = {
        row["language"]: row
        for row in db.execute(
            "SELECT a.language, a.title_en, k.glossed, a.cluster_id FROM articles a "
            "JOIN article_keywords k ON k.article_id = a.id WHERE a.url LIKE '%/quake-%'"
        )
    }
    assert rows["de"]["title_en"] is None and rows["de"]["glossed"] == 1
    assert rows["pl"]["title_en"] is None and rows["pl"]["glossed"] == 0
    assert len({row["cluster_id"] for row in rows.values()}) == 1


def test_cluster_summaries(prepared, db):
    _, config, items, _ = prepared
    helpers.run(db, config, "cluster")
    cluster_id = helpers.clusters_by_slug(db)[next(iter(slugs_of(items, "quake")))]
    row = db.execute("SELECT * FROM clusters WHERE id = ?", (cluster_id,)).fetchone()
    herald = db.execute("SELECT id FROM feeds WHERE name = 'herald-en'").fetchone()[0]
    assert row["article_count"] == 5 and row["language_count"] == 5
    assert json.loads(row["languages"]) == ["en", "fr", "de", "es", "pl"]  # first coverage first
    assert json.loads(row["countries"]) == ["GB", "FR", "DE", "ES", "PL"]
    assert row["first_language"] == "en" and row["first_feed_id"] == herald
    assert row["first_seen_at"] == "2026-03-03T06:00:00Z"
    assert row["last_seen_at"] == "2026-03-03T09:00:00Z"
    # An English original reads better than a machine translation: it is preferred.
    english = [i["title"] for i in items if i["story"] == "quake" and i["lang"] == "en"]
    assert row["headline_en"] == english[0]
    delays = dict(
        db.execute(
            "SELECT language, delay_s FROM cluster_languages WHERE cluster_id = ?", (cluster_id,)
        ).fetchall()
    )
    assert delays == {"en": 0, "fr": 5400, "de": 7200, "es": 9000, "pl": 10800}


def test_summaries_agree_with_the_articles(prepared, db):
    """The incrementally kept summaries equal a recomputation from the articles table."""
    _, config, _, _ = prepared
    helpers.run(db, config, "cluster")
    at = (
        "CASE WHEN published_at IS NOT NULL AND published_at <= fetched_at "
        "THEN published_at ELSE fetched_at END"
    )
    expected = db.execute(
        f"SELECT cluster_id, count(*), count(DISTINCT language), min({at}), max({at}) "
        "FROM articles GROUP BY cluster_id ORDER BY cluster_id"
    ).fetchall()
    actual = db.execute(
        "SELECT id, article_count, language_count, first_seen_at, last_seen_at FROM clusters "
        "ORDER BY id"
    ).fetchall()
    assert [tuple(r) for r in actual] == [tuple(r) for r in expected]
    per_language = db.execute(
        "SELECT cluster_id, language, count(*) FROM articles GROUP BY cluster_id, language"
    ).fetchall()
    stored = db.execute(
        "SELECT cluster_id, language, article_count FROM cluster_languages"
    ).fetchall()
    assert sorted(map(tuple, per_language)) == sorted(map(tuple, stored))


def test_rerun_keeps_ids_and_new_articles_join_existing_stories(prepared, db):
    _, config, items, server = prepared
    helpers.run(db, config, "cluster")
    before = helpers.clusters_by_slug(db)
    assert helpers.run(db, config, "cluster")["cluster"].done == 0
    assert helpers.clusters_by_slug(db) == before
    late = {
        "story": "rates",
        "feed": "diario-es",
        "lang": "es",
        "hours": 7.0,
        "slug": "rates-es-late",
        "title": "El Banco Central Europeo sube los tipos de interés al 4,5 %",
        "summary": "El Banco Central Europeo subió el jueves su principal tipo de interés en un "
        "cuarto de punto, hasta el 4,5 %, su décima subida consecutiva, y afirmó que la "
        "inflación seguirá siendo demasiado alta durante demasiado tiempo.",
    }
    try:
        helpers.serve(server, [*items, late])
        helpers.run(db, config)
    finally:
        helpers.serve(server, items)
    after = helpers.clusters_by_slug(db)
    assert {slug: after[slug] for slug in before} == before
    rates = before[next(iter(slugs_of(items, "rates")))]
    assert after["rates-es-late"] == rates


def test_window_expiry(prepared, db, tmp_path):
    """The same story ten days later is compared with nothing older than the window."""
    _, config, items, server = prepared
    helpers.run(db, config, "cluster")
    quake = helpers.clusters_by_slug(db)[next(iter(slugs_of(items, "quake")))]
    original = next(i for i in items if i["story"] == "quake" and i["lang"] == "en")
    later = {
        **original,
        "hours": 240.0,
        "slug": "quake-en-later",
        "summary": original["summary"] + " Aftershocks were felt for days.",
    }
    conn_wide = None
    try:
        helpers.serve(server, [*items, later])
        helpers.run(db, config)
        assert helpers.clusters_by_slug(db)["quake-en-later"] != quake
        wide_path = tmp_path / "wide.db"
        shutil.copy(prepared[0], wide_path)
        conn_wide = store.connect(wide_path)
        wide = helpers.write_config(tmp_path, _feeds(config), window_days=30)
        helpers.run(conn_wide, wide)
        clusters = helpers.clusters_by_slug(conn_wide)
        assert clusters["quake-en-later"] == clusters[original["slug"]]
    finally:
        helpers.serve(server, items)
        if conn_wide is not None:
            conn_wide.close()


def _feeds(config) -> list[dict]:
    return [
        {"url": f.url, "name": f.name, "language": f.language, "country": f.country}
        for f in config.feeds
    ]


def test_result_does_not_depend_on_polling_order(prepared, tmp_path):
    """Feeds polled in another order give other article ids, the same stories and ids."""
    _, config, items, server = prepared
    reference = tmp_path / "reference.db"
    shutil.copy(prepared[0], reference)
    conn = store.connect(reference)
    helpers.run(conn, config, "cluster")
    expected = helpers.clusters_by_slug(conn)
    conn.close()
    reversed_feeds = list(reversed(_feeds(config)))
    other = helpers.write_config(tmp_path, reversed_feeds)
    conn = store.connect(tmp_path / "reversed.db")
    helpers.run(conn, other)
    assert helpers.clusters_by_slug(conn) == expected
    conn.close()


def test_rebuild_reproduces_the_clustering(prepared, db):
    _, config, _, _ = prepared
    helpers.run(db, config, "cluster")
    before = helpers.clusters_by_slug(db)
    report = helpers.run(db, config, "cluster", cluster={"rebuild": True})["cluster"]
    assert report.done == len(before)
    assert helpers.clusters_by_slug(db) == before


def test_articles_wait_for_their_translation(prepared, tmp_path):
    """Clustering before translation would lose the best signal for good: it waits."""
    _, config, items, _ = prepared
    conn = store.connect(tmp_path / "untranslated.db")
    reports = helpers.run(conn, config, "poll", "embed", "cluster")
    assert reports["cluster"].done == 0
    assert reports["cluster"].skipped == len(items)
    assert conn.execute("SELECT count(*) FROM clusters").fetchone()[0] == 0
    conn.close()


def test_cluster_command_runs_the_stage_alone(prepared, tmp_path):
    from click.testing import CliRunner

    from aggregator.cli import cli

    path = tmp_path / "cli.db"
    shutil.copy(prepared[0], path)
    feeds = Path(prepared[1].path)
    result = CliRunner().invoke(cli, ["cluster", "--feeds", str(feeds), "--db", str(path)])
    assert result.exit_code == 0, result.output
    assert "cluster: 13 done" in result.output
    result = CliRunner().invoke(
        cli, ["cluster", "--rebuild", "--feeds", str(feeds), "--db", str(path)]
    )
    assert result.exit_code == 0 and "cluster: 13 done" in result.output


def test_a_concurrent_run_is_refused_not_merged(prepared, db):
    """Two cluster runs at once would hand out the same story ids: the second one to save
    fails with one line and writes nothing."""
    from aggregator.cluster.stage import ClusterStage
    from aggregator.cluster.weights import count_new
    from aggregator.errors import UserError

    _, config, _, _ = prepared
    count_new(db)
    stage = ClusterStage(db, config)
    batch = stage.pending(db, 512)
    db.execute(
        "INSERT INTO clusters (id, first_seen_at, last_seen_at) VALUES (?, '2026-01-01T00:00:00Z',"
        " '2026-01-01T00:00:00Z')",
        (stage.next_id,),
    )
    with pytest.raises(UserError, match="another `aggregator cluster` running"):
        stage.save(db, stage.process(batch))
        stage.flush(db)
    clustered = db.execute("SELECT count(*) FROM articles WHERE cluster_id IS NOT NULL")
    assert clustered.fetchone()[0] == 0


def test_the_warm_up_runs_the_compiled_code_the_stage_uses(prepared, tmp_path):
    """`warm_up` loads the compiled loop while the database is read; if it called a function
    with other argument types than the stage does, numba would compile another version and
    the real run would still wait for its own. Checked in a fresh process."""
    path = tmp_path / "warm.db"
    shutil.copy(prepared[0], path)
    code = f"""
import json
from aggregator import cluster, store
from aggregator.cluster import kernel
from aggregator.cluster.window import warm_up
from aggregator.config import load

def compiled():
    return {{name: len(f.signatures) for name, f in vars(kernel).items()
            if hasattr(f, "signatures") and f.signatures}}

warm_up()
before = compiled()
cluster.run(store.connect({str(path)!r}), load({str(prepared[1].path)!r}))
print(json.dumps([before, compiled()]))
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    before, after = json.loads(out.stdout)
    assert {"assign_batch", "expire", "relink", "members", "sort_within"} <= set(before)
    assert after == before


def test_a_run_with_other_settings_says_the_stories_need_a_rebuild(prepared, db):
    import dataclasses

    _, config, _, _ = prepared
    assert helpers.run(db, config, "cluster")["cluster"].note is None
    assert helpers.run(db, config, "cluster")["cluster"].note is None
    stricter = dataclasses.replace(
        config,
        settings=dataclasses.replace(
            config.settings,
            cluster=dataclasses.replace(config.settings.cluster, threshold_keywords=0.5),
        ),
    )
    note = helpers.run(db, stricter, "cluster")["cluster"].note
    assert "--rebuild" in note
    assert helpers.run(db, stricter, "cluster")["cluster"].note is not None  # until rebuilt
    rebuilt = helpers.run(db, stricter, "cluster", cluster={"rebuild": True})["cluster"]
    assert rebuilt.note is None
    assert helpers.run(db, stricter, "cluster")["cluster"].note is None
    assert helpers.run(db, config, "cluster")["cluster"].note is not None
