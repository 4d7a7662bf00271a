"""The in-memory window: rows join stories, expiry reports what left and keeps each story's
sum, member list and time span exact, across growth, compaction and slot reuse."""

from __future__ import annotations

import numpy as np

from aggregator.cluster.window import Article, Rows, Window

DIM = 8


def _rows(first_id: int, times: list[float], rng: np.random.Generator) -> Rows:
    n = len(times)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    id_count = np.full(n, 2, dtype=np.int64)
    return Rows(
        articles=[
            Article(first_id + i, "2026-01-01T00:00:00Z", "en", 1, None, None, None, t)
            for i, t in enumerate(times)
        ],
        multi=vectors,
        has_multi=np.ones(n, bool),
        lang=np.zeros(n, np.int32),
        english=np.zeros((n, DIM), np.float32),
        has_english=np.zeros(n, bool),
        kw_lang=np.zeros(n, np.int32),
        kw_glossed=np.ones(n, bool),
        kw_total=np.full(n, 2.0),
        id_count=id_count,
        ids=np.arange(2 * n, dtype=np.int64) + 1000 * first_id,
        weights=np.ones(2 * n),
        alt_count=id_count,
        alts=np.arange(2 * n, dtype=np.int64),
        owners=np.tile(np.array([0, 1], np.int32), n),
    )


def _window(count: int) -> tuple[Window, Rows]:
    window = Window(DIM, DIM)
    rows = _rows(100, [float(i) for i in range(count)], np.random.default_rng(3))
    placed = window.append(rows, np.arange(count))
    window.join(placed, [article.id % 7 for article in rows.articles])
    return window, rows


def _check(window: Window, rows: Rows, live_ids: set[int]) -> None:
    by_id = {article.id: i for i, article in enumerate(rows.articles)}
    for story_id, slot in window.slot_of.items():
        members, _ = window.members(np.array([slot]))
        ids = [window.articles[row].id for row in members]
        expected = sorted(i for i in live_ids if i % 7 == story_id)
        assert ids == expected
        np.testing.assert_allclose(
            window.slot_sum[slot], rows.multi[[by_id[i] for i in ids]].sum(axis=0), atol=1e-4
        )
        times = [rows.articles[by_id[i]].t for i in ids]
        assert (window.slot_tmin[slot], window.slot_tmax[slot]) == (min(times), max(times))
        for row in members:  # keyword ranges still point at each row's own hashes
            article_id = window.articles[row].id
            start = window.id_start[row]
            assert window.ids_pool[start : start + 2].tolist() == [
                1000 * 100 + 2 * (article_id - 100),
                1000 * 100 + 2 * (article_id - 100) + 1,
            ]


def test_forget_before_returns_the_expired_ids_and_keeps_stories_exact():
    window, rows = _window(3000)  # past the first growth, and compacted below
    ids = [a.id for a in rows.articles]
    assert window.forget_before(10.0) == ids[:10]
    assert window.forget_before(10.0) == []
    _check(window, rows, set(ids[10:]))
    assert window.forget_before(2000.0) == ids[10:2000]
    assert len(window) == 1000 and window.size == 1000  # compacted
    _check(window, rows, set(ids[2000:]))


def test_a_story_whose_articles_all_left_frees_its_slot_for_reuse():
    window = Window(DIM, DIM)
    rng = np.random.default_rng(5)
    first = _rows(1, [0.0, 1.0], rng)
    window.join(window.append(first, np.arange(2)), [10, 11])
    assert window.forget_before(0.5) == [1]
    assert 10 not in window.slot_of and window.free == [0]
    second = _rows(3, [2.0], rng)
    window.join(window.append(second, np.arange(1)), [12])
    assert window.slot_of[12] == 0 and window.free == []
    np.testing.assert_allclose(window.slot_sum[0], second.multi[0], atol=1e-6)
