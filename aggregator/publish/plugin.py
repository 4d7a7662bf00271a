"""Datasette plugin hooks: the reader's pages, SQL functions for search, and cell rendering.

Registered in-process by serve.make_datasette (not through an entry point), so it is active only
when the aggregator serves its own database.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl
from markupsafe import Markup, escape

from aggregator.publish import facets, fts, pages, redirects
from aggregator.publish.display import clean_html, codes, is_loopback, language_name

STATIC_MOUNT = "-/publish"
UNAVAILABLE = (
    "An address on the machine that built this database (the demo's sample feeds): "
    "there is no page to open"
)


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [
        (r"^/$", pages.home),
        (r"^/-/story/(?P<id>[0-9]+)$", pages.story),
        (r"^/-/find$", pages.find),
    ]


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
def extra_template_vars(datasette: Any, database: str | None, table: str | None) -> dict:
    return {"column_order": lambda columns: column_order(datasette, database, table, columns)}


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
def render_cell(row: Any, value: Any, column: str, table: str | None, datasette: Any) -> Any:
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
        return _badges(codes(value), column == "languages")
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


def _badges(items: list[str], languages: bool) -> Markup:
    kind = "lang" if languages else "country"
    return Markup(" ").join(
        Markup('<span class="badge {}" title="{}">{}</span>').format(
            kind, language_name(item) if languages else item, item
        )
        for item in items
    )
