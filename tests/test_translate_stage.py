"""The translation stage on real SQLite files with the test-built Argos model (and real
Apertium where installed): routing, the cache, titles first, failures, re-opening."""

from __future__ import annotations

import pytest

from aggregator.translate import models, stage
from aggregator.translate.base import Backend, BackendError
from tests.argos_model import package_argosmodel
from tests.translate_helpers import (
    add_article,
    article,
    cache_rows,
    needs_apertium,
    open_db,
    write_config,
)

pytest_plugins = ["tests.argos_fixture"]
pytestmark = pytest.mark.usefixtures("no_network")

FEEDS = {"de": "de", "en": "en", "ja": "ja", "nolang": None, "es": "es", "fr": "fr"}


@pytest.fixture
def models_dir(tmp_path, argosmodel):
    directory = tmp_path / "models"
    models.install_file(directory, argosmodel)
    return directory


def setup(tmp_path, models_dir, translation=None, feeds=None, feed_translation=None):
    cfg = write_config(
        tmp_path / "feeds.yaml", models_dir, feeds or FEEDS, translation, feed_translation
    )
    return cfg, open_db(tmp_path / "db.sqlite", cfg)


def test_each_kind_of_article_is_handled_honestly(tmp_path, models_dir):
    cfg, conn = setup(tmp_path, models_dir, {"order": ["argos"]})
    de = add_article(conn, "de", "Der Präsident kündigt ein Gesetz an.", "Bauern protestieren.")
    en = add_article(conn, "en", "Storm hits the coast", "Winds of 150 km/h. " * 200)
    ja = add_article(conn, "ja", "東京で地震", "詳細は後ほど。")
    unknown = add_article(conn, "nolang", "???", None)

    report = stage.run(conn, cfg)

    row = article(conn, de)
    assert row["title_en"] and row["summary_en"]
    assert (row["translation_backend"], row["translation_model"]) == ("argos", "argos:de-en 1.0")
    assert row["translated_at"].endswith("Z") and row["translation_error"] is None
    row = article(conn, en)
    assert row["title_en"] == "Storm hits the coast"
    assert row["summary_en"] == "Winds of 150 km/h. " * 200, "copied whole, not truncated"
    assert (row["translation_backend"], row["translation_model"]) == ("copy", None)
    for article_id, reason in ((ja, "none:no-model-for-ja"), (unknown, "none:unknown-language")):
        row = article(conn, article_id)
        assert (row["title_en"], row["summary_en"]) == (None, None), "never a fake translation"
        assert row["translation_backend"] == reason and row["translated_at"]
    assert report.done == 4 and report.failed == 0
    assert report.details["translated"] == 2  # the German title and summary
    assert "no model for ja" in str(report) and "aggregator models list" in str(report)
    assert (report.details["copied (English)"], report.details["unknown language"]) == (1, 1)


def test_a_second_run_translates_nothing(tmp_path, models_dir):
    cfg, conn = setup(tmp_path, models_dir)
    for i in range(3):
        add_article(conn, "de", f"Die Regierung streitet über den Haushalt {i}.", "Ein Satz.")
    first = stage.run(conn, cfg)
    assert first.done == 3 and first.details["translated"] == 4  # 3 titles + 1 shared summary
    before = [article(conn, i) for i in (1, 2, 3)]
    second = stage.run(conn, cfg)
    assert (second.done, second.details["translated"], second.details["cached"]) == (0, 0, 0)
    assert [article(conn, i) for i in (1, 2, 3)] == before


def test_duplicate_titles_and_reruns_hit_the_cache(tmp_path, models_dir):
    cfg, conn = setup(tmp_path, models_dir)
    title = "Ein Erdbeben erschüttert den Süden."
    ids = [add_article(conn, "de", title) for _ in range(3)]
    report = stage.run(conn, cfg)
    assert report.details["translated"] == 1, "three equal titles, one translation"
    assert len({article(conn, i)["title_en"] for i in ids}) == 1
    assert cache_rows(conn) == 1

    later = add_article(conn, "de", title)
    report = stage.run(conn, cfg)
    assert (report.details["translated"], report.details["cached"]) == (0, 1)
    assert article(conn, later)["title_en"] == article(conn, ids[0])["title_en"]


