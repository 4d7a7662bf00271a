"""The translation backend interface and the registry of backends.

Backends come from plugins (`aggregator.plugins`): a module with a `@hookimpl` of
`register_translation_backends` returning its backend classes. The built-in backends
(argos.py, apertium.py) register the same way; a new one is one module with that hook, in this
package (listed in DEFAULT_PLUGINS) or in a plugin package of its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from aggregator.config import TranslationSettings
from aggregator.errors import UserError

TARGET = "en"


class BackendError(Exception):
    """A translation call failed; the message says why (recorded on the article)."""


class Backend(ABC):
    """Translates plain text from one source language into English."""

    name: ClassVar[str]
    # A frozen dataclass of this backend's own settings (fields with `aggregator.config.bounded`
    # ranges for numbers), read from `settings: translation: <name>:` in feeds.yaml; None: it
    # has none. The built-in backends' settings are fields of TranslationSettings itself.
    options_class: ClassVar[type | None] = None
    # True if translate() may run in several threads at once (the stage keeps two batches in
    # flight); otherwise the stage calls it from one thread at a time.
    thread_safe: ClassVar[bool] = False

    def __init__(self, settings: TranslationSettings, models_dir: Path) -> None:
        self.settings = settings
        self.models_dir = models_dir
        self.options: Any = settings.backend_options.get(self.name)
        if self.options is None and self.options_class is not None:
            self.options = self.options_class()  # its defaults

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


def backend_classes() -> dict[str, type[Backend]]:
    """Every registered backend class, by name (a clash between two plugins is refused)."""
    from aggregator.plugins import collect

    classes: dict[str, type[Backend]] = {}
    for cls in collect("register_translation_backends"):
        if cls.name in classes and classes[cls.name] is not cls:
            raise UserError(
                f"two plugins register a translation backend named {cls.name!r} "
                f"({classes[cls.name].__module__} and {cls.__module__}); uninstall one"
            )
        classes[cls.name] = cls
    return classes


def backend_names() -> tuple[str, ...]:
    return tuple(sorted(backend_classes()))


def create_backends(settings: TranslationSettings, models_dir: Path) -> dict[str, Backend]:
    return {name: cls(settings, models_dir) for name, cls in backend_classes().items()}
