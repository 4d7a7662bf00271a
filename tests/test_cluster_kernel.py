"""The compiled assignment loop against a plain-Python reference of the documented algorithm.

The reference recomputes everything from scratch for every article (centroids from the live
members, coverage with Python sets), in float64; the compiled loop keeps running sums, Gram-
matrix dot products, sorted-array merges and reused slots. On random windows with expiry, slot
reuse, stories changing within a batch, stories merging, articles without vectors, English and
keyword signals in three languages, both must give every article the same story, and find the
same versions and merges.
"""

from __future__ import annotations

import numpy as np
import pytest

from aggregator.cluster import kernel
from aggregator.cluster.window import Article, Rows, Window

DIM = 16
DAY = 86400.0
EVENT, EVENT_CROSS, THRESHOLD_EN, THRESHOLD_KEYWORDS, VERSION = 0.86, 0.84, 0.3, 0.45, 0.95
EN_EVENT, COPY = 0.7, 0.6
MERGE = 0.03
WINDOW_S = 1.0 * DAY
MIN_CANDIDATE = min(EVENT, EVENT_CROSS) - 0.1
GATE = MIN_CANDIDATE - 0.05
K, PER_STORY = 4, 2
PARAMS = np.zeros(kernel.PARAM_COUNT)
for index, value in (
    (kernel.THRESHOLD_EVENT, EVENT),
    (kernel.THRESHOLD_EVENT_CROSS, EVENT_CROSS),
    (kernel.THRESHOLD_EN, THRESHOLD_EN),
    (kernel.THRESHOLD_KEYWORDS, THRESHOLD_KEYWORDS),
    (kernel.THRESHOLD_VERSION, VERSION),
    (kernel.WINDOW_S, WINDOW_S),
    (kernel.GATE, GATE),
    (kernel.MIN_CANDIDATE, MIN_CANDIDATE),
    (kernel.THRESHOLD_MERGE, MERGE),
    (kernel.THRESHOLD_EN_EVENT, EN_EVENT),
    (kernel.THRESHOLD_COPY, COPY),
):
    PARAMS[index] = value


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def synthetic(seed: int, n: int = 160) -> dict:
    """Articles about a dozen events over four days, in keying languages 0 (English), 1
    (glossed into English) and 2 (no dictionary)."""
    rng = np.random.default_rng(seed)
    events = rng.integers(0, 12, n)
    centres = _unit(rng.standard_normal((12, DIM)))
    centres_en = _unit(rng.standard_normal((12, DIM)))
    noise = rng.uniform(0.25, 0.5)
    articles = []
    for i in range(n):
        event = int(events[i])
        language = int(rng.choice(3, p=[0.5, 0.3, 0.2]))
        words = set(rng.choice(20, 8, replace=False) + 100 * event)
        words |= set(rng.integers(5000, 5100, 4))  # general vocabulary
        items = {}  # id -> alternatives
        for word in sorted(words):
            word = int(word)
            if language == 0:
                items[word] = {word}
            elif language == 1:
                items[10**6 + word] = {word, int(rng.integers(7000, 7100))}  # gloss + noise sense
            else:
                items[2 * 10**6 + word] = {2 * 10**6 + word}
        articles.append(
            {
                "t": float(i) * 4 * DAY / n + float(rng.uniform(0, 600)),
                "multi": None
                if rng.random() < 0.05
                else _unit(centres[event] + noise * _unit(rng.standard_normal(DIM))),
                "english": _unit(centres_en[event] + 0.6 * _unit(rng.standard_normal(DIM)))
                if language == 0 or rng.random() < 0.3
                else None,
                "language": language,
                "glossed": language != 2,
                "items": items,
                "weights": {item: float(rng.uniform(0.5, 3.0)) for item in items},
            }
        )
    articles.sort(key=lambda a: a["t"])
    return {"articles": articles, "batch": int(rng.integers(1, 40))}


# -- the reference ---------------------------------------------------------------------------
def coverage(a: dict, b: dict) -> float:
    total = sum(a["weights"].values())
    if total <= 0:
        return 0.0
    if a["language"] == b["language"]:
        return sum(w for item, w in a["weights"].items() if item in b["items"]) / total
    b_alts = set().union(*b["items"].values())
    return sum(a["weights"][item] for item, alts in a["items"].items() if alts & b_alts) / total