def test_a_new_model_version_misses_the_cache(tmp_path, models_dir, ct2_model):
    cfg, conn = setup(tmp_path, models_dir)
    add_article(conn, "de", "Ein Erdbeben erschüttert den Süden.")
    stage.run(conn, cfg)
    models.install_file(models_dir, package_argosmodel(ct2_model, tmp_path, version="1.1"))
    later = add_article(conn, "de", "Ein Erdbeben erschüttert den Süden.")
    report = stage.run(conn, cfg)
    assert (report.details["translated"], report.details["cached"]) == (1, 0)
    assert article(conn, later)["translation_model"] == "argos:de-en 1.1"
    assert cache_rows(conn) == 2


def test_titles_come_first_and_an_interrupted_run_resumes(tmp_path, models_dir):
    cfg, conn = setup(tmp_path, models_dir, {"articles_per_batch": 2})
    ids = [add_article(conn, "de", f"Titel Nummer {i}.", f"Zusammenfassung {i}.") for i in range(5)]
    calls = []

    def progress(n):
        calls.append(n)
        if len(calls) == 4:  # three title batches (2+2+1), then one summary batch
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stage.run(conn, cfg, progress=progress)
    rows = [article(conn, i) for i in ids]
    assert all(r["title_en"] for r in rows), "every title before any summary"
    assert [bool(r["summary_en"]) for r in rows] == [True, True, False, False, False]
    assert [bool(r["translated_at"]) for r in rows] == [True, True, False, False, False]
    assert all(r["translation_backend"] == "argos" for r in rows)

    report = stage.run(conn, cfg, progress=calls.append)
    assert report.done == 3
    assert report.details["titles"] == 0 and report.details["summaries"] == 3
    assert all(article(conn, i)["translated_at"] for i in ids)
    assert calls == [2, 2, 1, 2, 2, 1], "one progress call per batch, with its size"


def test_limit_caps_the_articles_of_each_pass(tmp_path, models_dir):
    cfg, conn = setup(tmp_path, models_dir)
    ids = [add_article(conn, "de", f"Titel {i}.", f"Text {i}.") for i in range(4)]
    report = stage.run(conn, cfg, limit=2)
    assert report.done == 2
    assert [bool(article(conn, i)["translated_at"]) for i in ids] == [True, True, False, False]
    assert article(conn, ids[2])["translation_backend"] is None


def test_long_summaries_are_truncated_at_a_sentence_and_marked(tmp_path, models_dir):
    cfg, conn = setup(tmp_path, models_dir, {"max_chars": 50})
    summary = "Der erste Satz ist kurz. Der zweite auch. Der dritte Satz passt nicht mehr hinein."
    article_id = add_article(conn, "de", "Titel.", summary)
    stage.run(conn, cfg)
    assert article(conn, article_id)["summary_en"].endswith(" …")
    from aggregator.translate import cache

    kept = "Der erste Satz ist kurz. Der zweite auch."
    row = conn.execute(
        "SELECT 1 FROM translation_cache WHERE text_hash = ?", (cache.text_hash(kept),)
    ).fetchone()
    assert row, "the truncated text is what was translated"


