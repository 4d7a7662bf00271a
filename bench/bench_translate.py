"""Translation stage throughput against the raw backend on the same sentences, same run.

    .venv/bin/python bench/bench_translate.py [--repeats 3] [--apertium 3000] [--argos 400]

Apertium: the stage (SQLite in and out, cache, routing) versus piping the same lines through
`apertium -u -f line spa-eng` directly. Argos: the stage versus SentencePiece + CTranslate2's
`translate_batch` called directly with the same (test-built, see tests/argos_model.py) model
and the same decoding options. Raw and stage runs alternate, each stage run on a fresh copy
of the database, and the figures are medians; a second stage run over the same articles must
translate nothing. Target: the stage reaches at least 90% of the raw backend's sentences/s.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aggregator import config, store  # noqa: E402
from aggregator.stage import StageReport  # noqa: E402
from aggregator.translate import models, stage  # noqa: E402
from aggregator.translate.argos import (  # noqa: E402
    LENGTH_PENALTY,
    import_ctranslate2,
    intra_threads,
)

FETCHED = "2026-01-01T00:00:00Z"
STAGE_SETTINGS: dict[str, int] = {}  # settings.translation overrides from the command line
SPANISH = (
    ["El gobierno", "La presidenta", "El ministro de economía", "La alcaldesa de Madrid",
     "El parlamento", "Los sindicatos", "La policía", "El banco central"],
    ["anuncia", "rechaza", "aprueba", "critica", "investiga", "presenta", "defiende", "suspende"],
    ["una nueva ley sobre el clima", "el presupuesto del próximo año", "un plan de vivienda",
     "la reforma de las pensiones", "un acuerdo con los agricultores", "las nuevas tarifas",
     "el proyecto del tren rápido", "la subida de los precios"],
    ["en Barcelona.", "tras la reunión del lunes.", "ante la crisis energética.",
     "después de las elecciones.", "en el norte del país.", "durante la cumbre europea.",
     "con el apoyo de la oposición.", "sin dar más detalles."],
)  # fmt: skip
GERMAN = (
    ["Die Regierung", "Die Kanzlerin", "Der Finanzminister", "Die Bürgermeisterin",
     "Das Parlament", "Die Gewerkschaften", "Die Polizei", "Die Zentralbank"],
    ["kündigt", "lehnt", "billigt", "kritisiert", "prüft", "stellt", "verteidigt", "stoppt"],
    ["ein neues Klimagesetz", "den Haushalt", "einen Wohnungsplan", "die Rentenreform",
     "ein Abkommen mit den Bauern", "die neuen Tarife", "das Bahnprojekt", "die Preiserhöhung"],
    ["in Berlin an.", "nach dem Treffen am Montag an.", "wegen der Energiekrise an.",
     "nach der Wahl an.", "im Norden an.", "beim Gipfel an.", "mit der Opposition an.",
     "ohne Details an."],
)  # fmt: skip


def sentences(parts: tuple[list[str], ...], count: int) -> list[str]:
    """`count` distinct sentences (so the cache cannot help the first run)."""
    return [" ".join(words) for words in itertools.islice(itertools.product(*parts), count)]


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and its finished children (Apertium's programs)."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of `work`."""
    started, cpu = time.perf_counter(), cpu_seconds()
    work()
    return time.perf_counter() - started, cpu_seconds() - cpu


class StageRun:
    """A database with one article per sentence (the sentence is its title), in `language`."""

    def __init__(self, workdir: Path, language: str, texts: list[str], order: list[str]) -> None:
        self.workdir = workdir
        feed = {"url": f"http://bench.test/{language}.xml", "name": "b", "language": language}
        translation = {"order": order, "models_dir": str(workdir / "models"), **STAGE_SETTINGS}
        self.config = config.parse(
            json.dumps({"settings": {"translation": translation}, "feeds": [feed]})
        )
        self.template = workdir / f"template-{language}.db"
        conn = store.connect(self.template)
        store.sync_feeds(conn, self.config.feeds, "2026-01-01T00:00:00Z")
        with store.transaction(conn):
            conn.executemany(
                "INSERT INTO articles (feed_id, guid, content_hash, title, language, "
                "language_source, fetched_at) VALUES (1, ?, ?, ?, ?, 'config', ?)",
                [(str(i), str(i), text, language, FETCHED) for i, text in enumerate(texts)],
            )
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        self.count = len(texts)
        self.last: StageReport | None = None

    def fresh(self) -> Path:
        path = self.workdir / "run.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        shutil.copy(self.template, path)
        return path

    def run_once(self, path: Path) -> None:
        conn = store.connect(path)
        self.last = stage.run(conn, self.config)
        conn.close()

    def first_run(self) -> tuple[float, float]:
        """(wall, CPU) seconds for a run on a fresh copy of the database: all pending."""
        self.path = self.fresh()
        seconds = timed(lambda: self.run_once(self.path))
        assert self.last is not None and self.last.done == self.count, self.last
        return seconds

    def second_run(self) -> tuple[float, dict]:
        """Seconds and report details for a run over the same, already translated, articles."""
        seconds, _ = timed(lambda: self.run_once(self.path))
        assert self.last is not None
        return seconds, self.last.details


