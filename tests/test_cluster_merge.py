"""Two stories that one article shows to be one event merge: the older id keeps every article,
the other id is recorded in cluster_merges (a redirect), and nothing else changes.

The models cannot be steered into this on purpose, so the vectors here are made by hand and
written to a real database as the embed stage would: three Polish articles (no translation, no
dictionary, so only the multilingual vectors decide) over a background of unrelated ones that
gives the language mean something to be.
"""

from __future__ import annotations

import numpy as np
import pytest

from aggregator import keywords, store
from aggregator.cluster import stage as cluster_stage
from aggregator.config import Config, Feed, Settings
from aggregator.embed import models
from aggregator.vectors import MULTILINGUAL, to_blob

DIM = 256
MODEL = models.identity("multilingual-e5-small")
CONFIG = Config(
    feeds=(Feed("http://127.0.0.1:9/pl.xml", "Gazeta", language="pl"),), settings=Settings()
)


def _add(conn, article_id: int, vector: np.ndarray, hours: float) -> None:
    at = f"2026-03-{1 + int(hours // 24):02d}T{int(hours % 24):02d}:00:00Z"
    conn.execute(
        "INSERT INTO articles (id, feed_id, content_hash, title, language, language_source, "
        "published_at, fetched_at, translation_error) "
        "VALUES (?, 1, ?, ?, 'pl', 'feed', ?, '2026-03-20T00:00:00Z', 'no model')",
        (article_id, f"hash{article_id}", f"Artykuł {article_id}", at),
    )
    conn.execute(
        "INSERT INTO embeddings (article_id, space, model, dim, vector, text_hash, embedded_at) "
        "VALUES (?, ?, ?, ?, ?, 'x', '2026-03-20T00:00:00Z')",
        (article_id, MULTILINGUAL, MODEL, DIM, to_blob(vector / np.linalg.norm(vector))),
    )
    conn.execute(
        "INSERT INTO article_keywords (article_id, version, language, glossed, ids, alts, "
        "owners, computed_at) VALUES (?, ?, 'pl', 0, x'', x'', x'', '2026-03-20T00:00:00Z')",
        (article_id, keywords.version("pl")),
    )


@pytest.fixture
def conn(tmp_path):
    conn = store.connect(tmp_path / "aggregator.db")
    store.sync_feeds(conn, CONFIG.feeds, "2026-03-20T00:00:00Z")
    rng = np.random.default_rng(7)
    with store.transaction(conn):
        for index in range(300):  # unrelated articles, days before the three below
            _add(conn, 1000 + index, rng.standard_normal(DIM), hours=24 * 8 * index / 300)
    yield conn
    conn.close()


def _story_of(conn, article_id: int) -> int:
    return conn.execute("SELECT cluster_id FROM articles WHERE id = ?", (article_id,)).fetchone()[0]


def test_an_article_that_joins_two_stories_merges_them_into_the_older(conn):
    east, west = np.eye(DIM)[0], np.eye(DIM)[1]
    with store.transaction(conn):
        _add(conn, 1, east, hours=24 * 10)
        _add(conn, 2, west, hours=24 * 10 + 1)
    cluster_stage.run(conn, CONFIG)
    older, newer = _story_of(conn, 1), _story_of(conn, 2)
    assert older < newer  # two stories so far: east and west are unrelated

    with store.transaction(conn):
        _add(conn, 3, east + west, hours=24 * 10 + 2)  # like both
    report = cluster_stage.run(conn, CONFIG)

    assert report.details["merged"] == 1
    assert {_story_of(conn, i) for i in (1, 2, 3)} == {older}
    assert [
        tuple(row) for row in conn.execute("SELECT cluster_id, merged_into FROM cluster_merges")
    ] == [(newer, older)]
    assert conn.execute("SELECT count(*) FROM clusters WHERE id = ?", (newer,)).fetchone()[0] == 0
    row = conn.execute(
        "SELECT article_count, languages FROM clusters WHERE id = ?", (older,)
    ).fetchone()
    assert (row["article_count"], row["languages"]) == (3, '["pl"]')
    assert (
        conn.execute(
            "SELECT article_count FROM cluster_languages WHERE cluster_id = ?", (older,)
        ).fetchone()[0]
        == 3
    )
    assert {
        r[0]
        for r in conn.execute(
            "SELECT cluster_id FROM cluster_members WHERE article_id IN (1, 2, 3)"
        )
    } == {older}
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # A later run changes nothing; a later article like the merged story joins the older id.
    assert cluster_stage.run(conn, CONFIG).done == 0
    with store.transaction(conn):
        _add(conn, 4, east + 0.9 * west, hours=24 * 10 + 3)
    cluster_stage.run(conn, CONFIG)
    assert _story_of(conn, 4) == older


