"""Stories as events on the published site: merged stories redirect to the surviving one, and
versions of one article (article_versions) are shown together on the story page.

The database is the publishing sample (tests/test_publish_sample) plus cluster_merges and
article_versions rows written with SQL, served by the real Datasette app through its client.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from datasette.app import Datasette

from aggregator import store
from aggregator.publish.serve import make_datasette
from tests import test_publish_sample as sample
from tests.test_publish import get, page, visible

MERGED_AT = "2026-11-24T06:10:00Z"
# Story ids 10 and 11 are gone: 10 was merged into 2, then 11 into 10 (a chain of two).
# 20 and 21 were (wrongly) merged into each other; 30 into 31, which never existed.
MERGES = [(10, 2), (11, 10), (20, 21), (21, 20), (30, 31)]
# Sample article ids (in the order of sample.ARTICLES): story 1 is 1-7 (ja 1, en 2, fr 3, de 4,
# ru 5, ar 6, ja 7), story 2 is 8-10 (fr, de, es), story 4 is 12-13 (the hostile en row, fr).
VERSIONS = [  # article_id, version_of_id, kind, score
    (7, 1, "copy", 0.91),  # NHK's second ja article: a rewrite of its first
    (5, 3, "translation", 0.62),  # ru and ar translations of the fr article
    (6, 3, "translation", 0.55),
    (9, 8, "translation", 0.8),  # story 2 is one dispatch in three languages
    (10, 8, "translation", 0.7),
    (13, 12, "translation", 0.5),  # a translation of the hostile row
]
TOO_BIG = "9223372036854775808"  # 2**63: beyond SQLite's integers


@pytest.fixture(scope="module")
def events_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = sample.build(tmp_path_factory.mktemp("events") / "news.db")
    conn = store.connect(path)
    with store.transaction(conn):
        conn.executemany(
            "INSERT INTO cluster_merges VALUES (?, ?, ?)",
            [(old, into, MERGED_AT) for old, into in MERGES],
        )
        conn.executemany("INSERT INTO article_versions VALUES (?, ?, ?, ?)", VERSIONS)
    conn.close()
    return path


@pytest.fixture(scope="module")
def ds(events_db: Path) -> Datasette:
    return make_datasette(events_db)


def redirect(ds: Datasette, path: str) -> str:
    response = get(ds, path)
    assert response.status_code in (301, 302), (path, response.status_code)
    return response.headers["location"]


# --- Merged stories redirect ----------------------------------------------------------------


def test_merged_story_page_redirects_to_the_surviving_story(ds):
    assert redirect(ds, "/-/story/10") == "/-/story/2"
    assert "Parliament adopts pension reform" in visible(page(ds, redirect(ds, "/-/story/10")))


def test_a_chain_of_merges_is_followed_to_its_end(ds):
    assert redirect(ds, "/-/story/11") == "/-/story/2"


def test_merged_story_json_redirects_with_its_parameters(ds):
    location = redirect(ds, "/news/story_articles.json?id=11&_shape=array")
    assert location == "/news/story_articles.json?id=2&_shape=array"
    rows = get(ds, location).json()
    assert [row["outlet"] for row in rows] == ["Le Monde", "Der Spiegel", "El País"]
    assert redirect(ds, "/news/story_articles?id=10") == "/news/story_articles?id=2"
    assert redirect(ds, "/news/story_blindspots.json?id=11") == "/news/story_blindspots.json?id=2"


def test_merged_story_row_pages_redirect(ds):
    assert redirect(ds, "/news/clusters/10") == "/news/clusters/2"
    assert redirect(ds, "/news/clusters/11.json?_shape=objects") == (
        "/news/clusters/2.json?_shape=objects"
    )
    assert get(ds, "/news/clusters/2.json").json()["primary_key_values"] == ["2"]


def test_live_stories_are_served_and_other_ids_are_404(ds):
    for path in ("/-/story/2", "/news/clusters/2", "/news/story_articles.json?id=2"):
        assert get(ds, path).status_code == 200, path
    # 999 never existed; 20 and 21 form a cycle; 30 ends at a story that never existed; the
    # last two are beyond SQLite's integers.
    for story in ("999", "20", "21", "30", TOO_BIG, "99999999999999999999999"):
        assert get(ds, f"/-/story/{story}").status_code == 404, story
        assert get(ds, f"/news/clusters/{story}").status_code == 404, story
        assert get(ds, f"/news/clusters/{story}.json").status_code == 404, story
        response = get(ds, f"/news/story_articles.json?id={story}")
        assert response.status_code == 200 and response.json()["rows"] == [], story


def test_merges_table_links_to_the_story_pages(ds):
    markup = page(ds, "/news/cluster_merges?cluster_id=11")
    assert '<a href="/-/story/10">story 10</a>' in markup  # which redirects to story 2


# --- Versions of one article ----------------------------------------------------------------


def versions_block(markup: str, line: str) -> str:
    """The markup of the group of versions whose line reads `line`."""
    for match in re.finditer(r'class="versions-line"[^>]*>(.*?)</p>', markup, re.S):
        if visible(match.group(1)).strip() == line:
            start = markup.rindex("<section", 0, match.start())
            return markup[start : markup.index("</section>", start)]
    raise AssertionError(f"no versions line {line!r}")


def cards(block: str) -> list[tuple[str, str]]:
    """(outlet, role) of each card in `block`, role '' when unmarked."""
    found = []
    for card in re.findall(r'<article class="card">(.*?)</article>', block, re.S):
        outlet = re.search(r'<strong class="outlet">(.*?)</strong>', card).group(1)
        role = re.search(r'class="version-role[^"]*"[^>]*>(.*?)</span>', card)
        found.append((outlet, role.group(1) if role else ""))
    return found


def test_story_page_shows_one_dispatch_in_three_languages(ds):
    markup = page(ds, "/-/story/2")
    assert "3 versions of one dispatch: fr, de, es" in visible(markup)
    assert cards(versions_block(markup, "3 versions of one dispatch: fr, de, es")) == [
        ("Le Monde", "original"),
        ("Der Spiegel", "translation of the original"),
        ("El País", "translation of the original"),
    ]
    assert 'title="keyword coverage 80%"' in markup
    # A story without versions keeps its plain cards.
    markup = page(ds, "/-/story/5")
    assert "versions of one dispatch" not in markup and "version-role" not in markup


def test_story_page_groups_versions_apart_from_independent_coverage(ds):
    markup = page(ds, "/-/story/1")
    text = visible(markup)
    assert "7 articles, side by side" in text
    assert cards(versions_block(markup, "2 versions of one dispatch: ja")) == [
        ("NHK News", "original"),
        ("NHK News", "copy of the original"),
    ]
    translations = versions_block(markup, "3 versions of one dispatch: fr, ru, ar")
    assert cards(translations) == [
        ("Le Monde", "original"),
        ("RIA Novosti", "translation of the original"),
        ("Al Jazeera", "translation of the original"),
    ]
    assert 'lang="ar" dir="rtl">زلزال قوي يضرب طوكيو' in translations
    # BBC and Spiegel wrote their own articles: unmarked cards outside any group.
    assert ("BBC News", "") in cards(markup) and ("Der Spiegel", "") in cards(markup)
    assert len(cards(markup)) == 7
    # A group sits where its original appeared: the ja pair first, the fr group after BBC.
    members = text[text.index("articles, side by side") :]
    assert members.index("2 versions of one dispatch: ja") < members.index("BBC News")
    assert members.index("BBC News") < members.index("3 versions of one dispatch")


def test_versions_of_hostile_text_stay_escaped(ds):
    markup = page(ds, "/-/story/4")
    assert "2 versions of one dispatch: en, fr" in visible(markup)
    assert "<script>window.__xss" not in markup
    assert "&lt;script&gt;window.__xss" in markup
    assert 'href="javascript:' not in markup


def test_story_json_names_each_versions_original(ds):
    rows = get(ds, "/news/story_articles.json?id=2&_shape=array").json()
    assert [(r["article"], r["version_of"], r["version_kind"]) for r in rows] == [
        (8, None, None),
        (9, 8, "translation"),
        (10, 8, "translation"),
    ]


# --- Metadata -------------------------------------------------------------------------------


def test_new_public_tables_are_described_and_language_means_is_hidden(ds):
    tables = {t["name"]: t for t in get(ds, "/news.json").json()["tables"]}
    assert not tables["article_versions"]["hidden"]
    assert not tables["cluster_merges"]["hidden"]
    assert tables["language_means"]["hidden"]
    markup = page(ds, "/news/article_versions")
    assert "translation (another language) or copy" in markup
    assert "the merged story's former id" in visible(page(ds, "/news/cluster_merges"))
