"""Offline sentence splitting and truncation (aggregator/translate/segment.py)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.translate.segment import normalize, split_sentences, truncate


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        (
            "It rained. Then it stopped! Why? Nobody knows",
            ["It rained.", "Then it stopped!", "Why?", "Nobody knows"],
        ),
        ("Dr. Smith met Mr. Jones. They talked.", ["Dr. Smith met Mr. Jones.", "They talked."]),
        (
            "The U.S. Senate voted. J. K. Rowling spoke.",
            ["The U.S. Senate voted.", "J. K. Rowling spoke."],
        ),
        ("Am 3. Oktober feiert man. Z.B. heute.", ["Am 3. Oktober feiert man.", "Z.B. heute."]),
        ('He said: "No." Then he left.', ['He said: "No."', "Then he left."]),
        ("« Oui. » Puis il est parti.", ["« Oui. »", "Puis il est parti."]),
        ("¿Qué pasa? ¡Nada! Bien.", ["¿Qué pasa?", "¡Nada!", "Bien."]),
        ("Prices rose 5.5% in 2020. Good.", ["Prices rose 5.5% in 2020.", "Good."]),
        (
            "東京で地震が発生した。被害は不明！詳細は後ほど。",
            ["東京で地震が発生した。", "被害は不明！", "詳細は後ほど。"],
        ),
        ("هل هذا صحيح؟ نعم.", ["هل هذا صحيح؟", "نعم."]),
        ("भारत जीता। खेल खत्म।", ["भारत जीता।", "खेल खत्म।"]),
        ("line one\nline two", ["line one line two"]),
        ("   ", []),
    ],
)
def test_splits_sentences_offline(text, sentences):
    assert split_sentences(text) == sentences


def test_overlong_sentences_are_cut_at_word_boundaries():
    pieces = split_sentences("word " * 200, max_chars=50)
    assert all(len(p) <= 50 for p in pieces)
    assert " ".join(pieces) == ("word " * 200).strip()


def test_text_without_spaces_is_cut_hard():
    pieces = split_sentences("字" * 120, max_chars=50)
    assert [len(p) for p in pieces] == [50, 50, 20]


def test_truncate_keeps_whole_sentences():
    text = "First sentence here. Second one follows. A third, much longer sentence ends it."
    assert truncate(text, 45) == ("First sentence here. Second one follows.", True)
    assert truncate(text, 1000) == (text, False)


def test_truncate_cuts_a_long_first_sentence_at_a_word():
    kept, truncated = truncate("alpha beta gamma delta epsilon", 13)
    assert (kept, truncated) == ("alpha beta", True)


def test_normalize_removes_control_characters_and_collapses_space():
    assert normalize(" a\tb\n\nc\x00d\u200b ") == "a b c d"


@given(st.text(max_size=400))
def test_splitting_loses_no_words(text):
    pieces = split_sentences(text, max_chars=60)
    assert "".join(pieces).replace(" ", "") == normalize(text).replace(" ", "")
    assert all(0 < len(p) <= 60 for p in pieces)


@given(st.text(max_size=400), st.integers(min_value=1, max_value=200))
def test_truncation_respects_the_limit_and_is_a_prefix(text, limit):
    kept, truncated = truncate(text, limit)
    assert len(kept) <= limit
    assert normalize(text).startswith(kept)
    assert truncated == (kept != normalize(text))
