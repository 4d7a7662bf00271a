"""feeds.yaml: load, validate, apply defaults. One typed `Config` comes out.

Every mistake is reported as one line naming the entry and the field, and nothing is written
anywhere when the file is invalid.
"""

from __future__ import annotations

import re
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from aggregator.errors import ConfigError

COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")


def translation_backends() -> tuple[str, ...]:
    """Names of the translation backends: one module each in aggregator/translate (imported
    on first use, since they import this module)."""
    from aggregator.translate.base import backend_names

    return backend_names()


# ISO 639-1 codes, so a typo such as "fe" or "eng" is caught before any work is done.
ISO_639_1 = frozenset(
    """aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv
    cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht
    hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la
    lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj
    om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv
    sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh
    zu""".split()  # noqa: SIM905 (a word list reads best as text)
)


@dataclass(frozen=True)
class TranslationSettings:
    """How articles are rendered into English (see aggregator/translate)."""

    order: tuple[str, ...] = ("argos", "apertium")
    per_language: dict[str, tuple[str, ...]] = field(default_factory=dict)
    models_dir: str = "models/argos"
    index_url: str = "https://raw.githubusercontent.com/argosopentech/argospm-index/main/index.json"
    max_chars: int = 1200  # longer texts are cut at a sentence boundary before translation
    inter_threads: int = 1  # CTranslate2: batches translated in parallel
    intra_threads: int = 0  # CTranslate2: threads per batch (0: its default)
    batch_size: int = 32  # CTranslate2: sentences per batch
    beam_size: int = 4  # CTranslate2 beam search width (argostranslate's default; 1 is greedy)
    articles_per_batch: int = 256  # articles per stage batch, each saved in one transaction

    def __post_init__(self) -> None:
        for name in ("max_chars", "inter_threads", "batch_size", "beam_size", "articles_per_batch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")


@dataclass(frozen=True)
class EmbeddingSettings:
    """Which sentence-embedding models the clustering compares articles with."""

    model: str = "all-MiniLM-L6-v2"
    multilingual_model: str = "multilingual-e5-small"
    batch_size: int = 64


@dataclass(frozen=True)
class ClusterSettings:
    """Incremental clustering: time window and per-signal thresholds (docs/clustering.md: what
    a story is, and how each was chosen). Two articles are the same event when their
    language-centred multilingual cosine reaches `threshold_event` (same language) or
    `threshold_event_cross` (different languages), and, when both have English text, their
    English cosine reaches `threshold_en`. One is a version of the other (translation, rewrite,
    wire copy) when their keyword coverage reaches `threshold_keywords`, or, with no shared
    keyword space, their centred cosine reaches `threshold_version`. An article joins a story
    of several articles as an event only when it is like two of them (against chaining). An
    article that is the same event as two stories, each by at least `merge_margin` above the
    bar, merges them."""

    window_days: float = 3.0
    threshold_event: float = 0.4
    threshold_event_cross: float = 0.4
    threshold_en: float = 0.3
    threshold_en_event: float = 0.44
    threshold_keywords: float = 0.34
    threshold_copy: float = 0.6
    threshold_version: float = 0.8
    merge_margin: float = 0.1