def strength(a: dict, b: dict, multi: float) -> tuple[float | None, bool]:
    """The documented pair rule (docs/clustering.md): (strength or None, version)."""
    if multi < MIN_CANDIDATE:
        return None, False
    cross = a["language"] != b["language"]
    if a["english"] is not None and b["english"] is not None:
        english = float(a["english"] @ b["english"])
        if english < THRESHOLD_EN:
            return None, False
        score, bar = (english + multi) / 2, EN_EVENT
    else:
        score, bar = multi, EVENT_CROSS if cross else EVENT
    if score < bar:
        return None, False
    if not cross or (a["glossed"] and b["glossed"]):
        keywords = coverage(a, b)
        if keywords > 0 and keywords >= min(THRESHOLD_KEYWORDS, COPY):
            keywords = min(keywords, coverage(b, a))
        if keywords >= (THRESHOLD_KEYWORDS if cross else COPY):
            return 1.0 + keywords, True
    elif multi >= VERSION:
        return 1.0 + multi, True
    return score - bar, False


def reference(data: dict) -> tuple[list[int], list[tuple], list[tuple]]:
    """Each article's story; the versions (article, the article it is a version of) and the
    merges (story gone, story kept), in order."""
    articles, size = data["articles"], data["batch"]
    members: dict[int, list[int]] = {}  # story -> live articles (indices)
    out: list[int] = []
    versions: list[tuple] = []
    merges: list[tuple] = []
    next_id = 1

    def span(story: int) -> tuple[float, float]:
        times = [articles[m]["t"] for m in members[story]]
        return min(times), max(times)

    def centroid_cosine(story: int, x: np.ndarray) -> float:
        total = sum(articles[m]["multi"] for m in members[story])
        return float(x @ total / max(np.linalg.norm(total), 1e-12))

    def top(scored: list[tuple[float, int]], t: float) -> list[tuple[float, int]]:
        best = sorted(scored, key=lambda s: (-s[0], s[1]))[:K]
        return [
            (sim, story)
            for sim, story in best
            if span(story)[1] >= t - WINDOW_S and span(story)[0] <= t + WINDOW_S
        ]

    for start in range(0, len(articles), size):
        batch = range(start, min(start + size, len(articles)))
        times = [articles[i]["t"] for i in batch]
        low, high = min(times) - WINDOW_S, max(times) + WINDOW_S
        for story in list(members):
            members[story] = sorted(m for m in members[story] if articles[m]["t"] >= low)
            if not members[story]:
                del members[story]
        static = {story for story in members if span(story)[1] >= low and span(story)[0] <= high}
        changed: list[int] = []
        for i in batch:
            a = articles[i]
            best = None
            if a["multi"] is not None:
                x = a["multi"]
                near = top(
                    [
                        (centroid_cosine(s, x), s)
                        for s in static
                        if s not in changed
                        if centroid_cosine(s, x) >= GATE
                    ],
                    a["t"],
                )
                near += top(
                    [(centroid_cosine(s, x), s) for s in changed if centroid_cosine(s, x) >= GATE],
                    a["t"],
                )
                near = sorted(near, key=lambda s: (-s[0], s[1]))[:K]
                candidates = []
                for rank, (sim, story) in enumerate(near):
                    single = len(members[story]) == 1
                    for m in members[story]:
                        cosine = sim if single else float(x @ articles[m]["multi"])
                        if cosine >= MIN_CANDIDATE and abs(articles[m]["t"] - a["t"]) <= WINDOW_S:
                            candidates.append((cosine, rank, m))
                examined = [0] * K
                value = [None] * len(near)
                version_of = [None] * len(near)
                links = [0] * len(near)
                for cosine, rank, m in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
                    if examined[rank] == PER_STORY:
                        continue
                    examined[rank] += 1
                    pair, is_version = strength(a, articles[m], cosine)
                    links[rank] += pair is not None
                    if pair is not None and (value[rank] is None or pair > value[rank]):
                        value[rank], version_of[rank] = pair, (m if is_version else None)
                for rank, (_, story) in enumerate(near):  # two links to join a larger story
                    if version_of[rank] is None and links[rank] < 2 and len(members[story]) > 1:
                        value[rank] = None
                ranked = [r for r in range(len(near)) if value[r] is not None]
                ranked.sort(key=lambda r: (-value[r], r))
                if ranked:
                    best = near[ranked[0]][1]
                    if version_of[ranked[0]] is not None:
                        versions.append((i, version_of[ranked[0]]))
                if len(ranked) > 1 and value[ranked[1]] >= MERGE and value[ranked[0]] >= MERGE:
                    keep, gone = sorted((best, near[ranked[1]][1]))
                    members[keep] = sorted(members[keep] + members.pop(gone))
                    static.discard(gone)
                    static.discard(keep)
                    if gone in changed:
                        changed.remove(gone)
                    if keep not in changed:
                        changed.append(keep)
                    merges.append((gone, keep))
                    best = keep
            if best is None:
                best, next_id = next_id, next_id + 1
            out.append(best)
            if a["multi"] is not None:
                members.setdefault(best, []).append(i)
                if best not in changed:
                    changed.append(best)
    return [_final(story, merges) for story in out], versions, merges


