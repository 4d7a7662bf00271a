"""`aggregator demo` end to end: the real pipeline on the team's sample feeds, offline.

The sample feeds come with gold labels (aggregator/demo/stories.yaml), so this also measures
the clustering on a dozen stories covered in up to eight languages, most of them untranslated.
"""

import asyncio
import json
import re
import sqlite3
from pathlib import Path

import pytest
from markupsafe import escape

from aggregator.demo import clustered_items, gold_stories
from aggregator.publish.serve import make_datasette
from tests.clirun import run_cli
from tests.cluster_scoring import pairwise_scores

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    result = run_cli("demo", "--no-serve", "--db", str(db), timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "stories covered in more than one language" in result.stdout
    # The biggest stories with their languages named, not as the stored JSON list (["ja", ...]).
    assert re.search(r"^  .+: \d+ articles in [A-Z][a-z]+, [A-Z]", result.stdout, re.M)
    assert '["' not in result.stdout, result.stdout
    assert result.stdout.rstrip().endswith(f"browse it with: aggregator serve --db {db}")
    return db


def test_every_sample_item_is_polled_translated_or_explained_and_clustered(demo_db):
    conn = sqlite3.connect(demo_db)
    gold = gold_stories()
    assert set(clustered_items(conn)) == set(gold)
    assert conn.execute("SELECT count(*) FROM fetches WHERE error IS NOT NULL").fetchone()[0] == 0
    backends = dict(
        conn.execute("SELECT language, min(translation_backend) FROM articles GROUP BY language")
    )
    assert backends["en"] == "copy"
    for language in ("fr", "es", "pt", "it", "ca"):
        assert backends[language] == "apertium", language
    assert backends["ja"] == "none:no-model-for-ja"
    untranslated_with_text = conn.execute(
        "SELECT count(*) FROM articles WHERE translation_backend LIKE 'none:%' "
        "AND (title_en IS NOT NULL OR summary_en IS NOT NULL)"
    ).fetchone()[0]
    assert untranslated_with_text == 0
    assert conn.execute("SELECT count(*) FROM articles WHERE cluster_id IS NULL").fetchone()[0] == 0
    script = conn.execute(
        "SELECT count(*) FROM articles WHERE summary LIKE '%<script%' "
        "OR summary_html LIKE '%<script%' OR summary_html LIKE '%onerror%'"
    ).fetchone()[0]
    assert script == 0


def test_clusters_match_the_gold_stories(demo_db):
    conn = sqlite3.connect(demo_db)
    gold = gold_stories()
    found = clustered_items(conn)
    keys = sorted(gold)
    result = pairwise_scores(
        {i: found[k] for i, k in enumerate(keys)}, {i: gold[k] for i, k in enumerate(keys)}
    )
    print({name: round(value, 3) for name, value in result.items()})
    # Measured 2026-11-24: precision 1.0, recall 0.970 (nine languages without translation).
    assert result["precision"] >= 0.95
    assert result["recall"] >= 0.9


def test_cluster_summaries_agree_with_their_articles(demo_db):
    conn = sqlite3.connect(demo_db)
    mismatched = conn.execute(
        """SELECT c.id FROM clusters c
           JOIN (SELECT cluster_id, count(*) AS n, count(DISTINCT language) AS langs
                 FROM articles GROUP BY cluster_id) a ON a.cluster_id = c.id
           WHERE c.article_count != a.n OR c.language_count != a.langs"""
    ).fetchall()
    assert mismatched == []
    quake = conn.execute(
        "SELECT c.first_language, c.language_count FROM clusters c JOIN articles a "
        "ON a.cluster_id = c.id WHERE a.guid = 'gdt-20261121-terremoto-calabria-almeno-27-morti'"
    ).fetchone()
    assert quake == ("it", 8)


def test_headlines_prefer_english_originals_over_machine_translations(demo_db):
    conn = sqlite3.connect(demo_db)
    rows = conn.execute(
        """SELECT c.id, c.headline_en, json_group_array(a.title) AS originals FROM clusters c
           JOIN articles a ON a.cluster_id = c.id AND a.language = 'en'
           WHERE c.language_count > 1 GROUP BY c.id"""
    ).fetchall()
    assert len(rows) >= 10
    for cluster_id, headline, originals in rows:
        assert headline in json.loads(originals), (cluster_id, headline)


def test_running_the_demo_again_adds_nothing_and_keeps_cluster_ids(demo_db):
    conn = sqlite3.connect(demo_db)
    before = conn.execute("SELECT id, cluster_id FROM articles ORDER BY id").fetchall()
    clusters_before = conn.execute("SELECT count(*) FROM clusters").fetchone()[0]
    conn.close()
    result = run_cli("demo", "--no-serve", "--db", str(demo_db), timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "new articles 0" in result.stdout
    conn = sqlite3.connect(demo_db)
    assert conn.execute("SELECT id, cluster_id FROM articles ORDER BY id").fetchall() == before
    assert conn.execute("SELECT count(*) FROM clusters").fetchone()[0] == clusters_before


def test_the_served_demo_has_no_dead_links(demo_db):
    # Issue 13 §4: every "Read at … ↗" pointed at the loopback server of the build.
    ds = make_datasette(demo_db)
    conn = sqlite3.connect(demo_db)
    stories = [row[0] for row in conn.execute("SELECT id FROM clusters")]
    conn.close()
    paths = [f"/-/story/{story}" for story in stories] + [
        "/",
        "/-/find?q=earthquake",
        "/demo/articles?_size=max",
        "/demo/feeds",
        "/demo/articles_by_outlet?_size=max",
        "/demo/feed_health",
    ]
    unavailable = 0
    for path in paths:
        response = asyncio.run(ds.client.get(path))
        assert response.status_code == 200, path
        # (Datasette's own links say http://localhost/: the test client's host, no port.)
        assert not re.search(r'href="https?://(127\.|localhost:|\[::1\])', response.text), path
        unavailable += response.text.count("no page to read: sample article")
    assert unavailable == len(gold_stories())  # every sample article's card says so


def test_the_home_page_shows_the_biggest_demo_stories_and_says_they_are_old(demo_db):
    # Issue 13 §7: the home page showed the 24 hours before the newest story, which left out the
    # three demo stories covered in 8 languages. Now it ranks the 72 hours up to the newest story
    # and says how old that is (the demo's sample dates are fixed, in November 2026).
    import feedparser

    from aggregator.timeutil import from_iso, utcnow

    conn = sqlite3.connect(demo_db)
    biggest = [row[0] for row in conn.execute("SELECT id FROM clusters WHERE language_count = 8")]
    newest = conn.execute("SELECT max(coalesce(published_at, fetched_at)) FROM articles").fetchone()
    conn.close()
    assert len(biggest) == 3
    ds = make_datasette(demo_db)
    markup = asyncio.run(ds.client.get("/")).text
    top = markup[markup.index('<ol class="story-list">') :]
    top = top[: top.index("</ol>")]
    for story in biggest:
        assert f'href="/-/story/{story}"' in top, story
    age = utcnow() - from_iso(newest[0])
    if age.days >= 1:
        assert f"Newest article {age.days} day{'s' if age.days != 1 else ''} ago" in markup
        assert "not from now" in markup
    feed = feedparser.parse(asyncio.run(ds.client.get("/-/top-stories.atom")).content)
    assert feed.bozo == 0
    links = {entry.link for entry in feed.entries}
    assert {f"http://localhost/-/story/{story}" for story in biggest} <= links


def test_earthquake_finds_the_story_by_meaning_in_languages_without_english(demo_db):
    # Issue 13 §13: "earthquake" found 3 of the 8 articles of the earthquake story, because the
    # others have no English text. By meaning (the stored multilingual vectors) it finds them.
    conn = sqlite3.connect(demo_db)
    gold = gold_stories()
    quake = {
        article: (language, title, title_en)
        for article, feed_url, guid, language, title, title_en in conn.execute(
            "SELECT a.id, f.url, a.guid, a.language, a.title, a.title_en "
            "FROM articles a JOIN feeds f ON f.id = a.feed_id"
        )
        if gold.get((feed_url.rsplit("/", 1)[1], guid)) == "quake-calabria"
    }
    conn.close()
    untranslated = {article for article, (_, _, title_en) in quake.items() if not title_en}
    assert {quake[a][0] for a in untranslated} >= {"de", "ru", "pl", "ar"}
    ds = make_datasette(demo_db)
    found = asyncio.run(ds.client.get("/-/find.json?q=earthquake")).json()["matches"]
    assert untranslated <= {row["article"] for row in found}
    # Story by story: the quake's reports come first, before a storm report that scores above
    # its Arabic and Polish ones (the second walkthrough of issue 13 found it between them).
    ranks = [row["article"] in quake for row in found]
    assert ranks == sorted(ranks, reverse=True), [(r["title"], r["score"]) for r in found]
    markup = asyncio.run(ds.client.get("/-/find?q=earthquake")).text
    meaning = markup[markup.index('id="meaning-title"') :]
    for article in untranslated:
        title = str(escape(quake[article][1]))
        card = meaning[: meaning.index(title)].rsplit('<li class="result by-meaning">', 1)[1]
        assert 'class="meaning-mark"' in card and "matched by meaning" in card, title
    for irrelevant in ("chocolate cake recipe", "zzzz qqq"):
        rows = asyncio.run(ds.client.get(f"/-/find.json?q={irrelevant}")).json()["matches"]
        assert not {row["article"] for row in rows} & set(quake), irrelevant
