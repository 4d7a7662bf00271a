"""Reading what clustering needs from the database: the articles ready to be clustered (in
canonical order), the clustered articles of a window with their stories, as columns
(aggregator/cluster/window.py's `Rows`) rather than one object per article.

Query columns are read by name (sqlite3.Row): on the 100,000-article rebuild of
bench/bench_cluster.py, reading plain tuples by position was not measurably faster.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from aggregator.cluster import kernel
from aggregator.cluster.centering import LanguageMeans
from aggregator.cluster.weights import DocumentFrequency
from aggregator.cluster.window import Article, LanguageFirst, Rows, Story
from aggregator.keywords import HASH_DTYPE, OWNER_DTYPE
from aggregator.vectors import (
    DTYPE,
    ENGLISH,
    HAS_ENGLISH,
    HAS_TEXT,
    MULTILINGUAL,
    SETTLED,
    from_blob,
)

# Article time: publication, else fetch time; a publication date in the future is not trusted.
AT = (
    "CASE WHEN a.published_at IS NOT NULL AND a.published_at <= a.fetched_at "
    "THEN a.published_at ELSE a.fetched_at END"
)
# What `to_rows` reads, by these names (an Article's fields, then the vectors and signature).
ARTICLE_COLUMNS = f"""
    a.id AS id, {AT} AS at, CAST(strftime('%s', {AT}) AS REAL) AS t, a.feed_id AS feed_id,
    f.country AS country, COALESCE(a.language, f.language, 'und') AS language,
    a.title AS title, a.title_en AS title_en, m.vector AS multi, e.vector AS english,
    k.language AS k_language, k.glossed AS glossed, k.ids AS ids, k.alts AS alts,
    k.owners AS owners"""
ARTICLE_FIELDS = tuple(field.name for field in dataclasses.fields(Article))
ARTICLE_JOINS = f"""
    JOIN feeds f ON f.id = a.feed_id
    LEFT JOIN embeddings m
        ON m.article_id = a.id AND m.space = '{MULTILINGUAL}' AND m.model = :multi
    LEFT JOIN embeddings e
        ON e.article_id = a.id AND e.space = '{ENGLISH}' AND e.model = :english
    LEFT JOIN article_keywords k ON k.article_id = a.id"""
READY_WHERE = f"""
WHERE a.cluster_id IS NULL AND {SETTLED} AND (NOT {HAS_TEXT} OR (
    m.article_id IS NOT NULL
    AND k.version IN (SELECT value FROM json_each(:versions))
    AND (NOT {HAS_ENGLISH} OR e.article_id IS NOT NULL)))"""
# The ready articles, unordered, with what orders them and with their languages and vectors
# (for the language means): one pass, and the order is made in Python (`ready`). Sorting in
# SQL needed a second pass for the vectors, since sorting 100,000 rows would carry the
# kilobyte-sized vectors through the sort.
READY = f"""
SELECT a.id, {AT} AS at, a.content_hash, f.url, COALESCE(a.language, f.language, 'und'),
    m.vector
