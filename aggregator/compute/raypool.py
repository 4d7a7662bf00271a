"""Ray as a second executor of the stage contract: `process` on actors across machines.

One pool of actors serves the translate and embed stages of a run (`RayPool`). Each actor
gets the Config, builds the processing side of a stage on its first batch of it and keeps
it, so models load once per actor. At start every actor reports the identities of the models
it would use (Argos packages, Apertium pairs, the embedding models' names and versions); any
difference from this machine's refuses the run with one line, before anything is written.

`RayProcessor` is an `aggregator.stage.Processor`: `run_stage` reads a batch here, submits it
(at most `in_flight` batches out at once: backpressure), and saves the results here, in order,
with the stage's own `save`; this process stays the database's only writer. A batch whose
actor dies (killed, its node lost) is submitted again to another actor, at most `retries`
times; after that its articles are saved as failed with the reason, as a local failure is.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from concurrent.futures import Future
from typing import Any

from aggregator.compute import (
    build_worker,
    differences,
    failed_results,
    for_workers,
    identities,
)
from aggregator.config import Config
from aggregator.errors import UserError

# How long actors may take to start and report their models (a busy node, a model package
# imported for the first time), and a replacement for a dead one to be placed.
START_TIMEOUT_S = 180.0
REPLACE_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 10.0
BATCHES_PER_ACTOR = 2  # one being processed, the next one waiting: an actor never idles


class StageActor:
    """One Ray actor (one CPU): the processing side of the remote stages, built here from the
    Config on first use and kept, with its models loaded, for the actor's life."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.workers: dict[str, Any] = {}

    def identities(self, kinds: list[str]) -> tuple[str, dict[str, dict[str, str]]]:
        """(where this actor runs, the model identities of each stage kind)."""
        import ray

        node = ray.get_runtime_context().get_node_id()
        return f"pid {os.getpid()} on node {node[:8]}", {
            kind: identities(kind, self.config) for kind in kinds
        }

    def warm(self, kinds: list[str]) -> None:
        """Build each stage's processing side now, its models loaded (once, for the actor's
        life), rather than in the first batch."""
        for kind in kinds:
            self._worker(kind)

    def process(self, kind: str, batch: list[Any]) -> Any:
        return self._worker(kind).process(batch)

    def _worker(self, kind: str) -> Any:
        worker = self.workers.get(kind)
        if worker is None:
            worker = self.workers[kind] = build_worker(kind, self.config)
        return worker


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError(
            "settings: compute: engine: ray needs the ray package: "
            "pip install 'news-aggregator[ray]' (the same version on every node)"
        ) from None
    return ray


def _connect(ray: Any, address: str) -> None:
    """Join the cluster as a driver (once per process: a second run reuses the connection)."""
    if ray.is_initialized():
        return
    if address != "auto":
        _reachable(address)
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except Exception as exc:  # ConnectionError, ValueError for a malformed address, ...
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(
            f"cannot connect to the Ray cluster at {address}: {reason} "
            "(start it with `ray start --head`, or set settings: compute: address)"
        ) from None


def _reachable(address: str) -> None:
    """A head that refuses or does not answer is one line now (ray.init retries for minutes)."""
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise UserError(
            f"cannot connect to the Ray cluster at {address}: {exc.strerror or exc} "
            "(start it with `ray start --head`, or set settings: compute: address)"
        ) from None


class NotStarted(UserError):
    """Actors could not be placed or died while starting (not a difference of models)."""