def _final(story: int, merges: list[tuple]) -> int:
    for gone, keep in merges:
        if story == gone:
            story = keep
    return story


# -- the implementation ----------------------------------------------------------------------
def rows_of(articles: list[dict], first: int = 0) -> Rows:
    """The articles as the window takes them; article ids count from `first`."""
    n = len(articles)
    ids, weights, alts, owners, id_count, alt_count = [], [], [], [], [], []
    for a in articles:
        item_ids = sorted(a["items"])
        ids += item_ids
        weights += [a["weights"][item] for item in item_ids]
        pairs = sorted(
            (alt, index) for index, item in enumerate(item_ids) for alt in a["items"][item]
        )
        alts += [alt for alt, _ in pairs]
        owners += [index for _, index in pairs]
        id_count.append(len(item_ids))
        alt_count.append(len(pairs))
    weights_array = np.array(weights)
    return Rows(
        articles=[
            Article(first + i, "2026-01-01T00:00:00Z", "en", 1, None, "", "", a["t"])
            for i, a in enumerate(articles)
        ],
        multi=np.array(
            [a["multi"] if a["multi"] is not None else np.zeros(DIM) for a in articles],
            dtype=np.float32,
        ),
        has_multi=np.array([a["multi"] is not None for a in articles]),
        lang=np.array([a["language"] for a in articles], dtype=np.int32),
        english=np.array(
            [a["english"] if a["english"] is not None else np.zeros(DIM) for a in articles],
            dtype=np.float32,
        ),
        has_english=np.array([a["english"] is not None for a in articles]),
        kw_lang=np.array([a["language"] for a in articles], dtype=np.int32),
        kw_glossed=np.array([a["glossed"] for a in articles]),
        kw_total=np.bincount(np.repeat(np.arange(n), id_count), weights=weights_array, minlength=n),
        id_count=np.array(id_count, dtype=np.int64),
        ids=np.array(ids, dtype=np.int64),
        weights=weights_array,
        alt_count=np.array(alt_count, dtype=np.int64),
        alts=np.array(alts, dtype=np.int64),
        owners=np.array(owners, dtype=np.int32),
    )


def compiled(data: dict) -> tuple[list[int], list[tuple], list[tuple], Window]:
    articles, size = data["articles"], data["batch"]
    window = Window(DIM, DIM)
    out: list[int] = []
    versions: list[tuple] = []
    merges: list[tuple] = []
    next_id = 1
    for start in range(0, len(articles), size):
        batch = articles[start : start + size]
        window.forget_before(min(a["t"] for a in batch) - WINDOW_S)
        result = window.assign(rows_of(batch, start), PARAMS, next_id, K, PER_STORY)
        next_id = result.next_id
        out += result.stories
        versions += [(start + index, window.articles[row].id) for index, row, _ in result.versions]
        merges += [(gone, keep) for _, gone, keep in result.merges]
    return [_final(story, merges) for story in out], versions, merges, window


@pytest.mark.parametrize("seed", range(24))
def test_the_compiled_loop_assigns_like_the_reference(seed):
    data = synthetic(seed)
    expected, expected_versions, expected_merges = reference(data)
    got, versions, merges, window = compiled(data)
    assert got == expected
    assert merges == expected_merges
    assert versions == expected_versions
    # The data exercise what they should: joins, several stories, expiry and slot reuse.
    assert len(set(expected)) < len(expected) - 20
    assert window.free or window.slots_used < len(set(expected))


def test_the_synthetic_windows_exercise_merges_and_versions():
    """Across the seeds, stories do merge and versions are found (else the comparison above
    would not cover them)."""
    found = [reference(synthetic(seed)) for seed in range(24)]
    assert sum(len(merges) for _, _, merges in found) >= 5
    assert sum(len(versions) for _, versions, _ in found) >= 50


def test_coverage_merges_like_sets():
    rng = np.random.default_rng(1)
    for _ in range(200):
        a_alts = np.sort(rng.integers(0, 30, 12)).astype(np.int64)
        a_owners = rng.integers(0, 5, 12).astype(np.int32)
        b_alts = np.sort(rng.integers(0, 30, 9)).astype(np.int64)
        weights = rng.uniform(0, 2, 5)
        order = np.argsort(a_alts, kind="stable")
        expected = sum(
            weights[item]
            for item in range(5)
            if set(a_alts[a_owners == item].tolist()) & set(b_alts.tolist())
        )
        got = kernel.coverage_cross(
            a_alts[order], a_owners[order], weights, weights.sum(), b_alts, np.zeros(5, dtype=bool)
        )
        assert got == pytest.approx(expected / weights.sum())
