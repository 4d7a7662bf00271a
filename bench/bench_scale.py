"""Scaling out: translate + embed in process versus on Ray actors, with the same cores.

    .venv/bin/python bench/bench_scale.py [--articles 2000] [--cpus 2]

Articles: the real news texts of the shared development sets (../shared/dev-data, read in
place: SemEval-2022 pairs in seven languages and the WMT22 fr/de stories), repeated with a
number appended when more are asked for than exist, so no text is a translation-cache hit.
Every mode gets its own copy of one database of them and runs the real stages on it:

- `local`: `Aggregator.run("translate")` then `run("embed")` in this process (translate on its
  two worker threads, embed with torch's threads), the default engine;
- `ray N`: the same, with `process` on N Ray actors of a local Ray cluster started here with
  `--cpus` CPUs (one CPU per actor), this process reading and saving as the coordinator.

Printed, from this one run: each mode's wall time and articles/s, Ray's throughput as a share
of in-process with the same cores (the issue asks >= 0.85x) and the growth from 1 to 2 actors;
CPU-seconds per article of each stage (in process, this process and its Apertium children);
what the single SQLite writer sustains (articles saved per second with every index and FTS
trigger in place: the poll insert, the translation update and the two vector rows, each in
transactions of 256) and the database size per article. The load average is printed beside
each figure: the machine is shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aggregator import compute, store  # noqa: E402
from aggregator.api import Aggregator  # noqa: E402
from aggregator.config import Config, parse  # noqa: E402
from aggregator.timeutil import now_iso  # noqa: E402

DEV = REPO.parent / "shared" / "dev-data"
SEMEVAL = DEV / "semeval22-pairs-dev.jsonl"
WMT = DEV / "wmt22-fr-de-news.jsonl"
SAVE_BATCH = 256


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}"


def texts() -> list[tuple[str, str, str]]:
    """(language, title, summary) of every distinct real article in the development sets."""
    seen: dict[str, tuple[str, str, str]] = {}
    for line in SEMEVAL.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for side in ("1", "2"):
            seen.setdefault(
                row["id" + side], (row["lang" + side], row["title" + side], row["text" + side])
            )
    for index, line in enumerate(WMT.read_text(encoding="utf-8").splitlines()):
        row = json.loads(line)
        seen.setdefault(f"wmt{index}", (row["lang"], row["title"], row["summary"]))
    return list(seen.values())


def config(languages: list[str]) -> Config:
    feeds = [
        {"url": f"http://bench.test/{lang}.xml", "name": lang, "language": lang}
        for lang in languages
    ]
    return parse(json.dumps({"feeds": feeds}), source="bench")


def make_db(path: Path, cfg: Config, articles: list[tuple[str, str, str]]) -> None:
    conn = store.connect(path)
    store.sync_feeds(conn, cfg.feeds, now_iso())
    feed = {row[1]: row[0] for row in conn.execute("SELECT id, name FROM feeds")}
    with store.transaction(conn):
        conn.executemany(
            "INSERT INTO articles (feed_id, guid, content_hash, title, summary, language, "
            "language_source, fetched_at) VALUES (?, ?, ?, ?, ?, ?, 'config', ?)",
            [
                (feed[lang], f"g{i}", f"h{i}", title, summary, lang, now_iso())
                for i, (lang, title, summary) in enumerate(articles)
            ],
        )
    conn.close()


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_mode(db: Path, cfg: Config) -> dict[str, Any]:
    """Translate, then embed; wall and CPU time of each (CPU: this process and its children)."""
    out: dict[str, Any] = {}
    started = time.perf_counter()
    with compute.processors(cfg) as processors:  # Ray: actors started, checked, models loaded
        if processors:
            processors["embed"].pool.warm()  # every actor's models loaded before timing
        else:
            compute.build_worker("embed", cfg)  # the same here
        out["pool_s"] = time.perf_counter() - started
        with Aggregator(db, feeds=cfg) as agg:
            for stage in ("translate", "embed"):
                wall, cpu = time.perf_counter(), cpu_seconds()
                (report,) = agg.run(stage, processors=processors)
                out[stage] = (time.perf_counter() - wall, cpu_seconds() - cpu, str(report))
    out["wall_s"] = out["translate"][0] + out["embed"][0]
    return out


def writer(source: Path, folder: Path, cfg: Config) -> dict[str, float]:
    """Articles saved per second by the one writer, with every index and FTS trigger: the rows
    of a finished database written again into a new one, as poll, translate and embed save
    them (transactions of SAVE_BATCH articles)."""
    src = sqlite3.connect(source)
    articles = src.execute(
        "SELECT feed_id, guid, content_hash, title, summary, language, title_en, summary_en, "
        "translation_backend, translation_model FROM articles ORDER BY id"
    ).fetchall()
    vectors = src.execute(
        "SELECT article_id, space, model, dim, vector, text_hash FROM embeddings "
        "ORDER BY article_id"
    ).fetchall()
    src.close()
    conn = store.connect(folder / "writer.db")
    store.sync_feeds(conn, cfg.feeds, now_iso())  # the same feeds, in the same order: same ids
    now = now_iso()
    timings = {}

    def timed(name: str, rows: list, sql: str, shape: Any) -> None:
        started = time.perf_counter()
        for start in range(0, len(rows), SAVE_BATCH):
            with store.transaction(conn):
                conn.executemany(sql, [shape(row) for row in rows[start : start + SAVE_BATCH]])
        timings[name] = len(articles) / (time.perf_counter() - started)

    timed(
        "poll insert",
        list(enumerate(articles, start=1)),
        "INSERT INTO articles (id, feed_id, guid, content_hash, title, summary, language, "
        "language_source, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'config', ?)",
        lambda r: (r[0], *r[1][:6], now),
    )
    timed(
        "translation update",
        list(enumerate(articles, start=1)),
        "UPDATE articles SET title_en = ?, summary_en = ?, translation_backend = ?, "
        "translation_model = ?, translated_at = ? WHERE id = ?",
        lambda r: (r[1][6], r[1][7], r[1][8], r[1][9], now, r[0]),
    )
    timed(
        "vector rows",
        vectors,
        "INSERT OR REPLACE INTO embeddings (article_id, space, model, dim, vector, text_hash, "
        "embedded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        lambda r: (*r, now),
    )
    conn.close()
    timings["all three"] = 1 / sum(1 / rate for rate in timings.values())
    return timings


def size_per_article(db: Path) -> float:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    count = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    conn.close()
    return db.stat().st_size / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    args = parser.parse_args()
    base = texts()
    articles = [
        (lang, title if n == 0 else f"{title} ({n})", summary if n == 0 else f"{summary} ({n})")
        for n in range(args.articles // len(base) + 1)
        for lang, title, summary in base
    ][: args.articles]
    languages = sorted({lang for lang, _, _ in articles})
    cfg = config(languages)
    folder = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    template = folder / "template.db"
    make_db(template, cfg, articles)
    print(f"{len(articles)} articles ({', '.join(languages)}); {os.cpu_count()} cores; {load()}")

    # Every node on loopback (see tests/test_compute_ray.py); no usage report over the network.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray_temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit
    os.environ["RAY_TMPDIR"] = ray_temp
    import ray

    results = {}
    modes = [("local", None), ("ray 2", 2), ("ray 1", 1)]
    try:
        for name, actors in modes:
            db = folder / f"{name.replace(' ', '')}.db"
            shutil.copy(template, db)
            mode_cfg = cfg
            if actors is not None:
                if not ray.is_initialized():
                    ray.init(
                        num_cpus=args.cpus,
                        include_dashboard=False,
                        logging_level="warning",
                        log_to_driver=False,
                    )
                mode_cfg = compute.with_ray(cfg, "auto")
                settings = dataclasses.replace(
                    mode_cfg.settings.compute, translate_actors=actors, embed_actors=actors
                )
                mode_cfg = dataclasses.replace(
                    mode_cfg, settings=dataclasses.replace(mode_cfg.settings, compute=settings)
                )
            before = load()
            results[name] = out = run_mode(db, mode_cfg)
            rate = len(articles) / out["wall_s"]
            print(
                f"{name:>6}: {out['wall_s']:7.1f} s  {rate:6.1f} articles/s  "
                f"(translate {out['translate'][0]:.1f} s, embed {out['embed'][0]:.1f} s; "
                f"models loaded (and actors started and checked) before, in {out['pool_s']:.1f} s)"
                f" [{before} -> {load()}]"
            )
            for stage in ("translate", "embed"):
                print(f"        {out[stage][2]}")
    finally:
        if ray.is_initialized():
            ray.shutdown()
        shutil.rmtree(ray_temp, ignore_errors=True)
    local, ray2, ray1 = (results[name]["wall_s"] for name in ("local", "ray 2", "ray 1"))
    same = f"on the same {args.cpus} cores"
    print(f"Ray, 2 actors, vs in process {same}: {local / ray2:.2f}x throughput")
    print(f"Ray, 1 -> 2 actors: {ray1 / ray2:.2f}x throughput")
    n = len(articles)
    print(
        "CPU-seconds per article in process: "
        f"translate {results['local']['translate'][1] / n:.3f}, "
        f"embed {results['local']['embed'][1] / n:.3f}"
    )
    rates = writer(folder / "local.db", folder, cfg)
    print(
        "single writer, articles saved per second (indexes and FTS in place): "
        + ", ".join(f"{k} {v:,.0f}" for k, v in rates.items())
        + f" [{load()}]"
    )
    print(
        f"database size: {size_per_article(folder / 'local.db'):,.0f} bytes per article "
        "(translated, embedded, not clustered)"
    )
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