def test_a_merge_redirect_chain_is_kept_one_step_long(conn):
    a, b, c = np.eye(DIM)[0], np.eye(DIM)[1], np.eye(DIM)[2]
    with store.transaction(conn):
        _add(conn, 1, a, hours=240)
        _add(conn, 2, b, hours=241)
        _add(conn, 3, c, hours=242)
    cluster_stage.run(conn, CONFIG)
    first, second, third = (_story_of(conn, i) for i in (1, 2, 3))
    with store.transaction(conn):
        _add(conn, 4, b + c, hours=243)  # merges the third story into the second
    cluster_stage.run(conn, CONFIG)
    with store.transaction(conn):
        _add(conn, 5, a + b, hours=244)  # merges the second (with the third) into the first
    cluster_stage.run(conn, CONFIG)
    assert dict(conn.execute("SELECT cluster_id, merged_into FROM cluster_merges").fetchall()) == {
        third: first,
        second: first,
    }
    assert {_story_of(conn, i) for i in range(1, 6)} == {first}


def test_a_rebuild_starts_the_redirects_over_and_reaches_the_same_stories(conn):
    east, west = np.eye(DIM)[0], np.eye(DIM)[1]
    with store.transaction(conn):
        _add(conn, 1, east, hours=240)
        _add(conn, 2, west, hours=241)
    cluster_stage.run(conn, CONFIG)
    with store.transaction(conn):
        _add(conn, 3, east + west, hours=242)
    cluster_stage.run(conn, CONFIG)
    before = {_story_of(conn, i) for i in (1, 2, 3)}
    assert len(before) == 1
    cluster_stage.run(conn, CONFIG, rebuild=True)
    # In one run, in canonical order, the third article merges the first two stories again.
    after = {_story_of(conn, i) for i in (1, 2, 3)}
    assert len(after) == 1
    merges = conn.execute("SELECT cluster_id, merged_into FROM cluster_merges").fetchall()
    assert [row[1] for row in merges] == list(after)
    assert conn.execute("SELECT count(*) FROM language_means").fetchone()[0] == 1


def test_a_chain_of_likeness_does_not_make_one_story(conn):
    """A like B, B like C, C unlike A: C is the same event as only one of the story's two
    articles, so it starts a story of its own (single-link chains glued topics together)."""
    a, c = np.eye(DIM)[0], np.eye(DIM)[1]
    with store.transaction(conn):
        _add(conn, 1, a, hours=240)
        _add(conn, 2, a + c, hours=241)
        _add(conn, 3, c, hours=242)
    cluster_stage.run(conn, CONFIG)
    assert _story_of(conn, 1) == _story_of(conn, 2) != _story_of(conn, 3)
    # Like both of them, a fourth joins.
    with store.transaction(conn):
        _add(conn, 4, 2 * a + c, hours=243)
    cluster_stage.run(conn, CONFIG)
    assert _story_of(conn, 4) == _story_of(conn, 1)


@pytest.mark.parametrize("damage", ["short", "nan", "first-row-short"])
def test_a_damaged_vector_does_not_stop_the_run(conn, damage):
    """A vector of the wrong size or with a NaN (a damaged row) counts as no vector: that
    article gets a story of its own, every other article is clustered as usual."""
    east = np.eye(DIM)[0]
    with store.transaction(conn):
        _add(conn, 1, east, hours=240)
        _add(conn, 2, east + 0.1 * np.eye(DIM)[1], hours=241)
        _add(conn, 3, east, hours=242 if damage != "first-row-short" else 1)
        bad = {
            "short": to_blob(east[:10]),
            "first-row-short": to_blob(east[:10]),
            "nan": to_blob(np.full(DIM, np.nan)),
        }[damage]
        conn.execute("UPDATE embeddings SET vector = ? WHERE article_id = 3", (bad,))
    report = cluster_stage.run(conn, CONFIG)
    assert report.skipped == 0
    assert _story_of(conn, 1) == _story_of(conn, 2)
    assert _story_of(conn, 3) not in (None, _story_of(conn, 1))
    assert conn.execute("SELECT count(*) FROM articles WHERE cluster_id IS NULL").fetchone()[0] == 0
