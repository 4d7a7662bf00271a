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
import re
import selectors
import shutil
import subprocess
import tempfile
import threading
import time
from functools import cache
from pathlib import Path
from typing import IO, Any

from aggregator.translate.base import Backend, BackendError, register

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


@register
class ApertiumBackend(Backend):
    name = "apertium"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pipelines: dict[str, _Pipeline] = {}

    def languages(self) -> set[str]:
        return {lang for lang in CHAINS if self._chain(lang)}

    def model_id(self, source_lang: str) -> str:
        chain = self._chain(source_lang)
        if chain is None:
            raise BackendError(f"apertium: no installed pair for {source_lang}")
        packages = ", ".join(dict.fromkeys(_package_of(data_dir(), mode) for mode in chain))
        return f"apertium {'>'.join(chain)} ({packages})"

    def translate(self, texts: list[str], source_lang: str) -> list[str]:
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


class _Pipeline:
    """One running chain of Apertium modes in null-flush mode."""

    def __init__(self, chain: tuple[str, ...]) -> None:
        self.chain = chain
        self.process: subprocess.Popen[bytes] | None = None
        self.stderr: IO[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        scripts = [_mode_script(data_dir() / "modes" / f"{mode}.mode") for mode in self.chain]
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        # $1: generator option (-n: no unknown-word marks); $2: tagger option (none).
        return subprocess.Popen(
            ["bash", "-c", " | ".join(scripts), "apertium", "-n", ""],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            start_new_session=True,
        )

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
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        try:
            return _exchange(self.process, payload, count)
        except BackendError as exc:
            detail = self._stderr_tail()
            self.close(graceful=False)
            raise BackendError(f"{exc}{': ' + detail if detail else ''}") from None

    def _stderr_tail(self) -> str:
        if self.stderr is None:
            return ""
        self.stderr.seek(0)
        lines = self.stderr.read().decode("utf-8", "replace").strip().splitlines()
        return lines[-1][:300] if lines else ""

    def close(self, graceful: bool = True) -> None:
        """End the pipeline: end of input lets every program exit on its own; a pipeline that
        failed or does not exit in time is killed, all of it (it has its own process group)."""
        if self.process is not None:
            assert self.process.stdin is not None and self.process.stdout is not None
            try:
                self.process.stdin.close()
                self.process.wait(timeout=5 if graceful else 0)
            except (OSError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, 9)
                self.process.wait()
            self.process.stdout.close()
            self.process = None
        if self.stderr is not None:
            self.stderr.close()
            self.stderr = None


@cache
def _mode_script(mode_file: Path) -> str:
    """The mode's shell pipeline with every program in null-flush mode (-z)."""
    result = subprocess.run(
        ["apertium-wblank-mode", "-z", str(mode_file)], capture_output=True, text=True
    )
    if result.returncode != 0 or not result.stdout.strip():
        raise BackendError(f"apertium: cannot read mode {mode_file}: {result.stderr.strip()}")
    return result.stdout.strip()


def _exchange(process: subprocess.Popen[bytes], payload: bytes, count: int) -> list[bytes]:
    """Write the payload (from a thread, so a full pipe cannot deadlock) and read `count`
    NUL-terminated blocks back."""
    assert process.stdin is not None and process.stdout is not None
    writer = threading.Thread(target=_write, args=(process.stdin, payload), daemon=True)
    writer.start()
    fd = process.stdout.fileno()
    buffer = bytearray()
    seen = 0
    deadline = time.monotonic() + TIMEOUT_S
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while seen < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise BackendError(f"apertium: no answer within {TIMEOUT_S}s")
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise BackendError(f"apertium exited (status {process.wait()})")
            buffer.extend(chunk)
            seen += chunk.count(0)
    writer.join()
    blocks = bytes(buffer).split(b"\0")
    if len(blocks) != count + 1 or blocks[-1]:
        raise BackendError("apertium: output does not match input line for line")
    return blocks[:count]


def _write(stream: IO[bytes], payload: bytes) -> None:
    try:
        stream.write(payload)
        stream.flush()
    except (BrokenPipeError, OSError):
        pass  # the reader reports the exit
