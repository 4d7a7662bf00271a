"""Which backend translates an article: the feed's `translation:` list, else the language's
entry in `settings.translation.per_language`, else `settings.translation.order`; the first
backend in that list that has a model for the language wins."""

from __future__ import annotations

from dataclasses import dataclass

from aggregator import provenance
from aggregator.config import Feed, TranslationSettings
from aggregator.translate.base import TARGET, Backend


@dataclass(frozen=True)
class Route:
    backend: str  # what translation_backend will say (aggregator/provenance.py)
    model: str | None = None

    @property
    def translates(self) -> bool:
        return provenance.is_machine_translation(self.backend)


class Router:
    def __init__(
        self, backends: dict[str, Backend], settings: TranslationSettings, feeds: tuple[Feed, ...]
    ) -> None:
        self.backends = backends
        self.settings = settings
        self.per_feed = {feed.url: feed.translation for feed in feeds if feed.translation}
        # Model listings are read once per run: cheap and consistent within the run.
        self.coverage = {name: backend.languages() for name, backend in backends.items()}
        self._routes: dict[tuple[str | None, tuple[str, ...]], Route] = {}

    def covered(self) -> set[str]:
        """Languages some backend can translate now."""
        return set().union(*self.coverage.values()) if self.coverage else set()

    def order(self, language: str, feed_url: str | None) -> tuple[str, ...]:
        return (
            self.per_feed.get(feed_url or "")
            or self.settings.per_language.get(language)
            or self.settings.order
        )

    def route(self, language: str | None, feed_url: str | None = None) -> Route:
        if language is None:
            return Route(provenance.none_backend(provenance.UNKNOWN_LANGUAGE))
        if language == TARGET:
            return Route(provenance.COPY)
        order = self.order(language, feed_url)
        key = (language, order)
        if key not in self._routes:
            self._routes[key] = self._choose(language, order)
        return self._routes[key]

    def _choose(self, language: str, order: tuple[str, ...]) -> Route:
        for name in order:
            if language in self.coverage.get(name, set()):
                return Route(name, self.backends[name].model_id(language))
        return Route(provenance.no_model_backend(language))
