"""Shared fixtures: a real loopback HTTP server and a real SQLite file per test."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator import plugins, store
from aggregator.plugins import hookimpl
from tests.loopback import LoopbackServer

# Models load from installed packages only; never from a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "aggregator.db"


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    connection = store.connect(db_path)
    yield connection
    connection.close()


class _ExtraBackends:
    """A plugin, registered on the real plugin manager, whose backends a test chooses."""

    def __init__(self) -> None:
        self.classes: list[type] = []

    @hookimpl
    def register_translation_backends(self) -> list[type]:
        return list(self.classes)


@pytest.fixture
def extra_backends() -> Iterator[list[type]]:
    """Append Backend classes to the list: they are registered as a plugin's for the test."""
    plugin = _ExtraBackends()
    manager = plugins.manager()
    manager.register(plugin, name="test-backends")
    yield plugin.classes
    manager.unregister(plugin)
