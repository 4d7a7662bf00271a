"""Evaluate story clustering on labelled articles, through the real pipeline.

    .venv/bin/python bench/eval_clusters.py [DATA.jsonl] [--sweep] [--db PATH]

DATA is JSON lines, one article each: {"story": ID, "lang": "fr", "title": ..., "summary": ...}
(default: ../shared/dev-data/wmt22-fr-de-news.jsonl, read in place, never copied). The articles
become RSS feeds, one per language and side (the part of the story id before ":"), with
publication times spread over two days, served on 127.0.0.1; then the real stages run on a
temporary database: poll → translate → embed → cluster. The clustering (`articles.cluster_id`)
is scored against the gold stories with pairwise precision/recall/F1 and BCubed F1.

--sweep re-clusters (embeddings reused) over a grid of `threshold_event` and
`threshold_event_cross` (or --grid SETTING=V1,V2,...), prints the curve, and checks robustness:
tune on one half of the stories, report on the other.
--demo uses the demo's sample feeds and gold stories (aggregator/demo) instead of DATA: a dozen
events each covered by independent articles in up to eight languages, with English originals
and machine translations side by side.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aggregator import config as config_module  # noqa: E402
from aggregator import pipeline, store  # noqa: E402
from aggregator.demo.server import FeedServer  # noqa: E402
from aggregator.timeutil import now_iso  # noqa: E402
from tests.cluster_scoring import pairwise_scores  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "dev-data" / "wmt22-fr-de-news.jsonl"
BASE_TIME = datetime(2021, 12, 13, 6, 0, tzinfo=UTC)


# The WMT documents are each their own gold story, but some are independent articles about one
# event, which a story now groups (issue 15). Read by us from their titles and first
# segments; the first id of each group stands for the group. Scored as a second line, beside
# the document-level scores, never instead of them.
SAME_EVENT = [
    # Kentucky tornadoes: Biden's statement, the death toll, and an explainer written on them
    ("fr-de:lameuse.be.24478", "de-fr:nzz.ch.18035", "fr-de:dernieresnouvelles.11533"),
    # Hidalgo and the "primaire populaire", the same day
    ("fr-de:lefigaro.51073", "fr-de:nouvelobs.com.18642"),
    # La Palma: the eruption's 85th day, "probably the longest in its history"
    ("fr-de:euronews-fr.18286", "de-fr:morgenpost.de.51208"),
    # Abu Dhabi Grand Prix: Mercedes' protest, and the new champion's career on the same day
    ("fr-de:dhnet.be.76630", "de-fr:wiesbadener-kurier.de.12967", "de-fr:rga-online.de.11840"),
    # the UK's booster campaign against Omicron
    ("fr-de:nouvelobs.com.18689", "de-fr:wa.de.26867"),
]
EVENT_OF = {story: group[0] for group in SAME_EVENT for story in group}


def fraction(text: str) -> float:
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def load(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    for index, row in enumerate(rows):
        row["index"] = index
        row["side"] = row["story"].split(":", 1)[0] if ":" in row["story"] else "all"
        # Stories spread over two days; each article within six hours of its story.
        story_time = BASE_TIME + timedelta(hours=48 * fraction(row["story"]))
        row["published"] = story_time + timedelta(hours=6 * fraction(f"{index}:{row['story']}"))
    return rows


def rss(name: str, items: list[dict], base_url: str) -> str:
    entries = "".join(
        f"<item><title>{escape(row['title'])}</title>"
        f"<description>{escape(row.get('summary') or '')}</description>"
        f"<link>{base_url}/article/{row['index']}</link>"
        f"<guid>{base_url}/article/{row['index']}</guid>"
        f"<pubDate>{format_datetime(row['published'])}</pubDate></item>"
        for row in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{escape(name)}</title><link>{base_url}/</link>{entries}</channel></rss>"
    )


def write_feeds(rows: list[dict], folder: Path, base_url: str) -> Path:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["lang"], row["side"])].append(row)
    feeds = []
    for (lang, side), items in sorted(groups.items()):
        name = f"{side}-{lang}"
        (folder / f"{name}.xml").write_text(rss(name, items, base_url), encoding="utf-8")
        feeds.append({"url": f"{base_url}/{name}.xml", "name": name, "language": lang})
    path = folder / "feeds.yaml"
    path.write_text(
        json.dumps(
            {
                "settings": {"allow_private_addresses": True, "per_host_interval_s": 0.0},
                "feeds": feeds,
            }
        ),
        encoding="utf-8",
    )
    return path


def run_pipeline(rows: list[dict], db_path: Path, folder: Path) -> tuple[object, dict]:
    """Serve the feeds, run every stage, return (config, timings). A database kept from an
    earlier run (--db) is not polled again: its feeds were served on another port."""
    timings = {}
    reuse = db_path.exists()
    with FeedServer(folder, port=0) as server:
        feeds_path = write_feeds(rows, folder, server.base_url)
        config = config_module.load(feeds_path)
        conn = store.connect(db_path)
        if not reuse:
            store.sync_feeds(conn, config.feeds, now_iso())
        stages = (
            ("translate", "embed", "cluster")
            if reuse
            else ("poll", "translate", "embed", "cluster")
        )
        for name in stages:
            started = time.perf_counter()
            options = {"force": True} if name == "poll" else {}
            if name == "cluster" and reuse:
                options = {"rebuild": True}  # an earlier sweep left other settings' clusters
            (report,) = pipeline.run(conn, config, [name], options={name: options})
            timings[name] = time.perf_counter() - started
            print(f"  {report}  ({timings[name]:.1f} s)", file=sys.stderr)
        conn.close()
    return config, timings


def assignments(db_path: Path, rows: list[dict]) -> dict[int, int]:
    """Gold row index → cluster id, through the article's link."""
    conn = store.connect(db_path)
    found = {}
    for url, cluster_id in conn.execute("SELECT url, cluster_id FROM articles"):
        if url and "/article/" in url and cluster_id is not None:
            found[int(url.rsplit("/", 1)[1])] = cluster_id
    conn.close()
    missing = len(rows) - len(found)
    if missing:
        print(f"warning: {missing} articles missing or unclustered", file=sys.stderr)
    return found