def test_a_failing_model_fails_its_articles_only_and_they_retry(tmp_path, models_dir, ct2_model):
    models.install_file(models_dir, package_argosmodel(ct2_model, tmp_path / "nl", "nl"))
    models.install_file(models_dir, package_argosmodel(ct2_model, tmp_path / "bad", corrupt=True))
    cfg, conn = setup(tmp_path, models_dir, feeds={"de": "de", "nl": "nl"})
    bad = add_article(conn, "de", "Ein Satz.", "Noch einer.")
    good = add_article(conn, "nl", "Een zin.", "Nog een.")

    report = stage.run(conn, cfg)
    assert (report.done, report.failed) == (1, 1)
    assert article(conn, good)["translated_at"]
    row = article(conn, bad)
    assert "cannot load translate-de_en" in row["translation_error"]
    assert row["translation_attempts"] == 1
    assert (row["translated_at"], row["title_en"], row["translation_backend"]) == (None,) * 3

    assert stage.run(conn, cfg).failed == 1, "retried on the next run"
    assert article(conn, bad)["translation_attempts"] == 2

    models.install_file(models_dir, package_argosmodel(ct2_model, tmp_path / "ok"))
    assert stage.run(conn, cfg).done == 1
    row = article(conn, bad)
    assert row["translated_at"] and row["translation_error"] is None
    assert row["translation_attempts"] == 2, "counts failures, kept as history"


def test_articles_that_failed_before_come_last(tmp_path, models_dir):
    cfg, conn = setup(tmp_path, models_dir)
    failed_before = add_article(conn, "de", "Alt.")
    fresh = add_article(conn, "de", "Neu.")
    conn.execute("UPDATE articles SET translation_attempts = 1 WHERE id = ?", (failed_before,))
    router = stage.Router({}, cfg.settings.translation, cfg.feeds)
    passes = stage.TranslatePass(stage.TITLE, router, cfg.settings.translation, None)
    assert [item.article_id for item in passes.pending(conn, 10)] == [fresh, failed_before]


class Flaky(Backend):
    """A backend that cannot translate texts containing BOOM (stands in for a text that
    crashes a real engine); everything else it renders in upper case."""

    name = "flaky"
    calls: list[list[str]] = []

    def languages(self):
        return {"de"}

    def model_id(self, source_lang):
        return "flaky 1"

    def translate(self, texts, source_lang):
        Flaky.calls.append(list(texts))
        if any("BOOM" in t for t in texts):
            raise BackendError("flaky: cannot handle BOOM")
        return [t.upper() for t in texts]


def test_one_bad_text_fails_alone_and_the_batch_goes_on(tmp_path, models_dir, extra_backends):
    extra_backends.append(Flaky)
    Flaky.calls = []
    cfg, conn = setup(tmp_path, models_dir, {"per_language": {"de": ["flaky"]}})
    ok = [add_article(conn, "de", f"Titel {i}") for i in range(3)]
    bad = add_article(conn, "de", "BOOM Titel")
    report = stage.run(conn, cfg)
    assert (report.done, report.failed) == (3, 1)
    assert [article(conn, i)["title_en"] for i in ok] == ["TITEL 0", "TITEL 1", "TITEL 2"]
    row = article(conn, bad)
    assert row["translation_error"] == "title: flaky: cannot handle BOOM"
    assert row["title_en"] is None and row["translation_attempts"] == 1
    assert len(Flaky.calls[0]) == 4, "tried as one batch first"


class Garbling(Flaky):
    """Translates a text containing GARBLE into a lone surrogate: text SQLite cannot store.
    (It takes Flaky's place, under its name.)"""

    def translate(self, texts, source_lang):
        return [t.upper().replace("GARBLE", "\ud800") for t in texts]


def inject_translate_fault(
    monkeypatch: pytest.MonkeyPatch, step: str, extra_backends: list[type[Backend]]
) -> None:
    """Make `step` fail for one article's text, as a bug there would."""
    if step == "prepare":
        original_truncate = stage.segment.truncate

        def truncate(text, max_chars):
            if "POISON" in text:
                raise RuntimeError("injected fault")
            return original_truncate(text, max_chars)

        monkeypatch.setattr(stage.segment, "truncate", truncate)
    elif step == "cache":
        original_key = stage.cache.key

        def key(text, *args):
            if "POISON" in text:
                raise RuntimeError("injected fault")
            return original_key(text, *args)

        monkeypatch.setattr(stage.cache, "key", key)
    elif step == "save":  # a real failure: the backend's output cannot be encoded for SQLite
        extra_backends[:] = [Garbling]


