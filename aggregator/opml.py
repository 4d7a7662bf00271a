"""Convert between feeds.yaml and OPML subscription lists.

Import edits feeds.yaml in place with ruamel.yaml, so the user's comments and ordering survive,
and validates the result before writing: an OPML file that would make feeds.yaml invalid changes
nothing.
"""

from __future__ import annotations

import io
from collections.abc import MutableMapping, MutableSequence
from pathlib import Path
from xml.etree.ElementTree import Element, SubElement, indent, register_namespace, tostring

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from aggregator import config as config_module
from aggregator.config import Config
from aggregator.errors import UserError

# OPML has no attribute for a second, English name: the OPML 2.0 spec lets a file carry
# attributes of its own in a namespace, so the English name (feeds.yaml `name_en`) travels as
# `aggregator:nameEn` and readers that do not know it keep `text`, the original name.
NAMESPACE = "https://github.com/news-aggregator/news-aggregator/opml"
NAME_EN = f"{{{NAMESPACE}}}nameEn"
COUNTRY = f"{{{NAMESPACE}}}country"  # nor one for the outlet's country (feeds.yaml `country`)
register_namespace("aggregator", NAMESPACE)


def read_outlines(opml_path: Path) -> list[dict[str, str]]:
    """Every outline with an xmlUrl, as feed entries (url, name, optional name_en, language,
    country, homepage)."""
    try:
        root = safe_xml.parse(opml_path).getroot()
    except FileNotFoundError:
        raise UserError(f"{opml_path}: file not found") from None
    except (safe_xml.ParseError, DefusedXmlException) as exc:
        raise UserError(f"{opml_path}: not a valid OPML file ({exc})") from None
    if root.tag != "opml":
        raise UserError(f"{opml_path}: not an OPML file (root element is <{root.tag}>)")
    entries = []
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        if not url:
            continue
        entry = {"url": url, "name": (outline.get("title") or outline.get("text") or url).strip()}
        name_en = (outline.get(NAME_EN) or "").strip()
        if name_en:
            entry["name_en"] = name_en
        language = (outline.get("language") or "").strip().lower().split("-")[0]
        if language:
            entry["language"] = language
        country = (outline.get(COUNTRY) or "").strip().upper()
        if country:
            entry["country"] = country
        homepage = (outline.get("htmlUrl") or "").strip()
        if homepage:
            entry["homepage"] = homepage
        entries.append(entry)
    return entries


def import_into(
    feeds_path: Path, opml_path: Path, language: str | None = None, country: str | None = None
) -> int:
    """Append the OPML's feeds that feeds.yaml lacks. Return how many were added. `language`
    and `country` apply to outlines that carry none; with nothing to add, nothing is written."""
    outlines = read_outlines(opml_path)
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    try:
        text = feeds_path.read_text(encoding="utf-8") if feeds_path.exists() else ""
        document = yaml.load(text) if text.strip() else None
    except YAMLError as exc:
        raise UserError(f"{feeds_path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if text.strip():
        # The file as it is must be valid first: the edit below assumes its shape (a mapping
        # whose feeds are a list of mappings), and a broken file is the user's to fix.
        config_module.parse(text, source=str(feeds_path))
    if document is None:
        document = yaml.load("feeds: []\n")
    if not isinstance(document, MutableMapping):  # (parse agreed, but ruamel read otherwise)
        raise UserError(f"{feeds_path}: top level must be a mapping with 'feeds:'")
    if document.get("feeds") is None:
        document["feeds"] = []
    feeds = document["feeds"]
    if not isinstance(feeds, MutableSequence) or not all(
        isinstance(feed, MutableMapping) for feed in feeds
    ):
        raise UserError(f"{feeds_path}: 'feeds' must be a list of mappings")
    known = {str(feed.get("url", "")).rstrip("/") for feed in document["feeds"]}
    added = 0
    for entry in outlines:
        if entry["url"].rstrip("/") in known:
            continue
        if language and "language" not in entry:
            entry["language"] = language
        if country and "country" not in entry:
            entry["country"] = country
        document["feeds"].append(entry)
        known.add(entry["url"].rstrip("/"))
        added += 1
    if not added:
        return 0  # feeds.yaml stays byte for byte as it was
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    new_text = buffer.getvalue()
    # Validate before writing: nothing is written when the result would be invalid.
    config_module.parse(new_text, source=f"{feeds_path} (after importing {opml_path})")
    feeds_path.write_text(new_text, encoding="utf-8")
    return added


def export(config: Config) -> str:
    """The feeds as an OPML 2.0 document, one outline per feed, grouped by language."""
    opml = Element("opml", version="2.0")
    head = SubElement(opml, "head")
    SubElement(head, "title").text = "News aggregator feeds"
    body = SubElement(opml, "body")
    groups: dict[str, Element] = {}
    for feed in config.feeds:
        key = feed.language or "und"
        if key not in groups:
            groups[key] = SubElement(body, "outline", text=f"Language: {key}")
        attributes = {"type": "rss", "text": feed.name, "title": feed.name, "xmlUrl": feed.url}
        if feed.name_en:
            attributes[NAME_EN] = feed.name_en
        if feed.homepage:
            attributes["htmlUrl"] = feed.homepage
        if feed.language:
            attributes["language"] = feed.language
        if feed.country:
            attributes[COUNTRY] = feed.country
        SubElement(groups[key], "outline", attributes)
    indent(opml)  # one outline a line, for a person reading or diffing the file
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(opml, encoding="unicode") + "\n"
