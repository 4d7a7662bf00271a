"""The published site through Datasette's own test client: pages, canned queries, JSON, facets,
metadata, search and safety, on a real SQLite file written with SQL (tests/test_publish_sample)."""

from __future__ import annotations

import asyncio
import html
import json
import re
import socket
import sqlite3
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

import pytest
from datasette.app import Datasette
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import store
from aggregator.errors import UserError
from aggregator.publish import metadata, queries
from aggregator.publish.serve import make_datasette
from tests import test_publish_sample as sample


def get(ds: Datasette, path: str):
    return asyncio.run(ds.client.get(path))


def page(ds: Datasette, path: str) -> str:
    response = get(ds, path)
    assert response.status_code == 200, response.text[:500]
    return response.text


def visible(markup: str) -> str:
    """Text as a reader sees it: tags removed, entities decoded, spaces collapsed."""
    markup = re.sub(r"</?bdi>", "", markup)  # inline isolation, not a word break
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", markup, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text)))


def edited_sample(path: Path, *updates: str) -> Path:
    """The publish sample built at `path`, then changed by these SQL statements."""
    sample.build(path)
    conn = store.connect(path)
    for update in updates:
        conn.execute(update)
    conn.close()
    return path


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample.build(tmp_path_factory.mktemp("publish") / "news.db")


@pytest.fixture(scope="module")
def ds(sample_db: Path) -> Datasette:
    return make_datasette(sample_db)


# --- Home page ------------------------------------------------------------------------------


def test_home_leads_with_stories_by_language_count(ds):
    text = visible(page(ds, "/"))
    order = [
        text.index(headline)
        for headline in (
            "Strong earthquake in Tokyo",
            "Parliament adopts pension reform",
            '<script>window.__xss = "title"</script>Rally',
            "La Liga: Betis wins the derby",
        )
    ]
    assert order == sorted(order)
    assert "6 languages · 6 outlets · 7 articles · first seen" in text
    assert "(NHK News)" in text
    assert "last update" in text


def test_home_shows_language_and_country_badges(ds):
    markup = page(ds, "/")
    start = markup.rindex("<li", 0, markup.index("Strong earthquake in Tokyo"))
    first_story = markup[start : markup.index("</li>", start)]
    assert re.findall(r'class="badge lang[^"]*"[^>]*>(\w+)<', first_story) == [
        "ja",
        "en",
        "fr",
        "de",
        "ru",
        "ar",
    ]
    assert re.findall(r'class="badge country"[^>]*data-code="(\w+)"', first_story) == [
        "JP",
        "GB",
        "FR",
        "DE",
        "RU",
        "QA",
    ]
    assert 'class="badge lang first" role="img" title="Japanese, carried it first"' in first_story
    assert 'href="/-/story/1"' in first_story


def test_home_draws_coverage_per_language_as_svg(ds):
    markup = page(ds, "/")
    start = markup.index('aria-label="Articles per language and day"')
    svg = markup[start : markup.index("</svg>", start)]
    for name in ("French (fr)", "Japanese (ja)", "Arabic (ar)", "Russian (ru)"):
        assert name in svg
    # The sample's times are relative to now, so its 3 French articles fall on one or two days.
    french = re.findall(r"French \(fr\), [\d-]+: (\d+) articles?</title>", svg)
    assert french and sum(map(int, french)) == 3
    assert "15 articles in 7 languages" in visible(markup)
    assert "<script" not in svg and "http" not in svg.replace("http://www.w3.org/2000/svg", "")


def test_home_links_every_canned_query_and_its_json(ds):
    markup = page(ds, "/")
    for name in ("stories", "first_movers", "blindspots", "feed_health", "translation_coverage"):
        assert f'href="/news/{name}' in markup
    assert 'href="/news/top_stories.json?hours=72&amp;limit=30"' in markup


def test_home_on_an_empty_database(tmp_path):
    store.connect(tmp_path / "empty.db").close()
    text = visible(page(make_datasette(tmp_path / "empty.db"), "/"))
    assert "No stories yet" in text
    assert "0 articles in 0 languages" in text


# --- Story page -----------------------------------------------------------------------------


def test_story_page_shows_pickup_order_with_delays(ds):
    text = visible(page(ds, "/-/story/1"))
    assert "Strong earthquake in Tokyo" in text
    pickup = text[text.index("Who picked it up") : text.index("articles, side by side")]
    steps = re.findall(
        r"\b(ja|en|fr|de|ru|ar) (first at \d\d:\d\d|\+\d+ (?:h \d+ min|h|min))", pickup
    )
    assert steps == [
        ("ja", steps[0][1]),
        ("en", "+1 h"),
        ("fr", "+2 h"),
        ("de", "+2 h 10 min"),
        ("ru", "+5 h"),
        ("ar", "+6 h"),
    ]
    assert steps[0][1].startswith("first at")
    assert "NHK News" in pickup and "Al Jazeera" in pickup and "2 articles" in pickup


def test_story_page_shows_every_article_side_by_side(ds):
    markup = page(ds, "/-/story/1")
    text = visible(markup)
    assert "7 articles, side by side" in text
    for original in (
        "東京で強い地震",
        "Fort séisme à Tokyo",
        "Сильное землетрясение в Токио",
        "زلزال قوي يضرب طوكيو",
        "Starkes Erdbeben erschüttert Tokio",
    ):
        assert original in text
    # The English title is marked in words, not "EN" (read as a country code by the walkthrough).
    assert "in English: Strong earthquake shakes Tokyo" in text
    css = (Path(metadata.__file__).parent / "static" / "aggregator.css").read_text()
    assert 'content: "EN' not in css
    assert "machine translation: argos de-en 1.9" in text
    assert "English original" in text
    assert "no English translation (no model for ja)" in text
    assert "Summary of: 地震の被害状況" in text  # with no English, the original summary shows
    assert 'dir="rtl"' in markup and 'lang="ar"' in markup
    assert markup.count('class="source" href="https://news.example/') == 7
    assert "Read at Le Monde" in text


def test_story_page_timeline_has_one_lane_per_language(ds):
    markup = page(ds, "/-/story/1")
    svg = markup[markup.index('aria-label="When each language covered the story"') :]
    svg = svg[: svg.index("</svg>")]
    assert svg.count("<circle") == 7
    lanes = re.findall(r">(\w+) \((\w\w)\)</text>", svg)
    assert [code for _, code in lanes] == ["ja", "en", "fr", "de", "ru", "ar"]
    assert ">first</text>" in svg and ">+5 h</text>" in svg


