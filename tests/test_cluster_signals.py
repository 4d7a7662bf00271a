"""The matching signals on their own: keyword signatures with the installed FreeDict
dictionaries, boilerplate removal, and the pair rule."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from aggregator import gloss, keywords
from aggregator.boilerplate import FeedBoilerplate
from aggregator.cluster import kernel
from aggregator.config import ClusterSettings

needs_german = pytest.mark.skipif(
    gloss.glossary("de") is None, reason="dict-freedict-deu-eng is not installed"
)


@dataclasses.dataclass(frozen=True)
class Pair:
    """One pair of articles' signals, judged by the compiled rule (kernel.strength)."""

    multi: float  # centred multilingual cosine
    english: float | None
    keywords: float | None
    cross: bool = False  # in two different languages

    def judge(self, settings: ClusterSettings) -> tuple[float | None, bool]:
        """How far the pair is above the bar (higher is better; None below it), and whether
        one is a version of the other."""
        value, version = kernel.strength(
            self.multi,
            self.cross,
            self.english is not None,
            self.english or 0.0,
            self.keywords is not None,
            self.keywords or 0.0,
            kernel.rule_parameters(settings),
        )
        return (None if value == kernel.NONE else value), bool(version)


def coverage(a: keywords.Keywords, a_weights: np.ndarray, b: keywords.Keywords) -> float:
    """The share of a's keyword weight that b carries: by identity in the same keying language,
    else by any shared alternative (what the compiled loop computes, for one pair)."""
    total = float(a_weights.sum())
    marks = np.zeros(len(a.ids), dtype=bool)
    if a.language == b.language:
        return kernel.coverage_same(a.ids, a_weights, total, b.ids, marks)
    order = np.argsort(a.alts, kind="stable")
    return kernel.coverage_cross(
        a.alts[order], a.owners[order], a_weights, total, np.sort(b.alts), marks
    )


def cover(a_text: str, a_lang: str, b_text: str, b_lang: str) -> float:
    a, b = keywords.extract(a_text, a_lang), keywords.extract(b_text, b_lang)
    return min(coverage(a, np.ones(len(a.ids)), b), coverage(b, np.ones(len(b.ids)), a))


@needs_german
def test_german_meets_english_through_the_dictionary():
    english = "Police arrest bank robber near the royal palace after a chase"
    german = "Polizei nimmt Bankräuber nach einer Verfolgungsjagd nahe dem Königspalast fest"
    unrelated = "Parliament approves a new climate law for farmers"
    assert cover(german, "de", english, "en") >= 0.5
    assert cover(german, "de", unrelated, "en") == 0.0


@needs_german
def test_an_unknown_compound_is_glossed_by_its_parts():
    signature = keywords.extract("Bankräuber", "de")
    assert keywords.key_hash("en:robber") in set(signature.alts.tolist())


def test_numbers_match_across_writing_conventions():
    ids = [
        set(keywords.extract(text, lang).ids.tolist())
        for text, lang in [
            ("40.000 Haushalte", "de"),
            ("40,000 homes", "en"),
            ("40\u00a0000 foyers", "fr"),
        ]
    ]
    number = keywords.key_hash("#40000")
    assert all(number in found for found in ids)


def test_same_language_matches_by_lemma_and_ignores_function_words():
    assert cover("Die Häuser brannten", "de", "Ein Haus brennt", "de") == 1.0
    assert cover("der die das und", "de", "der die das und", "de") == 0.0  # nothing to match


def test_a_language_without_dictionary_shares_no_space_with_english():
    polish = keywords.extract("Trzęsienie ziemi nawiedziło Chile", "pl")
    english = keywords.extract("Earthquake strikes Chile", "en")
    assert not polish.glossed
    assert not keywords.comparable(polish, english)


def test_signatures_survive_the_database_round_trip():
    signature = keywords.extract("Magnitude 7.1 earthquake strikes Chile", "en")
    again = keywords.Keywords.from_blobs("en", True, *signature.to_blobs())
    assert again.ids.tolist() == signature.ids.tolist()
    assert again.alts.tolist() == signature.alts.tolist()


def test_boilerplate_the_feed_repeats_is_removed():
    titles = [f"Story number {n} happened | World Herald" for n in range(6)]
    learned = FeedBoilerplate.learn(
        [((t, None), (f"Text {n}. Photo gallery inside.", None)) for n, t in enumerate(titles)],
        ["Herald"],
    )
    assert learned.title("Rome museum reopens | World Herald") == "Rome museum reopens"
    assert learned.title("Live: Rome museum reopens") == "Rome museum reopens"
    assert learned.summary("The museum reopened. Photo gallery inside.") == "The museum reopened."
    assert learned.summary("Crowds queued (Photo: Reuters) all day.") == "Crowds queued all day."
    # A topic label before a colon is content, not boilerplate.
    assert learned.title("Omicron: Johnson wants boosters") == "Omicron: Johnson wants boosters"


def test_a_feed_with_few_articles_keeps_its_headlines():
    learned = FeedBoilerplate.learn(
        [(("Quake hits Chile - Herald",), ()), (("Quake hits Chile - Herald",), ())], []
    )
    assert learned.title("Quake hits Chile - Herald") == "Quake hits Chile - Herald"


SETTINGS = ClusterSettings()


@pytest.mark.parametrize(
    ("pair", "same_event", "version"),
    [
        # a translation: the same event, most keywords shared
        (Pair(multi=0.7, english=None, keywords=0.45, cross=True), True, True),
        # another article about the same event: few shared keywords, close in meaning
        (Pair(multi=0.55, english=None, keywords=0.2), True, False),
        (Pair(multi=0.41, english=None, keywords=0.1, cross=True), True, False),
        # the same topic, another event: below the event bar whatever the keywords
        (Pair(multi=0.3, english=None, keywords=0.2), False, False),
        (Pair(multi=0.3, english=None, keywords=0.9), False, False),
        # within one language a shared vocabulary is not yet a copy
        (Pair(multi=0.6, english=None, keywords=0.45), True, False),
        (Pair(multi=0.6, english=None, keywords=0.7), True, True),
        # English texts on both sides: the two cosines' mean decides, the English one vetoes
        (Pair(multi=0.37, english=0.55, keywords=0.1, cross=True), True, False),
        (Pair(multi=0.41, english=0.4, keywords=0.1), False, False),
        (Pair(multi=0.9, english=0.2, keywords=0.9), False, False),
        # no shared keyword space: a version only when nearly identical in meaning
        (Pair(multi=0.85, english=None, keywords=None, cross=True), True, True),
        (Pair(multi=0.6, english=None, keywords=None, cross=True), True, False),
        (Pair(multi=0.39, english=None, keywords=None, cross=True), False, False),
    ],
)
def test_the_pair_rule(pair, same_event, version):
    strength, is_version = pair.judge(SETTINGS)
    assert (strength is not None) is same_event
    assert is_version is version


def test_a_version_outranks_any_event_match():
    version, _ = Pair(multi=0.5, english=None, keywords=0.4, cross=True).judge(SETTINGS)
    event, _ = Pair(multi=0.99, english=None, keywords=0.1).judge(SETTINGS)
    assert version > event


def test_cross_language_pairs_have_their_own_bar():
    settings = dataclasses.replace(SETTINGS, threshold_event=0.5, threshold_event_cross=0.4)
    assert Pair(multi=0.45, english=None, keywords=None, cross=True).judge(settings)[0]
    assert Pair(multi=0.45, english=None, keywords=None).judge(settings)[0] is None
