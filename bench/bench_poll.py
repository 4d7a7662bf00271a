"""Polling benchmark: 1,000 loopback feeds of 20 items each, against the raw libraries.

    .venv/bin/python bench/bench_poll.py [--feeds 1000] [--items 20] [--repeats 3]

A separate process serves the feeds (asyncio, keep-alive, gzip, ETag/304) on 250 loopback
addresses (127.0.1.1-250, four feeds each), so politeness is per host as in real life. Each
measurement runs in a fresh process, which reports its wall time and peak RSS:

- aggregator, full poll: `aggregator.poll.stage.run` on an empty database (fetch, parse,
  sanitise, language, dedupe keys, one SQLite transaction per feed).
- aggregator, re-poll: the same again, every feed answering 304 Not Modified.
- raw, full: httpx.AsyncClient GETs (same concurrency limits) + feedparser.parse of each body.
- raw, re-poll: the same GETs with If-None-Match, all 304.
- aggregator, full poll on one core: the stage with `workers=0`, parsing in its own process as
  the raw side does. The stage's own default spreads parsing over worker processes (both
  cores here) while the raw side uses one, so its wall-clock ratio flatters it; this line is
  the like-for-like one (CPU times are printed too).

Settings: concurrency 16 and per_host_concurrency 2 (the defaults); per_host_interval_s 0,
because the default one-second gap between two requests to a host is a deliberate wait, not
work (with it, a host's four feeds alone take three seconds). 10% of the feeds declare no
language, so their 2,000 articles go through detection. Prints medians of the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import multiprocessing
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOSTS = [f"127.0.1.{n}" for n in range(1, 251)]
CONCURRENCY = 16
PER_HOST = 2
SENTENCES = {
    "en": "The city council approved the new transport plan after a long debate on Tuesday.",
    "fr": "Le conseil municipal a adopté le nouveau plan de transport après un long débat.",
    "de": "Der Stadtrat hat den neuen Verkehrsplan nach einer langen Debatte beschlossen.",
    "es": "El ayuntamiento aprobó el nuevo plan de transporte tras un largo debate el martes.",
}


# --- the feed server (its own process) -----------------------------------------------------


def feed_body(n: int, items: int) -> bytes:
    lang = list(SENTENCES)[n % len(SENTENCES)]
    declared = f"<language>{lang}</language>" if n % 10 else ""  # 10%: detect per article
    entries = "".join(
        f"<item><title>{SENTENCES[lang][:40]} {n}-{i}</title>"
        f"<link>https://outlet{n}.example/{lang}/story/{i}?utm_source=rss</link>"
        f"<guid isPermaLink='false'>outlet{n}-story{i}</guid>"
        f"<description>&lt;p&gt;{SENTENCES[lang]} &lt;a href='/more/{i}'&gt;More&lt;/a&gt;"
        f" {SENTENCES[lang]}&lt;/p&gt;</description>"
        f"<pubDate>Sat, 21 Nov 2026 {i % 24:02d}:{n % 60:02d}:00 GMT</pubDate></item>"
        for i in range(items)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Outlet {n}</title><link>https://outlet{n}.example/</link>{declared}"
        f"{entries}</channel></rss>"
    ).encode()


def serve(feeds: int, items: int, ready: multiprocessing.Queue) -> None:
    bodies = [gzip.compress(feed_body(n, items), 6) for n in range(feeds)]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                headers = {}
                while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                n = int(line.split()[1].rsplit(b"/", 1)[1].split(b".")[0])
                etag = f'"feed-{n}-v1"'
                if headers.get("if-none-match") == etag:
                    writer.write(f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n\r\n".encode())
                else:
                    writer.write(
                        f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                        f"Content-Encoding: gzip\r\nETag: {etag}\r\n"
                        f"Content-Length: {len(bodies[n])}\r\n\r\n".encode()
                        + bodies[n]
                    )
                await writer.drain()
        except (ConnectionError, IndexError, ValueError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        first = await asyncio.start_server(handle, HOSTS[0], 0, backlog=1024)
        port = first.sockets[0].getsockname()[1]
        await asyncio.start_server(handle, HOSTS[1:], port, backlog=1024)
        ready.put(port)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C on the bench: stop quietly
        asyncio.run(main())


def urls(port: int, feeds: int) -> list[str]:
    return [f"http://{HOSTS[n % len(HOSTS)]}:{port}/feeds/{n}.xml" for n in range(feeds)]


# --- one measurement per process -------------------------------------------------------------


def measure_aggregator(port: int, feeds: int, db: str, workers: int | None = None) -> dict:
    from aggregator import store
    from aggregator.config import Config, Feed, Settings
    from aggregator.poll import stage
    from aggregator.timeutil import now_iso

    settings = Settings(
        allow_private_addresses=True,
        per_host_interval_s=0.0,
        per_host_concurrency=PER_HOST,
        concurrency=CONCURRENCY,
    )
    feed_list = tuple(Feed(url=u, name=f"outlet {i}") for i, u in enumerate(urls(port, feeds)))
    config = Config(feeds=feed_list, settings=settings)
    conn = store.connect(db)
    store.sync_feeds(conn, config.feeds, now_iso())
    figures = {}
    for label in ("full", "repoll"):
        started, cpu, main_cpu = time.perf_counter(), cpu_seconds(), time.process_time()
        report = stage.run(conn, config, force=True, workers=workers)
        figures[label] = time.perf_counter() - started
        figures[f"{label}_cpu"] = cpu_seconds() - cpu
        figures[f"{label}_main_cpu"] = time.process_time() - main_cpu
        figures[f"{label}_report"] = str(report)
        figures[f"{label}_rss_mb"] = peak_rss_mb()
        # the largest parse worker (they exit with each run, so this is known now)
        figures[f"{label}_worker_rss_mb"] = peak_rss_mb(resource.RUSAGE_CHILDREN)
    figures["articles"] = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    return figures


def measure_raw(port: int, feeds: int) -> dict:
    import feedparser
    import httpx

    async def run(etags: dict[str, str] | None) -> tuple[dict[str, str], int]:
        found: dict[str, str] = {}
        entries = 0
        hosts: dict[str, asyncio.Semaphore] = {}
        slots = asyncio.Semaphore(CONCURRENCY)
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        async with httpx.AsyncClient(limits=limits, trust_env=False) as client:

            async def one(url: str) -> None:
                nonlocal entries
                host = hosts.setdefault(url.split("/")[2], asyncio.Semaphore(PER_HOST))
                headers = {"If-None-Match": etags[url]} if etags else {}
                async with host, slots:
                    response = await client.get(url, headers=headers)
                if response.status_code == 200:
                    found[url] = response.headers["etag"]
                    entries += len(feedparser.parse(response.content).entries)

            await asyncio.gather(*(one(url) for url in urls(port, feeds)))
        return found, entries

    started, cpu = time.perf_counter(), cpu_seconds()
    etags, entries = asyncio.run(run(None))
    figures = {"full": time.perf_counter() - started, "full_cpu": cpu_seconds() - cpu}
    figures["full_rss_mb"] = peak_rss_mb()
    started, cpu = time.perf_counter(), cpu_seconds()
    asyncio.run(run(etags))
    figures.update(repoll=time.perf_counter() - started, repoll_cpu=cpu_seconds() - cpu)
    figures.update(entries=entries, repoll_rss_mb=peak_rss_mb())
    return figures


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the parse workers): the work
    done, however busy the machine is with other jobs."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def child(kind: str, port: int, feeds: int, workers: int | None = None) -> dict:
    """Run one measurement in a fresh interpreter (clean imports, caches and peak RSS)."""
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            sys.executable,
            __file__,
            "--child",
            kind,
            "--port",
            str(port),
            "--feeds",
            str(feeds),
            "--db",
            str(Path(tmp) / "bench.db"),
            *(["--workers", str(workers)] if workers is not None else []),
        ]
        out = subprocess.run(args, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=["aggregator", "raw"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--db")
    parser.add_argument("--workers", type=int, help="(child) parse processes; 0: in-process")
    args = parser.parse_args()
    if args.child == "aggregator":
        print(json.dumps(measure_aggregator(args.port, args.feeds, args.db, args.workers)))
        return
    if args.child == "raw":
        print(json.dumps(measure_raw(args.port, args.feeds)))
        return

    ready: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(
        target=serve, args=(args.feeds, args.items, ready), daemon=True
    )
    server.start()
    port = ready.get(timeout=60)
    print(
        f"{args.feeds} feeds x {args.items} items on {len(HOSTS)} loopback hosts, "
        f"concurrency {CONCURRENCY}, per host {PER_HOST}; {args.repeats} repeats"
    )
    ours, raw, single = [], [], []
    try:
        for repeat in range(args.repeats):
            raw.append(child("raw", port, args.feeds))
            ours.append(child("aggregator", port, args.feeds))
            single.append(child("aggregator", port, args.feeds, workers=0))
            print(
                f"  run {repeat + 1}: aggregator full {ours[-1]['full']:.2f} s, "
                f"re-poll {ours[-1]['repoll']:.2f} s ({ours[-1]['articles']} articles) | "
                f"raw full {raw[-1]['full']:.2f} s, re-poll {raw[-1]['repoll']:.2f} s "
                f"({raw[-1]['entries']} entries) | aggregator parsing in-process full "
                f"{single[-1]['full']:.2f} s",
                flush=True,
            )
    finally:
        server.terminate()
    report(ours, raw, single)


def report(ours: list[dict], raw: list[dict], single: list[dict]) -> None:
    def median(rows: list[dict], key: str) -> float:
        return statistics.median(row[key] for row in rows)

    def ratio(key: str) -> float:  # paired: each run against the raw run next to it
        return statistics.median(a[key] / r[key] for a, r in zip(ours, raw, strict=True))

    print(f"  last aggregator reports: {ours[-1]['full_report']} | {ours[-1]['repoll_report']}")
    print(f"medians of {len(ours)} runs          aggregator   raw httpx+feedparser   ratio")
    for key, label, target in (("full", "full poll", 10.0), ("repoll", "all-304 re-poll", 2.0)):
        a, r = median(ours, key), median(raw, key)
        r_full = median(raw, "full")
        verdict = "meets" if a < target else "MISSES"
        print(
            f"  {label + ' wall':<26}{a:>7.2f} s {r:>15.2f} s {ratio(key):>9.2f}x  "
            f"({verdict} target < {target:g} s)"
        )
        a, r = median(ours, f"{key}_cpu"), median(raw, f"{key}_cpu")
        print(f"  {label + ' CPU time':<26}{a:>7.2f} s {r:>15.2f} s {ratio(key + '_cpu'):>9.2f}x")
        if key == "full":
            # Like for like: the raw side parses in its one process; so does the stage here
            # (workers=0), instead of spreading parsing over both cores.
            a = median(single, "full")
            like = statistics.median(
                s["full"] / r["full"] for s, r in zip(single, raw, strict=True)
            )
            print(
                f"  {'full poll wall, one core':<26}{a:>7.2f} s {r_full:>15.2f} s {like:>9.2f}x  "
                "(like for like: the stage parsing in its own process, as the raw side does)"
            )
    main = median(ours, "full_main_cpu")
    print(f"  {'full poll, main process':<26}{main:>7.2f} s CPU (the rest ran in parse workers)")
    a_rss, r_rss = median(ours, "repoll_rss_mb"), median(raw, "repoll_rss_mb")
    print(f"  {'peak RSS':<26}{a_rss:>6.0f} MB {r_rss:>14.0f} MB {a_rss / r_rss:>9.2f}x")
    workers = median(ours, "full_worker_rss_mb")
    print(f"  {'+ largest parse worker':<26}{workers:>6.0f} MB")
    print("  (CPU time: this process and its parse workers; the machine's other jobs don't count)")


if __name__ == "__main__":
    main()
