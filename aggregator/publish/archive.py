"""The archive: one page per UTC day (/-/day/2026-11-21) with the stories covered that day and
links to the previous and next days that have articles (issue 13 §7).

The page runs the `day_stories` canned query, so `/<db>/day_stories.json?day=...` is its JSON
twin. Days without articles are skipped by the previous/next links but can still be opened.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from datasette.app import Datasette
from datasette.utils.asgi import NotFound, Request, Response

from aggregator.publish import pages, queries
from aggregator.publish.display import format_day, parse_time
from aggregator.timeutil import utcnow

DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


async def day(datasette: Datasette, request: Request) -> Response:
    db = datasette.get_database()
    date = _day(request.url_vars.get("day", ""))
    since = f"{date}T00:00:00Z"
    until = (datetime.strptime(date, "%Y-%m-%d") + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")
    params = {"day": date, "limit": queries.DAY_LIMIT}
    rows = (await db.execute(queries.DAY_STORIES.sql, params)).rows
    previous = (await db.execute(queries.PREVIOUS_DAY, {"since": since})).first()["day"]
    following = (await db.execute(queries.NEXT_DAY, {"until": until})).first()["day"]
    stories = []
    for row in rows:
        summary = pages._story_summary(row)
        summary["day_articles"] = row["day_articles"]
        stories.append(summary)
    context = {
        "day": date,
        "label": format_day(date),
        "stories": stories,
        "total_stories": rows[0]["stories_that_day"] if rows else 0,
        "articles": rows[0]["articles_that_day"] if rows else 0,
        "all_url": pages._query_url(
            datasette, db.name, queries.DAY_STORIES, {"day": date, "limit": 10000}
        ),
        "previous": _link(datasette, previous),
        "next": _link(datasette, following),
        "json_url": pages._query_url(datasette, db.name, queries.DAY_STORIES, params, "json"),
    }
    return await pages._render(datasette, request, "day.html", context)


async def latest(datasette: Datasette, request: Request) -> Response:
    """/-/day: the newest day with an article (today when there is none)."""
    db = datasette.get_database()
    newest = parse_time((await db.execute(queries.NEWEST_ARTICLE)).first()["newest"])
    date = (newest or utcnow()).strftime("%Y-%m-%d")
    return Response.redirect(datasette.urls.path(f"/-/day/{date}"))


def _day(text: str) -> str:
    """The day of the address, or a 404 saying how days are written."""
    if DAY.match(text):
        try:
            datetime.strptime(text, "%Y-%m-%d")
            return text
        except ValueError:
            pass
    raise NotFound("No such day: days are written /-/day/2026-11-21 (a UTC date).")


def _link(datasette: Datasette, date: str | None) -> dict[str, str] | None:
    if not date or not DAY.match(date):
        return None
    return {
        "day": date,
        "label": format_day(date, short=True),
        "url": datasette.urls.path(f"/-/day/{date}"),
    }
