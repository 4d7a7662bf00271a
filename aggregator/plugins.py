"""Plugins: pluggy hooks that add translation backends and embedding models.

A plugin is a module or package with functions marked `@aggregator.hookimpl`, registered under
the `aggregator` entry-point group of its distribution:

    # pyproject.toml of the plugin
    [project.entry-points.aggregator]
    glossary = "aggregator_glossary"

The built-in backends and models register through the same hooks (DEFAULT_PLUGINS), as
Datasette's own features do; docs/plugins.md shows a complete plugin.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from aggregator.embed.models import EmbeddingModel
    from aggregator.translate.base import Backend

PROJECT = "aggregator"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# Modules of this package that implement hooks, registered before any installed plugin.
DEFAULT_PLUGINS = (
    "aggregator.translate.argos",
    "aggregator.translate.apertium",
    "aggregator.embed.models",
)


class Specs:
    """The hooks a plugin may implement."""

    @hookspec
    def register_translation_backends(self) -> list[type[Backend]]:  # type: ignore[empty-body]
        """Translation backend classes to add: subclasses of
        `aggregator.translate.base.Backend`, each with a unique `name`. A backend with settings
        of its own sets `options_class` to a frozen dataclass; feeds.yaml then accepts them
        under `settings: translation: <name>:` and the backend reads them as `self.options`."""

    @hookspec
    def register_embedding_models(self) -> list[EmbeddingModel]:  # type: ignore[empty-body]
        """Named embedding models to add (`aggregator.embed.models.EmbeddingModel`):
        `settings: embedding: model:` or `multilingual_model:` may then name them."""


_lock = threading.Lock()
_manager: pluggy.PluginManager | None = None


def manager() -> pluggy.PluginManager:
    """The plugin manager: the default plugins, then every installed `aggregator` entry point
    (loaded once per process)."""
    global _manager
    with _lock:
        if _manager is None:
            pm = pluggy.PluginManager(PROJECT)
            pm.add_hookspecs(Specs)
            for name in DEFAULT_PLUGINS:
                pm.register(importlib.import_module(name), name=name)
            pm.load_setuptools_entrypoints(PROJECT)
            _manager = pm
        return _manager


def collect(hook_name: str) -> list[Any]:
    """Everything the plugins' implementations of a `register_*` hook return, flattened."""
    results = getattr(manager().hook, hook_name)()
    return [item for result in results for item in (result or ())]