@pytest.mark.parametrize(
    ("step", "title", "error"),
    [
        ("prepare", "POISON Titel", "internal error: RuntimeError: injected fault"),
        ("cache", "POISON Titel", "internal error: RuntimeError: injected fault"),
        (
            "save",
            "GARBLE Titel",
            "internal error: UnicodeEncodeError: 'utf-8' codec can't "
            "encode character '\\ud800' in position 0: surrogates not allowed",
        ),
    ],
)
def test_an_exception_on_one_article_is_its_error_and_the_others_are_translated(
    tmp_path, models_dir, extra_backends, step, title, error
):
    extra_backends.append(Flaky)
    cfg, conn = setup(tmp_path, models_dir, {"per_language": {"de": ["flaky"]}})
    ok = [add_article(conn, "de", f"Titel {i}") for i in range(3)]
    bad = add_article(conn, "de", title)
    with pytest.MonkeyPatch.context() as fault:
        inject_translate_fault(fault, step, extra_backends)
        report = stage.run(conn, cfg)
    extra_backends[:] = [Flaky]
    assert (report.done, report.failed) == (3, 1)
    assert [article(conn, i)["title_en"] for i in ok] == ["TITEL 0", "TITEL 1", "TITEL 2"]
    row = article(conn, bad)
    assert row["translation_error"] == error
    assert (row["title_en"], row["translated_at"], row["translation_attempts"]) == (None, None, 1)
    assert stage.run(conn, cfg).done == 1  # fault gone: the next run translates it
    assert article(conn, bad)["translation_error"] is None


def test_a_language_without_a_model_reopens_when_one_is_installed(tmp_path, models_dir, ct2_model):
    cfg, conn = setup(tmp_path, models_dir, {"order": ["argos"]}, feeds={"nl": "nl"})
    article_id = add_article(conn, "nl", "Een zin.", "Nog een.")
    stage.run(conn, cfg)
    assert article(conn, article_id)["translation_backend"] == "none:no-model-for-nl"
    assert stage.run(conn, cfg).done == 0, "not pending while no model covers it"

    models.install_file(models_dir, package_argosmodel(ct2_model, tmp_path / "nl", "nl"))
    report = stage.run(conn, cfg)
    assert report.details["reopened"] == 1 and report.done == 1
    row = article(conn, article_id)
    assert (row["translation_backend"], row["translation_model"]) == ("argos", "argos:nl-en 1.0")
    assert row["title_en"] and row["summary_en"]


