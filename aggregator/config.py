"""feeds.yaml: load, validate, apply defaults. One typed `Config` comes out.

Every mistake is reported as one line naming the entry and the field, and nothing is written
anywhere when the file is invalid.

Every number has a range (`bounded`, the README's feeds.yaml table lists them): a value that
parses but would break a stage (an interval past what a date can hold, a timeout of nan or inf,
a batch of 0) is refused here, not found out mid-run. tests/test_config.py tries each numeric
field of every settings class beyond its bounds, so a new field without bounds fails a test.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from aggregator.countries import COUNTRY_NAMES
from aggregator.errors import ConfigError

# Codes often written for a country whose ISO code differs (the EU's own abbreviations).
MISTAKEN_COUNTRIES = {"UK": "GB", "EL": "GR"}
DAY_S = 86_400
# The longest wait of any kind, as aggregator.poll.schedule.MAX_WAIT: far inside what a date
# (year 9999) and an SQLite integer can hold.
MAX_INTERVAL_S = 366 * DAY_S


@dataclass(frozen=True)
class Bounds:
    """The range a number in feeds.yaml must lie in: low..high, low excluded when `low_open`.
    NaN and infinities are never in range."""

    low: float
    high: float
    low_open: bool = False

    def admits(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):  # (an int of any size is)
            return False
        above_low = value > self.low if self.low_open else value >= self.low
        return above_low and value <= self.high

    def __str__(self) -> str:
        low = "greater than" if self.low_open else "at least"
        return f"{low} {_number(self.low)} and at most {_number(self.high)}"


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def _shown(value: Any) -> str:
    """A value for a message: an integer of thousands of digits is not quoted whole."""
    text = repr(value)
    return text if len(text) <= 30 else f"{text[:12]}...({len(text)} characters)"


def bounded(default: Any, low: float, high: float, *, low_open: bool = False) -> Any:
    """A numeric settings field with its range (checked by `check_bounds`)."""
    return field(default=default, metadata={"bounds": Bounds(low, high, low_open)})


def check_bounds(settings: Any) -> None:
    """Refuse any bounded field out of range (None, for an optional field, is allowed)."""
    for spec in fields(settings):
        bounds = spec.metadata.get("bounds")
        value = getattr(settings, spec.name)
        if bounds is None or value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{spec.name} must be a number, not {_shown(value)}")
        if not bounds.admits(value):
            raise ConfigError(f"{spec.name} must be {bounds}, not {_shown(value)}")


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
    # longer texts are cut at a sentence boundary before translation
    max_chars: int = bounded(1200, 1, 100_000)
    inter_threads: int = bounded(1, 1, 64)  # CTranslate2: batches translated in parallel
    intra_threads: int = bounded(0, 0, 256)  # CTranslate2: threads per batch (0: its default)
    batch_size: int = bounded(32, 1, 4096)  # CTranslate2: sentences per batch
    # CTranslate2 beam search width (argostranslate's default; 1 is greedy)
    beam_size: int = bounded(4, 1, 32)
    # articles per stage batch, each saved in one transaction
    articles_per_batch: int = bounded(256, 1, 100_000)
    # Plugin backends' own settings, by backend name (`settings: translation: <name>:`), each
    # its backend's `options_class`. Not a feeds.yaml key itself.
    backend_options: dict[str, Any] = field(default_factory=dict, metadata={"key": False})

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class EmbeddingSettings:
    """Which sentence-embedding models the clustering compares articles with."""

    model: str = "all-MiniLM-L6-v2"
    multilingual_model: str = "multilingual-e5-small"
    batch_size: int = bounded(64, 1, 4096)  # 0 embedded nothing, forever

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class ClusterSettings:
    """Incremental clustering: time window and thresholds (docs/clustering.md: what a story is,
    and how each was chosen). Two articles are the same event when, if both have English text,
    the mean of their English and language-centred multilingual cosines reaches
    `threshold_en_event` (and the English one `threshold_en`); otherwise when the centred
    multilingual cosine reaches `threshold_event` (one language) or `threshold_event_cross`.
    A same-event pair is a version (translation, rewrite, wire copy) when their keyword
    coverage reaches `threshold_keywords` across languages or `threshold_copy` within one, or,
    with no shared keyword space, their centred cosine reaches `threshold_version`. An article
    joins a story of several articles as an event only when it is like two of them (against
    chaining). An article that is the same event as two stories, each by at least
    `merge_margin` above the bar, merges them."""

    # Cosines lie in [-1, 1], keyword coverages in [0, 1]; a margin between two cosines in
    # [0, 2]. A window of a year at most: comparisons grow with it.
    window_days: float = bounded(3.0, 0, 366, low_open=True)
    threshold_event: float = bounded(0.4, -1, 1)
    threshold_event_cross: float = bounded(0.4, -1, 1)
    threshold_en: float = bounded(0.3, -1, 1)
    threshold_en_event: float = bounded(0.44, -1, 1)
    threshold_keywords: float = bounded(0.34, 0, 1)
    threshold_copy: float = bounded(0.6, 0, 1)
    threshold_version: float = bounded(0.8, -1, 1)
    merge_margin: float = bounded(0.1, 0, 2)

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class ComputeSettings:
    """Where the translate and embed stages' `process` runs (docs/scaling.md): on this machine
    (`local`), or on the actors of a running Ray cluster (`ray`, at `address`: "host:port", or
    "auto" for the cluster started on this machine with `ray start`). The database and its
    writes stay on the machine that runs `aggregator`."""

    engine: str = "local"
    address: str = "auto"
    # Ray actors (each holds the models and takes one CPU): how many translate, how many embed.
    translate_actors: int = bounded(2, 1, 1024)
    embed_actors: int = bounded(2, 1, 1024)
    # How often a batch whose actor died is submitted again before its articles are failed.
    retries: int = bounded(2, 0, 100)

    def __post_init__(self) -> None:
        check_bounds(self)
        if self.engine not in COMPUTE_ENGINES:
            raise ConfigError(
                f"engine must be one of {', '.join(COMPUTE_ENGINES)}, not {_shown(self.engine)}"
            )
        if self.address != "auto" and not _is_host_port(self.address):
            raise ConfigError(f'address must be "auto" or "host:port", not {_shown(self.address)}')


COMPUTE_ENGINES = ("local", "ray")


def _is_host_port(address: str) -> bool:
    host, _, port = address.rpartition(":")
    return bool(host.strip("[]")) and port.isdigit() and 0 < int(port) < 65536


@dataclass(frozen=True)
class Settings:
    allow_private_addresses: bool = False
    # Zero concurrency, timeout or body cap would make every fetch fail (or never start); nan or
    # inf as a timeout, no deadline at all.
    per_host_concurrency: int = bounded(2, 1, 100)
    per_host_interval_s: float = bounded(1.0, 0, 3600)
    timeout_s: float = bounded(20.0, 0, 3600, low_open=True)
    max_body_bytes: int = bounded(5_000_000, 1, 100_000_000)
    max_redirects: int = bounded(5, 0, 20)
    concurrency: int = bounded(16, 1, 1000)
    poll_interval_s: int = bounded(900, 60, MAX_INTERVAL_S)
    max_backoff_s: int = bounded(6 * 3600, 0, MAX_INTERVAL_S)
    dead_after_errors: int = bounded(10, 1, 10_000)
    user_agent: str = "news-aggregator/0.1 (+https://github.com/news-aggregator)"
    translation: TranslationSettings = field(default_factory=TranslationSettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    compute: ComputeSettings = field(default_factory=ComputeSettings)

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class Feed:
    url: str
    name: str
    # The outlet's name in English, shown beside `name` when the original is in another script
    # or language (Невский обозреватель, "Nevsky Observer").
    name_en: str | None = None
    language: str | None = None
    country: str | None = None
    homepage: str | None = None
    poll_interval_s: int | None = bounded(None, 60, MAX_INTERVAL_S)
    translation: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        check_bounds(self)


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
    if feed.language is not None and feed.language.lower() not in ISO_639_1:
        raise ConfigError(
            f"{label}: language {feed.language!r} is not an ISO 639-1 code (e.g. 'fr', 'zh')"
        )
    if feed.country is not None and feed.country.upper() not in COUNTRY_NAMES:
        meant = MISTAKEN_COUNTRIES.get(feed.country.upper())
        hint = f": {COUNTRY_NAMES[meant]} is {meant!r}" if meant else " (e.g. 'FR')"
        raise ConfigError(
            f"{label}: country {feed.country!r} is not an ISO 3166-1 alpha-2 code{hint}"
        )
    # Codes are stored and compared as lower-case languages and upper-case countries; a
    # feeds.yaml may write them in any case (RU, Fr, gb).
    return replace(
        feed,
        language=feed.language.lower() if feed.language else None,
        country=feed.country.upper() if feed.country else None,
    )


def _check_url(url: str, where: str) -> None:
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError past 65535, or not a number
    except ValueError:  # also an unclosed IPv6 bracket
        raise ConfigError(f"{where}: {url!r} is not a valid URL (host or port)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}: {url!r} is not an http(s) URL")
    if port == 0:
        raise ConfigError(f"{where}: {url!r} has port 0")


def _reject_unknown(raw: dict, known: set[str], where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(known))})"
        )


def _build(cls: type, raw: Any, where: str, also_allowed: set[str] | None = None) -> Any:
    """Build a frozen dataclass from a mapping, checking keys, required fields and types.
    `also_allowed`: keys the caller has taken out already (named in the unknown-key line)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a mapping")
    spec = {f.name: f for f in fields(cls) if f.metadata.get("key", True)}
    _reject_unknown(raw, set(spec) | (also_allowed or set()), where)
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


