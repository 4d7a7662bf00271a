"""The Atom feed of the top stories in English (/-/top-stories.atom, issue 13 §14), so a feed
reader (Miniflux, FreshRSS, NetNewsWire) can follow the aggregator's output.

One entry per story of the `top_stories_en` canned query (the home page's ranking, stories with
an English headline only): its English headline, the languages and outlets that covered it, and
a link to its story page. Written here with the standard library's ElementTree rather than with
the datasette-atom plugin, because that plugin answers an empty result with an error (it takes
the feed's `updated` from `max()` of no rows), names no author (RFC 4287 requires one on the
feed when entries have none) and can only give the relative links a canned query can compute.
"""

from __future__ import annotations

import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import Any

from datasette.app import Datasette
from datasette.utils.asgi import Request, Response
from markupsafe import Markup

from aggregator.publish import pages, queries
from aggregator.publish.display import codes, counted, format_time, language_name
from aggregator.timeutil import now_iso

ATOM = "http://www.w3.org/2005/Atom"
CONTENT_TYPE = "application/atom+xml; charset=utf-8"
# Characters XML 1.0 cannot carry at all (C0 controls but tab and newlines, U+FFFE/U+FFFF, lone
# surrogates): feed text is plain text, but nothing upstream promises to have removed them.
NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

ET.register_namespace("", ATOM)


async def top_stories(datasette: Datasette, request: Request) -> Response:
    db = datasette.get_database()
    params = {"hours": queries.TOP_HOURS, "limit": queries.TOP_LIMIT}
    rows = (await db.execute(queries.TOP_STORIES_EN.sql, params)).rows
    ids = json.dumps([row["story"] for row in rows])
    outlets: dict[int, list[Any]] = defaultdict(list)
    for row in (await db.execute(queries.STORY_OUTLETS, {"ids": ids})).rows:
        outlets[row["story"]].append(row)
    first_items = {
        row["story"]: (row["feed_url"], row["item"])
        for row in (await db.execute(STORY_FIRST_ITEMS, {"ids": ids})).rows
    }
    title = datasette.metadata("title") or "News across languages"
    feed = _feed(
        title=f"{title}: top stories in English",
        feed_url=datasette.absolute_url(request, datasette.urls.path(pages.ATOM_PATH)),
        home_url=datasette.absolute_url(request, datasette.urls.path("/")),
        author=title,
        updated=max((row["last_seen_at"] for row in rows), default=None) or now_iso(),
    )
    for row in rows:
        story_url = datasette.absolute_url(request, datasette.urls.path(f"/-/story/{row['story']}"))
        entry_id = (
            entry_identity(*first_items[row["story"]]) if row["story"] in first_items else story_url
        )
        feed.append(_entry(row, outlets[row["story"]], story_url, entry_id))
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return Response(body, status=200, content_type=CONTENT_TYPE)


def _feed(title: str, feed_url: str, home_url: str, author: str, updated: str) -> ET.Element:
    feed = ET.Element(f"{{{ATOM}}}feed")
    _add(feed, "id", feed_url)
    _add(feed, "title", title)
    _add(
        feed,
        "subtitle",
        f"The stories most covered across languages in the last {queries.TOP_HOURS} hours, "
        "by languages and outlets, newest weighing most: one entry per story, with the "
        "languages and outlets that covered it.",
    )
    _add(feed, "updated", updated)
    _add(feed, "link", rel="self", type="application/atom+xml", href=feed_url)
    _add(feed, "link", rel="alternate", type="text/html", href=home_url)
    _add(_add(feed, "author"), "name", author)
    _add(feed, "generator", "news-aggregator")
    return feed


# An entry's id must never change (RFC 4287 4.2.6), or a feed reader shows the story again as
# new. The story's page address would change with the Host the feed was read through and with
# the story's number (renumbered by `cluster --rebuild`). Its oldest stored item does not: the
# article of the story stored first (lowest articles.id: a late article dated earlier does not
# replace it, unlike the story's first_article_id), named by its feed's address and its own
# key (guid, else normalised URL, else content hash), made into a name-based UUID. Only a merge
# with an older story changes it, and the merged story is then the older story's entry. (The
# feed's own id is its address, as is usual: another address is another subscription.)
STORY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://news-aggregator.invalid/story")