def test_story_page_links_its_data(ds):
    markup = page(ds, "/-/story/2")
    assert 'href="/news/story_articles.json?id=2"' in markup
    assert 'href="/news/clusters/2"' in markup


def blindspot_section(ds: Datasette, path: str) -> str:
    markup = page(ds, path)
    start = markup.index('<section class="blindspots"')
    return markup[start : markup.index("</section>", start)]


def test_story_page_names_the_followed_languages_that_did_not_cover_it(ds, sample_db, tmp_path):
    # Issue 13 §9. Story 1 (ja en fr de ru ar): El País published twice while it was news.
    section = blindspot_section(ds, "/-/story/1")
    assert re.findall(r'class="badge lang missing"[^>]*>(\w+)<', section) == ["es"]
    assert "Spanish · 2 other articles from 1 outlet in that time" in visible(section)
    # Story 2 (fr de es): four languages published in its window, most articles first.
    section = blindspot_section(ds, "/-/story/2")
    assert re.findall(r'class="badge lang missing"[^>]*>(\w+)<', section) == [
        "ar",
        "en",
        "ja",
        "ru",
    ]
    assert [r["language"] for r in rows(ds, "/news/story_blindspots?id=2")] == [
        "ar",
        "en",
        "ja",
        "ru",
    ]
    assert 'href="/news/story_blindspots.json?id=2"' in page(ds, "/-/story/2")
    # Story 5 (de en, 30 Nov): no other language published until a day after its last article.
    assert "No blindspot: every language" in visible(blindspot_section(ds, "/-/story/5"))
    # A feed removed from feeds.yaml (active = 0) is no longer followed.
    copy = tmp_path / "news.db"
    copy.write_bytes(sample_db.read_bytes())
    conn = sqlite3.connect(copy)
    conn.execute("UPDATE feeds SET active = 0 WHERE name = 'El País'")
    conn.commit()
    conn.close()
    section = blindspot_section(make_datasette(copy), "/-/story/1")
    assert "missing" not in section and "No blindspot" in visible(section)


def test_unknown_story_is_404(ds):
    assert get(ds, "/-/story/999").status_code == 404
    # Said as such, not Datasette's "Database not found" (the third walkthrough).
    for path in ("/-/story/abc", "/-/story/1x", "/-/story/-1"):
        response = get(ds, path)
        assert response.status_code == 404 and "Stories are numbered" in response.text, path
    assert "No story 999" in get(ds, "/-/story/999").text


def test_home_links_every_table_it_names(ds):
    # The third walkthrough: "All tables: feeds, articles, stories, fetches" named a table
    # that does not exist (stories) and linked none of them.
    markup = page(ds, "/")
    line = markup[markup.index(">All tables</a>") :].split("</li>")[0]
    for table in ("clusters", "articles", "feeds", "fetches"):
        assert f'<a href="/news/{table}">{table}</a>' in line
        assert get(ds, f"/news/{table}").status_code == 200
    assert ">stories<" not in line


def test_an_original_headline_is_labelled_with_its_own_language(tmp_path):
    # Issue 13 §2: the headline was labelled with the story's first language (here ja).
    ds = make_datasette(
        edited_sample(
            tmp_path / "headline.db",
            "UPDATE clusters SET headline_en = NULL,"
            " headline = 'زلزال قوي يضرب طوكيو' WHERE id = 1",
            "UPDATE clusters SET headline_en = NULL, headline = 'Edited by hand' WHERE id = 2",
        )
    )
    for markup in (page(ds, "/"), page(ds, "/-/story/1")):
        assert re.search(r'lang="ar" dir="rtl">زلزال قوي يضرب طوكيو</(a|h1)>', markup)
        assert "Arabic headline, no English translation" in visible(markup)
        assert "Japanese headline" not in visible(markup)
    # A headline no article has (edited by hand): no language claimed for it.
    assert "Original headline, no English translation" in visible(page(ds, "/-/story/2"))
    assert re.search(r'lang="" dir="auto">Edited by hand</h1>', page(ds, "/-/story/2"))
    hits = page(ds, "/-/find?q=Tokyo")
    assert re.search(r'lang="ar" dir="rtl">زلزال قوي يضرب طوكيو</a>', hits)
    assert rows(ds, "/headline/stories?languages=1&limit=1")[0]["headline_language"] == "ar"


def test_english_headlines_are_marked_english(ds):
    for markup in (page(ds, "/"), page(ds, "/-/story/1")):
        assert re.search(r'lang="en" dir="ltr">Strong earthquake in Tokyo</(a|h1)>', markup)
    assert re.search(
        r'lang="en" dir="ltr">Strong earthquake in Tokyo</a>', page(ds, "/-/find?q=Tokyo")
    )
    # A search result's English title is marked in words, as on the cards (third walkthrough),
    # and an English original is not repeated as its own translation.
    found = visible(page(ds, "/-/find?q=Tokyo"))
    assert "in English: Strong earthquake in Tokyo" in found
    assert "Strong earthquake hits Tokyo in English: Strong earthquake hits Tokyo" not in found


class Isolation(HTMLParser):
    """Every visible text node, and the text of every element that isolates its content for
    the bidi algorithm (<bdi>, or any element with dir=)."""

    VOID = {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool, list[str]]] = []
        self.texts: list[str] = []
        self.isolated: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in self.VOID:
            isolating = tag == "bdi" or any(name == "dir" for name, _ in attrs)
            self.stack.append((tag, isolating, []))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            name, isolating, parts = self.stack.pop()
            if isolating:
                self.isolated.append("".join(parts).strip())
            if self.stack:
                self.stack[-1][2].append("".join(parts))
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        if any(name in ("title", "script", "style") for name, _, _ in self.stack):
            return  # tooltips and the window title are not laid out in the text
        if self.stack:
            self.stack[-1][2].append(data)
        self.texts.append(data)


def test_every_piece_of_feed_text_is_isolated(tmp_path):
    # Issue 13 §3: an Arabic outlet name followed by a date read in the wrong order.
    path = sample.build(tmp_path / "bidi.db")
    conn = store.connect(path)
    conn.execute("UPDATE feeds SET name = 'الجزيرة نت' WHERE id = 6")
    conn.execute("UPDATE feeds SET name = 'NHK ニュース 24' WHERE id = 1")
    conn.execute(
        "UPDATE clusters SET headline_en = NULL, headline = 'زلزال قوي يضرب طوكيو' WHERE id = 1"
    )
    texts = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM feeds UNION SELECT title FROM "
            "articles UNION SELECT title_en FROM articles"
        )
    ]
    conn.close()
    ds = make_datasette(path)
    checked = 0
    for path_ in ("/", "/-/story/1", "/-/story/2", "/-/find?q=Tokyo", "/-/find?q=reform"):
        parser = Isolation()
        parser.feed(page(ds, path_))
        shown = "".join(parser.texts)
        for text in filter(None, texts):
            occurrences = shown.count(text)
            # Every time the page shows it, it is inside an isolating element (its own, or a
            # summary's that quotes it), never loose in a line of other text.
            inside = sum(isolated.count(text) for isolated in parser.isolated)
            assert inside >= occurrences, (path_, text, occurrences, inside)
            checked += occurrences
    assert checked > 50
    markup = page(ds, "/-/story/1")
    assert '<bdi><strong class="outlet">الجزيرة نت</strong></bdi>' in markup
    assert "<bdi>الجزيرة نت</bdi> ·" in markup  # the pickup line: name, then its time


