"""The README's sqlite-utils recipes, each run as written against the publishing sample database
(tests/test_publish_sample), and again as JSON to check the rows they return."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import test_publish_sample as sample

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
SQLITE_UTILS = str(Path(sys.executable).parent / "sqlite-utils")
Rows = list[dict]


def recipes() -> dict[str, list[str]]:
    """Each recipe's comment line -> its command, from the README's sqlite-utils section."""
    section = re.search(
        r"^### Querying the file with sqlite-utils\n(.*?)(?=^##)", README, re.M | re.S
    )
    assert section, "README has no '### Querying the file with sqlite-utils' section"
    block = re.search(r"```sh\n(.*?)```", section[1], re.S)
    assert block, "the section has no ```sh block"
    found, comment = {}, None
    for line in block[1].splitlines():
        if line.startswith("# "):
            comment = line[2:]
        elif line.startswith("sqlite-utils "):
            assert comment, f"recipe without a comment: {line}"
            found[comment] = shlex.split(line)
            comment = None
    return found


def _stories_in_3_languages(rows: Rows) -> None:
    assert [r["id"] for r in rows] == [1, 2]  # the quake (6 languages), the reform (3)
    assert json.loads(rows[0]["languages"]) == ["ja", "en", "fr", "de", "ru", "ar"]


def _first_movers(rows: Rows) -> None:
    firsts = {(r["id"], r["first_outlet"], r["first_language"]) for r in rows}
    assert firsts == {(1, "NHK News", "ja"), (2, "Le Monde", "fr")}


def _first_movers_by_language(rows: Rows) -> None:
    assert {r["first_language"]: r["stories_first"] for r in rows} == {
        "ja": 1,
        "fr": 1,
        "de": 1,
        "en": 1,
    }  # story 3 (one language) is no one's first move


def _delays(rows: Rows) -> None:
    assert [r["language"] for r in rows] == ["ja", "en", "fr", "de", "ru", "ar"]
    assert rows[0]["hours_later"] == 0 and rows[-1]["hours_later"] == 6


def _failing_feeds(rows: Rows) -> None:
    assert [(r["name"], r["state"], r["failed_7d"]) for r in rows] == [
        ("El País", "dead", 1),
        ("RIA Novosti", "backoff", 1),
    ]


def _search(rows: Rows) -> None:
    assert len(rows) == 6 and all("earthquake" in r["title_en"].lower() for r in rows)
    assert {r["language"] for r in rows} == {"ja", "en", "fr", "de", "ru", "ar"}


def _tables(rows: Rows) -> None:
    counts = {r["table"]: r["count"] for r in rows}
    assert counts["articles"] == len(sample.ARTICLES) and counts["clusters"] == 5
    assert counts["feeds"] == len(sample.FEEDS)


EXPECTED: dict[str, Callable[[Rows], None]] = {
    "Stories covered in 3+ languages": _stories_in_3_languages,
    "First movers: which outlet": _first_movers,
    "First movers by language": _first_movers_by_language,
    "How long each language took": _delays,
    "Failing feeds": _failing_feeds,
    "Full-text search": _search,
    "Every table with its row count": _tables,
}


def _check_for(comment: str) -> Callable[[Rows], None]:
    matches = [check for start, check in EXPECTED.items() if comment.startswith(start)]
    assert len(matches) == 1, f"no one check for the README recipe {comment!r}"
    return matches[0]


def test_every_recipe_has_a_check():
    assert len(recipes()) == len(EXPECTED)
    for comment in recipes():
        _check_for(comment)


@pytest.mark.parametrize("comment", list(recipes()))
def test_readme_recipe_returns_sensible_rows(tmp_path, comment):
    db = sample.build(tmp_path / "aggregator.db")
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    argv = [
        SQLITE_UTILS,
        *(str(db) if a == "db/aggregator.db" else a for a in recipes()[comment][1:]),
    ]
    assert str(db) in argv, "the recipe names db/aggregator.db"
    shown = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip(), "the recipe as written printed nothing"
    as_json = subprocess.run(
        [a for a in argv if a != "--table"], capture_output=True, text=True, timeout=60
    )
    assert as_json.returncode == 0, as_json.stderr
    _check_for(comment)(json.loads(as_json.stdout))
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before, "a query changed the file"
