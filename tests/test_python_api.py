"""docs/python-api.md: every example on the page runs, in order, as a user would run it."""

from __future__ import annotations

import re
import textwrap

import pytest

from aggregator import Aggregator, UserError
from tests.conftest import REPO

DOC = REPO / "docs" / "python-api.md"

FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Harbor Notes</title><link>https://harbor.example/</link>
<language>en</language>
<item><title>The ferry to the islands resumes on Monday</title><link>https://harbor.example/1</link>
<guid>h-1</guid><pubDate>Tue, 01 Dec 2026 08:00:00 GMT</pubDate>
<description>The operator says repairs to the pier are finished.</description></item>
<item><title>Fishing quotas for next year were agreed</title><link>https://harbor.example/2</link>
<guid>h-2</guid><pubDate>Tue, 01 Dec 2026 09:00:00 GMT</pubDate>
<description>The agreement cuts the cod catch by a tenth.</description></item>
</channel></rss>"""


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.slow
def test_every_example_of_the_python_api_page_runs(server, tmp_path, monkeypatch, capsys):
    url = server.route("/harbor.xml", FEED.encode())
    (tmp_path / "feeds.yaml").write_text(
        textwrap.dedent(
            f"""\
            settings: {{allow_private_addresses: true}}
            feeds:
              - {{url: "{url}", name: Harbor Notes, language: en}}
            """
        ),
        encoding="utf-8",
    )
    (tmp_path / "db").mkdir()
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    found = examples()
    assert len(found) >= 6
    for example in found:
        exec(compile(example, str(DOC), "exec"), namespace)  # noqa: S102 (the docs' own code)
    printed = capsys.readouterr().out
    assert "poll: 1 done" in printed and "2 articles" in printed
    assert "file not found" in printed
    with Aggregator(tmp_path / "db" / "aggregator.db", feeds=tmp_path / "feeds.yaml") as agg:
        assert agg.db["clusters"].count == 2  # two different events: two stories
        rows = agg.db.query("SELECT count(*) AS n FROM embeddings")
        assert next(iter(rows))["n"] >= 2


def test_reading_before_any_run_is_one_clear_error(tmp_path):
    (tmp_path / "feeds.yaml").write_text("feeds: []\n", encoding="utf-8")
    agg = Aggregator(tmp_path / "none.db", feeds=tmp_path / "feeds.yaml")
    with pytest.raises(UserError, match="no database yet"):
        _ = agg.db
    assert not (tmp_path / "none.db").exists(), "reading never creates the file"


def test_an_unknown_stage_is_refused_before_anything_runs(tmp_path):
    (tmp_path / "feeds.yaml").write_text("feeds: []\n", encoding="utf-8")
    with Aggregator(tmp_path / "a.db", feeds=tmp_path / "feeds.yaml") as agg:
        with pytest.raises(ValueError, match="no stage 'polll'"):
            agg.run("polll")
        with pytest.raises(ValueError, match="no stage 'clusterr'"):
            agg.run(clusterr={"rebuild": True})