# --- Nothing from a feed runs in the reader's browser ---------------------------------------


def test_story_text_from_feeds_is_escaped(ds):
    markup = page(ds, "/-/story/4")
    assert "<script>window.__xss" not in markup
    assert "&lt;script&gt;window.__xss" in markup
    assert "<b>downtown</b>" not in markup
    assert "javascript:" not in markup


def test_stored_summary_html_is_sanitised_again_on_display(ds):
    markup = page(ds, "/news/articles?_search=demonstration&_sort=id")  # not the hostile row
    assert "Demonstration downtown" in markup
    markup = page(ds, "/news/articles?summary_html__notblank=1")
    cell = re.search(r'<td class="col-summary_html[^"]*"[^>]*>(.*?)</td>', markup, re.S).group(1)
    assert "<p>Crowds</p>" in cell
    assert "onerror" not in cell and "<script" not in cell and "<img" not in cell


def test_every_page_and_query_escapes_the_hostile_row(ds):
    for path in (
        "/",
        "/-/find?q=rally",
        "/news/clusters",
        "/news/articles_by_outlet",
        "/news/stories?languages=1",
        "/news/search?q=rally",
        "/news/articles/12",
    ):
        markup = page(ds, path)
        assert "<script>window.__xss" not in markup, path
        assert 'href="javascript:' not in markup, path


def test_loopback_links_are_shown_as_unavailable_never_linked(tmp_path):
    # Issue 13 §4: every "Read at … ↗" of the demo pointed at its build-time loopback server.
    demo = make_datasette(
        edited_sample(
            tmp_path / "demo.db",
            "UPDATE articles SET url = 'http://127.0.0.1:8765/articles/a-' || id || '.html',"
            " summary_html = '<p>See <a href=\"http://127.0.0.1:8765/x.html\">this</a></p>'",
            "UPDATE feeds SET url = 'http://localhost:8765/f' || id || '.xml', "
            "homepage = 'http://[::1]:8765/'",
        )
    )
    story = page(demo, "/-/story/1")
    assert "Read at" not in story
    assert visible(story).count("no page to read: sample article") == 7
    for path_ in (
        "/-/story/1",
        "/-/find?q=Tokyo",
        "/demo/articles",
        "/demo/articles/3",
        "/demo/feeds",
        "/demo/articles_by_outlet",
        "/demo/story_articles?id=1",
        "/demo/search?q=Tokyo",
        "/demo/feed_health",
    ):
        markup = page(demo, path_)
        # (Datasette's own links say http://localhost/: the test client's host, no port.)
        assert not re.search(r'href="https?://(127\.|localhost:|\[::1\])', markup), path_
    assert "(no page to open)" in page(demo, "/demo/articles/3")
    assert "Read at Le Monde" in visible(
        page(make_datasette(sample.build(tmp_path / "n.db")), "/-/story/1")
    )  # real links stay links


# --- Search ---------------------------------------------------------------------------------


def test_search_english_with_stemming(ds):
    text = visible(page(ds, "/-/find?q=earthquakes"))
    assert "6 articles for “earthquakes”" in text
    assert "Story: Strong earthquake in Tokyo" in text


def test_search_original_text_in_other_scripts(ds):
    assert "Сильное землетрясение в Токио" in visible(page(ds, "/-/find?q=землетрясение"))
    assert "زلزال قوي يضرب طوكيو" in visible(page(ds, "/-/find?q=طوكيو"))
    # Two-character words are below the trigram index's reach: found by the scan.
    text = visible(page(ds, "/-/find?q=地震"))
    assert "東京で強い地震" in text and "地震の被害状況" in text
    assert "2 articles" in text


def test_search_requires_every_word(ds):
    assert "Nothing found" in visible(page(ds, "/-/find?q=earthquake+pension"))
    assert "1 article for" in visible(page(ds, "/-/find?q=pension+approves"))


@pytest.mark.parametrize("q", ["AND (", "title:x", "NEAR(x y)", "zz*", "' OR 1=1 --", ")"])
def test_search_treats_operators_as_text(ds, q):
    response = get(ds, "/-/find?q=" + q.replace(" ", "+"))
    assert response.status_code == 200
    assert "Nothing found" in visible(response.text)


def test_search_quotes_are_text_too(ds):
    # Only the hostile row has a double quote in its title.
    assert "1 article for" in visible(page(ds, '/-/find?q="title"'))


def test_search_page_without_query_shows_the_form(ds):
    markup = page(ds, "/-/find")
    assert 'name="q"' in markup and "Nothing found" not in markup


def test_search_json_api_matches_the_page(ds):
    data = get(ds, "/news/search.json?q=Tokyo&_shape=array").json()
    assert {row["outlet"] for row in data} >= {"BBC News", "Le Monde", "RIA Novosti"}
    assert all(row["story"] == 1 for row in data)


def test_datasette_table_search_uses_both_indexes(ds):
    english = get(ds, "/news/articles.json?_search=earthquakes&_shape=array").json()
    assert len(english) == 6
    original = get(ds, "/news/articles_by_outlet.json?_search=Erdbeben&_shape=array").json()
    assert [row["outlet"] for row in original] == ["Der Spiegel"]


def test_fts_stays_in_sync_with_articles(sample_db, tmp_path):
    path = sample.build(tmp_path / "sync.db")
    conn = store.connect(path)
    conn.execute("UPDATE articles SET title_en = 'Aftershocks rattle Tokyo' WHERE id = 7")
    conn.execute("UPDATE articles SET title = 'Nachbeben' WHERE id = 4")
    conn.execute("DELETE FROM articles WHERE id = 5")

    def hits(table: str, q: str) -> list[int]:
        sql = f"SELECT rowid FROM {table} WHERE {table} MATCH ? ORDER BY rowid"
        return [row[0] for row in conn.execute(sql, (q,))]

    assert hits("articles_fts", "aftershock") == [7]
    assert hits("articles_fts_original", "Nachbeben") == [4]
    assert hits("articles_fts_original", "title: Erdbeben") == []
    assert 5 not in hits("articles_fts", "earthquake")
    for table in ("articles_fts", "articles_fts_original"):
        conn.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)")
    conn.close()


