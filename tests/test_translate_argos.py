"""The Argos backend on a real (test-built) Argos package, through argostranslate's package and
tokenizer code and CTranslate2 (aggregator/translate/argos.py)."""

import pytest

from aggregator.config import TranslationSettings
from aggregator.translate import argos, models
from aggregator.translate.argos import ArgosBackend
from aggregator.translate.base import BackendError
from tests.argos_model import package_argosmodel

pytest_plugins = ["tests.argos_fixture"]
pytestmark = pytest.mark.usefixtures("no_network")


@pytest.fixture
def backend(tmp_path, argosmodel) -> ArgosBackend:
    directory = tmp_path / "models"
    models.install_file(directory, argosmodel)
    backend = ArgosBackend(TranslationSettings(), directory)
    yield backend
    backend.close()


def test_languages_and_model_id(backend):
    assert backend.languages() == {"de"}
    assert backend.model_id("de") == "argos:de-en 1.0"


def test_translates_a_batch_one_output_per_text(backend):
    texts = [
        "Der Präsident hat ein neues Gesetz angekündigt.",
        "Die Stadt Berlin empfängt die Spiele. Bauern protestieren gegen die Preise.",
        "Ein Erdbeben erschüttert den Süden.",
    ]
    out = backend.translate(texts, "de")
    assert len(out) == 3
    assert all(isinstance(t, str) and t.strip() for t in out)
    assert out == backend.translate(texts, "de"), "deterministic"
    # Each text is translated on its own terms: batching does not mix texts.
    assert [backend.translate([t], "de")[0] for t in texts] == out


def test_a_multi_sentence_text_is_the_join_of_its_sentences(backend):
    first, second = "Die Stadt Berlin empfängt die Spiele.", "Bauern protestieren."
    joined = backend.translate([f"{first} {second}"], "de")[0]
    assert joined == " ".join(backend.translate([first, second], "de"))


def test_matches_argostranslates_own_translation_path(backend, tmp_path):
    """The same package through argostranslate's apply_packaged_translation gives the same
    English (with our offline splitter standing in for its MiniSBD, which needs the network)."""
    from argostranslate.translate import apply_packaged_translation

    from aggregator.translate import segment

    class OfflineSplitter:
        def split_sentences(self, text):
            return segment.split_sentences(text)

    loaded = backend._load("de")
    for text in ["Der Präsident hat ein neues Gesetz angekündigt.", "Polizei in Berlin"]:
        (hypothesis,) = apply_packaged_translation(
            loaded.package, text, loaded.translator, OfflineSplitter(), num_hypotheses=1
        )
        assert backend.translate([text], "de")[0] == hypothesis.value.strip()


def test_no_model_for_a_language_is_a_backend_error(backend):
    with pytest.raises(BackendError, match="no model installed for ja"):
        backend.translate(["東京"], "ja")


def test_a_corrupt_model_fails_with_a_backend_error(tmp_path, ct2_model):
    directory = tmp_path / "models"
    models.install_file(directory, package_argosmodel(ct2_model, tmp_path, corrupt=True))
    backend = ArgosBackend(TranslationSettings(), directory)
    assert backend.languages() == {"de"}
    with pytest.raises(BackendError, match="argos de: cannot load translate-de_en"):
        backend.translate(["Hallo Welt."], "de")


def test_threads_beam_and_batch_size_come_from_settings(tmp_path, argosmodel, monkeypatch):
    """Every setting reaches CTranslate2 (the real Translator, its calls recorded on the way):
    inter/intra threads when the model is loaded, beam and batch size with every batch. The
    values are none of the defaults, so a setting ignored for its default shows."""
    directory = tmp_path / "models"
    models.install_file(directory, argosmodel)
    settings = TranslationSettings(inter_threads=2, intra_threads=3, beam_size=2, batch_size=2)
    assert settings != TranslationSettings(inter_threads=2)  # beam 4, batch 32, intra 0
    ctranslate2 = argos.import_ctranslate2()
    real_translator = ctranslate2.Translator
    loads: list[dict] = []
    batches: list[dict] = []

    class Recording:
        def __init__(self, translator):
            self.translator = translator

        def translate_batch(self, tokens, **options):
            batches.append(options)
            return self.translator.translate_batch(tokens, **options)

    def translator(*args, **options):
        loads.append(options)
        return Recording(real_translator(*args, **options))

    monkeypatch.setattr(ctranslate2, "Translator", translator)
    backend = ArgosBackend(settings, directory)
    out = backend.translate(["Ein Satz.", "Noch ein Satz.", "Und ein dritter."], "de")
    assert len(out) == 3 and all(out)
    assert [(o["inter_threads"], o["intra_threads"]) for o in loads] == [(2, 3)]
    assert [(o["beam_size"], o["max_batch_size"]) for o in batches] == [(2, 2)]
    assert backend._load("de").translator.translator.num_translators == 2


def test_empty_input(backend):
    assert backend.translate([], "de") == []
    assert backend.translate([""], "de") == [""]
