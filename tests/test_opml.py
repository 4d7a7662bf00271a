from pathlib import Path

import pytest
from click.testing import CliRunner

from aggregator import config
from aggregator.cli import cli
from tests.clirun import run_cli

OPML = """<?xml version="1.0"?>
<opml version="2.0"><head><title>mine</title></head><body>
  <outline text="News">
    <outline type="rss" text="Le Exemple" xmlUrl="https://example.fr/rss.xml"
             htmlUrl="https://example.fr/" language="fr-FR"/>
    <outline type="rss" title="Beispiel" xmlUrl="https://example.de/feed"/>
    <outline type="rss" text="Already there" xmlUrl="https://example.org/rss"/>
  </outline>
</body></opml>
"""

FEEDS = """# my sources, hand-curated
settings:
  timeout_s: 10   # slow servers
feeds:
  - url: https://example.org/rss
    name: Example
    language: en
"""


def test_import_adds_new_feeds_and_keeps_comments(tmp_path):
    feeds, opml = tmp_path / "feeds.yaml", tmp_path / "subs.opml"
    feeds.write_text(FEEDS)
    opml.write_text(OPML)
    result = CliRunner().invoke(
        cli, ["feeds", "import-opml", "--feeds", str(feeds), str(opml), "--country", "FR"]
    )
    assert result.exit_code == 0, result.output
    assert "added 2 feeds" in result.output
    text = feeds.read_text()
    assert "# my sources, hand-curated" in text and "# slow servers" in text
    loaded = config.load(feeds)
    assert [f.url for f in loaded.feeds] == [
        "https://example.org/rss",
        "https://example.fr/rss.xml",
        "https://example.de/feed",
    ]
    assert loaded.feeds[1].language == "fr" and loaded.feeds[1].country == "FR"
    assert loaded.feeds[1].homepage == "https://example.fr/"
    assert loaded.feeds[2].language is None and loaded.feeds[2].name == "Beispiel"