class RayPool:
    """Actors for the remote stages: `counts` maps a stage kind to how many of the pool's
    actors process it (the pool has the largest count; a stage uses the first N)."""

    def __init__(self, config: Config, counts: dict[str, int]) -> None:
        self.ray = _ray()
        settings = config.settings.compute
        _connect(self.ray, settings.address)
        self.config = for_workers(config)
        self.counts = counts
        self.retries = settings.retries
        self.kinds = sorted(counts)
        self.expected = {kind: identities(kind, self.config) for kind in self.kinds}
        self.actor_class = self.ray.remote(num_cpus=1, max_restarts=0)(StageActor)
        self.actors: list[Any] = []
        self.dead: set[Any] = set()
        self.resubmitted = 0  # batches sent again after their actor died (tests, reports)
        try:
            self.actors = [self._start() for _ in range(max(counts.values()))]
            self._check(self.actors, START_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    def _start(self) -> Any:
        return self.actor_class.remote(self.config)

    def _check(self, actors: list[Any], timeout: float) -> None:
        """Every actor's models are this machine's, or a UserError naming the first that
        differs (and how)."""
        ray = self.ray
        refs = [actor.identities.remote(self.kinds) for actor in actors]
        try:
            reports = ray.get(refs, timeout=timeout)
        except ray.exceptions.GetTimeoutError:
            cpus = ray.cluster_resources().get("CPU", 0)
            raise NotStarted(
                f"the Ray cluster did not start {len(actors)} actors in {timeout:.0f} s "
                f"(each takes one CPU; the cluster has {cpus:g}): lower settings: compute: "
                "translate_actors / embed_actors or add nodes"
            ) from None
        except ray.exceptions.RayTaskError as exc:
            raise _cause(exc) from None
        except ray.exceptions.RayActorError as exc:  # its node died while it started
            raise NotStarted(f"a Ray actor died while starting ({type(exc).__name__})") from None
        for where, found in reports:
            for kind in self.kinds:
                problems = differences(self.expected[kind], found[kind])
                if problems:
                    raise UserError(
                        f"Ray actor ({where}) has other models than this machine for {kind}: "
                        f"{'; '.join(problems)}; refusing to run (install the same models on "
                        "every node: docs/scaling.md)"
                    )

    def warm(self) -> None:
        """Load every stage's models on every actor now, in parallel (otherwise each actor
        loads a stage's models with its first batch of that stage, once)."""
        self.ray.get([actor.warm.remote(self.kinds) for actor in self.actors])

    def processors(self) -> dict[str, RayProcessor]:
        return {kind: RayProcessor(self, kind, count) for kind, count in self.counts.items()}

    def actor(self, kind: str, turn: int) -> Any:
        """The actor for a stage's `turn`-th batch: round robin over its share of the pool."""
        share = self.actors[: self.counts[kind]] or self.actors
        if not share:
            raise UserError("every Ray actor died and none could be started again")
        return share[turn % len(share)]

    def lost(self, actor: Any) -> None:
        """An actor died: take it out, and start and check a replacement (a pool that cannot
        get one, its node gone and no CPU free elsewhere, goes on smaller)."""
        if actor in self.dead:
            return
        self.dead.add(actor)
        if actor in self.actors:
            index = self.actors.index(actor)
            self.actors.pop(index)
            replacement = self._start()
            try:
                self._check([replacement], REPLACE_TIMEOUT_S)
            except NotStarted:
                self.ray.kill(replacement, no_restart=True)
                return
            self.actors.insert(index, replacement)

    def close(self) -> None:
        for actor in self.actors:
            with contextlib.suppress(Exception):  # already gone: nothing to stop
                self.ray.kill(actor, no_restart=True)
        self.actors = []


class RayProcessor:
    """`process` of one stage kind on the pool's actors (an `aggregator.stage.Processor`)."""

    def __init__(self, pool: RayPool, kind: str, actors: int) -> None:
        self.pool = pool
        self.kind = kind
        self.in_flight = BATCHES_PER_ACTOR * actors
        self.turn = 0

    def submit(self, stage: Any, batch: Any) -> Future[Any]:
        return RayFuture(self, list(batch))

    def send(self, batch: list[Any]) -> tuple[Any, Any]:
        actor = self.pool.actor(self.kind, self.turn)
        self.turn += 1
        return actor, actor.process.remote(self.kind, batch)

    def close(self) -> None:
        """The pool's actors are stopped with the pool."""


class RayFuture(Future):
    """A batch on an actor. `result()` waits for it; an actor's death resubmits the batch
    (at most `retries` times, then the batch's articles fail with the reason)."""

    def __init__(self, processor: RayProcessor, batch: list[Any]) -> None:
        super().__init__()
        self.processor = processor
        self.batch = batch
        self.attempts = 0
        self.actor, self.ref = processor.send(batch)

    def result(self, timeout: float | None = None) -> Any:
        if not self.done():
            self._resolve()
        return super().result(timeout)

    def _resolve(self) -> None:
        processor = self.processor
        ray = processor.pool.ray
        lost = (
            ray.exceptions.RayActorError,
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.NodeDiedError,
            ray.exceptions.ObjectLostError,
        )
        while True:
            try:
                self.set_result(ray.get(self.ref))
                return
            except lost as exc:
                processor.pool.lost(self.actor)
                self.attempts += 1
                if self.attempts > processor.pool.retries:
                    reason = (
                        f"Ray actor died {self.attempts} times processing this batch "
                        f"({type(exc).__name__})"
                    )
                    self.set_result(failed_results(processor.kind, self.batch, reason))
                    return
                processor.pool.resubmitted += 1
                self.actor, self.ref = processor.send(self.batch)
            except ray.exceptions.RayTaskError as exc:
                self.set_exception(_cause(exc))
                return
            except BaseException as exc:
                self.set_exception(exc)
                return


def _cause(exc: Any) -> BaseException:
    """The exception the actor's code raised (a UserError stays one line for the CLI)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc
