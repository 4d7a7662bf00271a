"""Datasette plugin hooks: the reader's pages, SQL functions for search, and cell rendering.

Registered in-process by serve.make_datasette (not through an entry point), so it is active only
when the aggregator serves its own database.
"""

from __future__ import annotations

from typing import Any

from datasette import hookimpl
from markupsafe import Markup, escape

from aggregator.publish import facets, fts, pages, redirects
from aggregator.publish.display import clean_html, codes, is_loopback, language_name

STATIC_MOUNT = "-/publish"
UNAVAILABLE = ("An address on the machine that built this database (the demo's sample feeds): "
               "there is no page to open")


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [
        (r"^/$", pages.home),
        (r"^/-/story/(?P<id>[0-9]+)$", pages.story),
        (r"^/-/find$", pages.find),
    ]


@hookimpl
def asgi_wrapper(datasette: Any) -> Any:
    """Datasette's pages for a merged story (row, articles query) redirect to the survivor."""
    return lambda app: redirects.MergeRedirects(app, datasette)


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
            UNAVAILABLE, value)
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
