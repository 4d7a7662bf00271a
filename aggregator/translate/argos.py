"""Argos Translate: OpenNMT models run by CTranslate2, the primary backend.

Packages are loaded with argostranslate's own `Package` (metadata, SentencePiece or BPE
tokenizer) and translated with the same CTranslate2 options as argostranslate's
`apply_packaged_translation`, with two differences that matter offline and for speed: sentences
are split by `segment.py` (argostranslate's MiniSBD/Stanza splitters download models), and the
sentences of a whole batch of texts go to CTranslate2 in one `translate_batch` call.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from aggregator.config import TranslationSettings
from aggregator.plugins import hookimpl
from aggregator.stage import available_cores
from aggregator.translate import models, segment
from aggregator.translate.base import Backend, BackendError

LENGTH_PENALTY = 0.2  # argostranslate's value


def intra_threads(settings: TranslationSettings) -> int:
    """The setting, or for 0 the cores this process may use (up to 4) shared among the
    translators: CTranslate2's own default ignores the core count and oversubscribes small
    machines."""
    if settings.intra_threads:
        return settings.intra_threads
    return max(1, min(4, available_cores() // settings.inter_threads))


def import_ctranslate2() -> Any:
    """`ctranslate2`, imported with OpenMP set to wait passively unless the user chose a policy.

    CTranslate2's OpenMP threads spin while they wait for work. On a machine whose few cores are
    busy with other work that made translation 10-30 times slower (measured here: 61 s instead of
    1.8 s for one batch); waiting passively costs little on an idle machine. The OpenMP runtime
    that ctranslate2 ships reads OMP_WAIT_POLICY once, when ctranslate2 is first imported, so it
    is set here, where translation starts, and not when a module is imported."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import ctranslate2

    return ctranslate2


@dataclass
class _Loaded:
    package: Any  # argostranslate.package.Package
    translator: Any  # ctranslate2.Translator


class ArgosBackend(Backend):
    name = "argos"
    thread_safe = True  # CTranslate2 queues concurrent calls; loading is locked

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._installed: dict[str, models.InstalledModel] | None = None
        self._loaded: dict[str, _Loaded | BackendError] = {}
        self._lock = threading.Lock()

    def _models(self) -> dict[str, models.InstalledModel]:
        if self._installed is None:
            self._installed = {m.from_code: m for m in models.installed(self.models_dir)}
        return self._installed

    def languages(self) -> set[str]:
        return set(self._models())

    def model_id(self, source_lang: str) -> str:
        return self._models()[source_lang].model_id

    def translate(self, texts: list[str], source_lang: str) -> list[str]:
        loaded = self._load(source_lang)
        sentences, owners = [], []
        for index, text in enumerate(texts):
            for sentence in segment.split_sentences(text):
                sentences.append(sentence)
                owners.append(index)
        try:
            translated = self._translate_sentences(loaded, sentences)
        except Exception as exc:  # CTranslate2 and tokenizers raise plain RuntimeErrors
            raise BackendError(f"argos {source_lang}: {type(exc).__name__}: {exc}") from exc
        joined: list[list[str]] = [[] for _ in texts]
        for owner, sentence in zip(owners, translated, strict=True):
            joined[owner].append(sentence)
        return [" ".join(parts) for parts in joined]

    def _translate_sentences(self, loaded: _Loaded, sentences: list[str]) -> list[str]:
        if not sentences:
            return []
        package = loaded.package
        tokens = [package.tokenizer.encode(sentence) for sentence in sentences]
        prefix = [[package.target_prefix]] * len(tokens) if package.target_prefix else None
        results = loaded.translator.translate_batch(
            tokens,
            target_prefix=prefix,
            replace_unknowns=True,
            max_batch_size=self.settings.batch_size,
            batch_type="examples",
            beam_size=self.settings.beam_size,
            num_hypotheses=1,
            length_penalty=LENGTH_PENALTY,
        )
        return [self._decode(package, result.hypotheses[0]) for result in results]

    @staticmethod
    def _decode(package: Any, tokens: list[str]) -> str:
        value = package.tokenizer.decode(tokens)
        if package.target_prefix and value.startswith(package.target_prefix):
            value = value[len(package.target_prefix) :]
        return value.strip()

    def _load(self, source_lang: str) -> _Loaded:
        """Load a model once; a model that fails to load fails fast for the rest of the run."""
        with self._lock:
            loaded = self._loaded.get(source_lang)
            if loaded is None:
                loaded = self._loaded[source_lang] = self._try_load(source_lang)
        if isinstance(loaded, BackendError):
            raise loaded
        return loaded

    def _try_load(self, source_lang: str) -> _Loaded | BackendError:
        model = self._models().get(source_lang)
        if model is None:
            return BackendError(f"argos: no model installed for {source_lang}")
        try:
            ctranslate2 = import_ctranslate2()
            package = models.argos_package(self.models_dir).Package(model.path)
            translator = ctranslate2.Translator(
                str(model.path / "model"),
                device="cpu",
                inter_threads=self.settings.inter_threads,
                intra_threads=intra_threads(self.settings),
            )
        except Exception as exc:
            return BackendError(f"argos {source_lang}: cannot load {model.path.name}: {exc}")
        return _Loaded(package, translator)

    def close(self) -> None:
        self._loaded.clear()


@hookimpl
def register_translation_backends() -> list[type[Backend]]:
    return [ArgosBackend]