# --- Canned queries -------------------------------------------------------------------------


def rows(ds: Datasette, path: str) -> list[dict]:
    base, _, query = path.partition("?")
    response = get(ds, f"{base}.json?{query}&_shape=array")
    assert response.status_code == 200, response.text[:300]
    return response.json()


def test_canned_query_pages_have_titles_and_descriptions(ds):
    for query in queries.CANNED:
        markup = page(ds, f"/news/{query.name}")
        assert html.escape(query.title, quote=False) in markup
        # Names in code type, not in backticks (the third walkthrough saw the Markdown).
        description = query.description.split(".")[0]
        assert metadata.code_spans(description) in markup
        if "`" in description:
            name = description.split("`")[1]
            assert f"<code>{html.escape(name, quote=False)}</code>" in markup, name
        assert "`" not in visible(markup[markup.index("<h1") : markup.index("<form")])
        # The browser tab too: the walkthrough found the start of the SQL there.
        title = re.search(r"<title>(.*?)</title>", markup, re.S)[1]
        assert title == html.escape(f"{query.title} · news", quote=False), title


def test_stories_in_at_least_n_languages(ds):
    assert [r["story"] for r in rows(ds, "/news/stories?languages=3&hours=24")] == [1, 2]
    assert [r["story"] for r in rows(ds, "/news/stories")] == [1, 2, 4]
    assert [r["story"] for r in rows(ds, "/news/stories?hours=48")] == [1, 2, 4, 5]
    assert [r["story"] for r in rows(ds, "/news/stories?languages=1&limit=4")] == [1, 2, 4, 3]
    html_page = page(ds, "/news/stories?languages=3")
    assert '<a href="/-/story/1">Strong earthquake in Tokyo</a>' in html_page


def test_first_movers(ds):
    result = rows(ds, "/news/first_movers?language=fr")
    assert [r["story"] for r in result] == [2]
    assert result[0]["followed_by"] == "de +45 min, es +3 h 20 min"
    assert result[0]["first_outlet"] == "Le Monde"
    assert rows(ds, "/news/first_movers?language=ja")[0]["followed_by"].startswith(
        "en +1 h, fr +2 h, de +2 h 10 min, ru +5 h, ar +6 h"
    )


def test_blindspots(ds):
    assert [r["story"] for r in rows(ds, "/news/blindspots?language=ru&min_languages=2")] == [
        2,
        4,
        5,
    ]
    assert [r["story"] for r in rows(ds, "/news/blindspots?language=fr&min_languages=2")] == [5]
    assert rows(ds, "/news/blindspots?language=fr&min_languages=2&days=1") == []
    assert [r["story"] for r in rows(ds, "/news/blindspots?language=es")] == [1]


def test_language_parameters_accept_any_case(ds):
    # Issue 13 §1: RU listed stories Russian did cover, FR found nothing.
    for query, code in (
        ("first_movers", "fr"),
        ("first_movers", "ja"),
        ("blindspots", "ru"),
        ("blindspots", "fr"),
    ):
        expected = rows(ds, f"/news/{query}?language={code}&min_languages=2")
        assert expected, (query, code)
        for variant in (code.upper(), code.title(), f"+{code.upper()}+"):
            assert rows(ds, f"/news/{query}?language={variant}&min_languages=2") == expected


def test_a_canned_query_without_rows_says_what_to_change(ds):
    markup = page(ds, "/news/first_movers?language=zz")
    assert 'class="empty-hint"' in markup
    assert "is an ISO 639-1 code such as fr, ru or ja (any case)" in visible(markup)
    assert "Lower min_languages or raise days" in visible(
        page(ds, "/news/blindspots?language=fr&min_languages=2&days=1")
    )
    assert 'class="empty-hint"' not in page(ds, "/news/first_movers?language=fr")
    for query in queries.CANNED:
        assert query.empty, query.name


def test_a_blank_box_without_a_default_asks_for_it(ds):
    # The third walkthrough of issue 13: a search with no words said "Nothing found", a day
    # page with no day "No story on that day".
    for query, name in (("search", "q"), ("day_stories", "day"), ("blindspots", "language")):
        markup = page(ds, f"/news/{query}")
        hint = re.search(r'<p class="empty-hint"[^>]*>(.*?)</p>', markup, re.S)[1]
        assert hint.startswith(f"To see results, fill in <code>{name}</code>: "), hint
        assert queries.PARAMETER_HINTS[name] in html.unescape(hint)
        assert "0 results" not in visible(markup)  # the hint says why; no bare count under it
    assert "Nothing found" in visible(page(ds, "/news/search?q=zzzqqq"))
    # Where Datasette shows a query's description as hover text (the database page): no
    # Markdown backticks either.
    titles = re.findall(r'<li><a href="/news/\w+" title="([^"]*)"', page(ds, "/news"))
    assert titles and not any("`" in title for title in titles), titles


def test_blindspots_without_a_language_list_none(ds):
    # The second walkthrough of issue 13: no language listed every story as a blindspot.
    assert rows(ds, "/news/blindspots?min_languages=1&days=30") == []
    assert rows(ds, "/news/blindspots?language=+&min_languages=1&days=30") == []
    assert "To see results, fill in language" in visible(page(ds, "/news/blindspots"))
    # Nor a code no article has (the third walkthrough: xx and french listed every story).
    for code in ("xx", "french", "EN GB"):
        assert rows(ds, f"/news/blindspots?language={code}&min_languages=1&days=30") == [], code
    assert rows(ds, "/news/blindspots?language=es&min_languages=1&days=30")


def test_a_number_box_with_something_else_says_so_and_returns_no_rows(ds):
    # The second walkthrough of issue 13: days=abc read as 0 days, silently no rows.
    markup = page(ds, "/news/blindspots?language=es&days=abc")
    assert "days must be a whole number, such as 3: “abc” is not one" in visible(markup)
    assert 'class="empty-hint"' not in markup
    assert rows(ds, "/news/blindspots?language=es&days=abc") == []
    # Spaces around a number are not a mistake.
    assert rows(ds, "/news/blindspots?language=es&days=+30+") == rows(
        ds, "/news/blindspots?language=es&days=30"
    )
    assert "must be a whole number" not in page(ds, "/news/blindspots?language=es&days=+3+")


