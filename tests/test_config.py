import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from aggregator import config
from aggregator.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def test_defaults_apply_when_settings_are_missing():
    cfg = config.parse("feeds:\n  - {url: 'https://example.org/rss', name: Example}\n")
    assert cfg.settings.allow_private_addresses is False
    assert cfg.feeds[0].language is None
    assert cfg.settings.translation.order == ("argos", "apertium")


def test_codes_in_any_case_are_stored_in_one_case():
    # Issue 13 §1: `language: RU` must mean ru, as stored articles and queries spell it.
    cfg = config.parse(
        "settings:\n  translation:\n    per_language: {JA: apertium}\n"
        "feeds:\n  - {url: 'https://example.ru/rss', name: R, language: RU, country: ru}\n"
    )
    assert (cfg.feeds[0].language, cfg.feeds[0].country) == ("ru", "RU")
    assert cfg.settings.translation.per_language == {"ja": ("apertium",)}


def test_nested_settings_are_validated_and_typed():
    cfg = config.parse(
        "settings:\n  timeout_s: 5\n  translation:\n    order: [apertium]\n"
        "    per_language: {fr: argos}\n"
    )
    assert cfg.settings.timeout_s == 5.0
    assert cfg.settings.translation.order == ("apertium",)
    assert cfg.settings.translation.per_language == {"fr": ("argos",)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("feeds:\n  - {name: A}\n", "feed #1 (A): missing required field 'url'"),
        ("feeds:\n  - {url: 'ftp://x/y', name: A}\n", "feed #1 (A): url: 'ftp://x/y' is not"),
        ("feeds:\n  - {url: 'http://x/', name: A, language: fr-FR}\n", "language 'fr-FR'"),
        ("feeds:\n  - {url: 'http://x/', name: A, country: France}\n", "country 'France'"),
        # Shaped like a code but not one (the third walkthrough of issue 13 saw both accepted).
        (
            "feeds:\n  - {url: 'http://x/', name: A, country: UK}\n",
            "country 'UK' is not an ISO 3166-1 alpha-2 code: United Kingdom is 'GB'",
        ),
        ("feeds:\n  - {url: 'http://x/', name: A, country: zz}\n", "country 'zz' is not an ISO"),
        ("feeds:\n  - {url: 'http://x/', name: A, lang: fr}\n", "unknown key 'lang'"),
        (
            "feeds:\n  - {url: 'http://x/', name: A}\n  - {url: 'http://x/', name: B}\n",
            "feed #2 (B): duplicate url http://x/ (already feed #1)",
        ),
        ("settings: {timeout_s: soon}\n", "settings: timeout_s: must be a number"),
        ("settings: {allow_private_addresses: yes please}\n", "must be true or false"),
        ("settings: {translation: {order: [google]}}\n", "unknown backend 'google'"),
        ("colour: blue\n", "unknown key 'colour'"),
        ("feeds: [\n", "feeds.yaml:"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("feeds:\n  - {url: 'http://x:99999/', name: A}\n", "is not a valid URL (host or port)"),
        ("feeds:\n  - {url: 'http://x:0/', name: A}\n", "has port 0"),
        ("feeds:\n  - {url: 'http://[::1/', name: A}\n", "is not a valid URL"),
        ("feeds:\n  - {url: 'http://:80/', name: A}\n", "is not an http(s) URL"),
        ("feeds:\n  - {url: 'http://x/', name: A, name_en: ''}\n", "name_en: must be a non-empty"),
        ("feeds:\n  - {url: 'http://x/', name: A, name_en: [B]}\n", "feed #1 (A): name_en: must"),
        ("settings: {compute: {engine: spark}}\n", "compute: engine must be one of local, ray"),
        (
            "settings: {compute: {address: head}}\n",
            'compute: address must be "auto" or "host:port"',
        ),
        ("settings: {compute: {address: 'head:0'}}\n", 'address must be "auto" or "host:port"'),
    ],
)
def test_mistakes_are_one_line_naming_entry_and_field(text, message):
    with pytest.raises(ConfigError) as info:
        config.parse(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_an_english_name_is_optional_and_trimmed():
    # Issue 13 §12: shown beside the original name on every page.
    cfg = config.parse(
        "feeds:\n  - {url: 'http://x/', name: 南岭时报, name_en: '  Nanling Times '}\n"
        "  - {url: 'http://y/', name: Le Monde}\n"
    )
    assert [(feed.name, feed.name_en) for feed in cfg.feeds] == [
        ("南岭时报", "Nanling Times"),
        ("Le Monde", None),
    ]


def test_compute_defaults_to_local_and_takes_a_ray_address():
    assert config.parse("").settings.compute.engine == "local"
    compute = config.parse(
        "settings: {compute: {engine: ray, address: 'ray-head:6379', embed_actors: 8}}"
    ).settings.compute
    assert (compute.engine, compute.address, compute.embed_actors) == ("ray", "ray-head:6379", 8)
    assert config.parse("settings: {compute: {address: '[::1]:6379'}}").settings.compute.address


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        config.load(tmp_path / "nope.yaml")


# --- every number's range (issue 10, section 4) ------------------------------------------------


def settings_places() -> dict[type, list[str]]:
    """Every dataclass feeds.yaml is read into, and where its keys go, found from the
    declarations: Settings under `settings:`, each dataclass-valued field of Settings under
    `settings: <field>:`, and Feed as an entry of `feeds:`."""
    places: dict[type, list[str]] = {config.Settings: ["settings"], config.Feed: ["feeds"]}
    for spec in dataclasses.fields(config.Settings):
        if dataclasses.is_dataclass(spec.default_factory):
            places[spec.default_factory] = ["settings", spec.name]
    return places


def numeric_fields() -> list[tuple[type, dataclasses.Field]]:
    found = []
    for cls in settings_places():
        for spec in dataclasses.fields(cls):
            kind = str(spec.type).replace(" ", "").removesuffix("|None")
            if kind in ("int", "float"):
                found.append((cls, spec))
    return found


def document(cls: type, name: str, value: Any) -> str:
    """feeds.yaml text with `name: value` in the place `cls` is read from."""
    place = settings_places()[cls]
    if place == ["feeds"]:
        entry = {"url": "http://a.example/rss", "name": "A", name: value}
        return yaml.safe_dump({"feeds": [entry]})
    data: dict[str, Any] = {name: value}
    for key in reversed(place):
        data = {key: data}
    return yaml.safe_dump(data)  # nan and inf as YAML's .nan and .inf


def trials(spec: dataclasses.Field) -> list[tuple[Any, bool]]:
    """(value, accepted) at and beyond the field's declared bounds."""
    bounds = spec.metadata["bounds"]
    whole = str(spec.type).startswith("int")
    step = 1 if whole else 0.001
    cases = [
        (bounds.high, True),
        (bounds.high + step, False),
        (2**63, False),
        (-(2**63) - 1, False),
        (10**400, False),
        (float("nan"), False),
        (float("inf"), False),
        (float("-inf"), False),
    ]
    if bounds.low_open:
        cases += [(bounds.low, False), (bounds.low + step, True)]
    else:
        cases += [(bounds.low, True), (bounds.low - step, False)]
    if whole:
        cases = [
            (int(v) if isinstance(v, float) and v == v and abs(v) != float("inf") else v, ok)
            for v, ok in cases
        ]
    return cases


def test_every_number_in_feeds_yaml_declares_its_range():
    fields = numeric_fields()
    assert len(fields) >= 26  # the numbers of this version, at least: discovery works
    undeclared = [
        f"{cls.__name__}.{spec.name}" for cls, spec in fields if "bounds" not in spec.metadata
    ]
    assert not undeclared, f"declare a range with config.bounded(...) for {undeclared}"


@pytest.mark.parametrize(
    ("cls", "spec"), numeric_fields(), ids=[f"{c.__name__}.{s.name}" for c, s in numeric_fields()]
)
def test_every_number_in_feeds_yaml_is_refused_beyond_its_range(cls, spec):
    for value, accepted in trials(spec):
        text = document(cls, spec.name, value)
        if accepted:
            parsed = config.parse(text)
            holder = parsed.feeds[0] if cls is config.Feed else parsed.settings
            for key in settings_places()[cls][1:]:
                holder = getattr(holder, key)
            assert getattr(holder, spec.name) == value
            continue
        with pytest.raises(ConfigError) as info:
            config.parse(text)
        message = str(info.value)
        assert spec.name in message and "\n" not in message, (value, message)
        assert len(message) < 200, message  # a 400-digit number is not quoted whole
