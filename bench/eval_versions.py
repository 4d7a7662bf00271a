"""Score the version marks (`article_versions`: one article a translation or copy of another)
on real pairs, through the real pipeline.

    .venv/bin/python bench/eval_versions.py [--db PATH] [--demo-db PATH]

The WMT22 fr-de documents (each in its original language and as a human translation: true
versions) and every SemEval-2022 Task 8 pair (different outlets: independent reports, judged
same event, related or different events) are served as loopback RSS feeds and run through poll
→ translate → embed → cluster into one database (read in place from ../shared/dev-data, never
copied). Then every labelled pair is judged by the clustering kernel's own pair rule
(`kernel._judge`, the stored vectors and keyword signatures, language-centred as the stage
centres) and by the stage's version test (`aggregator.cluster.versions`: the numbers agree).

Gold "is a version": the two sides of a WMT document; a SemEval pair in one language whose
texts share at least half of their word 5-grams (the smaller text's share: a wire copy or
a republication). Not versions: the other SemEval pairs, and the WMT documents that are
independent reports of one event (eval_clusters.SAME_EVENT). The pairs are split in two
halves by a hash of the pair id (SemEval: the split of eval_semeval.py; WMT: of the story):
the version test was tuned on half 1, half 2 is held out. Every line reports both.
"""

from __future__ import annotations

import argparse
import itertools
import re
import sqlite3
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

import eval_clusters as harness  # noqa: E402
import eval_semeval as semeval  # noqa: E402

from aggregator import store  # noqa: E402
from aggregator.cluster import kernel, load, versions  # noqa: E402
from aggregator.cluster.centering import LanguageMeans  # noqa: E402
from aggregator.cluster.weights import DocumentFrequency  # noqa: E402
from aggregator.cluster.window import Window  # noqa: E402
from aggregator.config import ClusterSettings  # noqa: E402
from aggregator.embed import models  # noqa: E402
from aggregator.embed.stage import keyword_versions  # noqa: E402

WMT = REPO.parent / "shared" / "dev-data" / "wmt22-fr-de-news.jsonl"
COPY_SHARE = 0.5  # share of the smaller text's word 5-grams the other carries: a copy


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + n]) for i in range(max(0, len(words) - n + 1))}