INT_PARAMETERS = [
    (query.name, name, default)
    for query in queries.CANNED
    for name, default in queries.parameter_defaults(query.sql).items()
]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    parameter=st.sampled_from(INT_PARAMETERS),
    typed=st.text(
        st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00"),
        max_size=6,
    ),
)
def test_every_number_parameter_takes_only_whole_numbers(ds, parameter, typed):
    # The class of the days=abc bug: a number box of any canned query, given anything, answers
    # 200; what is not a whole number gives no rows and a line naming the box, never a reading
    # of the text as some number.
    query, name, default = parameter
    base = {"language": "es", "id": "1", "day": "2026-11-24"}
    url = f"/news/{query}?" + urlencode({**base, name: typed})
    whole = typed.strip(" ").isascii() and typed.strip(" ").isdigit()
    if typed.strip(" ") == "" or whole:
        return  # blank is the default; numbers are the queries' own tests
    response = get(ds, url)
    assert response.status_code == 200, response.text[:300]
    assert rows(ds, url) == [], (query, name, typed)
    assert f"{name} must be a whole number, such as {default}" in visible(response.text)


def test_feed_health_lists_failing_feeds_first(ds):
    result = rows(ds, "/news/feed_health")
    assert [r["name"] for r in result[:2]] == ["El País", "RIA Novosti"]
    assert result[0]["state"] == "dead" and result[0]["last_status"] == "DNS error"
    assert result[1]["state"] == "backoff" and result[1]["failures_7d"] == 1
    assert len(result) == len(sample.FEEDS)


def test_translation_coverage(ds):
    by_language = {r["language"]: r for r in rows(ds, "/news/translation_coverage")}
    assert by_language["ja"]["untranslated_pct"] == 50.0
    assert by_language["ja"]["why_missing"] == "no-model-for-ja"
    assert by_language["en"]["english_originals"] == 3
    assert by_language["es"]["machine_translated"] == 2
    assert by_language["es"]["models"] == "apertium spa-eng 1.4"
    assert next(iter(by_language)) == "ja"  # the worst-covered language leads


def test_story_articles_query(ds):
    result = rows(ds, "/news/story_articles?id=2")
    assert [r["outlet"] for r in result] == ["Le Monde", "Der Spiegel", "El País"]


# --- Tables, facets, metadata ---------------------------------------------------------------


def test_facets_on_articles(ds):
    data = get(
        ds,
        "/news/articles.json?_facet=language&_facet=translation_backend"
        "&_facet=feed_id&_facet_date=published_at",
    ).json()
    facets = data["facet_results"]
    languages = {f["value"]: f["count"] for f in facets["language"]["results"]}
    assert languages["fr"] == 3 and languages["ja"] == 2
    backends = {f["value"] for f in facets["translation_backend"]["results"]}
    assert backends == {"argos", "apertium", "copy", "none:no-model-for-ja"}
    feeds = {f["label"]: f["count"] for f in facets["feed_id"]["results"]}
    assert feeds["NHK News"] == 2  # the label column makes feed ids read as names
    assert sum(f["count"] for f in facets["published_at"]["results"]) == len(sample.ARTICLES)


def test_default_facets_and_country_facet(ds):
    data = get(ds, "/news/articles_by_outlet.json").json()
    countries = {f["value"]: f["count"] for f in data["facet_results"]["country"]["results"]}
    assert countries["JP"] == 2 and countries["ES"] == 2
    outlets = {f["value"]: f["count"] for f in data["facet_results"]["outlet"]["results"]}
    assert outlets["Le Monde"] == 3


def test_facet_lists_read_as_the_rest_of_the_site(tmp_path):
    # Issue 13 §3, §8, §12 in Datasette's facet lists: an Arabic outlet's name isolated so its
    # count stays on its right, outlets with their English names, codes as the site's badges.
    db = edited_sample(
        tmp_path / "news.db",
        "UPDATE feeds SET name = 'الجزيرة', name_en = 'Al Jazeera' WHERE id = 6",
        "UPDATE fetches SET error = NULL",
    )
    ds = make_datasette(db)
    articles = page(ds, "/news/articles")  # language and feed_id: default facets
    facets = articles[articles.index('<div class="facet-results">') :]
    assert re.search(
        r'<a href="[^"]*feed_id=6">\s*<bdi>الجزيرة</bdi> <span class="outlet-en" lang="en">'
        r'\(Al Jazeera\)</span></a> <span class="facet-count">1</span>',
        facets,
    ), facets
    assert "<bdi>NHK News</bdi>" in facets  # no English name given: none shown
    assert re.search(r'<span class="badge lang"[^>]*title="Arabic"[^>]*>ar</span></a>', facets)
    by_outlet = page(ds, "/news/articles_by_outlet?_facet=outlet")
    by_outlet = by_outlet[by_outlet.index('<div class="facet-results">') :]
    assert '<bdi>الجزيرة</bdi> <span class="outlet-en" lang="en">(Al Jazeera)</span>' in by_outlet
    assert re.search(r'class="badge country"[^>]*title="Qatar \(QA\)"', by_outlet)
    clusters = page(ds, "/news/clusters")
    clusters = clusters[clusters.index('<div class="facet-results">') :]
    assert re.search(r'title="Japanese"[^>]*>ja</span></a> <span class="facet-count">1<', clusters)
    # A facet with no value is left out, not a heading over nothing ("error 0").
    fetches = page(ds, "/news/fetches")
    assert 'data-column="feed_id"' in fetches and 'id="facet-error"' not in fetches
    # A selected value reads the same way.
    selected = page(ds, "/news/articles?_facet=feed_id&feed_id=6")
    assert re.search(r"<li>\s*<bdi>الجزيرة</bdi> <span class=\"outlet-en\"", selected)


def test_array_facets_on_clusters(ds):
    data = get(ds, "/news/clusters.json").json()
    facets = data["facet_results"]
    languages = {f["value"]: f["count"] for f in facets["languages"]["results"]}
    assert languages == {"fr": 3, "de": 3, "en": 3, "es": 2, "ja": 1, "ru": 1, "ar": 1}
    countries = {f["value"]: f["count"] for f in facets["countries"]["results"]}
    assert countries["FR"] == 3


