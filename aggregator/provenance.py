"""What `articles.translation_backend` says about an article's English text, by name.

The column holds a backend's name (`argos`, `apertium`, or a plugin's) for a machine
translation, `copy` for an English original, or `none:REASON` when there is no English text
and why: `none:no-model-for-LANG`, `none:unknown-language`, `none:internal-error`. The stored
values are public (README) and never change; this module is the one place that spells them.
"""

from __future__ import annotations

COPY = "copy"  # an English original, copied
NONE_PREFIX = "none:"  # no English text; the reason follows
NO_MODEL_FOR = "no-model-for-"  # a reason: no installed backend covers LANG (reopened later)
UNKNOWN_LANGUAGE = "unknown-language"  # a reason: the article's language is not known
INTERNAL_ERROR = "internal-error"  # a reason: preparing the article failed

# SQL LIKE patterns over translation_backend (no `_` or `%` in the prefixes themselves).
NONE_LIKE = NONE_PREFIX + "%"
NO_MODEL_LIKE = NONE_PREFIX + NO_MODEL_FOR + "%"


def none_backend(reason: str) -> str:
    """The stored value for "no English text, because `reason`"."""
    return NONE_PREFIX + reason


def no_model_backend(language: str) -> str:
    """The stored value for an article no installed backend can translate from `language`."""
    return none_backend(NO_MODEL_FOR + language)


def is_none(backend: str | None) -> bool:
    """Whether the value records that there is no English text (not: not translated yet)."""
    return backend is not None and backend.startswith(NONE_PREFIX)


def none_reason(backend: str | None) -> str | None:
    """Why there is no English text (`no-model-for-ja`), or None if the value is not `none:`."""
    if backend is None or not backend.startswith(NONE_PREFIX):
        return None
    return backend.removeprefix(NONE_PREFIX)


def is_machine_translation(backend: str | None) -> bool:
    """Whether a backend made the English text (not a copy, not `none:`, not pending)."""
    return backend is not None and backend != COPY and not is_none(backend)