STORY_FIRST_ITEMS = """
SELECT a.cluster_id AS story, f.url AS feed_url,
       coalesce(a.guid, a.url_key, a.content_hash) AS item
FROM articles a JOIN feeds f ON f.id = a.feed_id
WHERE a.id IN (SELECT (SELECT min(id) FROM articles WHERE cluster_id = j.value)
               FROM json_each(:ids) j)
"""


def entry_identity(feed_url: str, item: str) -> str:
    return f"urn:uuid:{uuid.uuid5(STORY_NAMESPACE, feed_url + chr(10) + item)}"


def _entry(row: Any, outlets: list[Any], story_url: str, entry_id: str) -> ET.Element:
    entry = ET.Element(f"{{{ATOM}}}entry")
    _add(entry, "id", entry_id)
    _add(entry, "title", row["headline_en"], type="text")
    _add(entry, "updated", row["last_seen_at"])
    _add(entry, "published", row["first_seen_at"])
    _add(entry, "link", rel="alternate", type="text/html", href=story_url)
    languages = codes(row["languages"])
    for code in languages:
        _add(entry, "category", term=code, label=language_name(code))
    _add(entry, "summary", _summary(row, languages, outlets), type="text")
    _add(entry, "content", _content(row, languages, outlets, story_url), type="html")
    return entry


def _coverage_line(row: Any, languages: list[str], outlets: list[Any]) -> str:
    count = len({outlet["outlet"] for outlet in outlets})
    return (
        f"Covered in {counted(len(languages), 'language')} "
        f"({', '.join(language_name(code) for code in languages)}) by "
        f"{counted(count, 'outlet')}, {counted(row['article_count'], 'article')}; first seen "
        f"{format_time(row['first_seen_at'])}, last update {format_time(row['last_seen_at'])}."
    )


def _by_language(languages: list[str], outlets: list[Any]) -> list[tuple[str, list[Any]]]:
    """Each language (in the story's order: first coverage first) with its outlets' rows."""
    found: dict[str, list[Any]] = {code: [] for code in languages}
    for outlet in outlets:
        found.setdefault(outlet["language"] or "", []).append(outlet)
    return [(code, rows) for code, rows in found.items() if rows]


def _outlet_note(row: Any) -> str:
    """What follows an outlet's name: its English name (feeds.name_en) and its country."""
    note = ", ".join(part for part in (row["outlet_en"], row["country"]) if part)
    return f" ({note})" if note else ""


def _outlet(row: Any) -> str:
    return row["outlet"] + _outlet_note(row)


def _summary(row: Any, languages: list[str], outlets: list[Any]) -> str:
    parts = [
        f"{language_name(code)}: {', '.join(_outlet(outlet) for outlet in rows)}"
        for code, rows in _by_language(languages, outlets)
    ]
    return _coverage_line(row, languages, outlets) + " " + "; ".join(parts) + "."


def _content(row: Any, languages: list[str], outlets: list[Any], story_url: str) -> str:
    # Outlet names are isolated (<bdi>): an Arabic name beside a country code keeps its order.
    items = Markup("").join(
        Markup("<li>{}: {}</li>").format(
            language_name(code),
            Markup(", ").join(
                Markup("<bdi>{}</bdi>{}").format(outlet["outlet"], _outlet_note(outlet))
                for outlet in rows
            ),
        )
        for code, rows in _by_language(languages, outlets)
    )
    return str(
        Markup('<p>{}</p><ul>{}</ul><p><a href="{}">{}</a></p>').format(
            _coverage_line(row, languages, outlets),
            items,
            story_url,
            "Every article side by side, in the original and in English",
        )
    )


def _add(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(
        parent, f"{{{ATOM}}}{tag}", {key: _xml(value) for key, value in attributes.items()}
    )
    if text is not None:
        element.text = _xml(text)
    return element


def _xml(text: str) -> str:
    return NOT_XML.sub("\ufffd", str(text))