FROM articles a {ARTICLE_JOINS} {READY_WHERE}
"""
CHUNK = 4096  # ready vectors summed at a time


def records(conn: sqlite3.Connection, sql: str, params: dict) -> list[sqlite3.Row]:
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row
    return cursor.execute(sql, params).fetchall()


def ready(conn: sqlite3.Connection, params: dict, means: LanguageMeans) -> list[int]:
    """The ids of the articles ready to be clustered, in canonical order (article time,
    content hash, feed url); their multilingual vectors are added to `means`, CHUNK at a time
    (a rebuild reads 100,000)."""
    cursor = conn.cursor()
    cursor.row_factory = None
    cursor.execute(READY, params)
    keys: list[tuple] = []
    languages: list[str] = []
    blobs: list[bytes] = []
    dim = None
    while chunk := cursor.fetchmany(CHUNK):
        keys.extend(
            (at, content_hash, url, article_id) for article_id, at, content_hash, url, *_ in chunk
        )
        for *_, language, blob in chunk:
            if blob is not None:
                languages.append(language)
                blobs.append(blob)
        while len(blobs) >= CHUNK:
            dim = _add_to_means(means, languages[:CHUNK], blobs[:CHUNK], dim)
            del languages[:CHUNK], blobs[:CHUNK]
    if blobs:
        _add_to_means(means, languages, blobs, dim)
    return [key[-1] for key in _sorted_as_sqlite(keys)]


def _add_to_means(
    means: LanguageMeans, languages: list[str], blobs: list[bytes], dim: int | None
) -> int:
    """Add stored vectors to `means`; return the vector size (the commonest among the first
    vectors, so a damaged one cannot set it)."""
    dim = dim or _commonest_dim(blobs)
    assert dim is not None  # these are stored vectors
    vectors, present = _vectors(blobs, dim)
    means.add([lang for lang, ok in zip(languages, present, strict=True) if ok], vectors[present])
    return dim


def _sorted_as_sqlite(keys: list[tuple]) -> list[tuple]:
    """The keys in the order SQL's ORDER BY gives (BINARY collation: text by code point, as
    UTF-8 bytes compare). Values of mixed types, which only a damaged row has, are ranked as
    SQLite ranks them: NULL, numbers, text, blobs."""
    try:
        return sorted(keys)
    except TypeError:
        return sorted(keys, key=lambda key: tuple(map(_sqlite_rank, key)))


def _sqlite_rank(value: object) -> tuple[int, object]:
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, bytes(value))  # type: ignore[call-overload]


def articles(conn: sqlite3.Connection, ids: list[int], params: dict) -> list[sqlite3.Row]:
    """The records of `ids`, in that order."""
    found = records(
        conn,
        f"SELECT {ARTICLE_COLUMNS} FROM articles a {ARTICLE_JOINS} "
        "WHERE a.id IN (SELECT value FROM json_each(:ids))",
        {**params, "ids": json.dumps(ids)},
    )
    order = {article_id: index for index, article_id in enumerate(ids)}
    found.sort(key=lambda record: order[record["id"]])
    return found


def clustered(conn: sqlite3.Connection, low: str, high: str, params: dict) -> list[sqlite3.Row]:
    """The records of clustered articles with a time in [low, high] and a multilingual vector
    (the window holds only those), with their story id (`cluster_id`), in canonical order."""
    return records(
        conn,
        f"SELECT {ARTICLE_COLUMNS}, cm.cluster_id AS cluster_id FROM cluster_members cm "
        f"JOIN articles a ON a.id = cm.article_id {ARTICLE_JOINS} "
        "WHERE cm.at >= :low AND cm.at <= :high AND m.vector IS NOT NULL "
        "ORDER BY cm.at, a.content_hash, f.url",
        {**params, "low": low, "high": high},
    )


def to_rows(
    found: Sequence[sqlite3.Row],
    frequency: DocumentFrequency,
    codes: dict[str, int],
    dims: tuple[int, int],
    means: LanguageMeans | None = None,
    count_into: LanguageMeans | None = None,
) -> Rows:
    """Records as columns, multilingual vectors centred by `means` (and, as read, counted into
    `count_into`). `codes` numbers the languages and keying languages (grown as new ones
    appear)."""
    n = len(found)
    columns: dict[str, tuple] = defaultdict(tuple)  # no records: every column empty
    if found:
        columns = dict(zip(found[0].keys(), zip(*found, strict=True), strict=True))
    articles = list(map(Article, *(columns[name] for name in ARTICLE_FIELDS)))
    multi, has_multi = _vectors(columns["multi"], dims[0])
    languages = [article.language for article in articles]
    if count_into is not None and has_multi.any():
        count_into.add(
            [lang for lang, ok in zip(languages, has_multi, strict=True) if ok], multi[has_multi]
        )
    if means is not None:
        multi = means.centre(languages, multi, has_multi)
    english, has_english = _vectors(columns["english"], dims[1])
    ids_blobs = [blob or b"" for blob in columns["ids"]]
    alts_blobs = [blob or b"" for blob in columns["alts"]]
    for language in (set(columns["k_language"]) | set(languages)) - set(codes) - {None}:
        codes[language] = len(codes)
    lang = np.array([codes[language] for language in languages], dtype=np.int32)
    kw_lang = np.array(
        [
            -1 if blob is None else codes[language]
            for blob, language in zip(columns["ids"], columns["k_language"], strict=True)
        ],
        dtype=np.int32,
    )
    kw_glossed = np.array(columns["glossed"], dtype=object).astype(bool)
    size = HASH_DTYPE.itemsize
    id_count = np.fromiter(map(len, ids_blobs), dtype=np.int64, count=n) // size
    alt_count = np.fromiter(map(len, alts_blobs), dtype=np.int64, count=n) // size
    ids = np.frombuffer(b"".join(ids_blobs), dtype=HASH_DTYPE).astype(np.int64)
    weights = frequency.weights_of(ids)
    kw_total = np.bincount(np.repeat(np.arange(n), id_count), weights=weights, minlength=n)
    alts = np.frombuffer(b"".join(alts_blobs), dtype=HASH_DTYPE).astype(np.int64)
    owners = np.frombuffer(b"".join(blob or b"" for blob in columns["owners"]), dtype=OWNER_DTYPE)
    owners = owners.astype(np.int32)
    kernel.sort_within(alts, owners, alt_count)
    return Rows(
        articles=articles,
        multi=multi,
        has_multi=has_multi,
        lang=lang,
        english=english,
        has_english=has_english,
        kw_lang=kw_lang,
        kw_glossed=kw_glossed,
        kw_total=kw_total,
        id_count=id_count,
        ids=ids,
        weights=weights,
        alt_count=alt_count,
        alts=alts,
        owners=owners,
    )


def _vectors(blobs: Sequence[bytes | None], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The vectors as a matrix, and which rows have one. A vector of another size or with a
    non-finite value (a damaged row) counts as none, so one bad article never stops a run: it
    is clustered without that signal (docs/reliability.md)."""
    size = dim * DTYPE.itemsize
    present = np.array([blob is not None and len(blob) == size for blob in blobs], dtype=bool)
    matrix = np.zeros((len(blobs), dim), dtype=np.float32)
    if present.any():
        joined = b"".join(
            blob for blob, ok in zip(blobs, present, strict=True) if ok and blob is not None
        )
        matrix[present] = from_blob(joined).reshape(-1, dim)  # one decode for all of them
        finite = np.isfinite(matrix).all(axis=1)
        matrix[~finite] = 0
        present &= finite
    return matrix, present


