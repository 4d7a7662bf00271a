"""Language and country badges, drawn so that one is never taken for the other (issue 13 §8).

Two-letter codes collide: "uk" is Ukrainian while "GB" is the United Kingdom, "ca" is Catalan
and "CA" Canada, an Argentinian outlet's "AR" is not Arabic. So the two kinds differ in every
way a reader can see and hear:

- a language is its ISO 639-1 code in lower case, as the standard writes it, on a filled,
  rounded badge; its name is the hover text and its accessible name ("language: Ukrainian");
- a country is its flag and its ISO 3166-1 code in upper case, on a square, outlined badge;
  its name is the hover text and its accessible name ("country: United Kingdom"). The flag is
  an emoji built from the code (regional indicator letters): where a system has no flag glyphs
  it shows the two letters boxed, still unlike a language badge.

The badges carry role="img" so that the accessible name replaces the two letters for a screen
reader. Every page's footer (templates/_footer.html) has the legend.
"""

from __future__ import annotations

from markupsafe import Markup

from aggregator.countries import COUNTRY_NAMES
from aggregator.publish.display import language_name

REGIONAL_A = 0x1F1E6  # REGIONAL INDICATOR SYMBOL LETTER A


def country_name(code: str | None) -> str:
    if not code:
        return "unknown country"
    return COUNTRY_NAMES.get(code.upper(), code.upper())


def flag(code: str | None) -> str:
    """The flag emoji of a two-letter country code; "" when it is not two letters A-Z."""
    code = (code or "").upper()
    if len(code) != 2 or not all("A" <= letter <= "Z" for letter in code):
        return ""
    return "".join(chr(REGIONAL_A + ord(letter) - ord("A")) for letter in code)


def language(code: str | None, first: bool = False, missing: bool = False) -> Markup:
    """One language badge; `first`: the language that carried the story first, `missing`: a
    language that did not cover it (outlined)."""
    name = language_name(code)
    label = f"language: {name}"
    if first:
        label += ", carried it first"
    if missing:
        label += ", did not cover it"
    kind = "badge lang" + (" first" if first else "") + (" missing" if missing else "")
    return Markup(
        '<span class="{}" role="img" title="{}" aria-label="{}" data-code="{}">{}</span>'
    ).format(kind, label.removeprefix("language: "), label, code or "", (code or "??").lower())


def country(code: str | None) -> Markup:
    """One country badge: flag and upper-case code."""
    code = (code or "").upper()
    name = country_name(code)
    return Markup(
        '<span class="badge country" role="img" title="{} ({})" aria-label="country: {}" '
        'data-code="{}"><span class="flag" aria-hidden="true">{}</span>{}</span>'
    ).format(name, code or "?", name, code, flag(code), code or "??")


def languages(codes: list[str], first: str | None = None) -> Markup:
    return Markup(" ").join(language(code, first=code == first) for code in codes)


def countries(codes: list[str]) -> Markup:
    return Markup(" ").join(country(code) for code in codes)
