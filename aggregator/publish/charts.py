"""Pictures as inline SVG, drawn on the server: no JavaScript, no CDN, nothing to download.

Every label comes from the database, so every label is escaped. Shapes carry <title> elements,
which browsers show as tooltips and screen readers read out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from markupsafe import Markup, escape

from aggregator.publish.display import format_delay, language_name

FONT = 'font-family="system-ui, sans-serif"'
INK = "#1f2933"
MUTED = "#6b7785"
ACCENT = "#1d5fbf"
PALETTE = ("#1d5fbf", "#c2410c", "#15803d", "#7c3aed", "#b91c1c", "#0e7490", "#a16207",
           "#be185d", "#4d7c0f", "#475569")  # fmt: skip


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _svg(
    width: int, height: int, label: str, body: list[str], variant: str | None = None
) -> Markup:
    shown = f' class="chart-{variant}"' if variant else ""  # only for wide, narrow twins
    return Markup(
        f'<svg{shown} xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px" role="img" '
        f'aria-label="{escape(label)}" {FONT} font-size="12">' + "".join(body) + "</svg>"
    )


def _both(wide: Markup, narrow: Markup) -> Markup:
    """A chart drawn twice: for wide screens, and narrow enough (under 400 units across) for a
    phone, where the wide one would be scaled to half size and its 12 px text to 5 px. The
    stylesheet shows one of them (.chart-wide / .chart-narrow, at 40rem); the other is
    display:none, so a screen reader meets the chart once."""
    return wide + narrow


def _text(x: float, y: float, text: str, **attrs: str) -> str:
    extra = " ".join(f'{key.replace("_", "-")}="{escape(value)}"' for key, value in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" {extra}>{escape(text)}</text>'


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


# --- Home page: articles per language and day ----------------------------------------------


def coverage_heatmap(
    counts: dict[tuple[str, str], int], days: Sequence[str], max_languages: int = 14
) -> Markup:
    """A grid: one row per language (busiest first), one column per UTC day, darker = more
    articles. Languages past `max_languages` are summed into one "other" row. Drawn wide and
    narrow (_both)."""
    totals: dict[str, int] = {}
    for (_, language), count in counts.items():
        totals[language] = totals.get(language, 0) + count
    ranked = sorted(totals, key=lambda lang: (-totals[lang], lang))
    # A row saying "1 more" takes the place of that one language's own row: show it instead.
    keep = max_languages if len(ranked) > max_languages + 1 else len(ranked)
    shown, rest = ranked[:keep], set(ranked[keep:])
    rows = [(lang, {day: counts.get((day, lang), 0) for day in days}) for lang in shown]
    if rest:
        other = {day: sum(counts.get((day, lang), 0) for lang in rest) for day in days}
        rows.append((f"{len(rest)} more", other))
    return _both(_heatmap(rows, days, narrow=False), _heatmap(rows, days, narrow=True))


def _heatmap(rows: list[tuple[str, dict[str, int]]], days: Sequence[str], narrow: bool) -> Markup:
    columns = max(len(days), 1)
    if narrow:  # 384 units across: short names, two-line day labels, counts as "1.2k"
        label_w, cell_w, cell_h, top, total_w = 92, min(36, 252 // columns), 24, 36, 40
    else:
        label_w, cell_w, cell_h, top, total_w = 150, max(44, min(90, 640 // columns)), 24, 30, 70
    width = label_w + cell_w * len(days) + total_w
    height = top + cell_h * max(len(rows), 1) + 8
    peak = max((n for _, per_day in rows for n in per_day.values()), default=0) or 1
    body = [_day_header(days, label_w, cell_w, narrow)]
    for row_index, (language, per_day) in enumerate(rows):
        y = top + row_index * cell_h
        full = language if language.endswith("more") else f"{language_name(language)} ({language})"
        name = _clip(language_name(language), 12) if narrow and full != language else full
        body.append(_text(label_w - 6, y + 16, name, text_anchor="end", fill=INK))
        for col, day in enumerate(days):
            cell = (label_w + col * cell_w, y, cell_w, cell_h)
            body.append(_heat_cell(*cell, per_day[day], peak, f"{full}, {day}", narrow))
        total = sum(per_day.values())
        body.append(
            _text(
                label_w + cell_w * len(days) + 6,
                y + 16,
                _count(total, narrow),
                fill=MUTED,
            )
        )
    if not rows:
        body.append(_text(label_w, top + 16, "No articles in these days.", fill=MUTED))
    variant = "narrow" if narrow else "wide"
    return _svg(width, height, "Articles per language and day", body, variant)


def _count(count: int, short: bool) -> str:
    """1,234; short (for a narrow cell): 1.2k, 12k."""
    if not short or count < 1000:
        return f"{count:,}"
    return f"{count / 1000:.1f}k" if count < 10_000 else f"{count // 1000}k"


def _day_header(days: Sequence[str], left: int, cell_w: int, narrow: bool = False) -> str:
    parts = []
    for col, day in enumerate(days):
        moment = datetime.strptime(day, "%Y-%m-%d")
        x = left + col * cell_w + cell_w / 2
        if narrow:  # "Mon" over "2": the wide label "Mon 2 Dec" needs twice a narrow cell
            parts.append(_text(x, 13, moment.strftime("%a"), text_anchor="middle", fill=MUTED))
            parts.append(_text(x, 28, moment.strftime("%-d"), text_anchor="middle", fill=MUTED))
        else:
            label = moment.strftime("%a %-d %b")
            parts.append(_text(x, 18, label, text_anchor="middle", fill=MUTED))
    return "".join(parts)


def _heat_cell(
    x: float, y: float, w: float, h: float, count: int, peak: int, label: str, narrow: bool = False
) -> str:
    # Square root keeps quieter languages visible next to the busiest one.
    share = (count / peak) ** 0.5 if count else 0.0
    fill = 'fill="#f1f3f5"'
    if count:
        fill = f'fill="{ACCENT}" fill-opacity="{0.08 + 0.92 * share:.2f}"'
    ink = "#ffffff" if share > 0.55 else INK
    shown = _count(count, narrow)
    text = _text(x + w / 2, y + 16, shown, text_anchor="middle", fill=ink) if count else ""
    return (
        f"<g><title>{escape(label)}: {count:,} articles</title>"
        f'<rect x="{x + 1:.1f}" y="{y + 1:.1f}" width="{w - 2:.1f}" height="{h - 2:.1f}" '
        f'rx="3" {fill}/>{text}</g>'
    )


# --- Story page: when each language covered the story ---------------------------------------


@dataclass
class Lane:
    """One language's row on the timeline."""

    language: str
    delay_s: float | None
    times: list[datetime] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


