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


def _svg(width: int, height: int, label: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" style="max-width:{width}px" role="img" aria-label="{escape(label)}" '
        f'{FONT} font-size="12">' + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, text: str, **attrs: str) -> str:
    extra = " ".join(f'{key.replace("_", "-")}="{escape(value)}"' for key, value in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" {extra}>{escape(text)}</text>'


# --- Home page: articles per language and day ----------------------------------------------


def coverage_heatmap(
    counts: dict[tuple[str, str], int], days: Sequence[str], max_languages: int = 14
) -> Markup:
    """A grid: one row per language (busiest first), one column per UTC day, darker = more
    articles. Languages past `max_languages` are summed into one "other" row."""
    totals: dict[str, int] = {}
    for (_, language), count in counts.items():
        totals[language] = totals.get(language, 0) + count
    ranked = sorted(totals, key=lambda lang: (-totals[lang], lang))
    shown, rest = ranked[:max_languages], set(ranked[max_languages:])
    rows = [(lang, {day: counts.get((day, lang), 0) for day in days}) for lang in shown]
    if rest:
        other = {day: sum(counts.get((day, lang), 0) for lang in rest) for day in days}
        rows.append((f"{len(rest)} more", other))
    label_w, cell_w, cell_h, top = 150, max(44, min(90, 640 // max(len(days), 1))), 24, 30
    width = label_w + cell_w * len(days) + 70
    height = top + cell_h * max(len(rows), 1) + 8
    peak = max((n for _, per_day in rows for n in per_day.values()), default=0) or 1
    body = [_day_header(days, label_w, cell_w)]
    for row_index, (language, per_day) in enumerate(rows):
        y = top + row_index * cell_h
        name = language if language.endswith("more") else f"{language_name(language)} ({language})"
        body.append(_text(label_w - 8, y + 16, name, text_anchor="end", fill=INK))
        for col, day in enumerate(days):
            body.append(
                _heat_cell(
                    label_w + col * cell_w, y, cell_w, cell_h, per_day[day], peak, f"{name}, {day}"
                )
            )
        body.append(
            _text(
                label_w + cell_w * len(days) + 8, y + 16, f"{sum(per_day.values()):,}", fill=MUTED
            )
        )
    if not rows:
        body.append(_text(label_w, top + 16, "No articles in these days.", fill=MUTED))
    return _svg(width, height, "Articles per language and day", body)


def _day_header(days: Sequence[str], left: int, cell_w: int) -> str:
    parts = []
    for col, day in enumerate(days):
        label = datetime.strptime(day, "%Y-%m-%d").strftime("%a %-d %b")
        parts.append(
            _text(left + col * cell_w + cell_w / 2, 18, label, text_anchor="middle", fill=MUTED)
        )
    return "".join(parts)


def _heat_cell(x: float, y: float, w: float, h: float, count: int, peak: int, label: str) -> str:
    # Square root keeps quieter languages visible next to the busiest one.
    share = (count / peak) ** 0.5 if count else 0.0
    fill = 'fill="#f1f3f5"'
    if count:
        fill = f'fill="{ACCENT}" fill-opacity="{0.08 + 0.92 * share:.2f}"'
    ink = "#ffffff" if share > 0.55 else INK
    text = _text(x + w / 2, y + 16, f"{count:,}", text_anchor="middle", fill=ink) if count else ""
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
    language's first to last article, and its delay after the story's first article."""
    moments = [t for lane in lanes for t in lane.times]
    if not moments:
        return _svg(600, 40, "Coverage timeline", [_text(10, 24, "No dated articles.", fill=MUTED)])
    start, end = min(moments), max(moments)
    span = max(end - start, timedelta(minutes=30))
    label_w, plot_w, row_h, top = 140, 560, 26, 34
    width, height = label_w + plot_w + 110, top + row_h * len(lanes) + 10

    def x_of(moment: datetime) -> float:
        return label_w + plot_w * ((moment - start) / span)

    body = _time_axis(start, span, x_of, top, height)
    for index, lane in enumerate(lanes):
        body.append(_lane(lane, index, top + index * row_h, x_of, label_w, plot_w))
    return _svg(width, height, "When each language covered the story", body)


def _time_axis(start: datetime, span: timedelta, x_of, top: int, height: int) -> list[str]:
    step = next((s for s in TICK_STEPS if span / s <= 7), TICK_STEPS[-1])
    tick = datetime.fromtimestamp(
        (start.timestamp() // step.total_seconds() + 1) * step.total_seconds(), tz=start.tzinfo
    )
    fmt = "%-d %b" if step >= timedelta(days=1) else "%H:%M"
    parts = [
        _text(x_of(start), 14, start.strftime("%-d %b %H:%M UTC"), fill=INK, font_weight="600")
    ]
    while tick <= start + span:
        x = x_of(tick)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{height - 6}" stroke="#e3e7eb"/>'
        )
        if x - x_of(start) > 155:  # keep clear of the start label (~120 px wide)
            parts.append(_text(x, 14, tick.strftime(fmt), text_anchor="middle", fill=MUTED))
        tick += step
    return parts


def _lane(lane: Lane, index: int, y: float, x_of, label_w: int, plot_w: int) -> str:
    hue = color(index)
    mid = y + 13
    name = f"{language_name(lane.language)} ({lane.language})"
    parts = [_text(label_w - 10, mid + 4, name, text_anchor="end", fill=INK)]
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
    delay = "first" if not lane.delay_s else format_delay(lane.delay_s)
    parts.append(_text(label_w + plot_w + 14, mid + 4, delay, fill=hue, font_weight="600"))
    return "<g>" + "".join(parts) + "</g>"
