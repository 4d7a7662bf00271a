"""The in-memory window: expiry reports what left, and gathered vectors are the window's rows."""

from __future__ import annotations

import numpy as np

from aggregator.cluster.window import Article, Window

DIM = 8


def _article(article_id: int, t: float, rng: np.random.Generator) -> Article:
    vector = rng.standard_normal(DIM).astype(np.float32)
    return Article(
        id=article_id, at="2026-01-01T00:00:00Z", key=("", "", ""), language="en", feed_id=1,
        country=None, title=None, title_en=None, multi=vector / np.linalg.norm(vector),
        english=None, signature=None, t=t,
    )


def _window(count: int) -> tuple[Window, list[Article]]:
    rng = np.random.default_rng(3)
    window = Window(DIM, DIM)
    articles = [_article(100 + i, float(i), rng) for i in range(count)]
    for article in articles:
        window.add(article, story_id=article.id % 7)
    return window, articles


def test_forget_before_returns_the_expired_ids_and_keeps_sums_exact():
    window, articles = _window(3000)  # past the first growth, and compacted below
    assert window.forget_before(10.0) == [a.id for a in articles[:10]]
    assert window.forget_before(10.0) == []
    dropped = window.forget_before(2000.0)
    assert dropped == [a.id for a in articles[10:2000]]
    assert len(window) == 1000
    live = {a.id for a in window.articles if a is not None}
    assert live == {a.id for a in articles[2000:]}
    for story_id, total in window.sums.items():
        members = [a.multi for a in articles[2000:] if a.id % 7 == story_id]
        np.testing.assert_allclose(total, np.sum(members, axis=0), atol=1e-3)


def test_gather_equals_fancy_indexing_across_growth_and_reuse():
    window, _ = _window(1500)
    small = [5, 3, 3, 1499]
    np.testing.assert_array_equal(window.gather(small), window.multi[small])
    large = list(range(0, 1500, 2))
    np.testing.assert_array_equal(window.gather(large), window.multi[large])
    again = window.gather(small)  # the reused buffer now holds the short selection
    assert again.shape == (4, DIM)
    np.testing.assert_array_equal(again, window.multi[small])