def test_codes_facet_agrees_with_datasettes_array_facet(tmp_path):
    path = sample.build(tmp_path / "facets.db")
    conn = store.connect(path)
    conn.execute("""UPDATE clusters SET languages = '["es", "es", "fr"]' WHERE id = 3""")
    conn.close()
    ds = make_datasette(path)

    data = get(ds, "/facets/clusters.json").json()["facet_results"]
    conn = sqlite3.connect(path)
    for column in ("languages", "countries"):
        expected: dict[str, int] = {}
        for (value,) in conn.execute(f"SELECT {column} FROM clusters"):
            for code in set(json.loads(value)):
                expected[code] = expected.get(code, 0) + 1
        assert {f["value"]: f["count"] for f in data[column]["results"]} == expected
        assert data[column]["type"] == "codes"
    assert {f["value"]: f["count"] for f in data["languages"]["results"]}["es"] == 2
    filtered = get(ds, "/facets/clusters.json?languages__arraycontains=ru&_shape=objects").json()
    assert [row["id"] for row in filtered["rows"]] == [1]
    link = next(f for f in filtered["facet_results"]["languages"]["results"] if f["value"] == "ru")
    assert link["selected"] and "arraycontains" not in link["toggle_url"]


def test_clusters_table_links_headlines_to_story_pages(ds):
    markup = page(ds, "/news/clusters")
    assert '<a href="/-/story/1">Strong earthquake in Tokyo</a>' in markup
    assert (
        '<span class="badge lang" role="img" title="Japanese" aria-label="language: Japanese"'
        ' data-code="ja">ja</span>' in markup
    )


def test_articles_table_shows_reader_facing_columns_first(ds):
    for path in ("/news/articles?id=1", "/news/articles/1"):
        markup = page(ds, path)
        table = markup[markup.index('<table class="rows-and-columns">') :]
        headers = re.findall(r'<th [^>]*data-column="(\w+)"', table)
        assert headers[:7] == [
            "id",
            "title",
            "title_en",
            "language",
            "feed_id",
            "published_at",
            "url",
        ], path
        assert headers[-3:] == ["guid", "url_key", "content_hash"], path
        # Each cell moved with its header.
        cells = re.findall(r'<td class="col-(\w+)', table)
        assert cells == headers, path
        row = table[table.index("<tbody>") :]
        title = row.index('class="col-title'), row.index("東京で強い地震")
        assert title[0] < title[1] < row.index('class="col-title_en'), path
        # At phone width each stacked cell is labelled by position: the last labels written
        # (the ones that win) follow the moved columns, not Datasette's own order.
        labels = dict(re.findall(r'td:nth-of-type\((\d+)\):before \{ content: "(\w+)"', markup))
        assert [labels[str(n)] for n in range(1, len(headers) + 1)] == headers, path
        # Feed text in either direction: each cell takes its direction from its own text.
        assert re.findall(r"<td [^>]*>", table)[0].endswith('dir="auto">'), path
    # Feeds: the outlet and its English name first (the third walkthrough found name_en last).
    feeds = page(ds, "/news/feeds")
    table = feeds[feeds.index('<table class="rows-and-columns">') :]
    assert re.findall(r'data-column="(\w+)"', table)[:4] == ["id", "name", "name_en", "language"]
    # The column descriptions above each table follow the same order (they listed guid,
    # url_key and content_hash before title).
    for name, first in (("articles", ["id", "title", "title_en"]), ("feeds", ["id", "name"])):
        markup = page(ds, f"/news/{name}")
        described = re.findall(r"<dt>(\w+)</dt>", markup)
        headers = re.findall(r'<th [^>]*data-column="(\w+)"', markup)
        assert described[: len(first)] == first and described == headers, name
    # Other tables keep the schema's order.
    fetches = page(ds, "/news/fetches")
    fetches = fetches[fetches.index('<table class="rows-and-columns">') :]
    assert re.findall(r'data-column="(\w+)"', fetches)[:3] == ["id", "feed_id", "fetched_at"]


def test_json_array_columns_come_back_as_arrays(ds):
    quake = ["ja", "en", "fr", "de", "ru", "ar"]
    assert get(ds, "/news/clusters.json?_shape=array&id=1").json()[0]["languages"] == quake
    row = get(ds, "/news/clusters/1.json?_shape=objects").json()["rows"][0]
    assert row["languages"] == quake and row["countries"] == ["JP", "GB", "FR", "DE", "RU", "QA"]
    for query in (
        "stories",
        "blindspots?language=es&min_languages=2&days=30",
        "first_movers?language=ja",
    ):
        name, _, params = query.partition("?")
        found = get(ds, f"/news/{name}.json?_shape=array&{params}").json()
        assert found and all(isinstance(r["languages"], list) for r in found), query
    # Asking for it explicitly is the same.
    explicit = get(ds, "/news/clusters.json?_json=languages&_shape=array&id=1").json()
    assert explicit[0]["languages"] == quake
    # The HTML pages are unchanged: badges.
    assert 'data-code="ja">ja</span>' in page(ds, "/news/clusters")


def test_foreign_keys_read_as_names(ds):
    markup = page(ds, "/news/cluster_languages?cluster_id=1")
    assert "NHK News" in markup and "東京で強い地震" in markup


def test_every_public_column_has_a_description(sample_db):
    conn = sqlite3.connect(sample_db)
    tables = metadata.static_metadata()["tables"]
    for table in metadata.PUBLIC_TABLES:
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        described = tables[table]["columns"]
        assert [c for c in columns if c not in described] == [], table
        assert [c for c in described if c not in columns] == [], table
        assert tables[table]["description"]


def test_internal_tables_are_hidden(ds):
    data = get(ds, "/news.json").json()
    shown = {t["name"] for t in data["tables"] if not t["hidden"]} | {
        v["name"] if isinstance(v, dict) else v for v in data["views"]
    }
    assert shown == set(metadata.PUBLIC_TABLES)
    hidden = {t["name"] for t in data["tables"] if t["hidden"]}
    assert {"translation_cache", "embeddings", "articles_fts", "articles_fts_original_data"} <= (
        hidden
    )


def test_instance_metadata_names_sources_licence_and_models(ds):
    meta = get(ds, "/-/metadata.json").json()
    assert meta["title"] == "News across languages"
    assert "© their publishers" in meta["license"]
    assert "argos fr-en 1.9 (3 articles)" in meta["description"]
    assert "apertium spa-eng 1.4" in meta["description"]
    assert "Powered by" in page(ds, "/") and "© their publishers" in page(ds, "/")


# --- Serving ---------------------------------------------------------------------------------


def test_pages_stay_readable_while_a_writer_holds_the_database(tmp_path):
    path = sample.build(tmp_path / "live.db")
    ds = make_datasette(path)
    writer = store.connect(path)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE clusters SET headline_en = 'Tokyo quake: death toll rises' WHERE id = 1")
    assert "Strong earthquake in Tokyo" in page(ds, "/")  # WAL: readers see the last commit
    writer.execute("COMMIT")
    assert "Tokyo quake: death toll rises" in page(ds, "/")
    writer.close()


