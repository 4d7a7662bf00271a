"""The translation commands end to end, as a user runs them: `aggregator models install
--file`, `models list`, `translate`, `models remove`, and their one-line errors."""

import json
import socket
import subprocess
from pathlib import Path

import pytest

from tests.argos_model import index_entry
from tests.clirun import run_cli
from tests.translate_helpers import add_article, open_db, write_config

pytest_plugins = ["tests.argos_fixture"]
REPO = Path(__file__).resolve().parent.parent


def aggregator(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "PYTHONPATH": str(REPO)}
    return run_cli(*args, cwd=cwd, env=env)


@pytest.fixture
def workdir(tmp_path):
    cfg = write_config(tmp_path / "feeds.yaml", Path("models/argos"), {"de": "de", "ja": "ja"})
    conn = open_db(tmp_path / "db" / "aggregator.db", cfg)
    add_article(conn, "de", "Der Präsident kündigt ein Gesetz an.", "Bauern protestieren.")
    add_article(conn, "ja", "東京で地震", None)
    conn.close()
    return tmp_path


def test_install_translate_list_remove(workdir, argosmodel):
    result = aggregator("models", "install", "--file", str(argosmodel), cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "installed de→en 1.0 in " in result.stdout
    assert (workdir / "models" / "argos" / "translate-de_en" / "model" / "model.bin").is_file()

    result = aggregator("translate", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("translate: 2 done")
    assert "no model for ja" in result.stdout

    result = aggregator("models", "list", cwd=workdir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.strip().startswith("de→en  version 1.0  0.") for line in lines)
    assert "  de  argos: argos:de-en 1.0" in lines
    assert any(
        line.startswith("  ja  NO MODEL (1 articles waiting)")
        and "aggregator models install ja" in line
        for line in lines
    )

    result = aggregator("models", "remove", "de", cwd=workdir)
    assert (result.returncode, result.stdout) == (0, "removed de→en 1.0\n")
    assert not (workdir / "models" / "argos" / "translate-de_en").exists()
    assert not list(workdir.glob(".local")) and not list(workdir.glob(".config")), "home clean"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "install"], "name the languages to install"),
        (["models", "install", "xx"], "'xx' is not an ISO 639-1 language code"),
        (["models", "install", "--file", "nope.argosmodel"], "nope.argosmodel: file not found"),
        (["models", "remove", "de"], "no Argos model installed for 'de' (installed: none)"),
    ],
)
def test_mistakes_are_one_line_errors(workdir, args, message):
    result = aggregator(*args, cwd=workdir)
    assert result.returncode != 0
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_install_from_the_package_index(workdir, server, argosmodel):
    link = server.route("/de.argosmodel", body=argosmodel.read_bytes())
    index = server.route("/index.json", body=json.dumps([index_entry("de", "1.0", link)]))
    config = (workdir / "feeds.yaml").read_text()
    (workdir / "feeds.yaml").write_text(
        config.replace('"models_dir"', f'"index_url": "{index}", "models_dir"')
    )
    result = aggregator("models", "install", "de", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "installed de→en 1.0" in result.stdout
    # A pipe gets the summary only; the bar on a terminal: tests/test_cli_progress.py.
    assert result.stderr == ""
    assert len(server.hits("/de.argosmodel")) == 1


def test_install_from_an_unreachable_index_says_how_to_work_offline(workdir, server):
    config = (workdir / "feeds.yaml").read_text()
    index_url = server.url("/missing/index.json")
    (workdir / "feeds.yaml").write_text(
        config.replace('"models_dir"', f'"index_url": "{index_url}", "models_dir"')
    )
    result = aggregator("models", "install", "de", cwd=workdir)
    assert result.returncode != 0
    assert "HTTP 404" in result.stderr and "--file" in result.stderr


def test_the_network_guard_catches_outside_connections(no_network):
    with socket.socket() as sock, pytest.raises(AssertionError, match="network access"):
        sock.connect(("192.0.2.1", 80))
    assert no_network == [("192.0.2.1", 80)]
    no_network.clear()  # this test tripped the guard on purpose