def test_a_model_change_between_passes_redoes_the_title(tmp_path, models_dir, ct2_model):
    cfg, conn = setup(tmp_path, models_dir)
    article_id = add_article(conn, "de", "Ein Titel.", "Eine Zusammenfassung.")

    def stop_after_titles(n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stage.run(conn, cfg, progress=stop_after_titles)
    assert article(conn, article_id)["translation_model"] == "argos:de-en 1.0"
    models.install_file(models_dir, package_argosmodel(ct2_model, tmp_path, version="2.0"))
    report = stage.run(conn, cfg)
    assert report.details["translated"] == 2, "summary and, for consistent provenance, title"
    assert article(conn, article_id)["translation_model"] == "argos:de-en 2.0"


def test_missing_title_or_summary(tmp_path, models_dir):
    cfg, conn = setup(tmp_path, models_dir)
    no_title = add_article(conn, "de", None, "Nur eine Zusammenfassung.")
    no_summary = add_article(conn, "de", "Nur ein Titel.", "   ")
    stage.run(conn, cfg)
    row = article(conn, no_title)
    assert row["title_en"] is None and row["summary_en"] and row["translated_at"]
    row = article(conn, no_summary)
    assert row["title_en"] and row["summary_en"] is None and row["translated_at"]


@needs_apertium
def test_apertium_covers_languages_without_an_argos_model(tmp_path, models_dir):
    cfg, conn = setup(tmp_path, models_dir)
    es = add_article(conn, "es", "El gobierno aprueba una nueva ley.", "La ley entra en vigor hoy.")
    fr = add_article(conn, "fr", "Le président a annoncé une loi.", None)
    stage.run(conn, cfg)
    row = article(conn, es)
    assert row["title_en"] == "The government approves a new law."
    assert "law" in row["summary_en"] and row["translation_backend"] == "apertium"
    assert row["translation_model"].startswith("apertium spa-eng (apertium-eng-spa ")
    row = article(conn, fr)
    assert "president" in row["title_en"] and "law" in row["title_en"]
    assert row["translation_model"].startswith("apertium fr-es>spa-eng (apertium-fr-es ")


@needs_apertium
def test_backend_order_per_language_and_per_feed(tmp_path, models_dir, ct2_model):
    models.install_file(models_dir, package_argosmodel(ct2_model, tmp_path / "es", "es"))
    feeds = {"es": "es", "es-rules": "es", "fr": "fr", "fr-argos": "fr"}
    cfg, conn = setup(
        tmp_path,
        models_dir,
        {"order": ["argos", "apertium"], "per_language": {"fr": ["apertium"]}},
        feeds=feeds,
        feed_translation={"es-rules": ["apertium"], "fr-argos": ["argos"]},
    )
    ids = {feed: add_article(conn, feed, "Una ley.") for feed in feeds}
    stage.run(conn, cfg)
    backends = {feed: article(conn, i)["translation_backend"] for feed, i in ids.items()}
    assert backends == {
        "es": "argos",  # the default order puts Argos first
        "es-rules": "apertium",  # the feed chose Apertium
        "fr": "apertium",  # per_language
        "fr-argos": "none:no-model-for-fr",  # the feed insists on Argos, which has no fr model
    }


@needs_apertium
def test_a_long_summary_is_cut_before_apertium_sees_it(tmp_path, models_dir):
    cfg, conn = setup(tmp_path, models_dir, {"max_chars": 45})
    summary = "El gobierno aprueba la ley. El rey firma hoy. El parlamento no está de acuerdo."
    article_id = add_article(conn, "es", "Ley.", summary)
    stage.run(conn, cfg)
    english = article(conn, article_id)["summary_en"]
    assert english.endswith(" …") and "king" in english and "parliament" not in english


def apertium_then_argos(tmp_path, models_dir, ct2_model, texts, feeds=None, **translation):
    """Articles in Spanish translated by Apertium (no es Argos model yet), then an es Argos
    model installed: the state a re-translation starts from."""
    cfg, conn = setup(tmp_path, models_dir, translation, feeds=feeds or {"es": "es"})
    feed = next(iter(feeds or {"es": "es"}))
    ids = [add_article(conn, feed, title, summary) for title, summary in texts]
    stage.run(conn, cfg)
    before = {i: article(conn, i) for i in ids}
    assert {row["translation_backend"] for row in before.values()} == {"apertium"}
    models.install_file(models_dir, package_argosmodel(ct2_model, tmp_path / "es", "es"))
    return cfg, conn, ids, before


SPANISH = [
    ("El gobierno aprueba una nueva ley.", "La ley entra en vigor hoy."),
    ("Un terremoto sacude el sur.", "No hay víctimas."),
    ("La ciudad recibe los juegos.", None),
]


@needs_apertium
def test_an_argos_model_re_translates_apertiums_articles_newest_first(
    tmp_path, models_dir, ct2_model
):
    cfg, conn, ids, before = apertium_then_argos(
        tmp_path, models_dir, ct2_model, SPANISH, articles_per_batch=1
    )
    new = add_article(conn, "es", "Una noticia nueva.", "Sin traducir todavía.")
    handled = []

    def stop_after_three(n):  # the new title, its summary, one re-translation
        handled.append(n)
        if len(handled) == 3:
            raise KeyboardInterrupt  # killed while the next batch is being translated

    with pytest.raises(KeyboardInterrupt):
        stage.run(conn, cfg, progress=stop_after_three)
    rows = {i: article(conn, i) for i in [*ids, new]}
    assert rows[new]["translation_backend"] == "argos", "untranslated work first"
    assert rows[new]["translated_at"]
    # Then the newest of Apertium's articles, one batch (of one) saved before the kill...
    assert rows[ids[2]]["translation_backend"] == "argos"
    assert rows[ids[2]]["translation_model"] == "argos:es-en 1.0"
    assert rows[ids[2]]["title_en"] != before[ids[2]]["title_en"]
    assert rows[ids[2]]["translated_at"] >= before[ids[2]]["translated_at"]
    # ... and the older ones, in flight or not reached, keep Apertium's text and provenance.
    for i in ids[:2]:
        assert rows[i] == before[i]

    report = stage.run(conn, cfg)
    assert report.details["re-translated (was Apertium)"] == 2
    for i in ids:
        row = article(conn, i)
        assert (row["translation_backend"], row["translation_model"]) == (
            "argos",
            "argos:es-en 1.0",
        )
        assert row["title_en"] and row["title_en"] != before[i]["title_en"]
        assert (row["summary_en"] is None) == (before[i]["summary_en"] is None)
    assert article(conn, ids[0])["summary_en"] != before[ids[0]]["summary_en"]
    again = stage.run(conn, cfg)
    assert again.done == 0 and "re-translated (was Apertium)" not in again.details


@needs_apertium
def test_a_failed_re_translation_keeps_apertiums_text(tmp_path, models_dir, ct2_model):
    cfg, conn = setup(tmp_path, models_dir, feeds={"es": "es"})
    es = add_article(conn, "es", *SPANISH[0])
    stage.run(conn, cfg)
    before = article(conn, es)
    assert before["translation_backend"] == "apertium"
    broken = package_argosmodel(ct2_model, tmp_path / "bad", "es", corrupt=True)
    models.install_file(models_dir, broken)

    report = stage.run(conn, cfg)
    assert report.failed == 1
    row = article(conn, es)
    for column in ("title_en", "summary_en", "translation_backend", "translation_model"):
        assert row[column] == before[column], column
    assert row["translated_at"] == before["translated_at"]
    assert row["translation_error"].startswith("re-translation by argos failed: ")
    assert "cannot load translate-es_en" in row["translation_error"]

    models.install_file(models_dir, package_argosmodel(ct2_model, tmp_path / "ok", "es"))
    assert stage.run(conn, cfg).done == 1, "retried on the next run"
    row = article(conn, es)
    assert row["translation_backend"] == "argos" and row["translation_error"] is None


@needs_apertium
def test_a_feed_or_language_that_chose_apertium_is_not_re_translated(
    tmp_path, models_dir, ct2_model
):
    feeds = {"es": "es", "es-rules": "es"}
    cfg, conn, ids, before = apertium_then_argos(
        tmp_path, models_dir, ct2_model, SPANISH[:1], feeds={"es-rules": "es"}
    )
    cfg = write_config(
        tmp_path / "feeds.yaml",
        models_dir,
        feeds,
        feed_translation={"es-rules": ["apertium"]},
    )
    assert stage.run(conn, cfg).done == 0
    assert article(conn, ids[0]) == before[ids[0]]
    cfg = write_config(
        tmp_path / "feeds.yaml", models_dir, feeds, {"per_language": {"es": ["apertium"]}}
    )
    assert stage.run(conn, cfg).done == 0
    assert article(conn, ids[0]) == before[ids[0]]


@needs_apertium
def test_re_translations_per_run_are_capped(tmp_path, models_dir, ct2_model, monkeypatch):
    texts = [(f"Noticia número {n}.", None) for n in range(5)]
    cfg, conn, ids, _ = apertium_then_argos(
        tmp_path, models_dir, ct2_model, texts, articles_per_batch=2
    )
    monkeypatch.setattr(stage, "RETRANSLATE_BATCHES", 1)
    assert stage.run(conn, cfg).details["re-translated (was Apertium)"] == 2
    backends = [article(conn, i)["translation_backend"] for i in ids]
    assert backends == ["apertium"] * 3 + ["argos"] * 2, "the newest first"
    assert stage.run(conn, cfg).details["re-translated (was Apertium)"] == 2
    assert stage.run(conn, cfg).details["re-translated (was Apertium)"] == 1