def _translation_settings(raw: Any, where: str) -> TranslationSettings:
    """`settings: translation:`, where a key naming a backend with settings of its own (a
    plugin's `options_class`) holds those settings."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a mapping")
    from aggregator.translate.base import backend_classes

    own = {name: cls.options_class for name, cls in backend_classes().items() if cls.options_class}
    options = {
        name: _backend_options(own[name], value, f"{where}: {name}")
        for name, value in raw.items()
        if name in own
    }
    common = {key: value for key, value in raw.items() if key not in own}
    settings = _build(TranslationSettings, common, where, also_allowed=set(own))
    return replace(settings, backend_options=options)


def _backend_options(cls: type, raw: Any, where: str) -> Any:
    """A plugin backend's settings, its declared ranges checked here (its class may not)."""
    options = _build(cls, raw if raw is not None else {}, where)
    try:
        check_bounds(options)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return options


def _is_required(spec_field: Any) -> bool:
    return spec_field.default is MISSING and spec_field.default_factory is MISSING


def _coerce(type_name: Any, value: Any, where: str) -> Any:
    """Check one value against the field's annotation (as its text: `int`, `str | None`)."""
    # A plugin's options class may have real annotations, not strings: name them alike.
    named = type_name.__name__ if isinstance(type_name, type) else str(type_name)
    kind = named.replace(" ", "").replace("typing.", "")
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
        "ComputeSettings": ComputeSettings,
    }
    if kind == "TranslationSettings":
        return _translation_settings(value, where)
    if kind in nested:
        return _build(nested[kind], value, where)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: must be true or false, not {value!r}")
        return value
    # Ranges are the dataclass's (`bounded`); here only the type.
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: must be a whole number, not {value!r}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: must be a number, not {value!r}")
        try:
            return float(value)
        except OverflowError:  # an integer of hundreds of digits
            raise ConfigError(f"{where}: {_shown(value)} is out of range") from None
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
            if str(lang).lower() not in ISO_639_1:  # any case, stored lower case
                raise ConfigError(f"{where}: {lang!r} is not an ISO 639-1 language code")
        return {
            str(lang).lower(): _backend_list(v, f"{where}: {lang}") for lang, v in value.items()
        }
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
