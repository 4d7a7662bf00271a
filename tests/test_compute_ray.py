"""Translate and embed on a real Ray cluster (aggregator/compute): a head node and a second
node started on loopback for this module, the same demo feeds run with the local engine and
through Ray, and the faults the issue names: an actor killed mid-run, the coordinator killed
mid-run, a node that lacks a model.

Ray resolves 127.0.0.1 to the machine's outward address unless it is told the cluster is a
single machine (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, read when ray is imported); with it, every
node binds loopback only, which `test_cluster_listens_on_loopback_only` checks. Nodes are
started with Ray's own `ray.cluster_utils.Cluster` (the `ray start` command refuses a second
node under that setting); each is a gcs_server/raylet process tree stopped by the fixture.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from aggregator import compute
from aggregator.api import Aggregator
from aggregator.config import load as load_config
from tests.reliability_helpers import (
    REPO,
    aggregator_command,
    articles_by_key,
    child_env,
    cluster_partition,
    consistency_problems,
    demo_feeds,
    open_plain,
    process_tree,
    run_to_completion,
)

# Before ray is imported anywhere in this session (its constants are read at import).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # every node on 127.0.0.1, bound there
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # Ray reports usage over the internet otherwise

# Small batches, so a run has many in flight to kill and resubmit; the same for both engines.
SETTINGS = {"translation": {"articles_per_batch": 4}, "embedding": {"batch_size": 8}}
NODE = {"node_ip_address": "127.0.0.1", "num_cpus": 1, "object_store_memory": 80 * 1024**2}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A head node and a worker node (one CPU each) on loopback; this process is a driver."""
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit
    os.environ["RAY_TMPDIR"] = temp  # also for the coordinators started as subprocesses
    import ray
    from ray.cluster_utils import Cluster

    nodes = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
    try:
        nodes.add_node(**NODE)
        nodes.wait_for_nodes()
        ray.init(address=nodes.address, logging_level="warning", log_to_driver=False)
        yield nodes
    finally:
        ray.shutdown()
        nodes.shutdown()
        os.environ.pop("RAY_TMPDIR", None)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo subset served on loopback, with small batches."""
    folder = tmp_path_factory.mktemp("ray-feeds")
    with demo_feeds(folder) as path:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["settings"].update(SETTINGS)
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        yield path


@pytest.fixture(scope="module")
def local_db(feeds: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: the same feeds run to the end with the local engine."""
    db = tmp_path_factory.mktemp("ray-local") / "local.db"
    done = run_to_completion(feeds, db)
    assert done.returncode == 0, done.stderr[-2000:]
    return db


def compare(reference: Path, db: Path) -> None:
    """The same articles, translations and provenance, vectors within 1e-5, the same stories."""
    want, got = open_plain(reference), open_plain(db)
    assert consistency_problems(got) == []
    expected, found = articles_by_key(want), articles_by_key(got)
    assert sorted(found) == sorted(expected), "different articles"
    columns = ("title", "summary", "language", "translation_backend", "translation_model")
    for key, row in found.items():
        for column in (*columns, "translation_error"):
            assert row[column] == expected[key][column], (key, column, row[column])
        for column in ("title_en", "summary_en"):
            assert _cased(row[column]) == _cased(expected[key][column]), (key, column, row[column])
        assert row["translated_at"] is not None and row["cluster_id"] is not None, key
    mine, theirs = vectors(got), vectors(want)
    assert mine.keys() == theirs.keys()
    for key, vector in mine.items():
        assert np.abs(vector - theirs[key]).max() <= 1e-5, key
    assert cluster_partition(got) == cluster_partition(want)


def _cased(text: str | None) -> str | None:
    """English text up to letter case. Apertium capitalises a word of the first text of a
    call differently from the same text later in a call ("Libertadores To the Palmeiras" first,
    "to the" after another text), and which text comes first in a batch depends on the order
    poll stored the articles in (feeds finish in any order), with the local engine as with
    Ray, so two local runs can differ the same way. Everything else must be equal."""
    return text.casefold() if text is not None else None


def vectors(conn: sqlite3.Connection) -> dict[tuple, np.ndarray]:
    rows = conn.execute(
        "SELECT f.name, COALESCE(a.guid, a.content_hash), e.space, e.model, e.vector "
        "FROM embeddings e JOIN articles a ON a.id = e.article_id JOIN feeds f ON f.id = a.feed_id"
    ).fetchall()
    return {tuple(row[:4]): np.frombuffer(row[4], dtype=np.float32) for row in rows}


def ray_config(feeds: Path, cluster: Any, **compute_settings: Any) -> Any:
    config = compute.with_ray(load_config(feeds), cluster.address)
    if compute_settings:
        import dataclasses

        settings = dataclasses.replace(config.settings.compute, **compute_settings)
        config = dataclasses.replace(
            config, settings=dataclasses.replace(config.settings, compute=settings)
        )
    return config


def listening(root: int) -> list[str]:
    """Addresses that the process tree under `root` listens on (TCP) or is bound to (UDP)."""
    inodes = {}
    for name in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            fields = line.split()
            listening_state = fields[3] == "0A" if name.startswith("tcp") else True
            if listening_state:
                inodes[fields[9]] = (name, fields[1])
    found = []
    for pid in process_tree(root):
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        for link in links:
            inode = link.removeprefix("socket:[").removesuffix("]")
            if link.startswith("socket:[") and inode in inodes:
                found.append(_address(*inodes[inode]))
    return found