def literal_share(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / min(len(sa), len(sb))


def build_rows() -> tuple[list[dict], list[tuple[int, int, bool, str, str]]]:
    """The articles, and the labelled pairs: (row, row, is a version, half key, kind)."""
    wmt = harness.load(WMT)
    raw = semeval.load_pairs(semeval.DEFAULT_PAIRS)
    sem = semeval.articles_of(raw)
    rows = wmt + sem
    for index, row in enumerate(rows):
        row["index"] = index
    pairs: list[tuple[int, int, bool, str, str]] = []
    by_story: dict[str, list[dict]] = {}
    for row in wmt:
        by_story.setdefault(row["story"], []).append(row)
    for story, members in by_story.items():
        a, b = members
        pairs.append((a["index"], b["index"], True, "half:" + story, "wmt translation"))
    for group in harness.SAME_EVENT:
        for s1, s2 in itertools.combinations(group, 2):
            for a in by_story[s1]:
                for b in by_story[s2]:
                    pairs.append((a["index"], b["index"], False, "half:" + s1, "wmt same event"))
    index_of = {row["story"]: row["index"] for row in sem}
    text_of = {row["index"]: row["title"] + " " + row["summary"] for row in sem}
    for pair in raw:
        a, b = index_of[pair["id1"]], index_of[pair["id2"]]
        if a == b:
            continue
        same_lang = pair["lang1"] == pair["lang2"]
        copy = same_lang and literal_share(text_of[a], text_of[b]) >= COPY_SHARE
        event = (
            "same event"
            if pair["overall"] <= semeval.SAME
            else "apart"
            if pair["overall"] >= semeval.APART
            else "related"
        )
        kind = f"semeval {event} {'copy' if copy else 'one language' if same_lang else 'cross'}"
        pairs.append((a, b, copy, "half:" + pair["pair_id"], kind))
    return rows, pairs


def window_of(conn: sqlite3.Connection, settings: ClusterSettings) -> tuple[Window, dict]:
    """Every article of the database in a Window, centred as the stage centres."""
    from aggregator import config as config_module

    embedding = config_module.Settings().embedding
    params = {
        "multi": models.identity(embedding.multilingual_model),
        "english": models.identity(embedding.model),
        "versions": __import__("json").dumps(keyword_versions(conn)),
    }
    ids = [row[0] for row in conn.execute("SELECT id FROM articles ORDER BY id")]
    TEXTS.clear()
    for article_id, title, summary in conn.execute("SELECT id, title, summary FROM articles"):
        TEXTS[article_id] = f"{title or ''}\n{summary or ''}"
    found = load.articles(conn, ids, params)
    dims = load.dims(conn, found, params)
    means = LanguageMeans.load(conn, params["multi"])
    rows = load.to_rows(found, DocumentFrequency.load(conn), {}, dims, means)
    window = Window(*dims)
    window.append(rows, np.flatnonzero(rows.has_multi))
    url_of = {article_id: url for article_id, url in conn.execute("SELECT id, url FROM articles")}
    row_of = {}
    for row, article in enumerate(window.articles):
        url = url_of[article.id]
        if url and "/article/" in url:
            row_of[int(url.rsplit("/", 1)[1])] = row
    return window, row_of


TEXTS: dict[int, str] = {}  # article id -> title and summary, as versions.marked reads them


def judge(window: Window, a: int, b: int, params: np.ndarray) -> dict:
    """The kernel's verdict on rows a and b, and the features the version test reads."""
    marks = np.zeros(max(1, int(window.id_count.max())), dtype=np.bool_)
    multi = float(np.dot(window.multi[a].astype(np.float64), window.multi[b]))
    value, is_version = kernel._judge(
        a,
        b,
        multi,
        params,
        window.lang,
        window.english,
        window.has_english,
        window.kw_lang,
        window.kw_glossed,
        window.id_start,
        window.id_count,
        window.alt_start,
        window.alt_count,
        window.kw_total,
        window.ids_pool,
        window.w_pool,
        window.alts_pool,
        window.owners_pool,
        marks,
    )
    ids = window.articles[a].id, window.articles[b].id
    return {
        "link": bool(is_version),
        "multi": multi,
        "value": value,
        "cross": window.articles[a].language != window.articles[b].language,
        "numbers": versions.agreement(TEXTS[ids[0]], TEXTS[ids[1]]),
    }


def demo_pairs(conn: sqlite3.Connection, window: Window, params: np.ndarray) -> list[dict]:
    """Every pair of items within one of the demo's gold stories: independent reports written
    by the team (aggregator/demo/stories.yaml), none a version of another."""
    from aggregator.demo import gold_stories

    gold = gold_stories()
    row_of = {article.id: row for row, article in enumerate(window.articles)}
    by_story: dict[str, list[int]] = {}
    for url, guid, article_id in conn.execute(
        "SELECT f.url, a.guid, a.id FROM articles a JOIN feeds f ON f.id = a.feed_id"
    ):
        story = gold.get((url.rsplit("/", 1)[1], guid))
        if story is not None and article_id in row_of:
            by_story.setdefault(story, []).append(row_of[article_id])
    out = []
    for story, rows in sorted(by_story.items()):
        for a, b in itertools.combinations(sorted(rows), 2):
            verdict = judge(window, a, b, params)
            verdict["marked"] = marked(verdict)
            verdict.update(
                gold=False,
                kind="demo independent",
                half=int(harness.fraction("half:" + story) >= 0.5),
                a=a,
                b=b,
            )
            out.append(verdict)
    return out


def marked(verdict: dict) -> bool:
    """The stage's decision (versions.marked): a link, and across languages the numbers agree."""
    return verdict["link"] and (
        not verdict["cross"] or verdict["numbers"] >= versions.NUMBERS_AGREE
    )


def prf(predicted: list[bool], gold: list[bool]) -> tuple[float, float, int, int, int]:
    tp = sum(p and g for p, g in zip(predicted, gold, strict=True))
    fp = sum(p and not g for p, g in zip(predicted, gold, strict=True))
    fn = sum(g and not p for p, g in zip(predicted, gold, strict=True))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, tp, fp, fn


def report(label: str, judged: list[dict]) -> None:
    parts = []
    for half in (0, 1):
        subset = [j for j in judged if j["half"] == half]
        for name, key in (("before", "link"), ("after", "marked")):
            p, r, tp, fp, fn = prf([j[key] for j in subset], [j["gold"] for j in subset])
            parts.append(f"half {half + 1} {name}: P {p:.3f} R {r:.3f} (tp {tp} fp {fp} fn {fn})")
    print(f"{label}\n  " + "\n  ".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, help="keep the database here (reused if present)")
    parser.add_argument("--demo-db", type=Path, help="also judge a built demo's gold pairs")
    parser.add_argument("--dump", type=Path, help="write each judged pair's features (TSV)")
    args = parser.parse_args()
    rows, pairs = build_rows()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db_path = args.db or folder / "versions.db"
        if not db_path.exists():
            print(f"{len(rows)} articles, {len(pairs)} labelled pairs", file=sys.stderr)
            harness.run_pipeline(rows, db_path, folder)
        conn = store.connect(db_path)
        settings = ClusterSettings()
        params = kernel.rule_parameters(settings)
        window, row_of = window_of(conn, settings)
        judged = []
        for a, b, gold, key, kind in pairs:
            if a not in row_of or b not in row_of:
                continue
            verdict = judge(window, row_of[a], row_of[b], params)
            verdict["marked"] = marked(verdict)
            verdict.update(
                gold=gold,
                kind=kind,
                half=int(harness.fraction(key) >= 0.5),
                a=a,
                b=b,
            )
            judged.append(verdict)
        print(f"{len(judged)} pairs judged; version = the kernel's link, then the stage's test")
        report("all labelled pairs", judged)
        kinds = sorted({j["kind"] for j in judged})
        for kind in kinds:
            subset = [j for j in judged if j["kind"] == kind]
            links = sum(j["link"] for j in subset)
            n_marked = sum(j["marked"] for j in subset)
            print(f"  {kind:<32} {len(subset):>4} pairs, linked {links:>3}, marked {n_marked:>3}")
        if args.demo_db:
            demo = store.connect(args.demo_db)
            demo_window, _ = window_of(demo, settings)
            judged += demo_pairs(demo, demo_window, params)
            demo.close()
            report("with the demo's independent reports", judged)
            for kind in ("demo independent",):
                subset = [j for j in judged if j["kind"] == kind]
                links = sum(j["link"] for j in subset)
                n_marked = sum(j["marked"] for j in subset)
                print(
                    f"  {kind:<32} {len(subset):>4} pairs, linked {links:>3}, marked {n_marked:>3}"
                )
        if args.dump:
            keys = [k for k in judged[0] if k not in ("a", "b")]
            lines = ["\t".join(keys)]
            lines += ["\t".join(str(j.get(k, "nan")) for k in keys) for j in judged]
            args.dump.write_text("\n".join(lines) + "\n", encoding="utf-8")
        conn.close()


if __name__ == "__main__":
    main()
