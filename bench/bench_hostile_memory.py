"""Peak memory of a poll run over hostile and oversized feeds, against the raw libraries.

    .venv/bin/python bench/bench_hostile_memory.py [--repeats 3] [--cases large,bomb,...]

Feeds are served on loopback (tests/hostile_server.py). Each measurement is a fresh process;
its peak memory is the resident memory of its whole process tree (the poll stage parses in
worker processes), sampled every 20 ms from /proc, and never less than the main process's own
high-water mark (VmHWM). Medians of the repeats are printed, with the main process's own
peak (VmHWM) beside the tree's.

- large: a 10,000-item feed (2.1 MB), a feed whose one item is 4 MB, three small feeds.
  aggregator: `aggregator poll` (fetch, parse, sanitise, dedupe, store).
  raw: httpx GET of each body + feedparser.parse, nothing stored.
- bomb: one gzip body of 200 KB that inflates to 200 MB.
  aggregator: `aggregator poll` (refuses it at the 5 MB body cap).
  raw: httpx GET, which inflates the whole body in memory.
- many: 64 feeds, 16 of them of 60,000 items (3.8 MB each, under the body cap), 48 small
  (issue 10: parsed feeds used to pile up waiting for the one saver).
  aggregator: `aggregator poll` (parse workers, one saver).
  raw: httpx GET of each body + feedparser.parse, one after the other, nothing stored.
- hostile: the 23 hostile feeds of tests/test_reliability_hostile.py at once (bombs, endless
  and slow responses, redirect loops, broken HTTP...). aggregator only: the raw libraries have
  no cap or total deadline, so they would inflate the bombs and read the endless body until
  memory runs out.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import hostile_server as hostile  # noqa: E402 (after the path is set)
from tests.loopback import LoopbackServer  # noqa: E402
from tests.reliability_helpers import HIGH_WATER, run_measured  # noqa: E402

TIMEOUT_S = 3.0
AGGREGATOR = HIGH_WATER + "from aggregator.cli import cli\ncli(prog_name='aggregator')\n"
RAW = HIGH_WATER + (
    "import feedparser, httpx\n"
    "with httpx.Client(timeout=60) as client:\n"
    "    for url in sys.argv[2:]:\n"
    "        body = client.get(url).content\n"
    "        if sys.argv[1] == 'parse':\n"
    "            feedparser.parse(body)\n"
)


def measure(script: str, *args: str) -> tuple[float, float, float]:
    """(peak RSS of the process tree in MB, wall seconds, the main process's own peak in MB)
    of one fresh process."""
    done, peak_mb, elapsed = run_measured([sys.executable, "-c", script, *args], timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"measurement failed: {done.stderr[-2000:]}")
    main_kb = [
        int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("vmhwm_kb")
    ]
    return peak_mb, elapsed, max(main_kb, default=0) / 1024


def poll_args(
    server: LoopbackServer, paths: list[str], folder: Path, timeout_s: float = TIMEOUT_S
) -> list[str]:
    feeds = folder / "feeds.yaml"
    feeds.write_text(
        yaml.safe_dump(
            {
                "settings": {
                    "allow_private_addresses": True,
                    "per_host_interval_s": 0.0,
                    "per_host_concurrency": 32,
                    "concurrency": 32,
                    "timeout_s": timeout_s,
                },
                "feeds": [{"url": server.url(p), "name": p, "language": "en"} for p in paths],
            }
        )
    )
    db = folder / "bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return ["poll", "--feeds", str(feeds), "--db", str(db), "--force"]


def median(runs: list[tuple[float, float, float]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def report(
    name: str, ours: list[tuple[float, float, float]], raw: list[tuple[float, float, float]] | None
) -> None:
    peak, wall = median(ours)
    main_peak = statistics.median(r[2] for r in ours)
    line = f"{name:<8} aggregator: peak {peak:6.0f} MB (main {main_peak:4.0f} MB), {wall:5.1f} s"
    if raw:
        raw_peak, raw_wall = median(raw)
        line += (
            f" | raw: peak {raw_peak:6.0f} MB, {raw_wall:5.1f} s"
            f" | ratio (aggregator/raw): memory {peak / raw_peak:.2f}x"
        )
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", default="large,bomb,many,hostile")
    args = parser.parse_args()
    repeats, cases = args.repeats, args.cases.split(",")
    server = LoopbackServer().start()
    large = [
        "/ten-thousand-items.xml",
        "/four-megabyte-item.xml",
        "/good-a.xml",
        "/good-b.xml",
        "/good-c.xml",
    ]
    server.route(large[0], hostile.feed("many", 10_000))
    server.route(large[1], hostile.feed("huge", 1, "word " * 800_000))
    many = [f"/many-{n}.xml" for n in range(64)]
    for n, path in enumerate(many):
        server.route(
            path, hostile.compact_feed(f"L{n}", 60_000) if n < 16 else hostile.feed(f"s{n}", 3)
        )
    hostile.hostile_routes(server, TIMEOUT_S, 5_000_000)
    hostile_paths = [
        p
        for p in server.routes
        if not p.startswith(("/redirect-loop-b", "/redirect-chain-", "/many-"))
        and p not in large[:2]
    ]
    hostile_paths.append("/redirect-chain-0.xml")
    print(f"{repeats} repeats each, medians; the machine is shared, so wall times are noisy")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "large" in cases:
            urls = [server.url(p) for p in large]
            ours = [measure(AGGREGATOR, *poll_args(server, large, folder)) for _ in range(repeats)]
            raw = [measure(RAW, "parse", *urls) for _ in range(repeats)]
            report("large", ours, raw)
        if "bomb" in cases:
            bomb = ["/gzip-bomb.xml"]
            ours = [measure(AGGREGATOR, *poll_args(server, bomb, folder)) for _ in range(repeats)]
            raw = [measure(RAW, "fetch", server.url(bomb[0])) for _ in range(repeats)]
            report("bomb", ours, raw)
        if "many" in cases:
            ours = [
                measure(AGGREGATOR, *poll_args(server, many, folder, timeout_s=60.0))
                for _ in range(repeats)
            ]
            raw = [measure(RAW, "parse", *[server.url(p) for p in many]) for _ in range(repeats)]
            report("many", ours, raw)
        if "hostile" in cases:
            ours = [
                measure(AGGREGATOR, *poll_args(server, hostile_paths, folder))
                for _ in range(repeats)
            ]
            report("hostile", ours, None)
    server.stop()


if __name__ == "__main__":
    main()
