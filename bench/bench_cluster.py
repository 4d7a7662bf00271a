"""Clustering at scale: 100,000 synthetic articles over 30 days, and 1,000 more on top.

    .venv/bin/python bench/bench_cluster.py [--articles 100000] [--repeats 3] [--keep DIR]

The articles are synthetic but shaped like the real thing: 10 languages, 200 feeds, stories of
heavy-tailed size (most covered once, a few by dozens of outlets) drawn from 400 topics, each
story's articles spread over hours. Vectors are drawn around topic and story centres so that
their cosines sit where the real models put them (multilingual: unrelated ≈ 0.75, same topic ≈
0.83, same story ≈ 0.92; English: 0.1 / 0.35 / 0.75). Keyword signatures draw from per-story,
per-topic and Zipf-distributed general vocabularies, glossed for non-English articles.

Printed (medians of --repeats runs, each in a fresh process for its peak memory):
- `aggregator cluster --rebuild` on the 100,000 articles: seconds and peak RSS (the child's own
  VmHWM: its ru_maxrss would include this process's peak, which Linux passes on to children);
- 1,000 new articles added to the clustered database: seconds;
- two raw-library baselines in the same run, and the ratios: numpy computing every article's
  cosines with every article of its window (blocked matrix products: the brute-force work,
  more than the stage does), and numpy doing only the stage's coarse step (each batch of 512
  against the centroids of the stories in its window, kept as running sums, top 4 per
  article; stories from the synthetic labels). The second is the floor for any stage that
  compares with centroids first; what the stage adds is the per-article judging;
- the candidate search with sqlite-vec (exact KNN over the window's vectors) against numpy's;
- the stories scored against the synthetic labels (pairwise precision and recall, after the
  run from scratch and after the 1,000 new articles), so a stage that got faster by getting
  worse shows it here, beside its time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aggregator import keywords, provenance, store  # noqa: E402
from aggregator.config import parse  # noqa: E402
from aggregator.embed import models  # noqa: E402
from aggregator.timeutil import from_epoch, to_epoch  # noqa: E402
from aggregator.vectors import from_blob, to_blob  # noqa: E402

DIM = 384
DAYS = 30
LANGUAGES = ["en", "fr", "de", "es", "it", "pt", "nl", "pl", "ja", "ar"]
ENGLISH_SHARE = {"en": 1.0, "fr": 1.0, "es": 1.0, "it": 1.0, "pt": 1.0}  # have a translation
# (common, topic, story, noise) variance shares for each space
MULTI_SHAPE = (0.75, 0.08, 0.09, 0.08)
ENGLISH_SHAPE = (0.10, 0.25, 0.40, 0.25)
START = 1_780_000_000.0


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def vectors(rng, shape, common, topic_c, story_c, topics, stories) -> np.ndarray:
    a, b, c, d = (np.sqrt(x) for x in shape)
    v = a * common + b * topic_c[topics] + c * story_c[stories] + d * unit(rng, len(stories))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def synthesise(n: int, seed: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    sizes = np.minimum(rng.zipf(1.9, size=n), 60)
    sizes = sizes[np.cumsum(sizes) <= n]
    sizes = np.append(sizes, n - sizes.sum()) if sizes.sum() < n else sizes
    n_stories = len(sizes)
    story_of = np.repeat(np.arange(n_stories), sizes)
    story_topic = rng.integers(0, 400, n_stories)
    story_start = START + rng.uniform(0, DAYS * 86400, n_stories)
    t = story_start[story_of] + rng.exponential(3 * 3600, n)
    feed = rng.integers(0, 200, n)
    language = np.array(LANGUAGES)[feed % len(LANGUAGES)]
    topics = story_topic[story_of]
    multi = vectors(
        rng, MULTI_SHAPE, unit(rng, 1), unit(rng, 400), unit(rng, n_stories), topics, story_of
    )
    english = vectors(
        rng, ENGLISH_SHAPE, unit(rng, 1), unit(rng, 400), unit(rng, n_stories), topics, story_of
    )
    return {
        "story": story_of,
        "topic": topics,
        "t": t,
        "feed": feed,
        "language": language,
        "multi": multi,
        "english": english,
        "rng": rng,
    }


def signature(rng, story: int, topic: int, language: str) -> keywords.Keywords:
    words = [f"s{story}w{w}" for w in rng.choice(25, 18, replace=False)]
    words += [f"t{topic}w{w}" for w in rng.choice(100, 8, replace=False)]
    words += [f"g{w}" for w in np.minimum(rng.zipf(1.3, 14), 50_000)]
    english = language in ENGLISH_SHARE
    items: dict[int, set[int]] = {}
    for word in words:
        if english:
            key = keywords.key_hash("en:" + word)
            items.setdefault(key, set()).add(key)
        else:
            alts = items.setdefault(keywords.key_hash(f"{language}:{word}"), set())
            alts.add(keywords.key_hash("en:" + word))
            alts.update(keywords.key_hash(f"en:g{w}") for w in rng.integers(0, 50_000, 3))
    return keywords._pack("en" if english else language, True, items)


def build(path: Path, n: int, extra: int) -> None:
    """Write n clustered-to-be articles plus `extra` newer ones (the incremental batch)."""
    data = synthesise(n + extra)
    rng = data["rng"]
    order = np.argsort(data["t"])
    late = set(order[-extra:].tolist()) if extra else set()
    conn = store.connect(path)
    config = parse("feeds: []")
    multi_id = models.identity(config.settings.embedding.multilingual_model)
    english_id = models.identity(config.settings.embedding.model)
    now = from_epoch(START)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO feeds (id, url, name, language, country, added_at) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                f + 1,
                f"http://127.0.0.1/{f}.xml",
                f"feed {f}",
                LANGUAGES[f % len(LANGUAGES)],
                "ZZ",
                now,
            )
            for f in range(200)
        ],
    )
    rows, vectors_rows, signature_rows = [], [], []
    for i in range(n + extra):
        lang = str(data["language"][i])
        at = from_epoch(data["t"][i])
        has_en = lang in ENGLISH_SHARE
        title = f"story {data['story'][i]} article {i}"
        rows.append(
            (
                i + 1,
                int(data["feed"][i]) + 1,
                f"g{i}",
                f"h{i}",
                title,
                lang,
                at,
                at,
                title if has_en else None,
                provenance.COPY if has_en else provenance.no_model_backend(lang),
                at,
            )
        )
        vectors_rows.append(
            (i + 1, "multilingual", multi_id, DIM, to_blob(data["multi"][i]), "x", at)
        )
        if has_en:
            vectors_rows.append(
                (i + 1, "english", english_id, DIM, to_blob(data["english"][i]), "x", at)
            )
        sig = signature(rng, int(data["story"][i]), int(data["topic"][i]), lang)
        version = keywords.version("en" if has_en else lang)
        signature_rows.append((i + 1, version, sig.language, 1, *sig.to_blobs(), at))
    conn.executemany(
        "INSERT INTO articles (id, feed_id, guid, content_hash, title, language, "
        "language_source, published_at, fetched_at, title_en, translation_backend, "
        "translated_at) VALUES (?, ?, ?, ?, ?, ?, 'feed', ?, ?, ?, ?, ?)",
        rows,
    )
    conn.executemany(
        "INSERT INTO embeddings (article_id, space, model, dim, vector, text_hash, embedded_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        vectors_rows,
    )
    conn.executemany(
        "INSERT INTO article_keywords (article_id, version, language, glossed, ids, alts, "
        "owners, computed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        signature_rows,
    )
    conn.execute("COMMIT")
    conn.execute("CREATE TABLE bench_late (article_id INTEGER PRIMARY KEY)")
    conn.executemany("INSERT INTO bench_late VALUES (?)", [(i + 1,) for i in sorted(late)])
    conn.close()


# The child's peak is its own VmHWM (/proc/self/status), not getrusage's ru_maxrss: Linux
# carries ru_maxrss across fork and exec, so a child of this process reports at least this
# process's own peak (~980 MB after building the 101,000 articles), whatever the stage uses.
CHILD = """
import resource, sys, time
sys.path.insert(0, {repo!r})
from aggregator import cluster, store
from aggregator.config import parse
conn = store.connect({db!r})
config = parse("feeds: []")
started, cpu = time.perf_counter(), time.process_time()
report = cluster.run(conn, config, rebuild={rebuild})
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
try:
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
except OSError:
    pass
