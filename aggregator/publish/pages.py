"""The reader's pages: home (top stories), one story, and search.

Each page runs the canned query of the same data (see queries.py), so every page has a JSON
twin at `/<db>/<query>.json`, and shapes rows into plain dicts for its template.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from datasette.app import Datasette
from datasette.utils.asgi import NotFound, Request, Response

from aggregator import provenance
from aggregator.publish import charts, queries, redirects, semantic
from aggregator.publish.display import (
    codes,
    format_ago,
    format_clock,
    format_day,
    format_delay,
    format_time,
    is_loopback,
    language_name,
    parse_time,
    safe_url,
    text_direction,
    translation_note,
)
from aggregator.timeutil import to_iso, utcnow

CHART_DAYS = 7


async def home(datasette: Datasette, request: Request) -> Response:
    db = datasette.get_database()
    until = await _until(db)
    params = {"hours": queries.TOP_HOURS, "limit": queries.TOP_LIMIT}
    rows = (await db.execute(queries.TOP_STORIES.sql, params)).rows
    days, counts = await _coverage(db, until)
    context = {
        "stories": [_story_summary(row) for row in rows],
        "hours": queries.TOP_HOURS,
        "half_life": queries.TOP_HOURS // 3,
        "until": format_time(to_iso(until)),
        "freshness": await _freshness(datasette, db),
        "days": _days(datasette, days, counts),
        "chart": charts.coverage_heatmap(counts, days),
        "chart_articles": sum(counts.values()),
        "chart_languages": len({language for _, language in counts}),
        "chart_days": len(days),
        "json_url": _query_url(datasette, db.name, queries.TOP_STORIES, params, "json"),
        "atom_url": datasette.urls.path(ATOM_PATH),
        "more_url": _query_url(datasette, db.name, queries.STORIES, {"languages": 2}),
        "canned": [
            (q.title, datasette.urls.query(db.name, q.name))
            for q in queries.CANNED
            if q
            not in (
                queries.STORY_ARTICLES,
                queries.STORY_BLINDSPOTS,
                queries.SEARCH,
                queries.DAY_STORIES,  # the day pages, linked from "Day by day"
            )
        ],
        "database_url": datasette.urls.database(db.name),
    }
    return await _render(datasette, request, "home.html", context)


# The Atom feed of the top stories in English (atom.py), advertised on the home page.
ATOM_PATH = "/-/top-stories.atom"
# Newer than this, the newest article counts as current: the home page says nothing more.
STALE_HOURS = 6


async def _freshness(datasette: Datasette, db: Any) -> dict[str, Any]:
    """When the newest article appeared, whether that is stale, and whether feeds are failing:
    a reader of an old database (the demo's fixed dates) must see that the page is not news."""
    newest = parse_time((await db.execute(queries.NEWEST_ARTICLE)).first()["newest"])
    feeds = (await db.execute(queries.FEEDS_STATE)).first()
    now = utcnow()
    polled = parse_time(feeds["last_polled"])
    return {
        "newest": format_time(to_iso(newest)) if newest else None,
        "newest_ago": format_ago((now - newest).total_seconds()) if newest else None,
        "stale": newest is not None and now - newest > timedelta(hours=STALE_HOURS),
        "feeds": feeds["feeds"],
        "failing": feeds["failing"],
        "last_polled_ago": format_ago((now - polled).total_seconds()) if polled else None,
        "feed_health_url": datasette.urls.query(db.name, queries.FEED_HEALTH.name),
    }


def _days(
    datasette: Datasette, days: list[str], counts: dict[tuple[str, str], int]
) -> list[dict[str, Any]]:
    """The chart's days that have articles, newest first, each linking to its day page."""
    per_day = {day: 0 for day in days}
    for (day, _), articles in counts.items():
        per_day[day] = per_day.get(day, 0) + articles
    return [
        {
            "day": day,
            "label": format_day(day, short=True),
            "articles": per_day[day],
            "url": datasette.urls.path(f"/-/day/{day}"),
        }
        for day in reversed(days)
        if per_day[day]
    ]


async def story(datasette: Datasette, request: Request) -> Response:
    db = datasette.get_database()
    story_id = _story_id(request)
    found = (await db.execute(queries.STORY, {"id": story_id})).first()
    if found is None:
        target = await redirects.moved_to(db, story_id)
        if target is None:
            raise NotFound(f"No story {story_id}")
        return Response.redirect(datasette.urls.path(f"/-/story/{target}"), status=redirects.STATUS)
    pickup = [dict(row) for row in (await db.execute(queries.PICKUP, {"id": story_id})).rows]
    params = {"id": story_id}
    articles = [
        _article(row) for row in (await db.execute(queries.STORY_ARTICLES.sql, params)).rows
    ]
    blindspots = (await db.execute(queries.STORY_BLINDSPOTS.sql, params)).rows
    context = {
        "story": _story_summary(found, id_column="id"),
        "pickup": [_pickup(row) for row in pickup],
        "timeline": charts.story_timeline(_lanes(pickup, articles)),
        "articles": articles,
        "entries": _version_groups(articles),
        "blindspots": [_blindspot(row) for row in blindspots],
        "blindspots_url": _query_url(datasette, db.name, queries.STORY_BLINDSPOTS, params, "json"),
        "json_url": _query_url(datasette, db.name, queries.STORY_ARTICLES, params, "json"),
        "row_url": datasette.urls.row(db.name, "clusters", str(story_id)),
    }
    return await _render(datasette, request, "story.html", context)


async def find(datasette: Datasette, request: Request) -> Response:
    db = datasette.get_database()
    q = (request.args.get("q") or "").strip()
    rows = (await db.execute(queries.SEARCH.sql, {"q": q})).rows if q else []
    # Beside the words: articles in any language matched by meaning (semantic.py), less those
    # the words found already.
    meaning = await semantic.find(datasette, q) if q else semantic.Outcome([], 0)
    found = {row["article"] for row in rows}
    context = {
        "q": q,
        "results": [_search_hit(row) for row in rows],
        "limit_reached": len(rows) >= 200,
        "json_url": _query_url(datasette, db.name, queries.SEARCH, {"q": q}, "json"),
        "meaning": [
            {**_search_hit(row), "score": row["score"]}
            for row in meaning.rows
            if row["article"] not in found
        ],
        "meaning_note": meaning.note,
        "meaning_searched": meaning.searched,
        "meaning_days": semantic.WINDOW_DAYS,
        "meaning_json_url": datasette.urls.path("/-/find.json") + "?" + urlencode({"q": q}),
    }
    return await _render(datasette, request, "find.html", context)


async def _render(
    datasette: Datasette, request: Request, template: str, context: dict[str, Any]
) -> Response:
    # The footer shows the instance's licence and source notes from the metadata.
    context = {"metadata": datasette.metadata(), **context}
    return Response.html(await datasette.render_template(template, context, request=request))


# --- Data for the templates ---------------------------------------------------------------


async def _until(db: Any) -> datetime:
    value = (await db.execute(queries.UNTIL_NOW)).first()["until"]
    return parse_time(value) or utcnow()


async def _coverage(db: Any, until: datetime) -> tuple[list[str], dict[tuple[str, str], int]]:
    first = (until - timedelta(days=CHART_DAYS - 1)).replace(hour=0, minute=0, second=0)
    days = [(first + timedelta(days=n)).strftime("%Y-%m-%d") for n in range(CHART_DAYS)]
    rows = await db.execute(
        queries.COVERAGE_BY_DAY, {"since": to_iso(first), "until": to_iso(until)}
    )
    return days, {(row["day"], row["language"]): row["articles"] for row in rows.rows}


def _story_summary(row: Any, id_column: str = "story") -> dict[str, Any]:
    languages = codes(row["languages"])
    # Without an English headline the original one is shown, marked with its own language (the
    # article it came from), which need not be the language that carried the story first.
    original = None if row["headline_en"] or not row["headline"] else row["headline_language"]
    return {
        "id": row[id_column],
        "headline": row["headline_en"] or row["headline"],
        "headline_lang": "en" if row["headline_en"] else original or "",
        "headline_dir": "ltr" if row["headline_en"] else text_direction(original),
        "original": None
        if row["headline_en"] or not row["headline"]
        else {
            "code": original or "",
            "label": f"{language_name(original)} headline" if original else "Original headline",
        },
        "languages": [(code, language_name(code)) for code in languages],
        "first_language": row["first_language"],
        "countries": codes(row["countries"]),
        "language_count": row["language_count"],
        # Outlets are counted by the ranked queries (top_stories, day_stories) only.
        "outlet_count": dict(row).get("outlet_count"),
        "article_count": row["article_count"],
        "first_seen": format_time(row["first_seen_at"]),
        "last_seen": format_time(row["last_seen_at"]),
        "first_outlet": row["first_outlet"],
    }


def _article_fields(row: Any) -> dict[str, Any]:
    """What a story card and a search hit both show of an article."""
    url = safe_url(row["url"])
    return {
        "id": row["article"],
        "time": format_time(row["seen_at"]),
        "language": row["language"],
        "language_name": language_name(row["language"]),
        "dir": text_direction(row["language"]),
        "country": row["country"],
        "outlet": row["outlet"],
        "title": row["title"],
        "summary_en": row["summary_en"],
        # A loopback link (the demo's sample articles) is dead for a reader: shown, not linked.
        "url": None if is_loopback(url) else url,
        "url_unavailable": is_loopback(url),
    }


def _article(row: Any) -> dict[str, Any]:
    return {
        **_article_fields(row),
        "seen_at": row["seen_at"],
        "undated": row["published_at"] is None,
        "title_en": row["title_en"] if row["translation_backend"] != provenance.COPY else None,
        "summary": row["summary"],
        "translation": translation_note(row["translation_backend"], row["translation_model"]),
        "version_of": row["version_of"],
        "version_kind": row["version_kind"],
        "version_score": row["version_score"],
        "version_role": None,  # set by _version_groups: "original", "translation" or "copy"
    }


def _version_groups(articles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The story's articles as cards, versions of one article (article_versions) together.

    Each entry is one card ({"articles": [article]}) or one group of versions, placed where its
    first article appeared: the original (the earliest, `version_of`) first, then its versions.
    """
    by_id = {article["id"]: article for article in articles}
    groups: dict[int, list[dict[str, Any]]] = {}
    entries: list[dict[str, Any]] = []
    for article in articles:
        root = _original(article, by_id)
        if root not in groups:
            groups[root] = []
            entries.append({"root": root, "articles": groups[root]})
        groups[root].append(article)
    for entry in entries:
        members = entry["articles"]
        original = by_id.get(entry["root"])
        if len(members) < 2:
            if members[0]["version_kind"] is not None and original is not members[0]:
                members[0]["version_role"] = members[0]["version_kind"]
            entry["versions"] = None
            continue
        # The original leads even if a version carries an earlier time than it.
        members.sort(key=lambda article: article is not original)
        for article in members:
            article["version_role"] = (
                "original" if article is original else article["version_kind"] or "copy"
            )
        entry["versions"] = {
            "count": len(members),
            "languages": [
                (code, language_name(code))
                for code in dict.fromkeys(article["language"] or "??" for article in members)
            ],
        }
    return entries


def _original(article: dict[str, Any], by_id: dict[int, dict[str, Any]]) -> int:
    """The article whose versions `article` belongs to (itself when it is no version).

    version_of names the group's original directly; a chain is followed anyway, with a guard
    against cycles, so a hand-edited table cannot hang or break the page.
    """
    seen = {article["id"]}
    current = article
    while current["version_of"] is not None and current["version_of"] not in seen:
        seen.add(current["version_of"])
        parent = by_id.get(current["version_of"])
        if parent is None:
            return current["version_of"]
        current = parent
    return current["id"]


def _pickup(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "language": row["language"],
        "language_name": language_name(row["language"]),
        "clock": format_clock(row["first_seen_at"]),
        "time": format_time(row["first_seen_at"]),
        "delay": format_delay(row["delay_s"]) if row["delay_s"] else None,
        "outlet": row["outlet"],
        "articles": row["article_count"],
    }


def _blindspot(row: Any) -> dict[str, Any]:
    return {
        "language": row["language"],
        "language_name": language_name(row["language"]),
        "articles": row["articles"],
        "outlets": row["outlets"],
    }


def _lanes(pickup: list[dict[str, Any]], articles: list[dict[str, Any]]) -> list[charts.Lane]:
    lanes = {row["language"]: charts.Lane(row["language"], row["delay_s"]) for row in pickup}
    for article in articles:
        moment = parse_time(article["seen_at"])
        if moment is None:
            continue
        language = article["language"] or "??"
        lane = lanes.setdefault(language, charts.Lane(language, None))
        lane.times.append(moment)
        lane.labels.append(
            f"{article['outlet']}, {article['time']}: "
            f"{article['title_en'] or article['title'] or ''}"
        )
    return [lane for lane in lanes.values() if lane.times]


def _search_hit(row: Any) -> dict[str, Any]:
    return {
        **_article_fields(row),
        "story": row["story"],
        "story_headline": row["story_headline"],
        "story_headline_lang": row["story_headline_language"] or "",
        "story_headline_dir": (
            "ltr"
            if row["story_headline_language"] == "en"
            else text_direction(row["story_headline_language"])
        ),
        "title_en": row["title_en"] if row["title_en"] != row["title"] else None,
    }


def _story_id(request: Request) -> int:
    story_id = redirects.parse_id(request.url_vars.get("id"))
    if story_id is None:
        raise NotFound("Stories are numbered: /-/story/123")
    return story_id


def _query_url(
    datasette: Datasette,
    database: str,
    query: queries.Query,
    params: dict[str, Any],
    fmt: str | None = None,
) -> str:
    return datasette.urls.query(database, query.name, format=fmt) + "?" + urlencode(params)
