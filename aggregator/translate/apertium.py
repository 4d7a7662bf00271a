"""Apertium: rule-based translation from Debian packages, real and fast, fully offline.

Each language gets one long-lived pipeline (the pair's mode scripts, joined for pivots such as
fr→es→en) started in null-flush mode: a batch is written as lines followed by a NUL byte, at
which every program flushes its output, so one process serves every batch of a run and each
batch comes back whole, line for line. Unknown words are output
without Apertium's '*' marks (the `-u` of the `apertium` command).
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import selectors
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO, Any

from aggregator.plugins import hookimpl
from aggregator.translate.base import Backend, BackendError

# Source language → candidate chains of modes (the first whose modes are all installed wins).
CHAINS: dict[str, tuple[tuple[str, ...], ...]] = {
    "es": (("spa-eng",), ("es-en",)),
    "ca": (("cat-eng",), ("ca-en",)),
    "gl": (("gl-en",), ("glg-eng",)),
    "fr": (("fr-es", "spa-eng"), ("fra-spa", "spa-eng")),
    "pt": (("pt-es", "spa-eng"), ("por-spa", "spa-eng")),
    "it": (("ita-spa", "spa-eng"), ("it-es", "spa-eng")),
    "eu": (("eu-en",), ("eus-eng",)),
    "is": (("isl-eng",), ("is-en",)),
    "mk": (("mkd-eng",), ("mk-en",)),
    "eo": (("eo-en",), ("epo-eng",)),
    # Serbo-Croatian: Serbian is often in Cyrillic; the transliterator leaves Latin text as is.
    **{code: (("Cyrl-Latn", "hbs-eng"), ("hbs-eng",)) for code in ("sh", "hr", "sr", "bs")},
}
TIMEOUT_S = 300  # for one batch; Apertium handles thousands of lines a second
CHUNK_LINES = 32  # lines per null-flushed chunk: small enough to keep every program busy
_ESCAPE = re.compile(r"([\\\[\]^$/@<>{}])")  # what apertium-destxt escapes
_UNESCAPE = re.compile(r"\\(.)|[\[\]]")  # escapes, and the brackets of format blocks


def data_dir() -> Path:
    return Path(os.environ.get("APERTIUM_DATADIR", "/usr/share/apertium"))


class ApertiumBackend(Backend):
    name = "apertium"

    thread_safe = True  # see _Pipeline

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pipelines: dict[str, _Pipeline] = {}
        self._lock = threading.Lock()

    def languages(self) -> set[str]:
        return {lang for lang in CHAINS if self._chain(lang)}

    def model_id(self, source_lang: str) -> str:
        chain = self._chain(source_lang)
        if chain is None:
            raise BackendError(f"apertium: no installed pair for {source_lang}")
        packages = ", ".join(dict.fromkeys(_package_of(data_dir(), mode) for mode in chain))
        return f"apertium {'>'.join(chain)} ({packages})"

    def translate(self, texts: list[str], source_lang: str) -> list[str]:
        with self._lock:
            pipeline = self._pipelines.get(source_lang)
            if pipeline is None:
                chain = self._chain(source_lang)
                if chain is None:
                    raise BackendError(f"apertium: no installed pair for {source_lang}")
                pipeline = self._pipelines[source_lang] = _Pipeline(chain)
        return pipeline.translate(texts)

    def _chain(self, source_lang: str) -> tuple[str, ...] | None:
        return _installed_chain(data_dir(), source_lang)

    def close(self) -> None:
        for pipeline in self._pipelines.values():
            pipeline.close()
        self._pipelines.clear()


@cache
def _installed_chain(root: Path, source_lang: str) -> tuple[str, ...] | None:
    if not (shutil.which("apertium-wblank-mode") and shutil.which("bash")):
        return None
    for chain in CHAINS.get(source_lang, ()):
        if all((root / "modes" / f"{mode}.mode").is_file() for mode in chain):
            return chain
    return None


@cache
def _package_of(root: Path, mode: str) -> str:
    """The Debian package and version that installed a mode, e.g. 'apertium-fr-es 0.9.4-1'."""
    path = str(root / "modes" / f"{mode}.mode")
    try:
        owner = subprocess.run(
            ["dpkg-query", "-S", path], capture_output=True, text=True, check=True
        ).stdout.split(":", 1)[0]
        version = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", owner],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"{mode} version unknown"
    return f"{owner} {version}"


def encode(text: str) -> str:
    """One text as one line of Apertium's stream format.

    The empty format block keeps a final full stop (without it the last '.' of a block is
    dropped); the newline travels in a format block, as `apertium -f line` sends it; '~' is
    Apertium markup, so it too travels inside a format block.
    """
    line = " ".join(text.replace("\0", " ").split())
    escaped = _ESCAPE.sub(r"\\\1", line).replace("~", "[~]")
    return f"{escaped}[][\n]"


def decode(block: bytes) -> str:
    text = block.decode("utf-8", errors="replace")
    return " ".join(_UNESCAPE.sub(lambda m: m.group(1) or "", text).split())


@dataclass
class _Process:
    """One started pipeline process and the bookkeeping of the batches sent to it."""

    popen: subprocess.Popen[bytes]
    outbox: queue.Queue[bytes | None]  # payloads for the writer thread; None ends the input
    stderr: IO[bytes]
    issued: int = 0  # tickets handed out
    serving: int = 0  # the ticket whose output is read next
    reading: bool = False  # the served caller is reading the pipe
    unread: bytearray = field(default_factory=bytearray)  # read, not yet claimed
    failed: bool = False

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        lines = self.stderr.read().decode("utf-8", "replace").strip().splitlines()
        return lines[-1][:300] if lines else ""

    def end(self, graceful: bool) -> None:
        """End of input lets every program exit on its own; a pipeline that failed or does
        not exit in time is killed, all of it (it has its own process group)."""
        self.outbox.put(None)
        try:
            self.popen.wait(timeout=5 if graceful else 0)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, 9)
            self.popen.wait()

    def release(self) -> None:
        """Close the pipes (only once nobody reads them: a closed descriptor's number can be
        reused by another file at once)."""
        assert self.popen.stdout is not None
        self.popen.stdout.close()
        self.stderr.close()


class _Pipeline:
    """One chain of Apertium modes running in null-flush mode, shared by threads.

    Several batches may be in flight at once (the stage sends the next batch while the
    previous one drains), so the programs never idle between batches. Callers take a ticket
    and queue their payload in one order, a writer thread writes the payloads in that order,
    and callers read their own blocks back in ticket order. If the process fails, every
    batch waiting on it fails (and is retried on the next run); the next call starts anew.
    """

    def __init__(self, chain: tuple[str, ...]) -> None:
        self.chain = chain
        self.current: _Process | None = None
        self._order = threading.Lock()  # tickets are taken and payloads queued in one order
        self._turn = threading.Condition()  # guards `current` and its counters

    def translate(self, texts: list[str]) -> list[str]:
        """Texts as lines, in chunks that each end with a NUL. The NUL makes every program pass
        the chunk on at once, so the programs of the pipeline work on successive chunks at the
        same time; within a chunk, lines come back line for line. Should Apertium ever merge
        or split lines, the chunk is redone with a NUL after each text, which cannot mix up."""
        if not texts:
            return []
        chunks = [texts[i : i + CHUNK_LINES] for i in range(0, len(texts), CHUNK_LINES)]
        payload = b"".join(
            "".join(encode(text) for text in chunk).encode() + b"\0" for chunk in chunks
        )
        out: list[str] = []
        for chunk, block in zip(chunks, self._exchange(payload, len(chunks)), strict=True):
            # Each line ends in the format block "[\n]": its brackets fall either side of the split.
            lines = [decode(line) for line in block.split(b"\n")]
            if len(lines) == len(chunk) + 1 and not lines[-1]:
                out.extend(lines[:-1])
            else:
                out.extend(self.translate_one_by_one(chunk))
        return out

    def translate_one_by_one(self, texts: list[str]) -> list[str]:
        payload = b"".join(encode(text).encode() + b"\0" for text in texts)
        return [decode(block) for block in self._exchange(payload, len(texts))]

    def _exchange(self, payload: bytes, count: int) -> list[bytes]:
        """Send `count` NUL-ended blocks; return the `count` blocks that answer them."""
        deadline = time.monotonic() + TIMEOUT_S
        with self._order:
            with self._turn:
                run = self._running()
                ticket = run.issued
                run.issued += 1
            run.outbox.put(payload)
        with self._turn:
            my_turn = self._turn.wait_for(
                lambda: run.serving == ticket or run.failed,
                timeout=max(0.0, deadline - time.monotonic()),
            )
            if run.failed:
                raise BackendError("apertium: the pipeline failed while this batch waited")
            if not my_turn:
                self._fail(run)
                raise BackendError(f"apertium: no answer within {TIMEOUT_S}s")
            run.reading = True
        try:
            blocks = _read(run, count, deadline)
        except BackendError as exc:
            with self._turn:
                detail = run.stderr_tail()
                run.reading = False
                self._fail(run)
            raise BackendError(f"{exc}{': ' + detail if detail else ''}") from None
        with self._turn:
            run.reading = False
            run.serving += 1
            if run.failed:  # failed by another thread meanwhile
                run.release()
            self._turn.notify_all()
        return blocks

    def _running(self) -> _Process:
        """The live process, started if needed (the caller holds _turn)."""
        run = self.current
        if run is not None and not run.failed and run.popen.poll() is None:
            return run
        if run is not None:
            self._fail(run)
        scripts = [_mode_script(data_dir() / "modes" / f"{mode}.mode") for mode in self.chain]
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _Process.stop)
        # $1: generator option (-n: no unknown-word marks); $2: tagger option (none).
        popen = subprocess.Popen(
            ["bash", "-c", " | ".join(scripts), "apertium", "-n", ""],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
        )
        self.current = _Process(popen, queue.Queue(), stderr)
        threading.Thread(
            target=_write, args=(popen.stdin, self.current.outbox), daemon=True
        ).start()
        return self.current

    def _fail(self, run: _Process) -> None:
        """Kill a process; the batches waiting on it give up (the caller holds _turn)."""
        if not run.failed:
            run.failed = True
            run.end(graceful=False)
            if not run.reading:
                run.release()
        self._turn.notify_all()

    def close(self) -> None:
        with self._turn:
            run, self.current = self.current, None
            if run is not None and not run.failed:
                run.end(graceful=True)
                run.release()


def _read(run: _Process, count: int, deadline: float) -> list[bytes]:
    """Read until `count` blocks are complete (only the caller being served reads)."""
    assert run.popen.stdout is not None
    fd = run.popen.stdout.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while run.unread.count(0) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise BackendError(f"apertium: no answer within {TIMEOUT_S}s")
            data = os.read(fd, 1 << 16)
            if not data:
                raise BackendError(f"apertium exited (status {run.popen.poll()})")
            run.unread.extend(data)
    blocks = bytes(run.unread).split(b"\0", count)
    run.unread = bytearray(blocks.pop())
    return blocks


@cache
def _mode_script(mode_file: Path) -> str:
    """The mode's shell pipeline with every program in null-flush mode (-z)."""
    result = subprocess.run(
        ["apertium-wblank-mode", "-z", str(mode_file)], capture_output=True, text=True
    )
    if result.returncode != 0 or not result.stdout.strip():
        raise BackendError(f"apertium: cannot read mode {mode_file}: {result.stderr.strip()}")
    return result.stdout.strip()


def _write(stream: IO[bytes], outbox: queue.Queue[bytes | None]) -> None:
    """The writer thread: payloads in order; None closes the input."""
    try:
        while (payload := outbox.get()) is not None:
            stream.write(payload)
            stream.flush()
    except OSError:
        pass  # the process died: its reader reports why
    finally:
        with contextlib.suppress(OSError):
            stream.close()


@hookimpl
def register_translation_backends() -> list[type[Backend]]:
    return [ApertiumBackend]
