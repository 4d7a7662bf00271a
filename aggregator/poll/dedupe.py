"""Which stored article an entry is: URL normalisation and content keys.

An article is the same as one already stored when, within its feed, it has the same GUID, or
its normalised URL (`url_key`) matches, or the hash of its title and text matches; across feeds,
when the normalised URL matches. The unique indexes in store.py enforce all of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit

# Query parameters that identify a campaign or a click, never the page.
# fmt: off
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
    "igshid", "mc_cid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok", "ref_src", "ref_url", "cmpid",
    "ocid", "smid", "smtyp", "xtor", "at_medium", "at_campaign", "at_custom1", "at_custom2",
    "at_custom3", "at_custom4", "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname",
    "ns_fee", "__twitter_impression", "spm", "share_source", "wt.mc_id", "wt_mc_id", "icid",
    "ito", "rss_source",
})
# fmt: on
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "vero_", "oly_")
DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters that never need percent-encoding in a path (RFC 3986 unreserved + sub-delims + :@/).
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_ESCAPE = re.compile(r"%([0-9a-fA-F]{2})")
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1 (NEL, U+0085, is whitespace)


def http_url(url: str | None, base: str | None = None) -> str | None:
    """The absolute http(s) URL a feed links to, or None (mailto:, javascript:, garbage...)."""
    if not url or not isinstance(url, str):
        return None
    url = url.strip().replace(" ", "%20")
    if _CONTROL.search(url):
        return None
    if base and not url.lower().startswith(("http://", "https://")):  # urljoin is slow
        try:
            url = urljoin(base, url)
        except ValueError:
            return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a port that isn't a number)
    except ValueError:
        return None
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
        return None
    if any(char.isspace() for char in parts.hostname):  # no host has one; a key must not either
        return None
    return url


def url_key(url: str | None) -> str | None:
    """A key equal for URLs that name the same page: no scheme, fragment, tracking parameters,
    default port or 'www.', lower-case host, sorted query, normalised path and escapes.

    It is a dedupe key, not a link: store the original URL to link to.
    """
    url = http_url(url)
    if url is None:
        return None
    parts = urlsplit(url)
    host = _host(parts.hostname or "")
    if not host:
        return None
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    port = parts.port
    if port is not None and port != DEFAULT_PORTS[parts.scheme.lower()]:
        host = f"{host}:{port}"
    path = _path(parts.path)
    query = _query(parts.query)
    return host + path + (f"?{query}" if query else "")


def _host(hostname: str) -> str:
    host = hostname.lower().rstrip(".")
    # Unicode host names key as their punycode; hosts IDNA can't encode keep the lower-case form.
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii")
    return host.removeprefix("www.")


def _path(path: str) -> str:
    path = _remove_dot_segments(path or "/")
    # RFC 3986 6.2.2: "%7e", "%7E" and "~" give one key, "é" and "%C3%A9" too; "%2F" stays.
    path = _ESCAPE.sub(_decode_unreserved, path)
    return quote(path, safe=_PATH_SAFE)


def _decode_unreserved(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if _UNRESERVED.match(char) else match.group(0).upper()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, so "/a/./b/../c" and "/a/c" give one key."""
    output: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if len(output) > 1:
                output.pop()
        elif segment != ".":
            output.append(segment)
    if path.endswith(("/.", "/..")):
        output.append("")
    result = "/".join(output)
    return result if result.startswith("/") else "/" + result


def _query(query: str) -> str:
    pairs = [
        (name, value)
        for name, value in parse_qsl(query, keep_blank_values=True)
        if not _is_tracking(name)
    ]
    return urlencode(sorted(pairs), doseq=True)


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def content_hash(title: str | None, text: str | None) -> str:
    """Hash of what a reader sees (title and plain-text summary), whitespace and case folded."""
    canonical = " ".join(f"{title or ''}\n{text or ''}".split()).casefold()
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def body_hash(body: bytes) -> str:
    """Hash of a whole fetched feed, to skip a body seen before when validators lie."""
    return hashlib.sha256(body).hexdigest()
