"""Old story links keep working after the cluster stage merges two stories into one.

When an article shows that two stories are one event, the stage keeps the older id, deletes
the other story's row and records it in `cluster_merges` (chains are possible: A into B, later
B into C). Every address of a story then redirects to the surviving one: the story page
(pages.story), its Datasette row page (`/<db>/clusters/ID`, `.json` too) and its queries
(`/<db>/story_articles.json?id=ID` and `/<db>/story_blindspots.json?id=ID`, the story page's
JSON twins).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from datasette.app import Datasette
from datasette.utils.asgi import Response

from aggregator.publish import queries

# SQLite integers are signed 64-bit: a larger id in a URL can name no story (and would make
# the driver raise OverflowError, a 500, if it were bound).
MAX_ID = 2**63 - 1

# 302, not 301: browsers cache a 301 for good, and `aggregator cluster --rebuild` renumbers
# stories from 1, after which an old id may name another story.
STATUS = 302

Asgi = Any  # an ASGI application: async (scope, receive, send) -> None


def parse_id(text: str | None) -> int | None:
    """A story id from a URL: digits within SQLite's integer range, else None."""
    if not text or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= MAX_ID else None


async def survivor(db: Any, story_id: int) -> int | None:
    """The story `story_id` stands for now: itself, the end of its merges, or None."""
    row = (await db.execute(queries.SURVIVOR, {"id": story_id})).first()
    return None if row is None else row["id"]


async def moved_to(db: Any, story_id: int) -> int | None:
    """The surviving story when `story_id` was merged away; None when it exists or never did."""
    found = await survivor(db, story_id)
    return found if found is not None and found != story_id else None


class MergeRedirects:
    """ASGI middleware: Datasette's own pages for a merged story redirect to the survivor.

    Only the clusters row page and the story_articles query are looked at; any other request
    (and any story that still exists) goes straight to Datasette.
    """

    def __init__(self, app: Asgi, datasette: Datasette) -> None:
        self.app = app
        self.datasette = datasette

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD"):
            location = await self._location(scope)
            if location is not None:
                await Response.redirect(location, status=STATUS).asgi_send(send)
                return
        await self.app(scope, receive, send)

    async def _location(self, scope: dict[str, Any]) -> str | None:
        db = self.datasette.get_database()
        base = re.escape(self.datasette.urls.database(db.name))
        path = scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        row = re.fullmatch(base + r"/clusters/([0-9]+)(\.\w+)?", path)
        if row is not None:
            story_id = parse_id(row.group(1))
            target = None if story_id is None else await moved_to(db, story_id)
            if target is None:
                return None
            url = self.datasette.urls.row(db.name, "clusters", str(target)) + (row.group(2) or "")
            return url + ("?" + query if query else "")
        per_story = "|".join(q.name for q in (queries.STORY_ARTICLES, queries.STORY_BLINDSPOTS))
        articles = re.fullmatch(base + f"/(?:{per_story})" + r"(\.\w+)?", path)
        if articles is not None:
            params = parse_qsl(query, keep_blank_values=True)
            ids = [parse_id(value) for key, value in params if key == "id"]
            if len(ids) != 1 or ids[0] is None:
                return None
            target = await moved_to(db, ids[0])
            if target is None:
                return None
            params = [(key, str(target) if key == "id" else value) for key, value in params]
            return path + "?" + urlencode(params)
        return None