def test_make_datasette_rejects_missing_and_non_database_files(tmp_path):
    with pytest.raises(UserError, match="no database yet"):
        make_datasette(tmp_path / "nope.db")
    junk = tmp_path / "junk.db"
    junk.write_text("this is not a database " * 100)
    with pytest.raises(UserError, match="cannot open database"):
        make_datasette(junk)


def test_one_search_entry_point_the_story_search(ds):
    # Issue 13 §16: datasette-search-all's "Search all tables" searched English only and showed
    # rows with their hashes; it is gone, its address leads to the story search.
    response = get(ds, "/-/search?q=землетрясение")
    assert response.status_code == 301
    assert response.headers["location"] == "/-/find?" + urlencode({"q": "землетрясение"})
    assert get(ds, "/-/search").headers["location"] == "/-/find"
    for path in ("/", "/news", "/news/articles"):
        markup = page(ds, path)
        assert "Search all tables" not in markup and 'href="/-/search' not in markup
        assert '<a href="/-/find">Search articles</a>' in markup  # the menu's entry
    # Where it led, both the English and the original text are found, linked to the story.
    found = visible(page(ds, "/-/find?q=землетрясение"))
    assert "Сильное землетрясение в Токио" in found and "Story: Strong earthquake" in found
    # Datasette's own search box on a table stays (articles: English; the view: originals).
    assert get(ds, "/news/articles.json?_search=earthquake").status_code == 200
    assert get(ds, "/news/articles_by_outlet.json?_search=землетрясение").status_code == 200


def test_serve_refuses_a_busy_port_in_one_line(sample_db):
    from click.testing import CliRunner

    from aggregator.cli import cli

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--db", str(sample_db), "--port", str(port)])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        f"Error: port {port} on 127.0.0.1 is in use (pass --port)"
    ]


def test_stylesheet_is_served_locally(ds):
    markup = page(ds, "/")
    assert '<link rel="stylesheet" href="/-/publish/aggregator.css">' in markup
    css = get(ds, "/-/publish/aggregator.css")
    assert css.status_code == 200 and ".badge" in css.text
    assert "url(" not in css.text and "@import" not in css.text  # no web fonts, no CDN


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/news", "articles_by_outlet"),
        ("/news/feeds", "El País"),
        ("/news/fetches", "DNS error"),
        ("/news/cluster_languages", "Al Jazeera"),
        ("/news/clusters/1", '<a href="/-/story/1">Strong earthquake in Tokyo</a>'),
        ("/news/articles/3", "Fort séisme à Tokyo"),
        ("/-/plugins.json", "aggregator.publish.plugin"),
    ],
)
def test_datasette_pages_work_with_the_plugin(ds, path, content):
    assert content in page(ds, path)


# --- Badges and English outlet names (issue 13 §8, §12) --------------------------------------

EVERY_PAGE = [
    "/",
    "/-/story/1",
    "/-/find?q=earthquake",
    "/news",
    "/news/clusters",
    "/news/articles",
    "/news/articles/1",
    "/news/feeds",
    "/news/stories",
    "/news/feed_health",
]


def badge_spans(markup: str, kind: str) -> list[str]:
    return re.findall(rf'<span class="badge {kind}\b[^"]*"[^>]*>', markup)


@pytest.mark.parametrize("path", EVERY_PAGE)
def test_every_page_has_the_badge_legend_and_tells_languages_from_countries(ds, path):
    markup = page(ds, path)
    legend = markup[markup.index('<div class="badge-legend"') :]
    assert "a language: its ISO 639-1 code in lower case" in visible(legend)
    assert "an outlet's country: its flag and ISO 3166 code in capitals" in visible(legend)
    # The legend lists what this database holds, each code with its name.
    assert "ar Arabic" in visible(legend) and "ja Japanese" in visible(legend)
    assert "🇶🇦QAQatar" in visible(legend).replace(" ", "")
    for span in badge_spans(markup, "lang"):
        assert 'role="img"' in span and 'aria-label="language: ' in span and "title=" in span
    for span in badge_spans(markup, "country"):
        assert 'role="img"' in span and 'aria-label="country: ' in span and "title=" in span


def test_language_and_country_badges_cannot_be_confused(ds):
    # "uk" (Ukrainian) beside "GB", "ca" (Catalan) beside "CA" (Canada), "ES AR": each kind has
    # its own case, shape, flag and name.
    markup = page(ds, "/")
    legend = markup[markup.index('<div class="badge-legend"') :]
    assert (
        '<span class="badge lang" role="img" title="Ukrainian" aria-label="language: Ukrainian"'
        ' data-code="uk">uk</span>'
    ) in legend
    assert (
        '<span class="badge country" role="img" title="United Kingdom (GB)" aria-label="country:'
        ' United Kingdom" data-code="GB"><span class="flag" aria-hidden="true">🇬🇧</span>GB</span>'
    ) in legend
    story = page(ds, "/-/story/1")
    assert 'title="Qatar (QA)" aria-label="country: Qatar"' in story
    assert '<span class="flag" aria-hidden="true">🇶🇦</span>QA' in story
    css = get(ds, "/-/publish/aggregator.css").text
    lang = css[css.index(".badge.lang {") :]
    country = css[css.index(".badge.country {") :]
    assert "text-transform: lowercase" in lang[: lang.index("}")]
    assert "border-radius: 1em" in lang[: lang.index("}")]
    assert "text-transform: uppercase" in country[: country.index("}")]
    assert "border-radius: 0" in country[: country.index("}")]


def test_table_cells_of_codes_are_badges(ds):
    articles = page(ds, "/news/articles?language=ar")
    assert 'aria-label="language: Arabic" data-code="ar">ar</span>' in articles
    feeds = page(ds, "/news/feeds")
    assert 'aria-label="country: Qatar" data-code="QA">' in feeds
    coverage = page(ds, "/news/translation_coverage")
    assert 'aria-label="language: Japanese"' in coverage


@pytest.fixture(scope="module")
def named_ds(tmp_path_factory: pytest.TempPathFactory) -> Datasette:
    """The sample with Al Jazeera's name in Arabic and its English name (feeds.name_en)."""
    path = tmp_path_factory.mktemp("named") / "news.db"
    edited_sample(path, "UPDATE feeds SET name = 'الجزيرة', name_en = 'Al Jazeera' WHERE id = 6")
    return make_datasette(path)


ENGLISH = ' <span class="outlet-en" lang="en">(Al Jazeera)</span>'


