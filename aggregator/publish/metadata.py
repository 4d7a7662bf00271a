"""Datasette metadata for one aggregator database: metadata.yaml plus what only the data knows.

Added here: the database's name, the canned queries, `hidden` for every table that is not part
of the public schema (caches, vectors, FTS indexes and their shadow tables), and the translation
and embedding models the database was actually built with, named with their versions.
"""

from __future__ import annotations

import html
import re
import sqlite3
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from aggregator.publish import queries

# Everything else (language_means, the caches, the FTS shadow tables...) is hidden.
PUBLIC_TABLES = ("feeds", "fetches", "articles", "articles_by_outlet", "clusters",
                 "cluster_languages", "article_versions", "cluster_merges")  # fmt: skip


def static_metadata() -> dict[str, Any]:
    text = resources.files("aggregator.publish").joinpath("metadata.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def build(db_path: str | Path, conn: sqlite3.Connection) -> dict[str, Any]:
    """The metadata dict for Datasette(metadata=...)."""
    meta = static_metadata()
    tables = meta.pop("tables")
    for table in tables.values():
        if "column_order" in table and "columns" in table:
            # The column descriptions above a table are listed in the order its columns show.
            table["columns"] = {
                name: table["columns"][name]
                for name in [*table["column_order"], *table["columns"]]
                if name in table["columns"]
            }
    for name in _internal_tables(conn):
        tables[name] = {"hidden": True}
    meta["description"] = f"{meta['description']} {_models_note(conn)}"
    meta["databases"] = {
        Path(db_path).stem: {
            "tables": tables,
            "queries": {
                # hide_sql: readers see the form and results; "Show SQL" is one click away.
                # `empty_html` is ours: templates/query.html shows it when the query has no rows.
                query.name: {
                    "title": query.title,
                    # Read on the query page with the `names` in code type (description_html)
                    # and as plain text where Datasette shows it as hover text: no backticks.
                    "description": query.description.replace("`", ""),
                    "description_html": code_spans(query.description),
                    "sql": query.sql.strip(),
                    "hide_sql": True,
                    "empty_html": code_spans(query.empty),
                    # Ours too, for the form (templates/query.html): each parameter's default
                    # (as the SQL applies it), what it means, and an example for the others.
                    "parameter_defaults": queries.parameter_defaults(query.sql),
                    "parameter_hints": queries.PARAMETER_HINTS,
                    "parameter_examples": queries.PARAMETER_EXAMPLES,
                }
                for query in queries.CANNED
            },
        }
    }
    return meta


def code_spans(text: str) -> str:
    """Text as HTML, its `backticked` names as <code>: the queries' descriptions and hints are
    written with backticks, which a reader should not see."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))


def _internal_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
        "AND name NOT LIKE 'sqlite_%' ORDER BY name"
    )
    return [row[0] for row in rows if row[0] not in PUBLIC_TABLES]


def _models_note(conn: sqlite3.Connection) -> str:
    """Which models made the English text and the embeddings, from the data itself."""
    translation = [
        f"{row['model']} ({row['articles']:,} articles)" for row in conn.execute(queries.MODELS)
    ]
    embedding = [row["model"] for row in conn.execute(queries.EMBEDDING_MODELS)]
    notes = [
        "Translations: " + ("; ".join(translation) if translation else "none yet") + ".",
        "Embeddings: " + (", ".join(dict.fromkeys(embedding)) if embedding else "none yet") + ".",
        "Machine translations can be wrong; the original text is always shown beside them.",
    ]
    return " ".join(notes)