def _commonest_dim(blobs: Iterable[bytes | None]) -> int | None:
    """The commonest vector size among stored vectors (so a damaged one cannot set it)."""
    sizes = Counter(len(blob) // DTYPE.itemsize for blob in blobs if blob is not None)
    return sizes.most_common(1)[0][0] if sizes else None


def dims(conn: sqlite3.Connection, found: list[sqlite3.Row], params: dict) -> tuple[int, int]:
    """The two vector sizes: the commonest among the records (a damaged row cannot set it),
    else the database's."""

    def dim(space: str, model: str, column: str) -> int:
        found_dim = _commonest_dim([record[column] for record in found])
        if found_dim:
            return found_dim
        stored = conn.execute(
            "SELECT dim FROM embeddings WHERE space = ? AND model = ? "
            "GROUP BY dim ORDER BY count(*) DESC LIMIT 1",
            (space, model),
        ).fetchone()
        return stored["dim"] if stored else 1

    return (
        dim(MULTILINGUAL, params["multi"], "multi"),
        dim(ENGLISH, params["english"], "english"),
    )


def stories(conn: sqlite3.Connection, story_ids: list[int]) -> dict[int, Story]:
    """The stored summaries of these stories."""
    wanted = json.dumps(sorted(story_ids))
    found: dict[int, Story] = {}
    for row in conn.execute(
        "SELECT * FROM clusters WHERE id IN (SELECT value FROM json_each(?))", (wanted,)
    ):
        found[row["id"]] = Story(
            id=row["id"],
            first_seen_at=row["first_seen_at"],
            last_seen_at=row["last_seen_at"],
            article_count=row["article_count"],
            countries=json.loads(row["countries"]),
            first_language=row["first_language"],
            first_feed_id=row["first_feed_id"],
            first_article_id=row["first_article_id"],
            headline_en=row["headline_en"],
            headline=row["headline"],
        )
    for row in conn.execute(
        "SELECT * FROM cluster_languages WHERE cluster_id IN (SELECT value FROM json_each(?))",
        (wanted,),
    ):
        found[row["cluster_id"]].languages[row["language"]] = LanguageFirst(
            row["first_seen_at"],
            row["first_article_id"],
            row["first_feed_id"],
            row["article_count"],
        )
    return found