def measure(name: str, repeats: int, raw: Callable[[], object], run: StageRun) -> None:
    """Alternate raw and stage runs, so that load from other processes hits both alike."""
    raw_times, stage_times = [], []
    for _ in range(repeats):
        raw_times.append(timed(raw))
        stage_times.append(run.first_run())
    second_s, details = run.second_run()
    report(name, run.count, raw_times, stage_times, second_s, details)


def bench_apertium(workdir: Path, count: int, repeats: int) -> None:
    texts = sentences(SPANISH, count)
    lines = workdir / "lines.es.txt"
    lines.write_text("\n".join(texts) + "\n", encoding="utf-8")

    def raw() -> None:
        out = subprocess.run(
            ["apertium", "-u", "-f", "line", "spa-eng", str(lines)],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        assert out.count("\n") == count

    measure("Apertium spa-eng", repeats, raw, StageRun(workdir, "es", texts, ["apertium"]))


def bench_argos(workdir: Path, count: int, repeats: int) -> None:
    # as the stage imports it (passive OpenMP waiting, set before the model is built), so both
    # sides run alike
    ctranslate2 = import_ctranslate2()
    import sentencepiece

    from tests.argos_model import build_ct2_model, package_argosmodel

    ct2 = build_ct2_model(workdir / "argos-build")
    models.install_file(workdir / "models", package_argosmodel(ct2, workdir))
    texts = sentences(GERMAN, count)
    settings = config.TranslationSettings()
    processor = sentencepiece.SentencePieceProcessor(model_file=str(ct2 / "sentencepiece.model"))
    translator = ctranslate2.Translator(
        str(ct2),
        device="cpu",
        inter_threads=settings.inter_threads,
        intra_threads=intra_threads(settings),
    )

    def raw() -> None:
        tokens = [processor.encode(text, out_type=str) for text in texts]
        results = translator.translate_batch(
            tokens,
            max_batch_size=settings.batch_size,
            batch_type="examples",
            beam_size=settings.beam_size,
            length_penalty=LENGTH_PENALTY,
            replace_unknowns=True,
        )
        out = [processor.decode(r.hypotheses[0]) for r in results]
        assert len(out) == count

    measure("Argos (test-built model)", repeats, raw, StageRun(workdir, "de", texts, ["argos"]))


def report(
    name: str,
    count: int,
    raw: list[tuple[float, float]],
    stage_: list[tuple[float, float]],
    second_s: float,
    details: dict,
) -> None:
    raw_s, stage_s = (statistics.median(wall for wall, _ in runs) for runs in (raw, stage_))
    ratio = statistics.median(r[0] / s[0] for r, s in zip(raw, stage_, strict=True))
    raw_cpu, stage_cpu = (statistics.median(cpu for _, cpu in runs) for runs in (raw, stage_))
    verdict = "ok" if ratio >= 0.9 else "BELOW the 90% target"
    print(f"{name}: {count} sentences, {len(raw)} repeats")
    print(f"  raw backend   {count / raw_s:9.1f} sentences/s  (median {raw_s:.2f} s)")
    print(f"  stage         {count / stage_s:9.1f} sentences/s  (median {stage_s:.2f} s)")
    print(f"  stage/raw     {ratio:9.1%}  (median of per-repeat ratios; {verdict})")
    print(
        f"  CPU seconds   raw {raw_cpu:.2f}, stage {stage_cpu:.2f} "
        f"(raw/stage {raw_cpu / stage_cpu:.1%}; less affected by other load than wall time)"
    )
    print(
        f"  second run    {second_s:.2f} s, {details['translated']} translations, "
        f"{details['cached']} cache hits ({'ok' if details['translated'] == 0 else 'NOT zero'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--apertium", type=int, default=3000, help="sentences (0: skip)")
    parser.add_argument("--argos", type=int, default=400, help="sentences (0: skip)")
    parser.add_argument("--articles-per-batch", type=int, help="the stage setting")
    args = parser.parse_args()
    if args.articles_per_batch:
        STAGE_SETTINGS["articles_per_batch"] = args.articles_per_batch
    print("raw and stage runs alternate; the machine is shared, so read the ratios")
    with tempfile.TemporaryDirectory(prefix="bench-translate-") as tmp:
        if args.apertium and shutil.which("apertium"):
            bench_apertium(Path(tmp), args.apertium, args.repeats)
        elif args.apertium:
            print("Apertium: skipped (not installed; see scripts/install-system-deps.sh)")
        if args.argos:
            bench_argos(Path(tmp), args.argos, args.repeats)


if __name__ == "__main__":
    main()
