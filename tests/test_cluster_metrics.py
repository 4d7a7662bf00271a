import pytest

from tests.cluster_scoring import pairwise_scores

GOLD = {1: "a", 2: "a", 3: "a", 4: "b", 5: "c"}


def test_a_perfect_clustering_scores_one():
    scores = pairwise_scores({1: 10, 2: 10, 3: 10, 4: 20, 5: 30}, GOLD)
    assert scores["f1"] == 1.0 and scores["bcubed_f1"] == 1.0


def test_a_split_story_costs_recall_and_a_merge_costs_precision():
    split = pairwise_scores({1: 10, 2: 10, 3: 11, 4: 20, 5: 30}, GOLD)
    assert split["precision"] == 1.0
    assert split["recall"] == pytest.approx(1 / 3)  # one of the three gold pairs found
    merged = pairwise_scores({1: 10, 2: 10, 3: 10, 4: 10, 5: 30}, GOLD)
    assert merged["recall"] == 1.0
    assert merged["precision"] == pytest.approx(3 / 6)
    assert merged["bcubed_precision"] == pytest.approx((3 * 3 / 4 + 1 / 4 + 1) / 5)


def test_unclustered_items_count_as_clusters_of_their_own():
    scores = pairwise_scores({1: 10, 4: 20, 5: 30}, GOLD)
    assert scores["recall"] == 0.0 and scores["precision"] == 1.0
