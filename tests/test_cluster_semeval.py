"""End to end on real news: a sample of the SemEval-2022 Task 8 dev pairs (different outlets,
judged by annotators), read in place from ../shared/dev-data when it is there (never copied into
the repository), served as loopback RSS feeds and run through poll → translate → embed →
cluster into one database.

The sample is drawn from the half of the pairs that no setting was tuned on (the split of
bench/eval_semeval.py, by a hash of the pair id), so this is a held-out check, not a tuning
target. The bounds leave room below what the whole held-out half scores (docs/clustering.md:
F1 0.926, precision 0.938); the clustering before stories were events scored F1 0.37 on all
pairs, with recall 0.23.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAIRS = REPO.parent / "shared" / "dev-data" / "semeval22-pairs-dev.jsonl"
SAMPLE = 40  # pairs of each kind (same event, apart)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PAIRS.exists(), reason=f"{PAIRS} not present"),
    pytest.mark.skipif(shutil.which("apertium") is None, reason="Apertium missing"),
]


@pytest.fixture(scope="module")
def semeval():
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import eval_semeval
    finally:
        sys.path.remove(str(REPO / "bench"))
    return eval_semeval


def test_held_out_pairs_through_the_real_pipeline(semeval, tmp_path):
    harness = semeval.harness
    raw = semeval.load_pairs(PAIRS)
    held_out = [p for p in raw if harness.fraction("half:" + p["pair_id"]) >= 0.5]
    ordered = sorted(held_out, key=lambda p: harness.fraction("sample:" + p["pair_id"]))
    same = [p for p in ordered if p["overall"] <= semeval.SAME][:SAMPLE]
    apart = [p for p in ordered if p["overall"] >= semeval.APART][:SAMPLE]
    rows = semeval.articles_of(same + apart)
    pairs = semeval.judged(same + apart, {row["story"]: row["index"] for row in rows})
    harness.run_pipeline(rows, tmp_path / "semeval.db", tmp_path)
    result = semeval.score(harness.assignments(tmp_path / "semeval.db", rows), pairs)
    assert result["precision"] >= 0.85, result
    assert result["recall"] >= 0.75, result
    assert result["f1"] >= 0.8, result
