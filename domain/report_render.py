"""Rendering of analytics reports: a self-contained HTML dashboard, the executive report
(HTML for e-mail, text for chat). Charts are inline SVG; no scripts, no external assets,
so a file opens anywhere and survives being mailed.

Pure: `ReportData` in (domain/analytics.py), text out. The markup is in Jinja2 templates
(domain/templates/reports/, strict and autoescaping, see domain.templating); this module
formats the figures and computes the charts' geometry. The executive report's activity
(activities/analytics_collect.py) renders what it mails with it, the CLI's dashboard too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import ClassVar

from domain.analytics import Breakdown, Headline, ReportData, duration_text
from domain.money import show
from domain.templating import environment, render

PALETTE = ("#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#db2777", "#65a30d", "#64748b")


# --- numbers ---------------------------------------------------------------------------------


def money(value: Decimal | float | int | None, currency: str) -> str:
    return "-" if value is None else show(Decimal(str(value)), currency)


def count(value: float | Decimal | int | None) -> str:
    if value is None:
        return "-"
    number = float(value)
    return f"{number:,.0f}" if number == int(number) else f"{number:,.2f}"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def pct(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def headline_value(h: Headline, currency: str) -> str:
    if h.current is None:
        return "-"
    return {
        "money": lambda: money(h.current, currency),
        "count": lambda: count(h.current),
        "ratio": lambda: ratio(h.current),
        "percent": lambda: pct(h.current),
    }[h.kind]()


def change_class(h: Headline) -> str:
    if h.change is None or h.change == 0:
        return "flat"
    up = h.change > 0
    return "good" if up == (h.better == "up") else "bad"


def campaign_line(c: Breakdown, currency: str) -> str:
    return (
        f"{c.campaign} ({c.channel}): ROAS {ratio(c.kpis.roas)}, spend {money(c.totals.spend, currency)}, "
        f"CPA {money(c.kpis.cpa, currency)}"
    )


# --- SVG chart geometry (templates/reports/_charts.html draws it) ------------------------------


@dataclass(frozen=True)
class Gridline:
    y: float
    label: str


@dataclass(frozen=True)
class DayLabel:
    x: float
    label: str


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    tip: str  # the bar's <title>: series, day and value


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    points: str  # a polyline's points ("" for bars)
    bars: list[Bar]
    legend_x: float


@dataclass(frozen=True)
class LineChart:
    kind: ClassVar[str] = "line"
    title: str
    width: int
    height: int
    left: int
    right: int
    top_pad: int
    gridlines: list[Gridline]
    days: list[DayLabel]
    series: list[Series]


@dataclass(frozen=True)
class HBar:
    name: str
    y: float
    width: float
    color: str
    label: str


@dataclass(frozen=True)
class HBarChart:
    kind: ClassVar[str] = "hbar"
    title: str
    width: int
    height: int
    left: int
    row: int
    bars: list[HBar]


def _ticks(top: float) -> list[float]:
    if top <= 0:
        return [0.0]
    step = 10 ** len(str(int(top))) / 10
    while top / step > 5:
        step *= 2
    return [i * step for i in range(int(top / step) + 2)]


def line_chart(
    title: str,
    days: Sequence[date],
    series: dict[str, Sequence[float]],
    *,
    width: int = 520,
    height: int = 220,
    bars: bool = False,
) -> LineChart:
    """A line (or bar) chart over days; several series share the axis."""
    left, bottom, top_pad, right = 56, 28, 24, 12
    plot_w, plot_h = width - left - right, height - bottom - top_pad
    values = [float(v) for vs in series.values() for v in vs] or [0.0]
    ticks = _ticks(max(values))
    top = ticks[-1] or 1.0
    n = max(len(days), 1)

    def x(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n)

    def y(v: float) -> float:
        return top_pad + plot_h - plot_h * (float(v) / top)

    step = max(1, n // 7)
    k = len(series)
    drawn = []
    for s, (name, vs) in enumerate(series.items()):
        color = PALETTE[s % len(PALETTE)]
        w = plot_w / n * 0.8 / max(k, 1)
        drawn.append(
            Series(
                name=name,
                color=color,
                points="" if bars else " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(vs)),
                bars=[
                    Bar(
                        x=left + plot_w * i / n + plot_w / n * 0.1 + s * w,
                        y=y(v),
                        width=w,
                        height=top_pad + plot_h - y(v),
                        tip=f"{name} {days[i]}: {float(v):,.2f}",
                    )
                    for i, v in enumerate(vs)
                ]
                if bars
                else [],
                legend_x=left + 8 + s * 130,
            )
        )
    return LineChart(
        title=title,
        width=width,
        height=height,
        left=left,
        right=right,
        top_pad=top_pad,
        gridlines=[Gridline(y(t), f"{t:,.0f}") for t in ticks],
        days=[DayLabel(x(i), f"{d:%m-%d}") for i, d in enumerate(days) if i % step == 0],
        series=drawn,
    )


def hbar_chart(
    title: str, items: Sequence[tuple[str, float]], *, label: Callable[[float], str] = lambda v: f"{v:,.2f}"
) -> HBarChart:
    """Horizontal bars, one per item, longest first as given."""
    width, row, left = 520, 22, 130
    top = max([float(v) for _, v in items] or [0.0]) or 1.0
    return HBarChart(
        title=title,
        width=width,
        height=28 + row * max(len(items), 1),
        left=left,
        row=row,
        bars=[
            HBar(
                name=name,
                y=24 + i * row,
                width=max((width - left - 90) * float(v) / top, 0),
                color=PALETTE[i % len(PALETTE)],
                label=label(float(v)),
            )
            for i, (name, v) in enumerate(items)
        ],
    )


def _spend_chart(data: ReportData) -> LineChart:
    return line_chart(
        f"Spend and reported revenue per day ({data.currency})",
        [p.day for p in data.daily],
        {
            "spend": [float(p.spend) for p in data.daily],
            "reported revenue": [float(p.reported_revenue) for p in data.daily],
        },
    )


# --- pages -----------------------------------------------------------------------------------

_templates = environment("domain")
_templates.globals.update(
    money=money,
    count=count,
    ratio=ratio,
    pct=pct,
    headline_value=headline_value,
    change_class=change_class,
    campaign_line=campaign_line,
    duration_text=duration_text,
)


def dashboard_html(data: ReportData) -> str:
    """The dashboard: KPIs, trends, per-channel and per-campaign tables, attribution, sources."""
    conversions = line_chart(
        "Conversions and clicks ÷ 10 per day",
        [p.day for p in data.daily],
        {"conversions": [p.conversions for p in data.daily], "clicks ÷ 10": [p.clicks / 10 for p in data.daily]},
        bars=True,
    )
    by_channel = hbar_chart(
        f"Spend by channel ({data.currency})",
        [(c.channel, float(c.totals.spend)) for c in data.channels if c.totals.spend > 0],
    )
    return render(
        _templates,
        "reports/dashboard.html",
        data=data,
        title=data.title,
        charts=[_spend_chart(data), conversions, by_channel],
    )


def executive_html(data: ReportData) -> str:
    """The executive report: headlines with changes, top and bottom campaigns, budget moves,
    automation KPIs, two charts, and which sources are stale."""
    return render(
        _templates,
        "reports/executive.html",
        data=data,
        title=f"{data.title}: {data.period.label()}",
        charts=[_spend_chart(data)],
        stale=[s for s in data.sources if s.state != "fresh"],
        top=data.top_campaigns(),
        bottom=data.bottom_campaigns(),
    )


def executive_email_text(data: ReportData) -> str:
    """The plain-text part of the report e-mail: the same figures as the HTML part's
    headlines and campaigns, for mail clients (and readers) that show no HTML."""
    lines = [f"{data.title}: {data.period.label()} ({data.timezone})", ""]
    for h in data.headlines():
        lines.append(f"- {h.name}: {headline_value(h, data.currency)} ({pct(h.change, signed=True)})")
    for label, campaigns in (("Top campaigns", data.top_campaigns()), ("Bottom campaigns", data.bottom_campaigns())):
        if campaigns:
            lines += ["", f"{label}:"] + [f"- {campaign_line(c, data.currency)}" for c in campaigns]
    if data.budget_moves:
        lines += ["", f"Budget moves: {len(data.budget_moves)}"]
    stale = [s.source for s in data.sources if s.state == "stale"]
    if stale:
        lines += ["", f"Stale sources (retried): {', '.join(stale)}"]
    lines += ["", "The charts and full tables are in the HTML version of this e-mail."]
    return "\n".join(lines)


def executive_text(data: ReportData) -> str:
    """The chat version: headline figures with their change, top/bottom campaign, stale sources."""
    lines = [f"*{data.title}* — {data.period.label()} ({data.timezone})"]
    for h in data.headlines():
        lines.append(f"• {h.name}: {headline_value(h, data.currency)} ({pct(h.change, signed=True)})")
    if top := data.top_campaigns(1):
        lines.append(f"Top: {campaign_line(top[0], data.currency)}")
    if bottom := data.bottom_campaigns(1):
        lines.append(f"Bottom: {campaign_line(bottom[0], data.currency)}")
    if data.budget_moves:
        lines.append(f"Budget moves: {len(data.budget_moves)}")
    stale = [s.source for s in data.sources if s.state == "stale"]
    if stale:
        lines.append(f"Stale sources (retried): {', '.join(stale)}")
    return "\n".join(lines)
