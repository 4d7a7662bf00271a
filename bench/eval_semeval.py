"""Score story clustering on real article pairs judged by annotators (SemEval-2022 Task 8).

    .venv/bin/python bench/eval_semeval.py [PAIRS.jsonl] [--db PATH] [--grid SETTING=V1,V2 ...]

PAIRS is ../shared/dev-data/semeval22-pairs-dev.jsonl by default (read in place, never
copied). Every article of every pair becomes an item of a loopback RSS feed (three outlets per
language, publication times spread over two days), all in one database so that unrelated
articles compete; then the real stages run: poll → translate → embed → cluster. Each judged
pair is scored by whether its two articles share `articles.cluster_id`: `overall <= 1.5` must
be one story, `overall >= 3.5` must be apart, the pairs in between are not scored.

The pairs are split in two halves by a hash of the pair id; every line reports both halves, so
a setting chosen on one half is reported on the other (--grid sweeps settings and prints the
robustness check). The largest story is printed too: single-link chaining would show there.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import eval_clusters as harness  # noqa: E402

DEFAULT_PAIRS = REPO.parent / "shared" / "dev-data" / "semeval22-pairs-dev.jsonl"
SAME, APART = 1.5, 3.5
OUTLETS_PER_LANGUAGE = 3


def load_pairs(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def articles_of(pairs: list[dict]) -> list[dict]:
    """One row per distinct article, in the shape eval_clusters' feeds are written from: the
    outlet is one of three per language (by a hash of the id), the time within two days."""
    seen: dict[str, dict] = {}
    for pair in pairs:
        for side in ("1", "2"):
            article_id = pair["id" + side]
            if article_id in seen:
                continue
            lang = pair["lang" + side]
            outlet = int(harness.fraction("outlet:" + article_id) * OUTLETS_PER_LANGUAGE)
            seen[article_id] = {
                "story": article_id,
                "lang": lang,
                "side": f"semeval-outlet{outlet}",
                "title": pair["title" + side],
                "summary": pair["text" + side],
                "published": harness.BASE_TIME
                + timedelta(hours=48 * harness.fraction("time:" + article_id)),
            }
    rows = list(seen.values())
    for index, row in enumerate(rows):
        row["index"] = index
    return rows


def judged(pairs: list[dict], index_of: dict[str, int]) -> list[tuple[int, int, bool, str]]:
    """(article index, article index, must be one story, pair id) for the scored pairs."""
    out = []
    for pair in pairs:
        if pair["overall"] <= SAME or pair["overall"] >= APART:
            out.append(
                (
                    index_of[pair["id1"]],
                    index_of[pair["id2"]],
                    pair["overall"] <= SAME,
                    pair["pair_id"],
                )
            )
    return out


def score(predicted: dict[int, int], pairs: list[tuple[int, int, bool, str]]) -> dict:
    tp = fp = fn = tn = 0
    for a, b, same, _ in pairs:
        together = a in predicted and predicted.get(a) == predicted.get(b)
        tp += together and same
        fp += together and not same
        fn += same and not together
        tn += not same and not together
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def halves(pairs: list[tuple[int, int, bool, str]]) -> list[list]:
    first = [p for p in pairs if harness.fraction("half:" + p[3]) < 0.5]
    second = [p for p in pairs if harness.fraction("half:" + p[3]) >= 0.5]
    return [first, second]


def largest_story(db_path: Path) -> tuple[int, int]:
    conn = sqlite3.connect(db_path)
    size, languages = conn.execute(
        "SELECT COALESCE(MAX(article_count), 0), COALESCE(MAX(language_count), 0) FROM clusters"
    ).fetchone()
    conn.close()
    return size, languages


def line(label: str, overall: dict, parts: list[dict], biggest: tuple[int, int]) -> str:
    return (
        f"{label:<44} P {overall['precision']:.3f}  R {overall['recall']:.3f}  "
        f"F1 {overall['f1']:.3f}   halves F1 {parts[0]['f1']:.3f}/{parts[1]['f1']:.3f} "
        f"(P {parts[0]['precision']:.3f}/{parts[1]['precision']:.3f})   "
        f"largest story {biggest[0]} articles"
    )


def evaluate(db_path: Path, rows: list[dict], pairs: list) -> tuple[dict, list[dict], tuple]:
    predicted = harness.assignments(db_path, rows)
    return (
        score(predicted, pairs),
        [score(predicted, half) for half in halves(pairs)],
        largest_story(db_path),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", nargs="?", type=Path, default=DEFAULT_PAIRS)
    parser.add_argument("--db", type=Path, help="keep the database here (reused if present)")
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="SETTING=V1,V2,...",
        help="sweep these cluster settings (re-clustering the same database)",
    )
    parser.add_argument(
        "--by-language", action="store_true", help="also score each language pair on its own"
    )
    args = parser.parse_args()
    if not args.pairs.exists():
        sys.exit(f"{args.pairs}: no such file (the shared dev set lives in ../shared/dev-data)")
    raw = load_pairs(args.pairs)
    rows = articles_of(raw)
    index_of = {row["story"]: row["index"] for row in rows}
    pairs = judged(raw, index_of)
    grid = {
        name: [float(v) for v in values.split(",")]
        for name, values in (item.split("=", 1) for item in args.grid)
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db_path = args.db or folder / "semeval.db"
        same = sum(p[2] for p in pairs)
        print(
            f"{len(rows)} articles, {len(pairs)} scored pairs ({same} same event, "
            f"{len(pairs) - same} apart); pipeline on {db_path}",
            file=sys.stderr,
        )
        config, _ = harness.run_pipeline(rows, db_path, folder)
        harness.recluster(config, db_path)
        print(line("default settings", *evaluate(db_path, rows, pairs)))
        if args.by_language:
            by_language(db_path, rows, raw, index_of)
        if grid:
            sweep(config, db_path, rows, pairs, grid)


def by_language(db_path: Path, rows: list[dict], raw: list[dict], index_of: dict) -> None:
    predicted = harness.assignments(db_path, rows)
    groups: dict[str, list] = {}
    for pair in raw:
        key = f"{pair['lang1']}-{pair['lang2']}"
        groups.setdefault(key, []).append(pair)
    for key, members in sorted(groups.items()):
        result = score(predicted, judged(members, index_of))
        print(
            f"  {key}: P {result['precision']:.3f} R {result['recall']:.3f} "
            f"F1 {result['f1']:.3f} (tp {result['tp']} fp {result['fp']} fn {result['fn']})"
        )


def sweep(config, db_path: Path, rows: list[dict], pairs: list, grid: dict) -> None:
    names = list(grid)
    results = []
    for values in harness._product(grid.values()):
        combo = dict(zip(names, values, strict=True))
        harness.recluster(config, db_path, **combo)
        overall, parts, biggest = evaluate(db_path, rows, pairs)
        results.append((combo, overall, parts))
        print(line("  ".join(f"{k}={v:g}" for k, v in combo.items()), overall, parts, biggest))
    print("\nrobustness (pairs split in two halves by a hash of the pair id):")
    for tune, test in ((0, 1), (1, 0)):
        best = max(results, key=lambda r: (r[2][tune]["f1"], -harness._centre(r[0], grid)))
        label = ", ".join(f"{k}={v:g}" for k, v in best[0].items())
        print(
            f"  tuned on half {tune + 1}: {label} (F1 {best[2][tune]['f1']:.3f}) "
            f"-> half {test + 1} F1 {best[2][test]['f1']:.3f} "
            f"P {best[2][test]['precision']:.3f}"
        )


if __name__ == "__main__":
    main()