TICK_STEPS = [timedelta(minutes=m) for m in (5, 10, 15, 30, 60, 120, 180, 360, 720)] + [
    timedelta(days=d) for d in (1, 2, 7)
]


def story_timeline(lanes: Sequence[Lane]) -> Markup:
    """One row per language in pickup order; a dot per article at its time, a bar from the
    language's first to last article, and its delay after the story's first article. Drawn
    wide (names left of the lanes) and narrow (names above them), see _both."""
    moments = [t for lane in lanes for t in lane.times]
    if not moments:
        return _svg(360, 40, "Coverage timeline", [_text(10, 24, "No dated articles.", fill=MUTED)])
    return _both(_timeline(lanes, narrow=False), _timeline(lanes, narrow=True))


def _timeline(lanes: Sequence[Lane], narrow: bool) -> Markup:
    moments = [t for lane in lanes for t in lane.times]
    start, end = min(moments), max(moments)
    span = max(end - start, timedelta(minutes=30))
    if narrow:  # 380 units across: each lane's name and delay on a line above its dots
        left, plot_w, row_h, top, width = 14, 352, 44, 34, 380
    else:
        left, plot_w, row_h, top = 140, 560, 26, 34
        width = left + plot_w + 110
    height = top + row_h * len(lanes) + (6 if narrow else 10)

    def x_of(moment: datetime) -> float:
        return left + plot_w * ((moment - start) / span)

    body = _time_axis(start, span, x_of, top, height, right=width - 18)
    for index, lane in enumerate(lanes):
        y = top + index * row_h
        body.append(_lane(lane, index, y, x_of, left, plot_w, narrow))
    variant = "narrow" if narrow else "wide"
    return _svg(width, height, "When each language covered the story", body, variant)


def _time_axis(
    start: datetime, span: timedelta, x_of, top: int, height: int, right: float
) -> list[str]:
    step = next((s for s in TICK_STEPS if span / s <= 7), TICK_STEPS[-1])
    tick = datetime.fromtimestamp(
        (start.timestamp() // step.total_seconds() + 1) * step.total_seconds(), tz=start.tzinfo
    )
    fmt = "%-d %b" if step >= timedelta(days=1) else "%H:%M"
    parts = [
        _text(x_of(start), 14, start.strftime("%-d %b %H:%M UTC"), fill=INK, font_weight="600")
    ]
    shown = x_of(start) + 155  # keep clear of the start label (~120 px wide)
    while tick <= start + span:
        x = x_of(tick)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{height - 6}" stroke="#e3e7eb"/>'
        )
        if shown <= x <= right:  # and of the one before (~40 px), and of the right edge
            parts.append(_text(x, 14, tick.strftime(fmt), text_anchor="middle", fill=MUTED))
            shown = x + 45
        tick += step
    return parts


def _lane(
    lane: Lane, index: int, y: float, x_of, left: int, plot_w: int, narrow: bool = False
) -> str:
    hue = color(index)
    name = f"{language_name(lane.language)} ({lane.language})"
    delay = "first" if not lane.delay_s else format_delay(lane.delay_s)
    if narrow:
        mid = y + 30
        parts = [
            _text(left, y + 15, name, fill=INK),
            _text(left + plot_w, y + 15, delay, text_anchor="end", fill=hue, font_weight="600"),
        ]
    else:
        mid = y + 13
        parts = [_text(left - 10, mid + 4, name, text_anchor="end", fill=INK)]
    xs = [x_of(t) for t in lane.times]
    if xs:
        parts.append(
            f'<line x1="{min(xs):.1f}" y1="{mid}" x2="{max(xs):.1f}" y2="{mid}" '
            f'stroke="{hue}" stroke-width="3" stroke-opacity="0.35"/>'
        )
    for x, label in zip(xs, lane.labels, strict=True):
        parts.append(
            f'<circle cx="{x:.1f}" cy="{mid}" r="5.5" fill="{hue}" stroke="#fff" '
            f'stroke-width="1.5"><title>{escape(label)}</title></circle>'
        )
    if not narrow:
        parts.append(_text(left + plot_w + 14, mid + 4, delay, fill=hue, font_weight="600"))
    return "<g>" + "".join(parts) + "</g>"
