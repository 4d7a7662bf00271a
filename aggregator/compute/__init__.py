"""Where the translate and embed stages' `process` runs: on this machine, or on Ray actors.

`settings: compute: engine` in feeds.yaml (or `--ray ADDRESS` for one run) chooses. Either way
the stage itself (its `pending` and `save`) runs here, on the machine that holds the database,
and saves batches in the order it read them: Ray is a second `aggregator.stage.Processor`, not
a second pipeline. Ray is imported only when the engine is `ray` (aggregator/compute/raypool.py).

An actor builds its own processing side of a stage from the Config (`build_worker`), loads its
models once and reports their identities (`identities`); the coordinator refuses to run when
any actor's differ from its own, so no node produces a different result silently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from aggregator.config import Config
from aggregator.stage import Processor

# The stages whose `process` may run on Ray actors (poll fetches and cluster depends on the
# batch before: both stay on the coordinator).
REMOTE_STAGES = ("translate", "embed")


class Worker(Protocol):
    """The processing side of a stage, built on an actor: no database."""

    def process(self, batch: Sequence[Any]) -> Sequence[Any]: ...

    def close(self) -> None: ...


def with_ray(config: Config, address: str | None) -> Config:
    """The config with `engine: ray` at `address` (the `--ray ADDRESS` option); unchanged for
    None."""
    if address is None:
        return config
    compute = dataclasses.replace(config.settings.compute, engine="ray", address=address)
    return dataclasses.replace(
        config, settings=dataclasses.replace(config.settings, compute=compute)
    )


@contextmanager
def processors(config: Config) -> Iterator[Mapping[str, Processor]]:
    """The processors for `Aggregator.run(processors=...)`: none for the local engine (every
    stage then processes on this machine); for Ray, one per remote stage over one pool of
    actors, started and checked here (an unreachable cluster or an actor whose models differ
    from this machine's is a UserError before any stage runs) and stopped on the way out."""
    if config.settings.compute.engine != "ray":
        yield {}
        return
    from aggregator.compute.raypool import RayPool

    compute = config.settings.compute
    pool = RayPool(config, {"translate": compute.translate_actors, "embed": compute.embed_actors})
    try:
        yield pool.processors()
    finally:
        pool.close()


def for_workers(config: Config) -> Config:
    """The config as actors get it: a relative models folder made absolute here (an actor's
    working folder is not this one); a path under "~" stays, each node's own home."""
    translation = config.settings.translation
    folder = translation.models_dir
    if folder.startswith("~") or Path(folder).is_absolute():
        return config
    translation = dataclasses.replace(translation, models_dir=str(Path(folder).resolve()))
    settings = dataclasses.replace(config.settings, translation=translation)
    return dataclasses.replace(config, settings=settings)


def build_worker(kind: str, config: Config) -> Worker:
    """The processing side of stage `kind`, built from the config alone."""
    if kind == "translate":
        return TranslateWorker(config)
    if kind == "embed":
        from aggregator.embed import models
        from aggregator.embed.stage import EmbedStage

        settings = config.settings.embedding
        for spec in (settings.multilingual_model, settings.model):
            models.load(spec, settings.batch_size)  # once per process (cached), here and now
        return EmbedWorker(EmbedStage(None, settings))
    raise ValueError(f"stage {kind!r} does not run on Ray (only {', '.join(REMOTE_STAGES)})")


class TranslateWorker:
    """The translate stage's `process`, with backends of its own (models loaded once, on the
    first batch of each language)."""

    def __init__(self, config: Config) -> None:
        from aggregator.translate.base import create_backends
        from aggregator.translate.models import models_dir
        from aggregator.translate.routing import Router
        from aggregator.translate.stage import PASSES, TranslatePass

        settings = config.settings.translation
        self.backends = create_backends(settings, models_dir(settings))
        router = Router(self.backends, settings, config.feeds)
        self.passes = {phase: TranslatePass(phase, router, settings, None) for phase in PASSES}

    def process(self, batch: Sequence[Any]) -> Sequence[Any]:
        return self.passes[batch[0].phase].process(batch) if batch else []

    def close(self) -> None:
        for backend in self.backends.values():
            backend.close()


class EmbedWorker:
    def __init__(self, stage: Any) -> None:
        self.stage = stage

    def process(self, batch: Sequence[Any]) -> Sequence[Any]:
        return self.stage.process(batch)

    def close(self) -> None:
        """Models stay cached in the process."""


def identities(kind: str, config: Config) -> dict[str, str]:
    """The models stage `kind` would use here, by what they do ("apertium es", "embedding
    multilingual") with their name and version: what the coordinator and every actor must
    agree on."""
    if kind == "translate":
        from aggregator.translate.base import create_backends
        from aggregator.translate.models import models_dir

        settings = config.settings.translation
        backends = create_backends(settings, models_dir(settings))
        try:
            return {
                f"{name} {language}": backend.model_id(language)
                for name, backend in sorted(backends.items())
                for language in sorted(backend.languages())
            }
        finally:
            for backend in backends.values():
                backend.close()
    if kind == "embed":
        from aggregator.embed import models

        embedding = config.settings.embedding
        return {
            "embedding multilingual": models.identity(embedding.multilingual_model),
            "embedding english": models.identity(embedding.model),
        }
    raise ValueError(f"stage {kind!r} does not run on Ray (only {', '.join(REMOTE_STAGES)})")


def differences(expected: dict[str, str], found: dict[str, str]) -> list[str]:
    """What an actor has that differs from the coordinator, one short phrase each."""
    out = []
    for key in sorted(set(expected) | set(found)):
        mine, theirs = expected.get(key), found.get(key)
        if mine == theirs:
            continue
        if theirs is None:
            out.append(f"{key}: missing (here: {mine})")
        elif mine is None:
            out.append(f"{key}: {theirs} (not here)")
        else:
            out.append(f"{key}: {theirs} (here: {mine})")
    return out


def failed_results(kind: str, batch: Sequence[Any], reason: str) -> list[Any]:
    """The batch's results when it could not be processed at all (every actor that took it
    died): each article failed with `reason`, saved as the local stage saves a failure."""
    if kind == "translate":
        from aggregator.translate.stage import Result, storable

        return [Result(item, error=storable(reason)) for item in batch]
    if kind == "embed":
        from aggregator.embed.stage import Result as EmbedResult

        return [EmbedResult(item.row["id"], error=reason) for item in batch]
    raise ValueError(f"stage {kind!r} does not run on Ray")