def demo_rows() -> list[dict]:
    """The demo's gold stories as rows: one per sample item, keyed by (feed file, guid)."""
    from aggregator.demo import gold_stories

    return [
        {"index": i, "story": story, "key": key}
        for i, (key, story) in enumerate(sorted(gold_stories().items()))
    ]


def demo_assignments(db_path: Path, rows: list[dict]) -> dict[int, int]:
    from aggregator.demo import clustered_items

    conn = store.connect(db_path)
    found = clustered_items(conn)
    conn.close()
    return {row["index"]: found[row["key"]] for row in rows if found.get(row["key"]) is not None}


def run_demo_pipeline(db_path: Path) -> object:
    """The demo's pipeline (its own loopback server) into db_path, unless already there."""
    from aggregator import demo

    if not db_path.exists():
        started = time.perf_counter()
        conn, reports = demo.build(db_path)
        conn.close()
        for report in reports:
            print(f"  {report}", file=sys.stderr)
        print(f"  demo pipeline {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return demo.demo_config(demo.PLACEHOLDER_BASE)


def scores(predicted: dict[int, int], gold: dict[int, str], subset: set[int] | None = None):
    return pairwise_scores(predicted, gold, subset)


def recluster(config, db_path: Path, **settings) -> float:
    from aggregator import cluster

    changed = dataclasses.replace(
        config,
        settings=dataclasses.replace(
            config.settings, cluster=dataclasses.replace(config.settings.cluster, **settings)
        ),
    )
    conn = store.connect(db_path)
    started = time.perf_counter()
    cluster.run(conn, changed, rebuild=True)
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def line(label: str, result: dict) -> str:
    return (
        f"{label:<34} P {result['precision']:.3f}  R {result['recall']:.3f}  "
        f"F1 {result['f1']:.3f}   BCubed F1 {result['bcubed_f1']:.3f}"
    )


def sweep(config, db_path, rows, gold, grid: dict[str, list[float]], assign=None) -> None:
    assign = assign or assignments
    names = list(grid)
    combos = [dict(zip(names, values, strict=True)) for values in _product(grid.values())]
    stories = sorted({row["story"] for row in rows})
    halves = [
        {row["index"] for row in rows if fraction("half:" + row["story"]) < 0.5},
        {row["index"] for row in rows if fraction("half:" + row["story"]) >= 0.5},
    ]
    results = []
    for combo in combos:
        recluster(config, db_path, **combo)
        predicted = assign(db_path, rows)
        overall = scores(predicted, gold)
        parts = [scores(predicted, gold, half)["f1"] for half in halves]
        results.append((combo, overall, parts))
        label = "  ".join(f"{k}={v:g}" for k, v in combo.items())
        print(line(label, overall) + f"   halves {parts[0]:.3f}/{parts[1]:.3f}")
    print(f"\nrobustness ({len(stories)} stories split in two halves by a hash of the id):")
    for tune, test in ((0, 1), (1, 0)):
        best = max(results, key=lambda r: (r[2][tune], -abs(_centre(r[0], grid))))
        label = ", ".join(f"{k}={v:g}" for k, v in best[0].items())
        print(
            f"  tuned on half {tune + 1}: {label} (F1 {best[2][tune]:.3f}) "
            f"-> half {test + 1} F1 {best[2][test]:.3f}"
        )


def _centre(combo: dict, grid: dict) -> float:
    """Distance from the middle of the grid, to break ties towards the plateau's centre."""
    total = 0.0
    for key, value in combo.items():
        values = grid[key]
        total += abs(values.index(value) - (len(values) - 1) / 2)
    return total


def _product(lists):
    if not lists:
        yield ()
        return
    lists = list(lists)
    for head in lists[0]:
        for tail in _product(lists[1:]):
            yield (head, *tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--db", type=Path, help="keep the database here (reused if present)")
    parser.add_argument("--sweep", action="store_true", help="sweep the event thresholds")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="the demo's sample feeds and gold stories instead of DATA",
    )
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="SETTING=V1,V2,...",
        help="sweep these cluster settings instead of the default grid",
    )
    args = parser.parse_args()
    grid = {
        name: [float(v) for v in values.split(",")]
        for name, values in (item.split("=", 1) for item in args.grid)
    }
    if args.demo:
        evaluate_demo(args.db, grid)
        return
    if not args.data.exists():
        sys.exit(f"{args.data}: no such file (the shared dev set lives in ../shared/dev-data)")
    rows = load(args.data)
    gold = {row["index"]: row["story"] for row in rows}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db_path = args.db or folder / "eval.db"
        print(
            f"{len(rows)} articles, {len(set(gold.values()))} stories; pipeline on {db_path}",
            file=sys.stderr,
        )
        config, timings = run_pipeline(rows, db_path, folder)
        predicted = assignments(db_path, rows)
        result = scores(predicted, gold)
        print(line("default settings", result))
        if args.data == DEFAULT_DATA:
            events = {index: EVENT_OF.get(story, story) for index, story in gold.items()}
            print(line("  same-event documents as one", scores(predicted, events)))
        if args.sweep or grid:
            sweep(
                config,
                db_path,
                rows,
                gold,
                grid
                or {
                    "threshold_event": [0.35, 0.4, 0.45],
                    "threshold_event_cross": [0.35, 0.4, 0.45, 0.5],
                },
            )


def evaluate_demo(db: Path | None, grid: dict[str, list[float]]) -> None:
    rows = demo_rows()
    gold = {row["index"]: row["story"] for row in rows}
    with tempfile.TemporaryDirectory() as tmp:
        db_path = db or Path(tmp) / "demo.db"
        print(
            f"{len(rows)} demo articles, {len(set(gold.values()))} stories; pipeline on {db_path}",
            file=sys.stderr,
        )
        config = run_demo_pipeline(db_path)
        recluster(config, db_path)
        print(line("default settings", scores(demo_assignments(db_path, rows), gold)))
        if grid:
            sweep(config, db_path, rows, gold, grid, assign=demo_assignments)


if __name__ == "__main__":
    main()
