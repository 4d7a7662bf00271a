"""How well search by meaning finds the demo's stories, and what else it lists.

    .venv/bin/python bench/eval_search.py [--db db/demo.db] [--direct 0.12] [--feedback 0.25]

Runs short queries a reader might type against the demo database (`make demo` or
`aggregator demo --no-serve` builds it), through the search's own index and thresholds
(aggregator/publish/semantic.py): 16 about a demo story, judged against the story's articles in
aggregator/demo/stories.yaml, and 10 about nothing in the demo. Prints, per query, the story's
articles found and missed and the other articles listed, then the totals. The thresholds were
chosen on these same queries, so the figures are optimistic.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aggregator.demo import gold_stories  # noqa: E402
from aggregator.publish import semantic  # noqa: E402

QUERIES = {
    "earthquake": "quake-calabria",
    "Bank of Japan": "boj-rate-hike",
    "interest rate rise": "boj-rate-hike",
    "Copa Libertadores": "libertadores-final",
    "football final": "libertadores-final",
    "moon satellite launch": "clio-launch",
    "climate summit": "cop31-antalya-deal",
    "electric car recall": "veltmann-recall",
    "wildfire": "ridgeline-fire",
    "train strike": "sncf-strike",
    "UN secretary-general": "un-secretary-general",
    "ransomware port": "gdansk-port-cyberattack",
    "cyberattack": "gdansk-port-cyberattack",
    "dinosaur": "liaoning-feathered-dinosaur",
    "Lyme vaccine": "lyme-vaccine-approval",
    "vaccine": "lyme-vaccine-approval",
    "chocolate cake recipe": None,
    "election results": None,
    "zzzz qqq": None,
    "tennis": None,
    "hurricane in Florida": None,
    "pope": None,
    "bitcoin price": None,
    "music festival": None,
    "weather": None,
    "the": None,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="db/demo.db")
    parser.add_argument("--direct", type=float, default=semantic.DIRECT)
    parser.add_argument("--feedback", type=float, default=semantic.FEEDBACK)
    args = parser.parse_args()
    semantic.DIRECT, semantic.FEEDBACK = args.direct, args.feedback
    conn = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    gold = gold_stories()
    story = {
        article: gold.get((feed_url.rsplit("/", 1)[1], guid))
        for article, feed_url, guid in conn.execute(
            "SELECT a.id, f.url, a.guid FROM articles a JOIN feeds f ON f.id = a.feed_id"
        )
    }
    titles = dict(conn.execute("SELECT id, language || ' ' || substr(title, 1, 40) FROM articles"))
    searcher = semantic.Searcher()
    index = searcher.index(conn, args.db)
    found_total = missed_total = other_total = 0
    silent = 0
    for query, wanted in QUERIES.items():
        hits = {match.article_id for match in index.search(searcher.embed(query))}
        relevant = {article for article, key in story.items() if wanted and key == wanted}
        found, missed, other = hits & relevant, relevant - hits, hits - relevant
        found_total, missed_total, other_total = (
            found_total + len(found),
            missed_total + len(missed),
            other_total + len(other),
        )
        silent += wanted is None and not hits
        listed = "; ".join(titles[a] for a in sorted(other)[:3])
        print(f"{query:24s} found {len(found)} missed {len(missed)} other {len(other)}  {listed}")
    unrelated = sum(1 for wanted in QUERIES.values() if wanted is None)
    print(
        f"direct {semantic.DIRECT}, feedback {semantic.FEEDBACK}: found {found_total} of "
        f"{found_total + missed_total} story articles, {other_total} other articles listed; "
        f"{silent} of {unrelated} unrelated queries list nothing"
    )


if __name__ == "__main__":
    main()
