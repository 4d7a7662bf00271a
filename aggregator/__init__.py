"""Cross-language news coverage aggregator.

The public Python API (see docs/python-api.md):

- `Aggregator`: a database and a feed list; `run()` runs stages, `db` reads the results.
- `Config`, `load_config`: feeds.yaml, loaded or built in code.
- `StageReport`: what a stage did in one run.
- `UserError`: a mistake a user can fix, with a one-line reason.
- `hookimpl`: the marker for plugin hooks (translation backends, embedding models).

Everything else is internal. Names load on first use, so `import aggregator` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Aggregator", "Config", "StageReport", "UserError", "hookimpl", "load_config"]

_WHERE = {
    "Aggregator": ("aggregator.api", "Aggregator"),
    "Config": ("aggregator.config", "Config"),
    "load_config": ("aggregator.config", "load"),
    "StageReport": ("aggregator.stage", "StageReport"),
    "UserError": ("aggregator.errors", "UserError"),
    "hookimpl": ("aggregator.plugins", "hookimpl"),
}

if TYPE_CHECKING:
    from aggregator.api import Aggregator
    from aggregator.config import Config
    from aggregator.config import load as load_config
    from aggregator.errors import UserError
    from aggregator.plugins import hookimpl
    from aggregator.stage import StageReport


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        module, attribute = _WHERE[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'aggregator' has no attribute {name!r}")
