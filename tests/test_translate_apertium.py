"""The Apertium backend with the real Debian language pairs (aggregator/translate/apertium.py).
Skipped, with the reason, where Apertium is not installed."""

import os
import re
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from aggregator.config import TranslationSettings
from aggregator.translate import apertium
from aggregator.translate.apertium import ApertiumBackend, decode, encode
from aggregator.translate.base import BackendError
from tests.translate_helpers import needs_apertium

pytest_plugins = ["tests.argos_fixture"]
pytestmark = [needs_apertium, pytest.mark.usefixtures("no_network")]


@pytest.fixture
def backend(tmp_path):
    backend = ApertiumBackend(TranslationSettings(), tmp_path)
    yield backend
    backend.close()


def test_languages_and_provenance(backend):
    assert {"es", "fr"} <= backend.languages()
    assert "ja" not in backend.languages()
    assert re.fullmatch(r"apertium spa-eng \(apertium-eng-spa [\w.+~-]+\)", backend.model_id("es"))
    assert re.fullmatch(
        r"apertium fr-es>spa-eng \(apertium-fr-es [\w.+~-]+, apertium-eng-spa [\w.+~-]+\)",
        backend.model_id("fr"),
    )


def test_translates_spanish_and_french_via_spanish(backend):
    assert backend.translate(["El gobierno aprueba una nueva ley."], "es") == [
        "The government approves a new law."
    ]
    (english,) = backend.translate(["Le président a annoncé une nouvelle loi."], "fr")
    assert "president" in english and "new law" in english


def test_lines_map_back_one_to_one_whatever_the_punctuation(backend):
    texts = [
        "Sin punto final",
        "¿Qué pasa?",
        "Dos frases. Otra más.",
        "Símbolos [raros] ^ $ / @ < > { } \\ ~ * # | fin",
        "línea\ncon salto",
        "…",
        "Xyzzyq blorf es un pueblo.",
    ] + [f"El artículo {n} de la ley." for n in range(300)]
    out = backend.translate(texts, "es")
    assert len(out) == len(texts)
    assert out[0] == "Without full stop"
    assert out[2] == "Two sentences. Another more."
    assert out[3] == "Symbols [rare] ^ $ / @ < > { } \\ ~ * # | end"
    assert out[4] == "line with jump"
    assert out[6].startswith("Xyzzyq blorf") and "*" not in out[6], "no unknown-word marks"
    for n, line in enumerate(out[7:]):
        assert re.search(rf"\b{n}\b", line), (n, line)


def test_the_one_by_one_fallback_gives_the_same_lines(backend):
    texts = ["Sin punto final", "Dos frases. Otra más.", "Símbolos [raros] ~ \\ fin"]
    batch = backend.translate(texts, "es")
    assert backend._pipelines["es"].translate_one_by_one(texts) == batch


def test_batches_from_several_threads_come_back_to_their_callers(backend):
    batches = [[f"El artículo {b * 100 + n} de la ley." for n in range(100)] for b in range(6)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda batch: backend.translate(batch, "es"), batches))
    for b, out in enumerate(results):
        assert [re.search(r"\d+", line).group() for line in out] == [
            str(b * 100 + n) for n in range(100)
        ]
    assert backend._pipelines["es"].current.issued == 6, "one process served them all"


def test_a_failure_fails_the_waiting_batches_and_the_next_call_starts_afresh(backend):
    backend.translate(["Hola."], "es")
    pipeline = backend._pipelines["es"]
    run = pipeline.current
    gate = threading.Event()
    original = apertium._read

    def read_fails(run, count, deadline):
        gate.wait(5)
        raise BackendError("apertium exited (status -9)")  # as when the process dies

    apertium._read = read_fails
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            reading = pool.submit(backend.translate, ["Uno."], "es")
            waiting = pool.submit(backend.translate, ["Dos."], "es")
            while run.issued < 3:  # both batches queued on the same process
                time.sleep(0.01)
            gate.set()
            with pytest.raises(BackendError, match="apertium exited"):
                reading.result()
            with pytest.raises(BackendError, match="failed while this batch waited"):
                waiting.result()
    finally:
        apertium._read = original
    assert run.failed and run.popen.poll() is not None and run.popen.stdout.closed
    assert backend.translate(["Buenos días."], "es") == ["Good morning."]
    assert pipeline.current is not run


def test_one_process_serves_every_batch(backend):
    backend.translate(["Hola."], "es")
    pid = backend._pipelines["es"].current.popen.pid
    backend.translate(["Adiós."], "es")
    assert backend._pipelines["es"].current.popen.pid == pid


def test_a_dead_pipeline_is_restarted(backend):
    backend.translate(["Hola."], "es")
    os.killpg(backend._pipelines["es"].current.popen.pid, 9)
    backend._pipelines["es"].current.popen.wait()
    assert backend.translate(["Buenos días."], "es") == ["Good morning."]


def test_close_ends_the_processes(backend):
    backend.translate(["Hola."], "es")
    process = backend._pipelines["es"].current.popen
    backend.close()
    assert process.poll() is not None


@pytest.mark.skipif(
    not (apertium.data_dir() / "modes" / "hbs-eng.mode").is_file(),
    reason="apertium-hbs-eng is not installed",
)
def test_serbian_in_cyrillic_and_latin(backend):
    cyrillic, latin = backend.translate(
        ["Влада је усвојила нови закон.", "Vlada je usvojila novi zakon."], "sr"
    )
    assert cyrillic == latin and "law" in latin


def test_stream_format_round_trip():
    assert encode("a[b]\\c\nd") == "a\\[b\\]\\\\c d[][\n]"
    assert decode(b"The \\[x\\] end.[]") == "The [x] end."


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="no dpkg-query")
def test_package_versions_come_from_dpkg(backend):
    assert "version unknown" not in backend.model_id("es")


def test_a_batch_needs_no_fallback(backend, monkeypatch):
    backend.translate(["Hola."], "es")
    pipeline = backend._pipelines["es"]

    def fail(texts):
        raise AssertionError("fell back to one text at a time")

    monkeypatch.setattr(pipeline, "translate_one_by_one", fail)
    texts = [f"El artículo {n} de la ley." for n in range(50)]
    assert len(pipeline.translate(texts)) == 50
