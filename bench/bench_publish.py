"""Publishing speed on a 100,000-article database: home page, story page, day page, Atom feed,
facets, search.

    .venv/bin/python bench/bench_publish.py [--articles 100000] [--repeats 7] [--regenerate]

Builds (once, cached in bench/results/) a synthetic database with realistic shapes: 250 feeds in
30 languages with Zipf-like volumes, 30 days of articles, stories whose sizes follow a Pareto
law (most stories have one article, a few have over a hundred in 20+ languages), original
titles in Latin, Cyrillic, Arabic and CJK scripts, a few languages without a translation model.
The rows go in through the real schema, so the FTS triggers do their real work. Like a
database the pipeline fills, it has no planner statistics (the pipeline never runs ANALYZE);
`--analyze` builds a separate copy with them, to show what they would change.

Each page is fetched through Datasette's ASGI app in-process (routing, SQL, templates), and the
same SQL is then run directly with sqlite3: the ratio is what Datasette and the templates add.
Figures are medians of several repeats; the machine is shared, so read ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aggregator import provenance, store  # noqa: E402
from aggregator.publish import fts, queries  # noqa: E402
from aggregator.publish.serve import make_datasette  # noqa: E402
from aggregator.timeutil import to_iso, utcnow  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS_MS = {"home page": 200, "story page": 200, "day page": 200, "atom feed": 200, "facets": 500}

# (code, share of feeds, countries, script)
LANGUAGES = [
    ("en", 40, "GB US AU IE CA IN ZA NG", "latin"), ("es", 18, "ES MX AR CO CL", "latin"),
    ("fr", 16, "FR BE CH SN CA", "latin"), ("de", 14, "DE AT CH", "latin"),
    ("ru", 12, "RU BY KZ", "cyrillic"), ("ar", 12, "QA EG SA AE LB", "arabic"),
    ("pt", 10, "BR PT", "latin"), ("it", 9, "IT", "latin"), ("zh", 9, "CN TW HK SG", "cjk"),
    ("ja", 8, "JP", "cjk"), ("tr", 6, "TR", "latin"), ("pl", 6, "PL", "latin"),
    ("nl", 5, "NL BE", "latin"), ("uk", 5, "UA", "cyrillic"), ("ko", 5, "KR", "cjk"),
    ("fa", 4, "IR", "arabic"), ("hi", 4, "IN", "latin"), ("id", 4, "ID", "latin"),
    ("sv", 3, "SE", "latin"), ("cs", 3, "CZ", "latin"), ("el", 3, "GR", "latin"),
    ("he", 3, "IL", "arabic"), ("ro", 3, "RO", "latin"), ("hu", 2, "HU", "latin"),
    ("vi", 2, "VN", "latin"), ("th", 2, "TH", "cjk"), ("fi", 2, "FI", "latin"),
    ("da", 2, "DK", "latin"), ("bg", 2, "BG", "cyrillic"), ("sw", 2, "KE TZ", "latin"),
]  # fmt: skip
NO_MODEL = {"ko", "th", "sw"}
NEWS_WORDS = (
    "government minister election president police attack court protest economy market prices "
    "inflation war ceasefire talks summit climate flood earthquake storm fire health vaccine "
    "hospital strike workers union bank rates budget tax energy gas oil nuclear border migrants "
    "refugees trade tariffs football championship final victory defeat record scientists study "
    "space launch satellite technology company shares profits layoffs deal parliament vote "
    "reform pension school students university court ruling judge trial prison "
)
WORDS = NEWS_WORDS.split()
SCRIPTS = {
    "cyrillic": dict(zip("abcdefghijklmnopqrstuvwxyz", "абцдефгхийклмнопярстуввхыз", strict=True)),
    "arabic": dict(zip("abcdefghijklmnopqrstuvwxyz", "ابتثجحخدذرزسشصضطظعغفقكلمنه", strict=False)),
}


def original_word(word: str, language: str, script: str, rng: random.Random) -> str:
    if script == "cjk":
        return "".join(chr(0x4E00 + rng.randrange(20000)) for _ in range(2))
    if script in SCRIPTS:
        return "".join(SCRIPTS[script].get(c, c) for c in word)
    return word + rng.choice(("", "a", "en", "o", "es", "ung", "i")) if language != "en" else word


def build(
    path: Path, total: int, seed: int = 42, quiet: bool = False, analyze: bool = False
) -> None:
    rng = random.Random(seed)
    conn = store.connect(path)
    now = utcnow()
    feeds = make_feeds(conn, rng, now)
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(feeds))]
    started = time.perf_counter()
    made = 0
    cluster_id = 0
    with store.transaction(conn):
        while made < total:
            cluster_id += 1
            size = min(int(rng.paretovariate(1.25)), 150, total - made)
            made += make_story(conn, rng, cluster_id, size, feeds, weights, now)
    if analyze:  # only with --analyze: the pipeline never runs ANALYZE (no sqlite_stat1)
        conn.execute("ANALYZE")
    conn.close()
    if not quiet:
        print(
            f"built {made:,} articles in {cluster_id:,} stories, {len(feeds)} feeds: "
            f"{time.perf_counter() - started:.0f} s, {path.stat().st_size / 1e6:.0f} MB"
        )


def make_feeds(conn: sqlite3.Connection, rng: random.Random, now) -> list[tuple]:
    feeds = []
    pool = [lang for lang in LANGUAGES for _ in range(lang[1])]
    for feed_id in range(1, 251):
        code, _, countries, script = rng.choice(pool)
        country = rng.choice(countries.split())
        state = rng.choices(["active", "backoff", "dead"], [94, 4, 2])[0]
        conn.execute(
            "INSERT INTO feeds (id, url, name, language, country, state, last_status, "
            "error_count, added_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                feed_id,
                f"https://feeds.example/{feed_id}.xml",
                f"{code.upper()} Outlet {feed_id}",
                code,
                country,
                state,
                "ok" if state == "active" else "HTTP 503",
                0 if state == "active" else 5,
                to_iso(now - timedelta(days=60)),
            ),
        )
        feeds.append((feed_id, code, country, script))
    return feeds


def make_story(conn, rng, cluster_id, size, feeds, weights, now) -> int:
    topic = rng.sample(WORDS, 6)
    start = now - timedelta(days=30) + timedelta(seconds=rng.uniform(0, 30 * 86400))
    # Big stories spread across languages; the rest stay mostly in the first one.
    spread = min(0.6, 0.05 + math.log(size + 1) / 8)
    chosen = [rng.choices(feeds, weights)[0]]
    for _ in range(size - 1):
        same = [f for f in feeds if f[1] in {c[1] for c in chosen}]
        pool = feeds if rng.random() < spread else same
        chosen.append(rng.choice(pool))
    rows = []
    for index, (feed_id, language, country, script) in enumerate(chosen):
        at = start + timedelta(seconds=0 if index == 0 else rng.expovariate(1 / 14400))
        rows.append((to_iso(min(at, now)), feed_id, language, country, script))
    rows.sort()
    first_id = None
    for index, (at, feed_id, language, _, script) in enumerate(rows):
        article_id = insert_article(
            conn, rng, cluster_id, index, topic, at, feed_id, language, script
        )
        first_id = first_id or article_id
    write_cluster(conn, cluster_id, rows, first_id, topic)
    return size


def insert_article(conn, rng, cluster_id, index, topic, at, feed_id, language, script) -> int:
    words = topic[:4] + rng.sample(WORDS, 2)
    title_en = " ".join(words).capitalize()
    summary_en = " ".join(rng.choices(WORDS, k=30)).capitalize() + "."
    title = " ".join(original_word(w, language, script, rng) for w in words)
    summary = " ".join(original_word(w, language, script, rng) for w in summary_en.split())
    if language == "en":
        backend, model = provenance.COPY, None
    elif language in NO_MODEL:
        backend, model = provenance.no_model_backend(language), None
        title_en, summary_en = None, None
    else:
        backend, model = "argos", f"argos {language}-en 1.9"
    pending = rng.random() < 0.02
    if pending:
        backend = model = title_en = summary_en = None
    published = None if rng.random() < 0.03 else at
    return conn.execute(
        "INSERT INTO articles (feed_id, guid, url, content_hash, title, summary, language, "
        "language_source, published_at, fetched_at, title_en, summary_en, translation_backend,"
        " translation_model, translated_at, cluster_id) "
        "VALUES (?,?,?,?,?,?,?, 'config', ?,?,?,?,?,?,?, NULL)",
        (
            feed_id,
            f"{cluster_id}-{index}",
            f"https://news.example/{cluster_id}/{index}",
            f"{cluster_id}-{index}",
            title,
            summary,
            language,
            published,
            at,
            title_en,
            summary_en,
            backend,
            model,
            None if pending else at,
        ),
    ).lastrowid


def write_cluster(conn, cluster_id, rows, first_id, topic) -> None:
    languages = list(dict.fromkeys(r[2] for r in rows))
    countries = list(dict.fromkeys(r[3] for r in rows))
    conn.execute(
        "INSERT INTO clusters (id, headline_en, first_seen_at, last_seen_at, article_count, "
        "language_count, languages, countries, first_language, first_feed_id, first_article_id,"
        " updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            cluster_id,
            " ".join(topic[:4]).capitalize(),
            rows[0][0],
            rows[-1][0],
            len(rows),
            len(languages),
            json.dumps(languages),
            json.dumps(countries),
            rows[0][2],
            rows[0][1],
            first_id,
            rows[-1][0],
        ),
    )
    start = rows[0][0]
    for language in languages:
        mine = [r for r in rows if r[2] == language]
        delay = seconds_between(start, mine[0][0])
        conn.execute(
            "INSERT INTO cluster_languages VALUES (?,?,?,?,?,?,?)",
            (cluster_id, language, mine[0][0], None, mine[0][1], len(mine), delay),
        )
    conn.execute(
        "UPDATE articles SET cluster_id = ? WHERE id BETWEEN ? AND ?",
        (cluster_id, first_id, first_id + len(rows) - 1),
    )


def seconds_between(a: str, b: str) -> int:
    from aggregator.timeutil import from_iso

    return int((from_iso(b) - from_iso(a)).total_seconds())


# --- Measuring -------------------------------------------------------------------------------


def median_ms(run: Callable[[], object], repeats: int) -> float:
    run()  # warm caches, as a server that has been up for a while
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def amedian_ms(run: Callable[[], Awaitable[object]], repeats: int) -> float:
    await run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        await run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def raw_cases(
    conn: sqlite3.Connection, story: int, db: str, day: str
) -> dict[str, Callable[[], object]]:
    """The SQL each page runs, straight through sqlite3."""
    top = {"hours": queries.TOP_HOURS, "limit": queries.TOP_LIMIT}

    def home() -> None:
        conn.execute(queries.TOP_STORIES.sql, top).fetchall()
        conn.execute(queries.NEWEST_ARTICLE).fetchall()
        conn.execute(queries.FEEDS_STATE).fetchall()
        until = conn.execute(queries.UNTIL_NOW).fetchone()[0]
        since = until[:10] + "T00:00:00Z"
        conn.execute(
            queries.COVERAGE_BY_DAY, {"since": shift_days(since, -6), "until": until}
        ).fetchall()

    def day_page() -> None:
        conn.execute(queries.DAY_STORIES.sql, {"day": day, "limit": queries.DAY_LIMIT}).fetchall()
        conn.execute(queries.PREVIOUS_DAY, {"since": f"{day}T00:00:00Z"}).fetchall()
        conn.execute(queries.NEXT_DAY, {"until": shift_days(f"{day}T00:00:00Z", 1)}).fetchall()

    def atom_feed() -> None:
        rows = conn.execute(queries.TOP_STORIES_EN.sql, top).fetchall()
        ids = json.dumps([row[0] for row in rows])
        conn.execute(queries.STORY_OUTLETS, {"ids": ids}).fetchall()

    def story_page() -> None:
        conn.execute(queries.STORY, {"id": story}).fetchall()
        conn.execute(queries.PICKUP, {"id": story}).fetchall()
        conn.execute(queries.STORY_ARTICLES.sql, {"id": story}).fetchall()

    def table_page(
        table: str, order: str, columns: tuple[str, ...], arrays: tuple[str, ...] = ()
    ) -> None:
        """What a table page with its default facets runs: count, one page, each facet."""
        conn.execute(f"SELECT count(*) FROM {table}").fetchall()
        conn.execute(f"SELECT * FROM {table} ORDER BY {order} DESC LIMIT 51").fetchall()
        for column in columns:
            conn.execute(
                f"SELECT {column} AS v, count(*) AS n FROM {table} WHERE v IS NOT NULL"
                " GROUP BY v ORDER BY n DESC, v LIMIT 31"
            ).fetchall()
        for column in arrays:  # the "codes" facet's SQL (aggregator/publish/facets.py)
            conn.execute(
                f"WITH inner AS (SELECT * FROM {table}) SELECT j.value, "
                f"count(DISTINCT inner.id) AS n FROM inner, json_each(inner.{column}) j"
                " GROUP BY j.value ORDER BY n DESC, j.value LIMIT 31"
            ).fetchall()

    def facets() -> None:
        table_page(
            "articles",
            "published_at",
            ("language", "translation_backend", "feed_id", "date(published_at)"),
        )

    def country_facet() -> None:
        table_page("articles_by_outlet", "published_at", ("country", "outlet"))

    def array_facets() -> None:
        table_page("clusters", "last_seen_at", ("first_language",), ("languages", "countries"))

    def search() -> None:
        conn.execute(queries.SEARCH.sql, {"q": "earthquake"}).fetchall()

    return {
        "home page": home,
        "story page": story_page,
        "day page": day_page,
        "atom feed": atom_feed,
        "facets": facets,
        "facets: country (view with join)": country_facet,
        "facets: clusters arrays": array_facets,
        "search": search,
    }


def pages(story: int, db: str, day: str) -> dict[str, str]:
    return {
        "home page": "/",
        "story page": f"/-/story/{story}",
        "day page": f"/-/day/{day}",  # the newest day: the most stories
        "atom feed": "/-/top-stories.atom",
        "facets": f"/{db}/articles",  # its default facets: language, backend, feed, date
        "facets: country (view with join)": f"/{db}/articles_by_outlet",
        "facets: clusters arrays": f"/{db}/clusters",
        "search": "/-/find?q=earthquake",
    }


def shift_days(stamp: str, days: int) -> str:
    from aggregator.timeutil import from_iso

    return to_iso(from_iso(stamp) + timedelta(days=days))


async def measure_datasette(path: Path, urls: dict[str, str], repeats: int) -> dict[str, float]:
    ds = make_datasette(path)
    results = {}
    for name, url in urls.items():

        async def fetch(url: str = url) -> None:
            response = await ds.client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        results[name] = await amedian_ms(fetch, repeats)
    return results


def fts_write_cost(articles: int = 3000) -> None:
    """What the FTS triggers add to storing articles: the same rows with and without them."""
    timings = {}
    for with_fts in (True, False):
        path = RESULTS / f"publish-write-{'fts' if with_fts else 'plain'}.db"
        path.unlink(missing_ok=True)
        conn = store.connect(path)
        if not with_fts:
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                "AND name LIKE 'articles_fts_%'"
            ).fetchall():
                conn.execute(f"DROP TRIGGER {name}")
        conn.close()
        started = time.perf_counter()
        build(path, articles, quiet=True)
        timings[with_fts] = time.perf_counter() - started
        size = path.stat().st_size
        timings[(with_fts, "size")] = size
        path.unlink()
    per = {key: timings[key] / articles * 1000 for key in (True, False)}
    print(
        f"generating and storing {articles:,} articles: {per[True]:.2f} ms each with FTS "
        f"triggers, {per[False]:.2f} ms without (ratio {per[True] / per[False]:.1f}); file "
        f"{timings[(True, 'size')] / 1e6:.0f} MB vs {timings[(False, 'size')] / 1e6:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="give the planner ANALYZE statistics (the pipeline never gathers them: without "
        "this flag the database is as a real run leaves it)",
    )
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"publish-{args.articles}{'-analyzed' if args.analyze else ''}.db"
    if args.regenerate or not path.exists():
        path.unlink(missing_ok=True)
        build(path, args.articles, analyze=args.analyze)
    conn = store.connect(path)
    fts.register(conn)
    biggest = "SELECT id FROM clusters ORDER BY article_count DESC LIMIT 1"
    story = conn.execute(biggest).fetchone()[0]
    size = conn.execute(
        "SELECT article_count, language_count FROM clusters WHERE id = ?", (story,)
    ).fetchone()
    stats = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
    ).fetchone()[0]
    state = (
        "present (--analyze, or a file cached before the flag: --regenerate rebuilds it)"
        if stats
        else "none, as a pipeline run leaves the file"
    )
    print(f"planner statistics (sqlite_stat1): {state}")
    print(
        f"database: {path.name}, {path.stat().st_size / 1e6:.0f} MB; story page: story {story}"
        f" ({size[0]} articles, {size[1]} languages); median of {args.repeats} runs"
    )
    day = conn.execute(queries.UNTIL_NOW).fetchone()[0][:10]
    raw = {
        name: median_ms(run, args.repeats)
        for name, run in raw_cases(conn, story, path.stem, day).items()
    }
    conn.close()
    served = asyncio.run(measure_datasette(path, pages(story, path.stem, day), args.repeats))
    print(f"{'page':<34} {'datasette ms':>12} {'sqlite3 ms':>11} {'ratio':>6}  target")
    for name, ms in served.items():
        target = TARGETS_MS.get(name.split(":")[0])
        verdict = "" if target is None else f"< {target} ms {'ok' if ms < target else 'MISSED'}"
        print(f"{name:<34} {ms:>12.1f} {raw[name]:>11.1f} {ms / raw[name]:>6.1f}  {verdict}")
    fts_write_cost()


if __name__ == "__main__":
    main()
