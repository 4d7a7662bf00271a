"""Language codes and offline detection."""

import pytest

from aggregator import language


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("fr-FR", "fr"),
        ("FR", "fr"),
        ("en_US", "en"),
        ("fra", "fr"),
        ("deu", "de"),
        ("zh-Hans-CN", "zh"),
        ("iw", "he"),
        ("pt-BR", "pt"),
        (" es ", "es"),
        ("zz", None),
        ("x-default", None),
        ("", None),
        (None, None),
        ("english", None),
    ],
)
def test_normalise(code, expected):
    assert language.normalise(code) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Le gouvernement a annoncé une réforme des retraites", "fr"),
        ("Der Bundestag hat heute über das neue Gesetz abgestimmt", "de"),
        ("Уряд ухвалив новий бюджет на наступний рік", "uk"),
        ("Правительство утвердило бюджет на следующий год", "ru"),
        ("El Gobierno aprueba la reforma laboral", "es"),
        ("政府公布明年预算草案", "zh"),
        ("日本政府は来年度予算案を発表した", "ja"),
        ("Merkez Bankası faiz kararını açıkladı", "tr"),
    ],
)
def test_detect(text, expected):
    assert language.detect(text) == expected


@pytest.mark.parametrize("text", ["", None, "Live: Macron", "12:30 — 3-1", "COVID-19"])
def test_short_or_ambiguous_text_is_undetermined(text):
    assert language.detect(text) is None


def test_the_detector_is_built_once():
    assert language.detector() is language.detector()


def test_every_detectable_language_is_a_valid_code():
    from aggregator.config import ISO_639_1

    assert set(language.DETECTABLE) <= ISO_639_1