@dataclass(frozen=True)
class Settings:
    allow_private_addresses: bool = False
    per_host_concurrency: int = 2
    per_host_interval_s: float = 1.0
    timeout_s: float = 20.0
    max_body_bytes: int = 5_000_000
    max_redirects: int = 5
    concurrency: int = 16
    poll_interval_s: int = 900
    max_backoff_s: int = 6 * 3600
    dead_after_errors: int = 10
    user_agent: str = "news-aggregator/0.1 (+https://github.com/news-aggregator)"
    translation: TranslationSettings = field(default_factory=TranslationSettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)

    def __post_init__(self) -> None:
        # Zero here would make every fetch fail (or never start): refuse it up front.
        for name in ("timeout_s", "max_body_bytes", "concurrency", "per_host_concurrency"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be greater than 0")


@dataclass(frozen=True)
class Feed:
    url: str
    name: str
    language: str | None = None
    country: str | None = None
    homepage: str | None = None
    poll_interval_s: int | None = None
    translation: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Config:
    feeds: tuple[Feed, ...]
    settings: Settings
    path: Path | None = None


def load(path: str | Path) -> Config:
    """Read and validate a feeds.yaml file; raise ConfigError with a one-line reason."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (pass --feeds PATH)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse(text, source=str(path), path=path)


def parse(text: str, source: str = "feeds.yaml", path: Path | None = None) -> Config:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{source}:{where} {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping with 'feeds:' and 'settings:'")
    _reject_unknown(data, {"feeds", "settings"}, source)
    settings = _build(Settings, data.get("settings") or {}, f"{source}: settings")
    raw_feeds = data.get("feeds")
    if raw_feeds is None:
        raw_feeds = []
    if not isinstance(raw_feeds, list):
        raise ConfigError(f"{source}: 'feeds' must be a list")
    feeds = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_feeds, start=1):
        feed = _parse_feed(raw, f"{source}: feed #{index}")
        key = feed.url.rstrip("/")
        if key in seen:
            raise ConfigError(
                f"{source}: feed #{index} ({feed.name}): duplicate url {feed.url} "
                f"(already feed #{seen[key]})"
            )
        seen[key] = index
        feeds.append(feed)
    return Config(feeds=tuple(feeds), settings=settings, path=path)


def _parse_feed(raw: Any, where: str) -> Feed:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a mapping with at least 'url' and 'name'")
    label = f"{where} ({raw.get('name') or raw.get('url') or 'unnamed'})"
    feed = _build(Feed, raw, label)
    _check_url(feed.url, f"{label}: url")
    if feed.homepage is not None:
        _check_url(feed.homepage, f"{label}: homepage")
    if feed.language is not None and feed.language not in ISO_639_1:
        raise ConfigError(
            f"{label}: language {feed.language!r} is not an ISO 639-1 code (e.g. 'fr', 'zh')"
        )
    if feed.country is not None and not COUNTRY_CODE.match(feed.country):
        raise ConfigError(
            f"{label}: country {feed.country!r} is not an ISO 3166-1 alpha-2 code (e.g. 'FR')"
        )
    return feed


def _check_url(url: str, where: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{where}: {url!r} is not an http(s) URL")


def _reject_unknown(raw: dict, known: set[str], where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(known))})"
        )


def _build(cls: type, raw: Any, where: str) -> Any:
    """Build a frozen dataclass from a mapping, checking keys, required fields and types."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a mapping")
    spec = {f.name: f for f in fields(cls)}
    _reject_unknown(raw, set(spec), where)
    values = {}
    for name, spec_field in spec.items():
        if name not in raw:
            if _is_required(spec_field):
                raise ConfigError(f"{where}: missing required field {name!r}")
            continue
        values[name] = _coerce(spec_field.type, raw[name], f"{where}: {name}")
    try:
        return cls(**values)
    except ConfigError as exc:  # a rule the dataclass checks itself (__post_init__)
        raise ConfigError(f"{where}: {exc}") from None


def _is_required(spec_field: Any) -> bool:
    return spec_field.default is MISSING and spec_field.default_factory is MISSING


def _coerce(type_name: Any, value: Any, where: str) -> Any:
    """Check one value against the field's annotation (annotations are strings here)."""
    kind = str(type_name).replace(" ", "")
    optional = kind.endswith("|None")
    kind = kind.removesuffix("|None")
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where}: must not be empty")
    nested = {
        "TranslationSettings": TranslationSettings,
        "EmbeddingSettings": EmbeddingSettings,
        "ClusterSettings": ClusterSettings,
    }
    if kind in nested:
        return _build(nested[kind], value, where)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: must be true or false, not {value!r}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{where}: must be a whole number >= 0, not {value!r}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{where}: must be a number >= 0, not {value!r}")
        return float(value)
    if kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: must be a non-empty string, not {value!r}")
        return value.strip()
    if kind == "tuple[str,...]":
        return _backend_list(value, where)
    if kind == "dict[str,tuple[str,...]]":
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: must map language codes to backend lists")
        for lang in value:
            if lang not in ISO_639_1:
                raise ConfigError(f"{where}: {lang!r} is not an ISO 639-1 language code")
        return {lang: _backend_list(v, f"{where}: {lang}") for lang, v in value.items()}
    raise AssertionError(f"unhandled config type {type_name!r}")


def _backend_list(value: Any, where: str) -> tuple[str, ...]:
    known = translation_backends()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: must be a list of backends from {known}")
    for item in value:
        if item not in known:
            raise ConfigError(f"{where}: unknown backend {item!r} (choose from {', '.join(known)})")
    return tuple(value)
