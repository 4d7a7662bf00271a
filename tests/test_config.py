from pathlib import Path

import pytest

from aggregator import config
from aggregator.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def test_defaults_apply_when_settings_are_missing():
    cfg = config.parse("feeds:\n  - {url: 'https://example.org/rss', name: Example}\n")
    assert cfg.settings.allow_private_addresses is False
    assert cfg.feeds[0].language is None
    assert cfg.settings.translation.order == ("argos", "apertium")


def test_nested_settings_are_validated_and_typed():
    cfg = config.parse(
        "settings:\n  timeout_s: 5\n  translation:\n    order: [apertium]\n"
        "    per_language: {fr: argos}\n"
    )
    assert cfg.settings.timeout_s == 5.0
    assert cfg.settings.translation.order == ("apertium",)
    assert cfg.settings.translation.per_language == {"fr": ("argos",)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("feeds:\n  - {name: A}\n", "feed #1 (A): missing required field 'url'"),
        ("feeds:\n  - {url: 'ftp://x/y', name: A}\n", "feed #1 (A): url: 'ftp://x/y' is not"),
        ("feeds:\n  - {url: 'http://x/', name: A, language: fr-FR}\n", "language 'fr-FR'"),
        ("feeds:\n  - {url: 'http://x/', name: A, country: France}\n", "country 'France'"),
        ("feeds:\n  - {url: 'http://x/', name: A, lang: fr}\n", "unknown key 'lang'"),
        (
            "feeds:\n  - {url: 'http://x/', name: A}\n  - {url: 'http://x/', name: B}\n",
            "feed #2 (B): duplicate url http://x/ (already feed #1)",
        ),
        ("settings: {timeout_s: soon}\n", "settings: timeout_s: must be a number"),
        ("settings: {allow_private_addresses: yes please}\n", "must be true or false"),
        ("settings: {translation: {order: [google]}}\n", "unknown backend 'google'"),
        ("colour: blue\n", "unknown key 'colour'"),
        ("feeds: [\n", "feeds.yaml:"),
        ("- just\n- a list\n", "top level must be a mapping"),
    ],
)
def test_mistakes_are_one_line_naming_entry_and_field(text, message):
    with pytest.raises(ConfigError) as info:
        config.parse(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        config.load(tmp_path / "nope.yaml")
