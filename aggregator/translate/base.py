"""The translation backend interface and the registry of backends.

A backend is one module in this package with one class decorated `@register`: adding a backend
means adding that file, nothing else (feeds.yaml accepts its name once the file exists).
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from aggregator.config import TranslationSettings

TARGET = "en"


class BackendError(Exception):
    """A translation call failed; the message says why (recorded on the article)."""


class Backend(ABC):
    """Translates plain text from one source language into English."""

    name: ClassVar[str]
    # True if translate() may run in several threads at once (the stage keeps two batches in
    # flight); otherwise the stage calls it from one thread at a time.
    thread_safe: ClassVar[bool] = False

    def __init__(self, settings: TranslationSettings, models_dir: Path) -> None:
        self.settings = settings
        self.models_dir = models_dir

    @abstractmethod
    def languages(self) -> set[str]:
        """ISO 639-1 codes this backend can translate into English right now."""

    @abstractmethod
    def model_id(self, source_lang: str) -> str:
        """Model name and version, stored as provenance and part of the cache key."""

    @abstractmethod
    def translate(self, texts: list[str], source_lang: str) -> list[str]:
        """Translate each text (plain, one line); the result has one entry per text.

        Raises BackendError when the batch cannot be translated.
        """

    def close(self) -> None:  # noqa: B027 (optional hook: most backends hold nothing)
        """Release processes or models held between batches."""


_REGISTRY: dict[str, type[Backend]] = {}
_discovered = False


def register(cls: type[Backend]) -> type[Backend]:
    _REGISTRY[cls.name] = cls
    return cls


def backend_classes() -> dict[str, type[Backend]]:
    """Every backend module in this package, imported once so it registers itself."""
    global _discovered
    if not _discovered:
        package = importlib.import_module("aggregator.translate")
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"aggregator.translate.{module.name}")
        _discovered = True
    return dict(_REGISTRY)


def backend_names() -> tuple[str, ...]:
    return tuple(sorted(backend_classes()))


def create_backends(settings: TranslationSettings, models_dir: Path) -> dict[str, Backend]:
    return {name: cls(settings, models_dir) for name, cls in backend_classes().items()}
