"""Pytest fixtures for the translation tests (load with `pytest_plugins`): the test-built Argos
model, built once per session, and a guard that fails a test on any non-loopback connection."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.argos_model import build_ct2_model, package_argosmodel


@pytest.fixture(scope="session")
def ct2_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CTranslate2 model (with its sentencepiece.model), built once per session."""
    return build_ct2_model(tmp_path_factory.mktemp("argos-ct2-build"))


@pytest.fixture(scope="session")
def argosmodel(ct2_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A de→en .argosmodel file, version 1.0."""
    return package_argosmodel(ct2_model, tmp_path_factory.mktemp("argosmodels"))


def _is_loopback(address: object) -> bool:
    if isinstance(address, str):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) else None
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Fail the test on any connection to a non-loopback address (a guard, not a mock: the
    code under test runs for real; it just must never reach the internet)."""
    attempts: list[object] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guard(address: object) -> None:
        if not _is_loopback(address):
            attempts.append(address)
            raise AssertionError(f"network access attempted: {address!r}")

    def connect(self: socket.socket, address: object) -> None:
        guard(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        guard(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", _loopback_only_getaddrinfo(socket.getaddrinfo))
    yield attempts
    assert not attempts, f"network access attempted: {attempts}"


def _loopback_only_getaddrinfo(real):  # DNS lookups of public names are network access too
    def getaddrinfo(host, *args, **kwargs):
        if host not in (None, "localhost") and not _is_loopback((host, 0)):
            raise AssertionError(f"DNS lookup attempted: {host!r}")
        return real(host, *args, **kwargs)

    return getaddrinfo
