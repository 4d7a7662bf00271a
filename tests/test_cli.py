"""The CLI's contract: one line on stderr and a non-zero exit for user mistakes."""

import re

import pytest

from tests.clirun import REPO, run_cli


def test_the_default_feeds_yaml_is_valid_and_multilingual():
    result = run_cli("feeds", "check")
    assert result.returncode == 0, result.stderr
    match = re.search(r": ok, (\d+) feeds in (\d+) languages", result.stdout)
    assert match, result.stdout
    assert int(match.group(1)) >= 40
    assert int(match.group(2)) >= 12


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["feeds", "check", "--feeds", "missing.yaml"], "missing.yaml: file not found"),
        (["poll", "--feeds", "missing.yaml"], "missing.yaml: file not found"),
        (
            ["poll", "--feeds", str(REPO / "feeds.yaml"), "--db", "/proc/no/such/x.db"],
            "cannot create database folder",
        ),
        (
            ["feeds", "list", "--feeds", str(REPO / "feeds.yaml"), "--db", "/proc/no/such/x.db"],
            "no database yet",
        ),
        (["serve", "--db", "nothing-here.db"], "no database yet"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_non_zero(tmp_path, args, message):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_feeds_yaml_writes_no_database(tmp_path):
    bad = "feeds:\n  - {url: 'http://x.example/', name: A, lang: fr}\n"
    (tmp_path / "feeds.yaml").write_text(bad)
    result = run_cli("run", "--db", "out.db", cwd=tmp_path)
    assert result.returncode != 0
    assert "feed #1 (A): unknown key 'lang'" in result.stderr
    assert not (tmp_path / "out.db").exists()
