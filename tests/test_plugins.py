"""Plugins: an installed distribution adds a translation backend with settings of its own; a
plugin registered on the manager adds an embedding model. Both through the real pipeline."""

from __future__ import annotations

import os
import sqlite3
import textwrap
from pathlib import Path

import pytest

from aggregator import plugins
from aggregator.embed import models
from aggregator.plugins import hookimpl
from tests.clirun import assert_one_line_error, run_cli

# A plugin as a user would write it: a package and its distribution's metadata, with an entry
# point in the `aggregator` group. The backend translates German word by word from a glossary
# file named in its own settings (settings: translation: glossary: path:).
PLUGIN = '''
"""A glossary translation backend: word by word, from a tab-separated file."""

import hashlib
from dataclasses import dataclass
from pathlib import Path

from aggregator import hookimpl
from aggregator.config import bounded
from aggregator.translate.base import Backend, BackendError


@dataclass(frozen=True)
class GlossaryOptions:
    path: str = "glossary.tsv"
    min_known: float = bounded(0.5, 0, 1)  # share of words the glossary must know


class GlossaryBackend(Backend):
    name = "glossary"
    options_class = GlossaryOptions

    def _words(self):
        lines = Path(self.options.path).read_text(encoding="utf-8").splitlines()
        return dict(line.split("\\t") for line in lines if "\\t" in line)

    def languages(self):
        return {"de"}

    def model_id(self, source_lang):
        digest = hashlib.sha256(Path(self.options.path).read_bytes()).hexdigest()[:8]
        return f"glossary {digest}"

    def translate(self, texts, source_lang):
        words = self._words()
        out = []
        for text in texts:
            tokens = text.rstrip(".").split()
            known = [t for t in tokens if t.lower() in words]
            if len(known) < self.options.min_known * len(tokens):
                raise BackendError(f"glossary: too few known words in {text!r}")
            out.append(" ".join(words.get(t.lower(), t) for t in tokens) + ".")
        return out


@hookimpl
def register_translation_backends():
    return [GlossaryBackend]
'''

FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Elbe Bote</title><link>https://elbe.example/</link>
<language>de</language>
<item><title>Der Hafen bleibt heute geschlossen.</title><link>https://elbe.example/1</link>
<guid>elbe-1</guid><pubDate>Tue, 01 Dec 2026 08:00:00 GMT</pubDate></item>
</channel></rss>"""


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    """A folder holding the plugin package and its .dist-info, as pip would install them."""
    site = tmp_path / "site"
    (site / "aggregator_glossary").mkdir(parents=True)
    (site / "aggregator_glossary" / "__init__.py").write_text(PLUGIN, encoding="utf-8")
    info = site / "aggregator_glossary-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: aggregator-glossary\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[aggregator]\nglossary = aggregator_glossary\n", encoding="utf-8"
    )
    return site


def feeds_yaml(tmp_path: Path, url: str, glossary_settings: str) -> Path:
    glossary = tmp_path / "glossary.tsv"
    glossary.write_text(
        "der\tthe\nhafen\tport\nbleibt\tstays\nheute\ttoday\ngeschlossen\tclosed\n",
        encoding="utf-8",
    )
    path = tmp_path / "feeds.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            settings:
              allow_private_addresses: true
              translation:
                order: [glossary]
                glossary: {glossary_settings.replace("GLOSSARY", str(glossary))}
            feeds:
              - url: {url}
                name: Elbe Bote
                language: de
            """
        ),
        encoding="utf-8",
    )
    return path


def with_plugin(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.getcwd()])}


def test_an_installed_plugin_translates_with_its_own_settings_and_provenance(
    server, tmp_path, plugin_path
):
    url = server.route("/elbe.xml", FEED.encode())
    feeds = feeds_yaml(tmp_path, url, "{path: GLOSSARY, min_known: 0.8}")
    db = tmp_path / "plugin.db"
    env = with_plugin(plugin_path)
    for command in ("poll", "translate"):
        result = run_cli(command, "--feeds", str(feeds), "--db", str(db), env=env)
        assert result.returncode == 0, result.stderr
    assert "translate: 1 done" in result.stdout
    row = (
        sqlite3.connect(db)
        .execute("SELECT title_en, translation_backend, translation_model FROM articles")
        .fetchone()
    )
    assert row[0] == "the port stays today closed."
    assert row[1] == "glossary" and row[2].startswith("glossary ")


def test_a_plugin_setting_out_of_range_is_one_line(server, tmp_path, plugin_path):
    url = server.route("/elbe.xml", FEED.encode())
    feeds = feeds_yaml(tmp_path, url, "{path: GLOSSARY, min_known: 3}")
    result = run_cli("feeds", "check", "--feeds", str(feeds), env=with_plugin(plugin_path))
    assert_one_line_error(result, "glossary", "min_known must be", "not 3")


def test_without_the_plugin_its_settings_are_refused(server, tmp_path):
    url = server.route("/elbe.xml", FEED.encode())
    feeds = feeds_yaml(tmp_path, url, "{path: GLOSSARY}")
    result = run_cli("feeds", "check", "--feeds", str(feeds))
    assert_one_line_error(result, "unknown key 'glossary'")


class AliasModel:
    """Registers the packaged MiniLM under a name and identity of its own."""

    @hookimpl
    def register_embedding_models(self) -> list[models.EmbeddingModel]:
        def load(batch_size: int) -> models.Encoder:
            path = models.registered()[models.DEFAULT_ENGLISH]
            encoder = path.load(batch_size)
            return Renamed(encoder)

        return [models.EmbeddingModel("minilm-alias", lambda: "minilm-alias 1", load)]


class Renamed:
    def __init__(self, encoder: models.Encoder) -> None:
        self.encoder, self.identity, self.dim = encoder, "minilm-alias 1", encoder.dim

    def encode(self, texts: list[str]):
        return self.encoder.encode(texts)


def test_a_plugin_embedding_model_is_used_by_name(tmp_path):
    from aggregator import Aggregator
    from aggregator.config import parse

    manager = plugins.manager()
    plugin = AliasModel()
    manager.register(plugin, name="alias-model")
    try:
        config = parse(
            "settings: {embedding: {model: minilm-alias}}\n"
            "feeds: [{url: 'https://x.example/feed', name: x, language: en}]\n"
        )
        with Aggregator(tmp_path / "alias.db", feeds=config) as agg:
            agg.conn.execute(  # an article as poll and translate leave it
                "INSERT INTO articles (feed_id, guid, url, url_key, content_hash, title, "
                "title_en, language, language_source, translated_at, translation_backend, "
                "fetched_at) VALUES (1, 'g', 'https://x.example/1', 'k', 'h', 'Port closed', "
                "'Port closed', 'en', 'feed', '2026-12-01T00:00:00Z', 'copy', "
                "'2026-12-01T00:00:00Z')"
            )
            (report,) = agg.run("embed")
            assert report.done == 1
            spaces = dict(agg.db.execute("SELECT space, model FROM embeddings").fetchall())
        assert spaces["english"] == "minilm-alias 1"
    finally:
        manager.unregister(plugin)
        models.load.cache_clear()
