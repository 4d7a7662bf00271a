"""Scoring a clustering against gold stories: pairwise precision/recall/F1 and BCubed.

Used by the evaluation harness (bench/eval_clusters.py) and the demo's end-to-end test; not
part of the package, which never scores itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable


def pairwise_scores(
    predicted: dict[Hashable, Hashable],
    gold: dict[Hashable, Hashable],
    subset: set[Hashable] | None = None,
) -> dict[str, float]:
    """Scores of `predicted` (item → cluster) against `gold` (item → story).

    An item missing from `predicted` counts as a cluster of its own.
    """
    keys = [k for k in gold if subset is None or k in subset]
    tp = fp = fn = 0
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            same_predicted = a in predicted and predicted.get(a) == predicted.get(b)
            same_gold = gold[a] == gold[b]
            tp += same_predicted and same_gold
            fp += same_predicted and not same_gold
            fn += same_gold and not same_predicted
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    def cluster_of(key: Hashable) -> Hashable:
        return predicted.get(key, ("unclustered", key))

    by_cluster: dict[Hashable, set] = defaultdict(set)
    by_story: dict[Hashable, set] = defaultdict(set)
    for key in keys:
        by_cluster[cluster_of(key)].add(key)
        by_story[gold[key]].add(key)
    overlap = {key: len(by_cluster[cluster_of(key)] & by_story[gold[key]]) for key in keys}
    b_precision = sum(overlap[k] / len(by_cluster[cluster_of(k)]) for k in keys) / len(keys)
    b_recall = sum(overlap[k] / len(by_story[gold[k]]) for k in keys) / len(keys)
    b_f1 = 2 * b_precision * b_recall / (b_precision + b_recall) if b_precision + b_recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "bcubed_precision": b_precision,
        "bcubed_recall": b_recall,
        "bcubed_f1": b_f1,
    }
