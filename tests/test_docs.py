"""The README is the user's manual: every command, setting and public column is in it."""

import dataclasses
import re
from pathlib import Path

import click
import pytest

from aggregator import config, store
from aggregator.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
PUBLIC_TABLES = [
    "feeds",
    "fetches",
    "articles",
    "clusters",
    "cluster_languages",
    "article_versions",
    "cluster_merges",
]


Commands = list[tuple[str, click.Command]]


def command_paths(group: click.Group, prefix: str = "aggregator") -> Commands:
    paths = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        paths.append((path, command))
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, path))
    return paths


COMMANDS = command_paths(cli)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_has_help_and_is_in_readme(path, command):
    assert command.help and command.help.strip(), f"{path} has no help text"
    assert f"`{path}" in README, f"README does not document `{path}`"
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{path} {param.opts[0]} has no help text"


def schema_columns(table: str) -> list[str]:
    conn = store.connect(":memory:")
    return [row["name"] for row in conn.execute(f"PRAGMA table_info({table})")]


def readme_table_section(table: str) -> str:
    match = re.search(rf"^### `{table}`\n(.*?)(?=^### |^## )", README, re.M | re.S)
    assert match, f"README has no ### `{table}` section"
    return match.group(1)


@pytest.mark.parametrize("table", PUBLIC_TABLES)
def test_every_public_column_is_documented(table):
    section = readme_table_section(table)
    missing = [c for c in schema_columns(table) if f"| `{c}` |" not in section]
    assert not missing, f"README ### `{table}` lacks columns {missing}"


def setting_names(cls: type, prefix: str = "") -> list[str]:
    names = []
    for spec in dataclasses.fields(cls):
        if not spec.metadata.get("key", True):
            continue  # filled from other keys, not a feeds.yaml key of its own
        factory = spec.default_factory
        if factory is not dataclasses.MISSING and dataclasses.is_dataclass(factory):
            names.extend(setting_names(factory, f"{prefix}{spec.name}."))
        else:
            names.append(prefix + spec.name)
    return names


@pytest.mark.parametrize("name", setting_names(config.Settings))
def test_every_setting_is_documented(name):
    assert f"`{name}`" in README, f"README does not document setting `{name}`"


def readme_ranges() -> dict[str, str]:
    """The README's ranges table: each setting named in a row, with that row's range."""
    ranges = {}
    for line in README.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 2 and re.match(r"(more than )?-?[0-9]", cells[0]):
            for name in re.findall(r"`([\w.]+)`", cells[1]):
                ranges[name] = re.sub(r" \(.*\)$", "", cells[0])
    return ranges


def bounded_settings() -> list[tuple[str, config.Bounds]]:
    """Every setting with a declared range, by the name README uses (a feed's own
    poll_interval_s shares the setting's row)."""
    found = []
    for cls, prefix in [(config.Settings, ""), (config.Feed, "")] + [
        (spec.default_factory, f"{spec.name}.")
        for spec in dataclasses.fields(config.Settings)
        if dataclasses.is_dataclass(spec.default_factory)
    ]:
        found += [
            (prefix + spec.name, spec.metadata["bounds"])
            for spec in dataclasses.fields(cls)
            if "bounds" in spec.metadata
        ]
    return found


@pytest.mark.parametrize(("name", "bounds"), bounded_settings(), ids=lambda v: str(v))
def test_every_range_is_documented_as_declared(name, bounds):
    def number(value: float) -> str:
        return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"

    low, high = number(bounds.low), number(bounds.high)
    expected = f"more than {low}, at most {high}" if bounds.low_open else f"{low} to {high}"
    assert readme_ranges().get(name) == expected, f"README's range for `{name}`"