def test_an_outlets_english_name_is_shown_beside_its_own(named_ds):
    story = page(named_ds, "/-/story/1")
    assert f'<bdi><strong class="outlet">الجزيرة</strong></bdi>{ENGLISH}' in story  # its card
    assert f"<bdi>الجزيرة</bdi>{ENGLISH}" in story  # who picked it up
    found = page(named_ds, "/-/find?q=" + "زلزال")
    assert f'<bdi><strong class="outlet">الجزيرة</strong></bdi>{ENGLISH}' in found
    # Datasette's pages: the feed's row label, the view's and the queries' columns.
    assert f"><bdi>الجزيرة</bdi></a>{ENGLISH}&nbsp;<em>6</em>" in page(
        named_ds, "/news/articles?feed_id=6"
    )
    assert "Al Jazeera" in page(named_ds, "/news/feeds/6")
    outlets = rows(named_ds, "/news/articles_by_outlet?feed_id=6")
    assert {(r["outlet"], r["outlet_en"]) for r in outlets} == {("الجزيرة", "Al Jazeera")}
    health = {r["name"]: r["name_en"] for r in rows(named_ds, "/news/feed_health")}
    assert health["الجزيرة"] == "Al Jazeera" and health["Le Monde"] is None
    articles = rows(named_ds, "/news/story_articles?id=1")
    assert {r["outlet_en"] for r in articles if r["outlet"] == "الجزيرة"} == {"Al Jazeera"}
    searched = rows(named_ds, "/news/search?q=" + "زلزال")
    assert [r["outlet_en"] for r in searched] == ["Al Jazeera"]
    # An outlet without an English name is shown alone.
    assert (
        "(NHK News)" in visible(story)
        and 'NHK News</strong></bdi><span class="outlet-en"' not in story
    )


# --- Canned query forms (issue 13 §10) ------------------------------------------------------


def test_query_forms_show_the_defaults_their_sql_applies(ds):
    markup = page(ds, "/news/stories")
    for name, default in (("languages", "2"), ("hours", "24"), ("limit", "100")):
        assert re.search(rf'name="{name}" value="{default}"', markup), name
    assert "at least this many languages; default 2" in visible(markup)
    markup = page(ds, "/news/blindspots?language=RU&days=5")
    assert 'name="language" value="RU" placeholder="e.g. fr"' in markup  # as the reader typed
    assert 'name="days" value="5"' in markup and 'name="min_languages" value="3"' in markup
    assert 'name="id" value="" placeholder="e.g. 1"' in page(ds, "/news/story_articles")
    # A blank box and the default shown in it give the same rows, for every canned query.
    checked = 0
    for query in queries.CANNED:
        defaults = queries.parameter_defaults(query.sql)
        if not defaults:
            continue
        other = {"language": "ru"} if ":language" in query.sql else {}
        blank = rows(
            ds, f"/news/{query.name}?" + urlencode({**other, **dict.fromkeys(defaults, "")})
        )
        shown = rows(ds, f"/news/{query.name}?" + urlencode({**other, **defaults}))
        assert blank == shown, query.name
        checked += 1
    assert checked >= 3


def test_query_results_show_dates_as_the_pages_do(ds):
    markup = page(ds, "/news/stories")
    cells = re.findall(r'<td class="col-first_seen_at">(.*?)</td>', markup, re.S)
    assert cells
    for cell in cells:
        match = re.fullmatch(
            r'<time datetime="(\S+)" title="\1">(\d{1,2} [A-Z][a-z]{2} \d\d:\d\d UTC)</time>', cell
        )
        assert match, cell
    # The JSON keeps the stored ISO 8601 text.
    assert rows(ds, "/news/stories")[0]["first_seen_at"].endswith("Z")


def test_the_atom_feed_names_outlets_in_english_too(named_ds):
    feed = get(named_ds, "/-/top-stories.atom").text
    assert "Arabic: الجزيرة (Al Jazeera, QA)." in feed  # the entry's summary
    assert "<bdi>الجزيرة</bdi> (Al Jazeera, QA)" in html.unescape(feed)  # its HTML content
    assert "Japanese: NHK News (JP)" in feed


def test_the_coverage_grid_folds_languages_only_when_it_saves_a_row():
    from aggregator.publish import charts

    days = ["2026-12-01"]
    counts = {(days[0], code): 20 - n for n, code in enumerate(["en", "fr", "de", "ru"])}
    # One language past the limit: its own row, not "1 more" (the third walkthrough).
    assert "1 more" not in charts.coverage_heatmap(counts, days, max_languages=3)
    assert "Russian" in charts.coverage_heatmap(counts, days, max_languages=3)
    folded = charts.coverage_heatmap(counts, days, max_languages=2)
    assert "2 more" in folded and "Russian" not in folded


def test_row_pages_name_the_outlet_and_link_the_story(ds):
    # The third walkthrough of issue 13: a row page showed feed_id, first_feed_id and
    # cluster_id as bare numbers (Datasette expands foreign keys on table pages only).
    article = page(ds, "/news/articles/1")
    cell = re.search(r'<td class="col-feed_id[^"]*"[^>]*>(.*?)</td>', article, re.S)[1]
    assert cell == '<a href="/news/feeds/1"><bdi>NHK News</bdi></a>&nbsp;<em>1</em>', cell
    story = re.search(r'<td class="col-cluster_id[^"]*"[^>]*>(.*?)</td>', article, re.S)[1]
    assert story == '<a href="/-/story/1">story 1</a>', story
    cluster = page(ds, "/news/clusters/1")
    first = re.search(r'<td class="col-first_feed_id[^"]*"[^>]*>(.*?)</td>', cluster, re.S)[1]
    assert ">NHK News</bdi></a>" in first, first
    article = re.search(r'<td class="col-first_article_id[^"]*"[^>]*>(.*?)</td>', cluster, re.S)[1]
    assert re.fullmatch(r'<a href="/news/articles/\d+">article \d+</a>', article), article


def test_tables_and_rows_show_times_as_the_pages_do(ds):
    # The third walkthrough of issue 13: tables and rows showed 2026-11-23T14:00:00Z where the
    # queries and pages show "23 Nov 14:00 UTC".
    for path in ("/news/articles", "/news/articles/1", "/news/clusters"):
        markup = page(ds, path)
        cells = re.findall(
            r'<td class="col-(?:published_at|first_seen_at)[^"]*"[^>]*>(.*?)</td>', markup, re.S
        )
        assert cells, path
        for cell in cells:
            assert re.fullmatch(
                r'<time datetime="(\S+Z)" title="\1">\d{1,2} [A-Z][a-z]{2} \d\d:\d\d UTC</time>',
                cell,
            ), (path, cell)
    stored = rows(ds, "/news/articles?id=1")[0]["published_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stored)  # the data is unchanged
