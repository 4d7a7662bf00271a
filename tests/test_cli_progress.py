"""Progress on long runs (issue 13 §15): on a terminal each stage and a model download show a
tqdm bar on stderr; not on a terminal (a pipe, cron) only the one-line summaries appear.

The real command line in a subprocess, its stderr on a pseudo-terminal or on a pipe."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tests.argos_model import index_entry
from tests.clirun import run_cli, run_cli_on_terminal
from tests.poll_helpers import item, rss

pytest_plugins = ["tests.argos_fixture"]
STAGES = ("poll", "translate", "embed", "cluster")


def write_feeds(server, path: Path, feeds: int = 3) -> Path:
    urls = [
        server.route(f"/feed{f}.xml", rss(*(item(10 * f + n) for n in range(2))))
        for f in range(feeds)
    ]
    path.write_text(yaml.safe_dump({
        "settings": {"allow_private_addresses": True, "per_host_interval_s": 0.0},
        "feeds": [{"url": url, "name": f"Feed {n}", "language": "en"}
                  for n, url in enumerate(urls)],
    }))  # fmt: skip
    return path


def test_run_shows_a_bar_per_stage_on_a_terminal_and_only_summaries_in_a_pipe(server, tmp_path):
    feeds = write_feeds(server, tmp_path / "feeds.yaml")
    tty = run_cli_on_terminal(
        "run", "--feeds", str(feeds), "--db", str(tmp_path / "tty.db"), cwd=tmp_path, timeout=300
    )
    assert tty.returncode == 0, tty.stderr[-3000:]
    # poll knows its total (the due feeds) and cluster its queue: a full bar each.
    assert re.search(r"poll: 100%\|[^|]*\| 3/3 \[", tty.stderr), tty.stderr
    assert re.search(r"translate: .*6 texts", tty.stderr), tty.stderr
    assert re.search(r"embed: .*6 articles", tty.stderr), tty.stderr
    assert re.search(r"cluster: 100%\|[^|]*\| 6/6 \[", tty.stderr), tty.stderr
    assert [line.split(":")[0] for line in tty.stdout.splitlines()] == list(STAGES)

    piped = run_cli(
        "run", "--feeds", str(feeds), "--db", str(tmp_path / "pipe.db"), cwd=tmp_path, timeout=300
    )
    assert piped.returncode == 0, piped.stderr[-3000:]
    assert piped.stderr == ""
    assert [line.split(":")[0] for line in piped.stdout.splitlines()] == list(STAGES)
    assert piped.stdout.startswith("poll: 3 done")


def test_each_stage_command_shows_its_bar_only_on_a_terminal(server, tmp_path):
    feeds = write_feeds(server, tmp_path / "feeds.yaml", feeds=2)
    for name in STAGES:
        db = str(tmp_path / "tty.db")
        tty = run_cli_on_terminal(
            name, "--feeds", str(feeds), "--db", db, cwd=tmp_path, timeout=300
        )
        assert tty.returncode == 0, tty.stderr[-3000:]
        # A bar that counted something: "2/2 [" with a total, "4 texts [" without.
        assert re.search(rf"\r{name}: [^\r\n]*[1-9]\d*(/\d+| \w+) \[", tty.stderr), (name, tty)
        assert tty.stdout.startswith(f"{name}: ") and len(tty.stdout.splitlines()) == 1

        piped = run_cli(
            name,
            "--feeds",
            str(feeds),
            "--db",
            str(tmp_path / "pipe.db"),
            cwd=tmp_path,
            timeout=300,
        )
        assert piped.returncode == 0, piped.stderr[-3000:]
        assert piped.stderr == "", (name, piped.stderr)
        assert piped.stdout.startswith(f"{name}: ") and len(piped.stdout.splitlines()) == 1


def test_models_install_shows_a_download_bar_only_on_a_terminal(server, tmp_path, argosmodel):
    link = server.route("/de.argosmodel", body=argosmodel.read_bytes())
    index = server.route("/index.json", body=json.dumps([index_entry("de", "1.0", link)]))
    for name, run in (("pipe", run_cli), ("tty", run_cli_on_terminal)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "feeds.yaml").write_text(yaml.safe_dump({
            "settings": {"translation": {"index_url": index, "models_dir": "models"}},
            "feeds": [{"url": "https://news.example/de.xml", "name": "De", "language": "de"}],
        }))  # fmt: skip
        result = run("models", "install", "de", "--db", "news.db", cwd=folder)
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.startswith("installed de→en 1.0 in ")
        if name == "tty":
            assert re.search(r"downloading de→en 1\.0: 100%\|", result.stderr), result.stderr
        else:
            assert result.stderr == ""