def _address(kind: str, local: str) -> str:
    hex_ip = local.split(":")[0]
    raw = bytes.fromhex(hex_ip)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    ip = ipaddress.IPv6Address(words)
    return str(ip.ipv4_mapped or ip)


def test_cluster_listens_on_loopback_only(cluster):
    addresses = listening(os.getpid())
    assert addresses, "the cluster's processes listen nowhere: not found"
    outside = [a for a in addresses if not ipaddress.ip_address(a).is_loopback]
    assert outside == [], f"Ray listens beyond loopback: {sorted(set(outside))}"
    import ray

    assert len([node for node in ray.nodes() if node["Alive"]]) == 2


@pytest.fixture(scope="class")
def processors(cluster: Any, feeds: Path) -> Iterator[dict[str, Any]]:
    """One pool of two actors (models loaded) for the tests of a class; stopped after them, so
    the cluster's two CPUs are free for the coordinators the other tests start."""
    with compute.processors(ray_config(feeds, cluster)) as made:
        yield made


@pytest.mark.slow
class TestInProcess:
    def test_a_ray_run_gives_the_local_database(
        self, cluster, feeds, local_db, processors, tmp_path
    ):
        """Every stage through `Aggregator.run` with Ray's processors: the local database."""
        with Aggregator(tmp_path / "ray.db", feeds=ray_config(feeds, cluster)) as agg:
            reports = agg.run(processors=processors)
        assert [report.stage for report in reports] == ["poll", "translate", "embed", "cluster"]
        assert processors["translate"].pool.resubmitted == 0
        compare(local_db, tmp_path / "ray.db")

    def test_an_actor_killed_mid_run_loses_nothing(
        self, cluster, feeds, local_db, processors, tmp_path
    ):
        """An actor killed while batches are in flight (`ray.kill`): its batches go to another
        actor and the run ends with the database an uninterrupted run gives."""
        import ray

        pool = processors["translate"].pool
        killed = []

        def progress_factory(name: str) -> Any:
            def progress(count: int) -> None:
                if name == "translate" and not killed:
                    killed.append(pool.actors[0])
                    ray.kill(pool.actors[0], no_restart=True)

            return progress

        with Aggregator(tmp_path / "ray.db", feeds=ray_config(feeds, cluster)) as agg:
            agg.run(processors=processors, progress_factory=progress_factory)
        assert killed and killed[0] in pool.dead and len(pool.actors) == 2
        assert pool.resubmitted >= 1, "the kill hit no batch in flight"
        compare(local_db, tmp_path / "ray.db")


@pytest.mark.slow
def test_a_coordinator_killed_mid_run_resumes_to_the_same_database(
    cluster, feeds, local_db, tmp_path
):
    """`aggregator run --ray` SIGKILLed while Ray translates: the rerun finishes the work."""
    db = tmp_path / "ray.db"
    command = aggregator_command(
        "run", "--feeds", str(feeds), "--db", str(db), "--ray", cluster.address
    )
    log = (tmp_path / "killed.log").open("w")  # a file: a full pipe would stall the run
    proc = subprocess.Popen(command, cwd=REPO, env=child_env(), stdout=log, stderr=log)
    try:
        translated = 0
        while proc.poll() is None and translated == 0:
            time.sleep(0.05)
            translated = _count(db, "SELECT count(*) FROM articles WHERE title_en IS NOT NULL")
        assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-2000:]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        log.close()
    # Killed inside translate: some articles saved, others still pending, nothing embedded.
    pending = _count(db, "SELECT count(*) FROM articles WHERE translated_at IS NULL")
    assert translated > 0 and pending > 0, (translated, pending)
    assert _count(db, "SELECT count(*) FROM embeddings") == 0
    done = subprocess.run(command, cwd=REPO, env=child_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    compare(local_db, db)


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    try:
        conn = open_plain(db)
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


@pytest.mark.slow
def test_a_node_without_a_model_is_refused_before_anything_is_written(cluster, feeds, tmp_path):
    """A third node whose Apertium data is missing: `aggregator run --ray` stops with one line
    naming what differs, before polling (the database file is not even created)."""
    empty = tmp_path / "no-apertium"
    empty.mkdir()
    node = cluster.add_node(**NODE, env_vars={"APERTIUM_DATADIR": str(empty)})
    try:
        cluster.wait_for_nodes()
        data = yaml.safe_load(feeds.read_text(encoding="utf-8"))
        # Three actors of one CPU each on three one-CPU nodes: one lands on the new node.
        data["settings"]["compute"] = {"translate_actors": 3, "embed_actors": 1}
        config = tmp_path / "feeds.yaml"
        config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        db = tmp_path / "ray.db"
        done = subprocess.run(
            aggregator_command(
                "run", "--feeds", str(config), "--db", str(db), "--ray", cluster.address
            ),
            cwd=REPO,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        cluster.remove_node(node)
    assert done.returncode == 1, (done.stdout, done.stderr[-2000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to run" in lines[0], done.stderr
    assert "apertium es: missing" in lines[0], lines[0]
    assert not db.exists()


def test_an_unreachable_cluster_is_one_line_and_writes_nothing(tmp_path):
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds: []\n", encoding="utf-8")
    db = tmp_path / "ray.db"
    done = subprocess.run(
        aggregator_command("translate", "--feeds", str(feeds), "--db", str(db), "--ray", address),
        cwd=REPO,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"Error: cannot connect to the Ray cluster at {address}: Connection refused (start it "
        "with `ray start --head`, or set settings: compute: address)"
    )
    assert not db.exists()
