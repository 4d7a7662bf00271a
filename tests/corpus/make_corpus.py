"""Generate the edge-case feed corpus in tests/fixtures/corpus/ (committed; rerun to rebuild).

    .venv/bin/python -m tests.corpus.make_corpus          # rewrite the corpus
    .venv/bin/python -m tests.corpus.make_corpus --check  # exit 1 if the files are out of date

Every feed here was written for this project. Each file is small; together they cover every
feed format the poller claims to read (RSS 0.90, 0.91, 0.92, 1.0, 2.0, Atom 0.3, 1.0), text
encodings and conflicting charset declarations, XML and HTML entities, ill-formed XML, hostile
markup for the sanitiser, namespaces, broken dates, missing fields, things that are not feeds
at all, and XML entity attacks. manifest.json records, per file, the Content-Type to serve it
with and what a correct poller must store from it (see tests/test_reliability_corpus.py).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from html import escape as _html_escape
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "corpus"
SITE = "http://news.example.com"
FORMATS = ("rss090", "rss091", "rss092", "rss10", "rss20", "atom03", "atom10")
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC_NS = "http://purl.org/dc/elements/1.1/"
CONTENT_TYPES = {
    "rss090": "application/rdf+xml",
    "rss091": "application/rss+xml",
    "rss092": "application/rss+xml",
    "rss10": "application/rdf+xml",
    "rss20": "application/rss+xml",
    "atom03": "application/atom+xml",
    "atom10": "application/atom+xml",
}
UNICODE_SAMPLE = "Ünïcödé ✓ 中文 العربية עברית 😀"


class Raw(str):
    """An XML fragment inserted as it is (everything else is escaped)."""


@dataclass
class Item:
    title: str | None = None
    summary: str | None = None  # HTML (escaped into the feed, as feeds carry it)
    link: str | None = None
    guid: str | None = None
    date: str | None = None  # inserted verbatim into the format's date element
    extra: str = ""  # raw XML appended inside the item


@dataclass
class Expect:
    """What a correct poller stores from one file."""

    articles: int | None = None  # exactly this many articles
    min_articles: int = 0
    max_articles: int | None = None
    feed_ok: bool | None = None  # True: the fetch is recorded without error; False: with one
    expect_text: list[str] = field(default_factory=list)  # in some stored title/summary
    forbid_text: list[str] = field(default_factory=list)  # in no stored column
    max_stored_chars: int | None = None  # no stored column longer (entity expansion)


@dataclass
class Case:
    name: str
    body: bytes
    content_type: str
    expect: Expect


def esc(value: str | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, Raw) else _html_escape(value, quote=True)


# --- one renderer per feed format -----------------------------------------------------------


def _el(tag: str, value: str | None, attrs: str = "") -> str:
    return "" if value is None else f"<{tag}{attrs}>{esc(value)}</{tag}>"


def render(
    fmt: str,
    items: list[Item],
    *,
    title: str = "Corpus feed",
    head: str = "",
    channel_extra: str = "",
    root_attrs: str = "",
    language: str | None = None,
) -> str:
    """The whole document as text (the caller encodes it). `head` replaces the XML
    declaration (so DOCTYPEs and odd declarations can be tested)."""
    body = RENDERERS[fmt](items, title, channel_extra, root_attrs, language)
    return (head or '<?xml version="1.0" encoding="utf-8"?>') + "\n" + body


def _rdf(
    items: list[Item], title: str, extra: str, attrs: str, lang: str | None, default_ns: str
) -> str:
    abouts = [i.guid or i.link or f"{SITE}/item/{n}" for n, i in enumerate(items)]
    seq = "".join(f'<rdf:li rdf:resource="{esc(a)}"/>' for a in abouts)
    entries = "".join(
        f'<item rdf:about="{esc(about)}">{_el("title", i.title)}{_el("link", i.link)}'
        f"{_el('description', i.summary)}{_el('dc:date', i.date)}{i.extra}</item>\n"
        for about, i in zip(abouts, items, strict=True)
    )
    return (
        f'<rdf:RDF xmlns:rdf="{RDF_NS}" xmlns="{default_ns}" xmlns:dc="{DC_NS}"{attrs}>\n'
        f'<channel rdf:about="{SITE}/"><title>{esc(title)}</title><link>{SITE}/</link>'
        f"<description>Corpus</description>{_el('dc:language', lang)}"
        f"<items><rdf:Seq>{seq}</rdf:Seq></items>{extra}</channel>\n{entries}</rdf:RDF>"
    )


def _rss090(items: list[Item], title: str, extra: str, attrs: str, lang: str | None) -> str:
    return _rdf(items, title, extra, attrs, lang, "http://my.netscape.com/rdf/simple/0.9/")


def _rss10(items: list[Item], title: str, extra: str, attrs: str, lang: str | None) -> str:
    return _rdf(items, title, extra, attrs, lang, "http://purl.org/rss/1.0/")


def _rss(version: str) -> Callable[..., str]:
    def render_rss(items: list[Item], title: str, extra: str, attrs: str, lang: str | None) -> str:
        entries = "".join(
            f"<item>{_el('title', i.title)}{_el('link', i.link)}{_el('description', i.summary)}"
            f"{_el('guid', i.guid, _permalink(i.guid))}{_el('pubDate', i.date)}{i.extra}</item>\n"
            for i in items
        )
        return (
            f'<rss version="{version}" xmlns:dc="{DC_NS}"{attrs}>\n<channel>'
            f"<title>{esc(title)}</title><link>{SITE}/</link><description>Corpus</description>"
            f"{_el('language', lang)}{extra}\n{entries}</channel>\n</rss>"
        )

    return render_rss


def _permalink(guid: str | None) -> str:
    return "" if guid is None or guid.startswith("http") else ' isPermaLink="false"'


def _atom03(items: list[Item], title: str, extra: str, attrs: str, lang: str | None) -> str:
    entries = "".join(
        f"<entry>{_el('title', i.title)}"
        + (f'<link rel="alternate" type="text/html" href="{esc(i.link)}"/>' if i.link else "")
        + _el("id", i.guid)
        + _el("issued", i.date)
        + _el("modified", i.date)
        + _el("summary", i.summary, ' type="text/html" mode="escaped"')
        + f"{i.extra}</entry>\n"
        for i in items
    )
    lang_attr = f' xml:lang="{lang}"' if lang else ""
    return (
        f'<feed version="0.3" xmlns="http://purl.org/atom/ns#" xmlns:dc="{DC_NS}"{lang_attr}'
        f'{attrs}>\n<title>{esc(title)}</title><link rel="alternate" type="text/html" '
        f'href="{SITE}/"/><modified>2026-11-20T10:00:00Z</modified>{extra}\n{entries}</feed>'
    )


def _atom10(items: list[Item], title: str, extra: str, attrs: str, lang: str | None) -> str:
    entries = "".join(
        f"<entry>{_el('title', i.title)}"
        + (f'<link rel="alternate" href="{esc(i.link)}"/>' if i.link else "")
        + _el("id", i.guid)
        + _el("published", i.date)
        + _el("updated", i.date)
        + _el("summary", i.summary, ' type="html"')
        + f"{i.extra}</entry>\n"
        for i in items
    )
    lang_attr = f' xml:lang="{lang}"' if lang else ""
    return (
        f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:dc="{DC_NS}"{lang_attr}{attrs}>\n'
        f'<title>{esc(title)}</title><id>{SITE}/</id><link href="{SITE}/"/>'
        f"<updated>2026-11-20T10:00:00Z</updated>{extra}\n{entries}</feed>"
    )


RENDERERS: dict[str, Callable[..., str]] = {
    "rss090": _rss090,
    "rss091": _rss("0.91"),
    "rss092": _rss("0.92"),
    "rss10": _rss10,
    "rss20": _rss("2.0"),
    "atom03": _atom03,
    "atom10": _atom10,
}


def date_for(fmt: str, rfc822: str, w3c: str) -> str:
    """The same moment in the spelling the format uses."""
    return rfc822 if fmt in ("rss091", "rss092", "rss20") else w3c


def story(n: int, fmt: str, **changes: str | None) -> Item:
    """A plain, valid item number n."""
    item = Item(
        title=f"Harbour council approves plan number {n}",
        summary=f"<p>The council voted on plan <b>{n}</b> for the harbour front on Friday.</p>",
        link=f"{SITE}/{fmt}/story-{n}.html",
        guid=f"{SITE}/{fmt}/story-{n}.html",
        date=date_for(fmt, "Fri, 20 Nov 2026 10:00:00 +0000", "2026-11-20T10:00:00Z"),
    )
    for key, value in changes.items():
        setattr(item, key, value)
    return item


def unique(text: str, name: str) -> str:
    """Links and GUIDs of one file, made its own: the poller rightly stores a URL seen in an
    earlier feed only once, and every file must be checked on its own articles."""
    return text.replace(f"{SITE}/", f"{SITE}/{name}/")


def feed_case(
    name: str,
    fmt: str,
    items: list[Item],
    expect: Expect,
    encoding: str = "utf-8",
    content_type: str | None = None,
    **render_options: str,
) -> Case:
    text = unique(render(fmt, items, **render_options), name)
    return Case(name, text.encode(encoding), content_type or CONTENT_TYPES[fmt], expect)


# --- cases that apply to every format --------------------------------------------------------


def structure_cases(fmt: str) -> Iterator[Case]:
    def case(label: str, items: list[Item], expect: Expect, **options: str) -> Case:
        return feed_case(f"{fmt}-{label}", fmt, items, expect, **options)

    yield case(
        "basic",
        [story(n, fmt) for n in range(3)],
        Expect(articles=3, feed_ok=True, expect_text=["plan number 2"]),
    )
    yield case("single-item", [story(0, fmt)], Expect(articles=1, feed_ok=True))
    yield case("no-items", [], Expect(articles=0, feed_ok=True))
    yield case(
        "many-items",
        [story(n, fmt) for n in range(200)],
        Expect(articles=200, feed_ok=True, expect_text=["plan number 199"]),
    )
    yield case(
        "no-title",
        [story(0, fmt, title=None)],
        Expect(articles=1, feed_ok=True, expect_text=["for the harbour front"]),
    )
    yield case(
        "no-link",
        [story(0, fmt, link=None)],
        Expect(articles=1, feed_ok=True, expect_text=["plan number 0"]),
    )
    yield case(
        "no-link-no-guid",
        [story(0, fmt, link=None, guid=None), story(1, fmt)],
        Expect(articles=2, feed_ok=True),
    )
    yield case(
        "link-only", [Item(link=f"{SITE}/{fmt}/bare.html")], Expect(articles=1, feed_ok=True)
    )
    yield case("empty-item", [Item(), story(1, fmt)], Expect(articles=1, feed_ok=True))
    yield case(
        "whitespace-title",
        [story(0, fmt, title="   \n\t  "), story(1, fmt, title="\u00a0\u200b ")],
        Expect(articles=2, feed_ok=True),
    )
    yield case(
        "duplicate-guid-different-content",
        [
            story(0, fmt),
            story(
                0, fmt, title="Corrected: council approves plan", summary="A correction was issued."
            ),
        ],
        Expect(min_articles=1, max_articles=2, feed_ok=True),
    )
    yield case(
        "duplicate-identical-items",
        [story(0, fmt), story(0, fmt)],
        Expect(articles=1, feed_ok=True),
    )
    yield case(
        "same-link-different-guid",
        [story(0, fmt), story(1, fmt, link=f"{SITE}/{fmt}/story-0.html?utm_source=rss")],
        Expect(min_articles=1, max_articles=2, feed_ok=True),
    )
    yield case(
        "relative-links",
        [
            story(0, fmt, link=f"/relative/{fmt}/story.html"),
            story(1, fmt, link=f"{fmt}-story-1.html"),
        ],
        Expect(articles=2, feed_ok=True),
    )
    yield case(
        "non-http-links",
        [
            story(0, fmt, link="javascript:alert(document.cookie)", guid=None),
            story(1, fmt, link="mailto:editor@news.example.com", guid=None),
            story(2, fmt, link="ftp://files.news.example.com/x", guid=None),
            story(3, fmt, link="data:text/html,<script>alert(1)</script>", guid=None),
            story(4, fmt, link="  JaVaScRiPt:alert(1)", guid=None),
            story(5, fmt, link="file:///etc/passwd", guid=None),
        ],
        Expect(articles=6, feed_ok=True, forbid_text=["javascript:", "file:///"]),
    )
    yield case(
        "iri-link",
        [story(0, fmt, link=f"{SITE}/actualités/été 2026/ünïcode.html")],
        Expect(articles=1, feed_ok=True),
    )
    yield case(
        "long-fields",
        [
            story(
                0,
                fmt,
                title="Very long headline " * 1000,
                summary="<p>" + "A long paragraph of news. " * 2000 + "</p>",
            )
        ],
        Expect(articles=1, feed_ok=True),
    )


def text_cases(fmt: str) -> Iterator[Case]:
    def case(label: str, items: list[Item], expect: Expect, **options: str) -> Case:
        return feed_case(f"{fmt}-{label}", fmt, items, expect, **options)

    yield case(
        "numeric-char-refs",
        [story(0, fmt, title=Raw("Caf&#233; &#x4E2D;&#25991; &#128512; news"))],
        Expect(articles=1, feed_ok=True, expect_text=["Café 中文 😀 news"]),
    )
    yield case(
        "xml-entities-in-title",
        [story(0, fmt, title="Fish & Chips: \"5 < 6\" and 'quotes'")],
        Expect(articles=1, feed_ok=True, expect_text=["Fish & Chips"]),
    )
    yield case(
        "html-named-entities",
        [story(0, fmt, title=Raw("Caf&eacute; d&eacute;j&agrave; vu &mdash; &nbsp;ok"))],
        Expect(articles=1, expect_text=["Café déjà vu"]),
    )
    yield case(
        "double-escaped-html",
        [story(0, fmt, summary="&lt;p&gt;Double &lt;b&gt;escaped&lt;/b&gt; text&lt;/p&gt;")],
        Expect(
            articles=1,
            feed_ok=True,
            expect_text=["Double escaped text"],
            forbid_text=["&lt;", "<b>escaped"],
        ),
    )
    yield case(
        "cdata-summary",
        [story(0, fmt, summary=Raw("<![CDATA[<p>In <i>CDATA</i> we trust</p>]]>"))],
        Expect(articles=1, feed_ok=True, expect_text=["In CDATA we trust"]),
    )
    yield case(
        "cdata-split",
        [story(0, fmt, summary=Raw("<![CDATA[<p>split ]]]]><![CDATA[> section</p>]]>"))],
        Expect(articles=1, feed_ok=True),
    )
    yield case(
        "html-in-title",
        [story(0, fmt, title="<b>Bold</b> <i>title</i> here")],
        Expect(articles=1, feed_ok=True, expect_text=["Bold title here"]),
    )
    yield case(
        "control-characters",
        [story(0, fmt, title=Raw("Bell\x07 and tab\x0b here &#x1; end")), story(1, fmt)],
        Expect(min_articles=1),
    )
    yield case(
        "unicode-text",
        [story(0, fmt, title=UNICODE_SAMPLE)],
        Expect(articles=1, feed_ok=True, expect_text=[UNICODE_SAMPLE]),
    )
    yield case(
        "bidi-and-zero-width",
        [story(0, fmt, title="abc\u202edcba\u202c \u200bzero\ufeffwidth \u0301combining")],
        Expect(articles=1, feed_ok=True),
    )
    yield case(
        "whitespace-galore",
        [story(0, fmt, title="\n\n   Spaced \t\t out   \r\n title  \n")],
        Expect(articles=1, feed_ok=True, expect_text=["Spaced out title"]),
    )


def illformed_cases(fmt: str) -> Iterator[Case]:
    good = render(fmt, [story(0, fmt), story(1, fmt)])

    def case(label: str, text: str | bytes, expect: Expect) -> Case:
        body = text if isinstance(text, bytes) else text.encode("utf-8")
        name = f"{fmt}-{label}"
        body = body.replace(f"{SITE}/".encode(), f"{SITE}/{name}/".encode())
        return Case(name, body, CONTENT_TYPES[fmt], expect)

    closing = "</item>" if "</item>" in good else "</entry>"
    yield case("unclosed-item", good.replace(closing, "", 1), Expect())
    yield case("mismatched-tags", good.replace(closing, "</wrong>", 1), Expect())
    yield case("truncated", good[: len(good) * 2 // 3], Expect())
    yield case("bare-ampersand", good.replace("Harbour council", "AT&T and P&O council"), Expect())
    yield case("leading-garbage", "\n\n  junk before the declaration\n" + good, Expect())
    yield case(
        "invalid-utf8", good.encode("utf-8").replace(b"Harbour", b"Harb\xff\xfeour"), Expect()
    )
    yield case("unquoted-attribute", good.replace("<title>", "<title lang=en>", 1), Expect())
    yield case(
        "undeclared-prefix",
        good.replace(closing, f"<foo:bar>x</foo:bar>{closing}", 1),
        Expect(min_articles=1),
    )
    yield case("unterminated-comment", good + "\n<!-- never closed", Expect(min_articles=1))
    yield case("two-roots", good + "\n" + good.split("\n", 1)[1], Expect())
    yield case("nul-bytes", good.encode("utf-8").replace(b"council", b"coun\x00cil"), Expect())


XSS_PAYLOADS = {
    "script": "<script>alert('xss')</script>Script payload",
    "script-mixed-case": "<ScRiPt>alert(1)</sCrIpT>Mixed case",
    "script-nested": "<scr<script>ipt>alert(1)</scr</script>ipt>Nested",
    "script-unclosed": "Unclosed <script>alert(1)",
    "img-onerror": "<img src=x onerror=alert(1)>Image error",
    "img-onerror-quoted": '<img src="http://x.example/a.png" onerror="alert(1)">Quoted',
    "svg-onload": "<svg onload=alert(1)><circle r=1 /></svg>SVG",
    "iframe": '<iframe src="javascript:alert(1)"></iframe>Iframe',
    "iframe-srcdoc": '<iframe srcdoc="<script>alert(1)</script>"></iframe>Srcdoc',
    "js-href": '<a href="javascript:alert(1)">click</a> JS link',
    "js-href-entity": '<a href="&#106;avascript:alert(1)">click</a> Entity link',
    "js-href-tab": '<a href="jav&#x09;ascript:alert(1)">click</a> Tab link',
    "js-href-spaces": '<a href="  javascript:alert(1)">click</a> Spaced link',
    "vbscript": '<a href="vbscript:msgbox(1)">click</a> VB link',
    "data-href": '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a> Data',
    "style-attr": '<p style="background:url(javascript:alert(1))">Styled</p>',
    "style-tag": "<style>body{background:url('javascript:alert(1)')}</style>Style tag",
    "object": '<object data="javascript:alert(1)"></object>Object',
    "embed": '<embed src="javascript:alert(1)">Embed',
    "form": '<form action="javascript:alert(1)"><button>go</button></form>Form',
    "formaction": '<button formaction="javascript:alert(1)">x</button>Formaction',
    "meta-refresh": '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">Meta',
    "base-href": '<base href="javascript:alert(1)//">Base',
    "link-import": '<link rel="import" href="http://evil.example/x.html">Link',
    "math-xlink": '<math><mi xlink:href="javascript:alert(1)">x</mi></math>Math',
    "svg-xlink": '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>SVG link',
    "noscript-mutation": '<noscript><p title="</noscript><img src=x onerror=alert(1)>">'
    "</p></noscript>Mutation",
    "comment-conditional": "<!--[if IE]><script>alert(1)</script><![endif]-->Conditional",
    "event-on-body": "<body onload=alert(1)>Body",
    "details-ontoggle": "<details open ontoggle=alert(1)>Details</details>",
    "template": "<template><script>alert(1)</script></template>Template",
    "double-escaped-script": "&lt;script&gt;alert(1)&lt;/script&gt;Double escaped",
    "img-src-js": '<img src="javascript:alert(1)">Img src',
    "a-target-blank": '<a href="http://ok.example/" target="_blank">ok link</a> Target',
}


def sanitise_cases(fmt: str) -> Iterator[Case]:
    names = sorted(XSS_PAYLOADS)
    groups = [names[i : i + 9] for i in range(0, len(names), 9)]
    for number, group in enumerate(groups):
        items = [
            story(n, fmt, summary=f"<p>Lead {name}.</p>{XSS_PAYLOADS[name]}")
            for n, name in enumerate(group)
        ]
        yield feed_case(
            f"{fmt}-xss-summary-{number}", fmt, items, Expect(articles=len(items), feed_ok=True)
        )
    in_title = [story(n, fmt, title=XSS_PAYLOADS[name]) for n, name in enumerate(names[:9])]
    yield feed_case(f"{fmt}-xss-title", fmt, in_title, Expect(articles=9, feed_ok=True))
    cdata = [
        story(
            0,
            fmt,
            summary=Raw(
                "<![CDATA[<script>alert(1)</script><img src=x onerror=alert(1)>CDATA payload]]>"
            ),
        )
    ]
    yield feed_case(
        f"{fmt}-xss-cdata",
        fmt,
        cdata,
        Expect(articles=1, feed_ok=True, expect_text=["CDATA payload"]),
    )
    author = [
        story(
            0, fmt, extra=Raw("<dc:creator>&lt;script&gt;alert(1)&lt;/script&gt;Eve</dc:creator>")
        )
    ]
    yield feed_case(f"{fmt}-xss-author", fmt, author, Expect(articles=1, feed_ok=True))


def namespace_cases(fmt: str) -> Iterator[Case]:
    dc = Raw(
        "<dc:creator>Ana Ruiz</dc:creator><dc:language>es</dc:language>"
        "<dc:date>2026-11-19T08:30:00+01:00</dc:date><dc:subject>Local</dc:subject>"
    )
    yield feed_case(
        f"{fmt}-dublin-core",
        fmt,
        [story(0, fmt, extra=dc, date=None)],
        Expect(articles=1, feed_ok=True),
    )
    encoded = Raw(
        '<content:encoded xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        "<![CDATA[<p>Full text <script>alert(1)</script>here</p>]]></content:encoded>"
    )
    yield feed_case(
        f"{fmt}-content-encoded",
        fmt,
        [story(0, fmt, summary=None, extra=encoded)],
        Expect(articles=1, feed_ok=True),
    )
    media = Raw(
        '<media:content xmlns:media="http://search.yahoo.com/mrss/" '
        'url="http://img.example/a.jpg" medium="image"><media:title>Pic</media:title>'
        '</media:content><x:weird xmlns:x="urn:x-corpus">'
        "<x:payload>&lt;script&gt;alert(1)&lt;/script&gt;</x:payload></x:weird>"
    )
    yield feed_case(
        f"{fmt}-media-and-unknown-ns",
        fmt,
        [story(0, fmt, extra=media)],
        Expect(articles=1, feed_ok=True),
    )
    langs = [
        story(
            0,
            fmt,
            title="Le conseil municipal approuve le nouveau plan du port",
            extra=Raw("<dc:language>fr</dc:language>"),
        ),
        story(
            1,
            fmt,
            title="Der Stadtrat genehmigt den neuen Hafenplan am Freitag",
            extra=Raw("<dc:language>de-DE</dc:language>"),
        ),
    ]
    yield feed_case(
        f"{fmt}-item-languages", fmt, langs, Expect(articles=2, feed_ok=True), language="en"
    )
    yield feed_case(
        f"{fmt}-xml-base",
        fmt,
        [story(0, fmt, link="relative/one.html")],
        Expect(articles=1, feed_ok=True),
        root_attrs=f' xml:base="http://base.example.org/{fmt}/"',
    )


def date_cases(fmt: str) -> Iterator[Case]:
    spellings = [
        ("Sat, 01 Jan 0000 00:00:00 GMT", "0000-01-01T00:00:00Z"),
        ("Fri, 31 Dec 9999 23:59:59 GMT", "9999-12-31T23:59:59Z"),
        ("Mon, 01 Jan 2091 00:00:00 GMT", "2091-01-01T00:00:00Z"),
        ("Fri, 20 Nov 2026 10:00:00", "2026-11-20T10:00:00"),
        ("yesterday at noon", "not a date"),
        ("", ""),
        ("Fri, 20 Nov 26 10:00:00 EST", "26-11-20"),
        ("Thu, 01 Jan 1970 00:00:00 GMT", "1970-01-01T00:00:00Z"),
        ("ven., 20 nov. 2026 10:00:00 +0100", "2026-11-20T10:00:00+25:00"),
        ("Fri, 31 Feb 2026 10:00:00 GMT", "2026-02-31T10:00:00Z"),
        ("Fri, 20 Nov 2026 25:61:61 GMT", "2026-11-20T25:61:61Z"),
        ("0", "0"),
        ("Fri, 20 Nov 2026 10:00:00 PDT", "2026-11-20T10:00:00-07:00"),
    ]
    items = [story(n, fmt, date=date_for(fmt, rfc, w3c)) for n, (rfc, w3c) in enumerate(spellings)]
    yield feed_case(f"{fmt}-bad-dates", fmt, items, Expect(articles=len(items), feed_ok=True))


# --- cases for particular formats ------------------------------------------------------------

ENCODED_TEXTS = {
    "utf-8": UNICODE_SAMPLE,
    "utf-8-sig": UNICODE_SAMPLE,
    "utf-16": UNICODE_SAMPLE,  # Python writes a BOM
    "utf-16-le": UNICODE_SAMPLE,
    "utf-16-be": UNICODE_SAMPLE,
    "us-ascii": "Plain ASCII headline about the harbour",
    "iso-8859-1": "Café déjà vu à Zürich, señor",
    "windows-1252": "“Smart quotes” – and the € sign",
    "iso-8859-2": "Zażółć gęślą jaźń w Łodzi",
    "iso-8859-7": "Καλημέρα κόσμε, ειδήσεις",
    "iso-8859-9": "Güneş ışığı İstanbul'da",
    "windows-1251": "Привет, мир — новости дня",
    "koi8-r": "Привет мир, новости дня",
    "windows-1256": "مرحبا بالعالم أخبار اليوم",
    "iso-8859-8": "שלום עולם חדשות",
    "shift_jis": "こんにちは世界、今日のニュース",
    "euc-jp": "こんにちは世界、今日のニュース",
    "iso-2022-jp": "こんにちは世界、今日のニュース",
    "gb2312": "你好世界，今日新闻",
    "gb18030": "你好世界，今日新闻",
    "big5": "你好世界，今日新聞",
    "euc-kr": "안녕하세요 세계, 오늘의 뉴스",
    "tis-620": "สวัสดีชาวโลก ข่าววันนี้",
}


def _declared(encoding: str) -> str:
    if encoding == "utf-8-sig":
        return "utf-8"
    return "utf-16" if encoding.startswith("utf-16") else encoding


def encoding_cases(fmt: str) -> Iterator[Case]:
    for encoding, text in ENCODED_TEXTS.items():
        head = f'<?xml version="1.0" encoding="{_declared(encoding)}"?>'
        name = f"{fmt}-encoding-{encoding}"
        body = unique(render(fmt, [story(0, fmt, title=text)], head=head), name).encode(encoding)
        if encoding in ("utf-16-le", "utf-16-be"):
            body = ("\ufeff".encode(encoding)) + body  # a BOM, as real UTF-16 feeds carry
        yield Case(
            name, body, CONTENT_TYPES[fmt], Expect(articles=1, feed_ok=True, expect_text=[text])
        )


def charset_conflict_cases(fmt: str) -> Iterator[Case]:
    text = "Café déjà vu à Zürich"
    ct = CONTENT_TYPES[fmt]

    def case(label: str, head: str, encoding: str, content_type: str, expect: Expect) -> Case:
        name = f"{fmt}-charset-{label}"
        body = unique(render(fmt, [story(0, fmt, title=text)], head=head), name).encode(encoding)
        return Case(name, body, content_type, expect)

    latin1_decl = '<?xml version="1.0" encoding="iso-8859-1"?>'
    utf8_decl = '<?xml version="1.0" encoding="utf-8"?>'
    # The bytes are what they are: a correct reader ends up with the right text or an honest
    # error, never mojibake stored as if it were the headline.
    yield case(
        "header-utf8-doc-latin1",
        latin1_decl,
        "iso-8859-1",
        f"{ct}; charset=utf-8",
        Expect(max_articles=1, forbid_text=["Caf\ufffd"]),
    )
    yield case(
        "header-latin1-doc-utf8",
        utf8_decl,
        "utf-8",
        f"{ct}; charset=iso-8859-1",
        Expect(max_articles=1, forbid_text=["CafÃ©"]),
    )
    yield case("text-xml-no-charset", utf8_decl, "utf-8", "text/xml", Expect(max_articles=1))
    yield case("no-declaration-latin1", "", "iso-8859-1", ct, Expect(max_articles=1))
    yield case(
        "unknown-declared-charset",
        '<?xml version="1.0" encoding="x-no-such-charset"?>',
        "utf-8",
        ct,
        Expect(max_articles=1),
    )
    yield case(
        "unknown-header-charset",
        utf8_decl,
        "utf-8",
        f"{ct}; charset=bogus-42",
        Expect(articles=1, expect_text=[text]),
    )
    yield case(
        "declared-utf16-actually-utf8",
        '<?xml version="1.0" encoding="utf-16"?>',
        "utf-8",
        ct,
        Expect(max_articles=1),
    )
    yield case(
        "served-as-text-html",
        utf8_decl,
        "utf-8",
        "text/html; charset=utf-8",
        Expect(articles=1, expect_text=[text]),
    )
    yield case(
        "served-as-octet-stream",
        utf8_decl,
        "utf-8",
        "application/octet-stream",
        Expect(articles=1, expect_text=[text]),
    )


def xml_attack_cases(fmt: str) -> Iterator[Case]:
    def case(label: str, doctype: str, title: str, expect: Expect) -> Case:
        head = '<?xml version="1.0" encoding="utf-8"?>\n' + doctype
        items = [story(0, fmt, title=Raw(title)), story(1, fmt)]
        return feed_case(f"{fmt}-xml-{label}", fmt, items, expect, head=head)

    lol = "lol" * 10
    levels = "".join(f'<!ENTITY l{n} "{("&l" + str(n - 1) + ";") * 10}">' for n in range(1, 10))
    root = "feed" if fmt.startswith("atom") else "rss"
    if fmt in ("rss090", "rss10"):
        root = "rdf:RDF"
    huge = "A" * 50_000
    yield case(
        "billion-laughs",
        f'<!DOCTYPE {root} [<!ENTITY l0 "{lol}">{levels}]>',
        "Laughs &l9;",
        Expect(forbid_text=[lol * 4]),
    )
    yield case(
        "quadratic-blowup",
        f'<!DOCTYPE {root} [<!ENTITY big "{huge}">]>',
        "Quadratic " + "&big;" * 2000,
        Expect(max_stored_chars=200_000),
    )
    yield case(
        "external-entity-file",
        f'<!DOCTYPE {root} [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        "Secret: &xxe; end",
        Expect(forbid_text=["root:x:0", "/bin/"]),
    )
    yield case(
        "external-entity-hostname",
        f'<!DOCTYPE {root} [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>',
        "Host &xxe; end",
        Expect(max_articles=2),
    )
    yield case(
        "external-parameter-entity",
        f'<!DOCTYPE {root} [<!ENTITY % ext SYSTEM "file:///etc/passwd"> %ext;]>',
        "Param entity",
        Expect(forbid_text=["root:x:0"]),
    )
    yield case(
        "external-dtd",
        f'<!DOCTYPE {root} SYSTEM "file:///etc/passwd">',
        "External DTD",
        Expect(forbid_text=["root:x:0"]),
    )
    yield case(
        "recursive-entity",
        f'<!DOCTYPE {root} [<!ENTITY a "&b;"><!ENTITY b "&a;">]>',
        "Recursive &a; entity",
        Expect(max_articles=2),
    )
    yield case(
        "entity-with-script",
        f'<!DOCTYPE {root} [<!ENTITY s "&#60;script&#62;alert(1)&#60;/script&#62;">]>',
        "Entity &s; script",
        Expect(max_articles=2),
    )
    yield case(
        "xinclude",
        "",
        '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
        'href="file:///etc/passwd" parse="text"/>XInclude',
        Expect(forbid_text=["root:x:0"]),
    )


def not_a_feed_cases() -> Iterator[Case]:
    def case(label: str, body: bytes | str, ctype: str, expect: Expect | None = None) -> Case:
        data = body.encode("utf-8") if isinstance(body, str) else body
        return Case(f"notfeed-{label}", data, ctype, expect or Expect(articles=0, feed_ok=False))

    html_page = (
        "<!DOCTYPE html><html><head><title>News Example</title>"
        '<link rel="alternate" type="application/rss+xml" href="/rss.xml">'
        "<script>alert(1)</script></head><body><h1>Welcome</h1><p>Not a feed.</p></body></html>"
    )
    yield case("html-page", html_page, "text/html; charset=utf-8")
    yield case("html-as-rss", html_page, "application/rss+xml")
    yield case("empty", b"", "application/rss+xml")
    yield case("whitespace", "   \n\n\t  ", "application/rss+xml")
    yield case("plain-text", "This server is down for maintenance.", "text/plain")
    yield case("binary-png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "image/png")
    yield case("gzip-bytes-unannounced", b"\x1f\x8b\x08\x00" + bytes(200), "application/xml")
    yield case("pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n", "application/pdf")
    yield case("json-garbage", '{"error": "not found", "items": "<script>"}', "application/json")
    yield case(
        "opml",
        '<?xml version="1.0"?><opml version="2.0"><head><title>Subs</title></head><body>'
        f'<outline text="A" xmlUrl="{SITE}/rss"/></body></opml>',
        "text/x-opml",
    )
    yield case(
        "sitemap",
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{SITE}/a</loc></url></urlset>",
        "application/xml",
    )
    yield case(
        "svg-with-script",
        '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
        "<script>alert(1)</script></svg>",
        "image/svg+xml",
    )
    yield case("xml-declaration-only", '<?xml version="1.0" encoding="utf-8"?>', "application/xml")
    yield case(
        "soap-fault",
        '<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
        'envelope/"><soap:Body><soap:Fault>x</soap:Fault></soap:Body></soap:Envelope>',
        "text/xml",
    )


def json_feed_cases() -> Iterator[Case]:
    def case(label: str, body: str, ctype: str, expect: Expect) -> Case:
        return Case(f"jsonfeed-{label}", body.encode("utf-8"), ctype, expect)

    yield case(
        "basic",
        json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": "JSON corpus feed",
                "items": [
                    {
                        "id": "1",
                        "url": f"{SITE}/json/1",
                        "title": "JSON Feed item one",
                        "content_html": "<p>Hi <script>alert(1)</script></p>",
                    }
                ],
            }
        ),
        "application/feed+json",
        Expect(articles=1, feed_ok=True, expect_text=["JSON Feed item one"]),
    )
    yield case(
        "version-1-author",
        json.dumps(
            {
                "version": "https://jsonfeed.org/version/1",
                "title": "Old JSON feed",
                "author": {"name": "Desk"},
                "items": [
                    {
                        "id": n,
                        "url": f"{SITE}/json1/{n}",
                        "title": f"Version one item {n}",
                        "summary": "Short",
                        "author": {"name": "Reporter"},
                    }
                    for n in (1, 2)
                ],
            }
        ),
        "application/json",
        Expect(articles=2, feed_ok=True, expect_text=["Version one item 2"]),
    )
    yield case(
        "items-not-a-list",
        json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": "Odd",
                "items": "none today",
            }
        ),
        "application/feed+json",
        Expect(articles=0, feed_ok=True),
    )
    yield case(
        "deep-nesting",
        '{"version": "https://jsonfeed.org/version/1.1", "items": ' + "[" * 200_000,
        "application/feed+json",
        Expect(articles=0, feed_ok=False),
    )


def deep_nesting_cases() -> Iterator[Case]:
    nested_html = "<div>" * 5000 + "Deep HTML" + "</div>" * 5000
    yield feed_case(
        "rss20-deep-html",
        "rss20",
        [story(0, "rss20", summary=nested_html)],
        Expect(articles=1, feed_ok=True),
    )
    nested_xml = Raw("<x:a xmlns:x='urn:x'>" + "<x:a>" * 3000 + "deep" + "</x:a>" * 3001)
    yield feed_case(
        "rss20-deep-xml", "rss20", [story(0, "rss20", extra=nested_xml)], Expect(max_articles=1)
    )
    attrs = " ".join(f'a{n}="{n}"' for n in range(2000))
    yield feed_case(
        "atom10-many-attributes",
        "atom10",
        [story(0, "atom10", extra=Raw(f"<x:e xmlns:x='urn:x' {attrs}/>"))],
        Expect(max_articles=1),
    )


def rss091_doctype_case() -> Iterator[Case]:
    head = (
        '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE rss PUBLIC "-//Netscape '
        'Communications//DTD RSS 0.91//EN" "http://my.netscape.com/publish/formats/'
        'rss-0.91.dtd">'
    )
    items = [story(0, "rss091", title=Raw("Netscape DTD &eacute;dition"))]
    yield feed_case(
        "rss091-netscape-doctype",
        "rss091",
        items,
        Expect(articles=1, expect_text=["Netscape DTD"]),
        head=head,
    )


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for fmt in FORMATS:
        for make in (
            structure_cases,
            text_cases,
            illformed_cases,
            sanitise_cases,
            namespace_cases,
            date_cases,
            xml_attack_cases,
        ):
            cases.extend(make(fmt))
    for fmt in ("rss20", "atom10", "rss10"):
        cases.extend(encoding_cases(fmt))
    for fmt in ("rss20", "atom10"):
        cases.extend(charset_conflict_cases(fmt))
    cases.extend(not_a_feed_cases())
    cases.extend(json_feed_cases())
    cases.extend(deep_nesting_cases())
    cases.extend(rss091_doctype_case())
    names = [case.name for case in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases


def manifest(cases: list[Case]) -> str:
    entries = [
        {"file": f"{c.name}.xml", "content_type": c.content_type, **asdict(c.expect)} for c in cases
    ]
    return json.dumps({"files": entries}, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def expected_files() -> dict[str, bytes]:
    cases = all_cases()
    files = {f"{case.name}.xml": case.body for case in cases}
    files["manifest.json"] = manifest(cases).encode("utf-8")
    return files


def write(out: Path = OUT) -> int:
    out.mkdir(parents=True, exist_ok=True)
    files = expected_files()
    for stale in set(p.name for p in out.iterdir()) - set(files):
        (out / stale).unlink()
    for name, data in files.items():
        (out / name).write_bytes(data)
    return len(files) - 1


def differences(out: Path = OUT) -> list[str]:
    """Files that are missing, stale or different from what the generator makes."""
    files = expected_files()
    present = {p.name for p in out.iterdir()} if out.exists() else set()
    wrong = [
        name
        for name, data in files.items()
        if name not in present or (out / name).read_bytes() != data
    ]
    return sorted(wrong + sorted(present - set(files)))


if __name__ == "__main__":
    if "--check" in sys.argv[1:]:
        wrong = differences()
        print(f"{len(wrong)} corpus files out of date" + (f": {wrong[:5]}" if wrong else ""))
        sys.exit(1 if wrong else 0)
    print(f"wrote {write()} feeds and manifest.json to {OUT}")
