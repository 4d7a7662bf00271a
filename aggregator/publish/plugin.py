"""Datasette plugin hooks: the reader's pages, SQL functions for search, and cell rendering.

Registered in-process by serve.make_datasette (not through an entry point), so it is active only
when the aggregator serves its own database.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from aggregator.publish import (
    archive,
    atom,
    badges,
    facets,
    fts,
    pages,
    queries,
    redirects,
    semantic,
)
from aggregator.publish.display import (
    clean_html,
    codes,
    format_time,
    is_loopback,
    language_name,
    parse_time,
)

STATIC_MOUNT = "-/publish"
UNAVAILABLE = (
    "An address on the machine that built this database (the demo's sample feeds): "
    "there is no page to open"
)


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [
        (r"^/$", pages.home),
        (r"^/-/story/(?P<id>[^/]+)$", pages.story),  # not a number: a 404 saying so
        (r"^/-/find$", pages.find),
        (r"^/-/search$", search_moved),
        (r"^/-/find\.json$", semantic.find_json),
        (r"^/-/day$", archive.latest),
        (r"^/-/day/(?P<day>[^/]*)$", archive.day),
        (r"^/-/top-stories\.atom$", atom.top_stories),
    ]


async def search_moved(request: Any, datasette: Any) -> Any:
    """/-/search was datasette-search-all's page ("Search all tables"): English text only, rows
    shown with their hashes. It is gone in favour of the story search, which finds English and
    original text in any script and links each article to its story; old links land there."""
    query = urlencode({"q": request.args.get("q")}) if request.args.get("q") else ""
    target = datasette.urls.path("/-/find") + (f"?{query}" if query else "")
    return Response.redirect(target, status=301)


# Columns holding a JSON array of codes, in tables and in the canned queries' results.
JSON_ARRAY_COLUMNS = ("languages", "countries", "skip_hours", "skip_days")


@hookimpl
def asgi_wrapper(datasette: Any) -> Any:
    """Datasette's pages for a merged story (row, articles query) redirect to the survivor, and
    JSON answers give the JSON-array columns as arrays."""
    # Redirects outermost, so their Location keeps the reader's own query string.
    return lambda app: redirects.MergeRedirects(JsonArrays(app), datasette)


class JsonArrays:
    """ASGI middleware: every JSON request gets `_json=` for the JSON-array columns.

    Datasette returns a stored JSON array as a quoted string unless `?_json=COLUMN` asks for it
    to be parsed; it has no setting for a default, so it is added here (to GET and HEAD only: on
    a POST `_json` would mean "answer in JSON"). Columns absent from a result are ignored.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope.get("method") in ("GET", "HEAD")
            and scope["path"].endswith(".json")
        ):
            query = scope.get("query_string", b"")
            asked = {value for key, value in parse_qsl(query.decode("latin-1")) if key == "_json"}
            extra = urlencode([("_json", c) for c in JSON_ARRAY_COLUMNS if c not in asked])
            if extra:
                scope = {
                    **scope,
                    "query_string": (query + b"&" if query else b"") + extra.encode("ascii"),
                }
        await self.app(scope, receive, send)


@hookimpl
def extra_template_vars(datasette: Any, database: str | None, table: str | None) -> Any:
    async def variables() -> dict[str, Any]:
        names = await english_names(datasette)
        return {
            "column_order": lambda columns: column_order(datasette, database, table, columns),
            # Badges (badges.py) and the legend every page's footer shows (_footer.html).
            "lang_badge": badges.language,
            "country_badge": badges.country,
            "lang_badges": badges.languages,
            "country_badges": badges.countries,
            "legend": await legend(datasette),
            # An outlet's English name beside its own (feeds.name_en), for any template.
            "outlet_en": lambda name: _outlet_en(names.get(name)),
            "facet_label": lambda column, label: facet_label(names, column, label),
            "form_problems": queries.form_problems,
        }

    return variables


async def english_names(datasette: Any) -> dict[str, str]:
    """Outlet name -> its English name, for the feeds that have one (feeds.name_en)."""
    rows = await datasette.get_database().execute(
        "SELECT name, name_en FROM feeds WHERE coalesce(name_en, '') NOT IN ('', name)"
    )
    return {row["name"]: row["name_en"] for row in rows.rows}


def _outlet_en(name_en: str | None) -> Markup:
    if not name_en:
        return Markup("")
    return Markup(' <span class="outlet-en" lang="en">({})</span>').format(name_en)


def facet_label(names: dict[str, str], column: str, label: Any) -> Markup:
    """A facet value as the reader sees it (templates/_facet_results.html): language and country
    codes as the badges used everywhere, an outlet with its English name, and any other text
    isolated in <bdi>, so that an Arabic outlet's count stays on its right, not its left."""
    text = "" if label is None else str(label)
    if not text:
        return Markup("-")
    if column in LANGUAGE_COLUMNS + ("languages",) and CODE.match(text):
        return badges.language(text)
    if column in ("country", "countries") and CODE.match(text):
        return badges.country(text)
    shown = Markup("<bdi>{}</bdi>").format(text)
    if column in FEED_COLUMNS + ("outlet",):
        shown += _outlet_en(names.get(text))
    return shown


# The languages of the articles: SQLite walks the language index, skipping from one value to
# the next (0.04 ms on the 100,000-article benchmark database), so the legend is cheap anywhere.
LEGEND_LANGUAGES = """
SELECT DISTINCT language AS code FROM articles WHERE language IS NOT NULL ORDER BY language
"""