def test_import_options_accept_codes_in_any_case(tmp_path):
    feeds, opml = tmp_path / "feeds.yaml", tmp_path / "subs.opml"
    feeds.write_text(FEEDS)
    opml.write_text(OPML)
    result = run_cli(
        "feeds",
        "import-opml",
        "--feeds",
        str(feeds),
        str(opml),
        "--language",
        "DE",
        "--country",
        "de",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    text = feeds.read_text()  # written as stored, not only read back normalised
    assert "language: de" in text and "country: DE" in text
    assert "language: DE" not in text and "country: de" not in text


def test_import_that_would_make_feeds_invalid_writes_nothing(tmp_path):
    feeds, opml = tmp_path / "feeds.yaml", tmp_path / "subs.opml"
    feeds.write_text(FEEDS)
    opml.write_text(OPML.replace('language="fr-FR"', 'language="xx-YY"'))
    result = CliRunner().invoke(cli, ["feeds", "import-opml", "--feeds", str(feeds), str(opml)])
    assert result.exit_code == 1
    assert "language 'xx' is not an ISO 639-1 code" in result.output
    assert feeds.read_text() == FEEDS


def test_import_rejects_entity_bombs_and_non_opml(tmp_path):
    feeds, opml = tmp_path / "feeds.yaml", tmp_path / "subs.opml"
    feeds.write_text(FEEDS)
    opml.write_text(
        '<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
        "<opml><body><outline text='&b;' xmlUrl='https://x.org/'/></body></opml>"
    )
    result = CliRunner().invoke(cli, ["feeds", "import-opml", "--feeds", str(feeds), str(opml)])
    assert result.exit_code == 1 and "not a valid OPML file" in result.output
    opml.write_text("<rss/>")
    result = CliRunner().invoke(cli, ["feeds", "import-opml", "--feeds", str(feeds), str(opml)])
    assert "not an OPML file (root element is <rss>)" in result.output
    assert feeds.read_text() == FEEDS


def test_export_round_trips_through_import(tmp_path):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        FEEDS + "  - {url: 'https://example.fr/rss', name: 'Le Exemple & Cie', language: fr}\n"
    )
    out = tmp_path / "out.opml"
    args = ["feeds", "export-opml", "--feeds", str(feeds), "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    empty = tmp_path / "empty.yaml"
    empty.write_text("feeds: []\n")
    CliRunner().invoke(cli, ["feeds", "import-opml", "--feeds", str(empty), str(out)])
    assert [(f.url, f.name, f.language) for f in config.load(empty).feeds] == [
        ("https://example.org/rss", "Example", "en"),
        ("https://example.fr/rss", "Le Exemple & Cie", "fr"),
    ]


# Shapes the import's in-place edit cannot work on (issue 10, section 5: each was a traceback).
BAD_SHAPES = {
    "top level a list": (
        "- url: https://example.org/rss\n  name: Example\n",
        "top level must be a mapping",
    ),
    "feeds are strings": (
        "feeds:\n  - https://example.org/rss\n  - https://example.net/rss\n",
        "feed #1: must be a mapping",
    ),
    "feeds a map": (
        "feeds:\n  example: {url: 'https://example.org/rss', name: Example}\n",
        "'feeds' must be a list",
    ),
}


@pytest.mark.parametrize("shape", sorted(BAD_SHAPES))
def test_import_into_a_feeds_yaml_of_another_shape_is_one_line_and_writes_nothing(shape, tmp_path):
    text, message = BAD_SHAPES[shape]
    feeds, opml = tmp_path / "feeds.yaml", tmp_path / "subs.opml"
    feeds.write_text(text)
    opml.write_text(OPML)
    result = run_cli("feeds", "import-opml", "--feeds", str(feeds), str(opml), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert feeds.read_text() == text


def test_english_names_travel_through_opml(tmp_path):
    # Issue 13 §12: exported as aggregator:nameEn (a namespaced attribute, as OPML 2.0 allows),
    # read back on import; `text` and `title` keep the original name for other feed readers.
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        "feeds:\n  - {url: 'https://nanling.example/rss', name: 南岭时报, name_en: Nanling Times,"
        " language: zh}\n  - {url: 'https://example.org/rss', name: Example}\n"
    )
    out = tmp_path / "out.opml"
    result = CliRunner().invoke(
        cli, ["feeds", "export-opml", "--feeds", str(feeds), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert 'xmlns:aggregator="https://github.com/news-aggregator/news-aggregator/opml"' in text
    assert 'text="南岭时报" title="南岭时报" xmlUrl="https://nanling.example/rss"' in text
    assert 'aggregator:nameEn="Nanling Times"' in text and text.count("nameEn") == 1
    empty = tmp_path / "empty.yaml"
    empty.write_text("feeds: []\n")
    result = CliRunner().invoke(cli, ["feeds", "import-opml", "--feeds", str(empty), str(out)])
    assert result.exit_code == 0, result.output
    assert "name_en: Nanling Times" in empty.read_text()
    assert sorted((f.name, f.name_en or "") for f in config.load(empty).feeds) == [
        ("Example", ""),
        ("南岭时报", "Nanling Times"),
    ]


def test_the_real_feed_list_round_trips_through_opml_with_everything_opml_carries(tmp_path):
    # The third walkthrough of issue 13: export dropped `country` (81 in feeds.yaml, 0 after a
    # round trip). Every field an outline carries must come back, for every feed.
    real = Path(__file__).resolve().parent.parent / "feeds.yaml"
    out = tmp_path / "out.opml"
    result = CliRunner().invoke(cli, ["feeds", "export-opml", "--feeds", str(real), "-o", str(out)])
    assert result.exit_code == 0, result.output
    back = tmp_path / "back.yaml"
    back.write_text("feeds: []\n")
    result = CliRunner().invoke(cli, ["feeds", "import-opml", "--feeds", str(back), str(out)])
    assert result.exit_code == 0, result.output

    def carried(path: Path) -> list[tuple]:
        return sorted(
            (f.url, f.name, f.name_en, f.language, f.country, f.homepage)
            for f in config.load(path).feeds
        )

    assert carried(back) == carried(real)
    assert out.read_text().count("\n") > len(config.load(real).feeds)  # a line per outline
    assert any(f.country for f in config.load(back).feeds)


def test_an_import_that_adds_nothing_leaves_feeds_yaml_as_it_was(tmp_path):
    # It rewrote the file anyway (a long URL came back folded over two lines), and said
    # "added 1 feeds" for one.
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        "feeds:\n  - {url: 'https://example.org/rss', name: Example}  # keep this as written\n"
    )
    before = feeds.read_bytes()
    out = tmp_path / "out.opml"
    CliRunner().invoke(cli, ["feeds", "export-opml", "--feeds", str(feeds), "-o", str(out)])
    result = CliRunner().invoke(cli, ["feeds", "import-opml", "--feeds", str(feeds), str(out)])
    assert result.exit_code == 0 and "added 0 feeds" in result.output, result.output
    assert feeds.read_bytes() == before
    other = tmp_path / "other.yaml"
    other.write_text("feeds: []\n")
    result = CliRunner().invoke(cli, ["feeds", "import-opml", "--feeds", str(other), str(out)])
    assert "added 1 feed to" in result.output, result.output