print(elapsed, cpu, peak, report.done, report.details["new stories"])
"""


def timed_cluster(db: Path, rebuild: bool) -> tuple[float, float, float, int, int]:
    """(wall seconds, CPU seconds, the child's peak RSS MB, articles clustered, new stories)."""
    code = CHILD.format(repo=str(REPO), db=str(db), rebuild=rebuild)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    elapsed, cpu, peak, done, new = out.stdout.split()
    return float(elapsed), float(cpu), float(peak), int(done), int(new)


def own_peak_mb() -> float | None:
    """This process's peak RSS (VmHWM), which getrusage would pass on to its children."""
    try:
        with open("/proc/self/status") as status:
            return next(int(x.split()[1]) for x in status if x.startswith("VmHWM:")) / 1024
    except OSError:
        return None


def largest_story(db: Path) -> tuple[int, int, int]:
    """The largest story's size, how many synthetic stories it holds, and the largest
    synthetic story's size: chaining would show as a story of many synthetic ones."""
    conn = store.connect(db)
    rows = conn.execute("SELECT cluster_id, title FROM articles WHERE cluster_id IS NOT NULL")
    members: dict[int, list[int]] = {}
    sizes: dict[int, int] = {}
    for cluster_id, title in rows:
        story = int(title.split()[1])
        members.setdefault(cluster_id, []).append(story)
        sizes[story] = sizes.get(story, 0) + 1
    conn.close()
    biggest = max(members.values(), key=len)
    return len(biggest), len(set(biggest)), max(sizes.values())


def pair_count(sizes: np.ndarray) -> int:
    return int((sizes.astype(np.int64) * (sizes - 1) // 2).sum())


def scores(db: Path, without_late: bool = False) -> dict[str, float]:
    """The stage's stories against the synthetic labels (each title names its synthetic story),
    pairwise: precision = pairs in one story and one synthetic story / pairs in one story,
    recall = the same / pairs in one synthetic story; counted from the contingency table, so
    100,000 articles take a moment rather than 5 * 10^9 pair checks. `without_late`: leave
    out the articles the incremental run adds (hidden from the run from scratch)."""
    conn = store.connect(db)
    late = "WHERE id NOT IN (SELECT article_id FROM bench_late)" if without_late else ""
    rows = conn.execute(f"SELECT cluster_id, title FROM articles {late}").fetchall()
    conn.close()
    unclustered = sum(1 for cluster_id, _ in rows if cluster_id is None)
    # an article without a story counts as a story of its own (it joins nobody)
    predicted = np.array(
        [cluster_id if cluster_id is not None else -(i + 1) for i, (cluster_id, _) in
         enumerate(rows)],
        dtype=np.int64,
    )  # fmt: skip
    gold = np.array([int(title.split()[1]) for _, title in rows], dtype=np.int64)
    _, cells = np.unique(np.stack([predicted, gold]), axis=1, return_counts=True)
    both = pair_count(cells)
    stage_pairs = pair_count(np.unique(predicted, return_counts=True)[1])
    gold_pairs = pair_count(np.unique(gold, return_counts=True)[1])
    precision = both / stage_pairs if stage_pairs else 1.0
    recall = both / gold_pairs if gold_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "unclustered": unclustered}


def hide_late(db: Path) -> None:
    """Make the `extra` newest articles look not yet polled, for the full run."""
    conn = store.connect(db)
    conn.execute(
        "UPDATE articles SET translated_at = NULL, translation_backend = NULL "
        "WHERE id IN (SELECT article_id FROM bench_late)"
    )
    conn.close()


def show_late(db: Path) -> None:
    conn = store.connect(db)
    conn.execute(
        "UPDATE articles SET translated_at = fetched_at, translation_backend = 'copy' "
        "WHERE id IN (SELECT article_id FROM bench_late)"
    )
    conn.close()


def multilingual_vectors(db: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times in epoch seconds, story numbers, vectors) of every article, in time order."""
    conn = store.connect(db)
    rows = conn.execute(
        "SELECT a.published_at, a.title, e.vector FROM articles a JOIN embeddings e "
        "ON e.article_id = a.id AND e.space = 'multilingual' ORDER BY a.published_at"
    ).fetchall()
    conn.close()
    t = np.array([to_epoch(r[0]) for r in rows])
    story = np.array([int(r[1].split()[1]) for r in rows])  # "story S article I"
    matrix = np.stack([from_blob(r[2]) for r in rows])
    return t, story, matrix


def numpy_baseline(vectors: tuple, window_days: float = 3.0) -> float:
    """The raw work: each article's cosines with every article of the previous window days,
    by blocked float32 matrix products in time order."""
    t, _story, matrix = vectors
    started = time.perf_counter()
    block = 512
    for lo in range(0, len(t), block):
        hi = min(lo + block, len(t))
        start = np.searchsorted(t, t[lo] - window_days * 86400)
        sims = matrix[lo:hi] @ matrix[start:hi].T
        sims.max(axis=1)
    return time.perf_counter() - started


def centroid_baseline(vectors: tuple, window_days: float = 3.0, batch: int = 512) -> float:
    """The stage's coarse step alone, in numpy: each batch (time order) against the normalised
    centroids of the stories with an article in its window, top 4 per article."""
    t, story, matrix = vectors
    sums = np.zeros((story.max() + 1, DIM), dtype=np.float32)
    live = np.zeros(story.max() + 1, dtype=np.int64)
    started = time.perf_counter()
    expired = 0
    for lo in range(0, len(t), batch):
        hi = min(lo + batch, len(t))
        cutoff = np.searchsorted(t, t[lo] - window_days * 86400)
        np.subtract.at(sums, story[expired:cutoff], matrix[expired:cutoff])
        np.subtract.at(live, story[expired:cutoff], 1)
        expired = max(expired, cutoff)
        active = np.flatnonzero(live)
        if len(active):
            centroids = sums[active]
            centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
            sims = matrix[lo:hi] @ centroids.T
            if sims.shape[1] > 4:
                np.argpartition(-sims, 3, axis=1)[:, :4]
        np.add.at(sums, story[lo:hi], matrix[lo:hi])
        np.add.at(live, story[lo:hi], 1)
    return time.perf_counter() - started


def sqlite_vec_comparison(db: Path, queries: int = 1000) -> tuple[float, float] | None:
    """Exact KNN for `queries` vectors among one window's articles: sqlite-vec vs numpy."""
    try:
        import pysqlite3 as sqlite3  # the standard module cannot load extensions here
        import sqlite_vec
    except ImportError:
        return None

    conn = sqlite3.connect(db)
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    rows = conn.execute(
        "SELECT e.vector FROM articles a JOIN embeddings e ON e.article_id = a.id "
        "AND e.space = 'multilingual' ORDER BY a.published_at DESC LIMIT 10000"
    ).fetchall()
    matrix = np.stack([from_blob(r[0]) for r in rows])
    conn.execute(f"CREATE VIRTUAL TABLE temp.window USING vec0(v float[{DIM}])")
    conn.executemany(
        "INSERT INTO temp.window (rowid, v) VALUES (?, ?)", [(i, r[0]) for i, r in enumerate(rows)]
    )
    probe = matrix[:queries]
    started = time.perf_counter()
    for vector in probe:
        conn.execute(
            "SELECT rowid, distance FROM temp.window WHERE v MATCH ? AND k = 5", (vector.tobytes(),)
        ).fetchall()
    vec_time = time.perf_counter() - started
    started = time.perf_counter()
    for vector in probe:
        sims = matrix @ vector
        np.argpartition(-sims, 5)[:5]
    numpy_time = time.perf_counter() - started
    conn.close()
    return vec_time, numpy_time


def _list(values: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the database here once and reuse it")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp())
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / f"bench-{args.articles}-{args.new}.db"
    if not base.exists():
        started = time.perf_counter()
        build(base, args.articles, args.new)
        print(
            f"built {args.articles + args.new} synthetic articles in "
            f"{time.perf_counter() - started:.0f} s ({base})"
        )
    full_times, full_cpu, peaks, new_times, new_cpu = [], [], [], [], []
    for _ in range(args.repeats):
        work = folder / "work.db"
        shutil.copy(base, work)
        hide_late(work)
        elapsed, cpu, peak, done, stories = timed_cluster(work, rebuild=True)
        biggest = largest_story(work)
        quality = scores(work, without_late=True)
        full_times.append(elapsed)
        full_cpu.append(cpu)
        peaks.append(peak)
        show_late(work)
        elapsed, cpu, _, added, _ = timed_cluster(work, rebuild=False)
        new_times.append(elapsed)
        new_cpu.append(cpu)
        quality_after = scores(work)
    vectors = multilingual_vectors(base)
    baseline = numpy_baseline(vectors)
    coarse = centroid_baseline(vectors)
    full = statistics.median(full_times)
    print(
        f"cluster {done} articles from scratch: median {full:.2f} s wall, "
        f"{statistics.median(full_cpu):.2f} s CPU (runs {_list(full_times)}), {stories} "
        f"stories, peak RSS {max(peaks):.0f} MB"
    )
    parent = own_peak_mb()
    if parent is not None:
        print(
            f"(peak RSS is the child's own VmHWM; its ru_maxrss would report at least this "
            f"process's peak, {parent:.0f} MB, inherited across exec)"
        )
    print(
        f"largest story: {biggest[0]} articles from {biggest[1]} synthetic stories (largest "
        f"synthetic story: {biggest[2]} articles)"
    )
    for label, q in (("from scratch", quality), ("after the new articles", quality_after)):
        print(
            f"stories against the synthetic labels, {label}: pairwise precision "
            f"{q['precision']:.3f}, recall {q['recall']:.3f}, F1 {q['f1']:.3f} "
            f"({q['unclustered']} articles left without a story)"
        )
    print(
        f"add {added} new articles to the {done}-article database: median "
        f"{statistics.median(new_times):.2f} s wall, {statistics.median(new_cpu):.2f} s CPU "
        f"(runs {_list(new_times)})"
    )
    print(
        f"raw numpy, each article's cosines with its 3-day window (blocked matmul): "
        f"{baseline:.2f} s; cluster stage / raw = {full / baseline:.1f}"
    )
    print(
        f"raw numpy, the stage's coarse step only (each batch against its window's story "
        f"centroids): {coarse:.2f} s; cluster stage / raw = {full / coarse:.1f}"
    )
    print(
        f"machine load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    comparison = sqlite_vec_comparison(base)
    if comparison:
        vec_time, numpy_time = comparison
        print(
            f"1,000 top-5 searches among 10,000 window vectors: sqlite-vec {vec_time:.2f} s, "
            f"numpy {numpy_time:.2f} s (numpy {vec_time / numpy_time:.1f}x faster)"
        )
    if args.keep is None:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