async def legend(datasette: Any) -> dict[str, list[tuple[Markup, str]]]:
    """Every language of the articles and every country of the feeds, as badge and name."""
    db = datasette.get_database()
    languages = [row["code"] for row in (await db.execute(LEGEND_LANGUAGES)).rows]
    countries = await db.execute(
        "SELECT DISTINCT country FROM feeds WHERE country IS NOT NULL ORDER BY country"
    )
    return {
        "languages": [(badges.language(code), language_name(code)) for code in languages],
        "countries": [
            (badges.country(row["country"]), badges.country_name(row["country"]))
            for row in countries.rows
        ],
    }


def column_order(
    datasette: Any, database: str | None, table: str | None, columns: list[dict[str, Any]]
) -> list[int]:
    """Positions of Datasette's display columns in the table's `column_order` (metadata.yaml);
    unlisted columns keep their place after the listed ones, the link column stays first."""
    if not database or not table:
        return list(range(len(columns)))
    wanted = datasette.table_metadata(database, table).get("column_order") or []
    rank = {name: i for i, name in enumerate(wanted)}
    return sorted(
        range(len(columns)),
        key=lambda i: (
            0 if i == 0 and columns[0].get("is_pk") else 1,
            rank.get(columns[i]["name"], len(rank)),
            i,
        ),
    )


@hookimpl
def register_facet_classes() -> list[type]:
    return [facets.CodesFacet]


@hookimpl
def prepare_connection(conn: Any) -> None:
    fts.register(conn)


@hookimpl
def extra_css_urls(datasette: Any) -> list[str]:
    return [datasette.urls.path(f"/{STATIC_MOUNT}/aggregator.css")]


@hookimpl
def menu_links(datasette: Any) -> list[dict[str, str]]:
    return [
        {"href": datasette.urls.path("/"), "label": "Top stories"},
        {"href": datasette.urls.path("/-/find"), "label": "Search articles"},
    ]


@hookimpl
def render_cell(
    row: Any, value: Any, column: str, table: str | None, database: str, datasette: Any
) -> Any:
    """Stories link to their page, code arrays read as badges, stored HTML is re-sanitised."""
    if value is None:
        return None
    if column == "summary_html":
        return clean_html(value)
    if isinstance(value, str) and value.startswith(("http://", "https://")) and is_loopback(value):
        # Datasette would link it; the demo's loopback addresses are dead for a reader.
        return Markup('<span class="unavailable" title="{}">{} (no page to open)</span>').format(
            UNAVAILABLE, value
        )
    if column in ("languages", "countries") and isinstance(value, str) and value.startswith("["):
        items = codes(value)
        return badges.languages(items) if column == "languages" else badges.countries(items)
    if column.endswith(TIME_COLUMNS) and isinstance(value, str):
        return _time(value)
    if column in LANGUAGE_COLUMNS and isinstance(value, str) and CODE.match(value):
        return badges.language(value)
    if column == "country" and isinstance(value, str) and CODE.match(value):
        return badges.country(value)
    if column in FEED_COLUMNS and isinstance(value, (dict, int)) and table:
        # A dict on table pages (Datasette's expanded foreign key), the bare id on row pages.
        return _feed_link(
            datasette, database, value if isinstance(value, dict) else {"value": value}
        )
    if column == "first_article_id" and table and isinstance(value, int):
        href = datasette.urls.row(database, "articles", str(value))
        return Markup('<a href="{}">article {}</a>').format(href, value)
    if column == "cluster_id" and table == "articles" and isinstance(value, int):
        return Markup('<a href="{}">story {}</a>').format(_story_path(datasette, value), value)
    story = _story_of(row, table)
    if story is not None and column in ("headline_en", "story_headline"):
        href = _story_path(datasette, story)
        return Markup(f'<a href="{escape(href)}">{escape(value)}</a>')
    if table == "cluster_merges" and column in ("cluster_id", "merged_into"):
        # A merged id's page redirects to the surviving story, so both columns link there.
        return Markup(f'<a href="{escape(_story_path(datasette, value))}">story {value}</a>')
    if column == "story" and table is None and isinstance(value, int):
        return Markup(f'<a href="{escape(_story_path(datasette, value))}">story {value}</a>')
    return None


def _story_of(row: Any, table: str | None) -> int | None:
    keys = row.keys() if hasattr(row, "keys") else []
    if table is None and "story" in keys:
        return row["story"]
    if table == "clusters" and "id" in keys:
        return row["id"]
    return None


def _story_path(datasette: Any, story: int | str) -> str:
    return datasette.urls.path(f"/-/story/{story}")


# Timestamps in tables, rows and the canned queries' results (published_at, window_from...):
# shown as on the reader's pages, "2 Dec 03:17 UTC", the stored ISO 8601 value in `datetime`
# and on hover (the JSON and CSV keep the stored text).
TIME_COLUMNS = ("_at", "window_from", "window_to")


def _time(value: str) -> Markup | None:
    if parse_time(value) is None:
        return None
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        value, value, format_time(value)
    )


# Columns of language codes and of outlets (feeds.id, shown by Datasette with the feed's name).
LANGUAGE_COLUMNS = ("language", "first_language")
FEED_COLUMNS = ("feed_id", "first_feed_id")
CODE = re.compile(r"^[A-Za-z]{2}$")


def _feed_link(datasette: Any, database: str, value: dict[str, Any]) -> Any:
    """A link to a feed's row, labelled with its name (isolated) and English name."""

    async def link() -> Markup:
        rows = await datasette.get_database(database).execute(
            "SELECT name, name_en FROM feeds WHERE id = ?", [value["value"]]
        )
        row = rows.first()
        name = value.get("label") or (row["name"] if row else None) or value["value"]
        href = datasette.urls.row(database, "feeds", str(value["value"]))
        return Markup('<a href="{}"><bdi>{}</bdi></a>{}&nbsp;<em>{}</em>').format(
            href,
            name,
            _outlet_en(row["name_en"] if row and row["name_en"] != name else None),
            value["value"],
        )

    return link
