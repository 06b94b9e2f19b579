"""Rendering of analytics reports: a self-contained HTML dashboard, the executive report
(HTML for e-mail, text for chat). Charts are inline SVG; no scripts, no external assets,
so a file opens anywhere and survives being mailed.

Pure: `ReportData` in (domain/analytics.py), text out. The executive report's activity
uses it too (it renders what it mails).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from html import escape

from domain.analytics import Breakdown, FamilyKpis, Headline, ReportData, duration_text
from domain.money import show

PALETTE = ("#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#db2777", "#65a30d", "#64748b")
CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f8fafc;color:#0f172a}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.sub{color:#64748b;font-size:13px}
.tiles{display:flex;flex-wrap:wrap;gap:10px;margin-top:16px}
.tile{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px;min-width:120px}
.tile .n{font-size:12px;color:#64748b}.tile .v{font-size:20px;font-weight:600}
.good{color:#16a34a}.bad{color:#dc2626}.flat{color:#64748b}
.t{overflow-x:auto}table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border-bottom:1px solid #e2e8f0;padding:6px 8px;text-align:right;white-space:nowrap}
th:first-child,td:first-child,th.l,td.l{text-align:left}
th{background:#f1f5f9;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:16px}
.chart{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:8px}
.note{font-size:12px;color:#64748b}
.stale{color:#b45309;font-weight:600}
"""


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


# --- SVG charts ----------------------------------------------------------------------------


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
) -> str:
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

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}"><text x="{left}" y="14" font-size="12" font-weight="600">'
        f"{escape(title)}</text>"
    ]
    for t in ticks:
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#e2e8f0"/>'
            f'<text x="{left - 4}" y="{y(t) + 4:.1f}" font-size="10" text-anchor="end" fill="#64748b">'
            f"{t:,.0f}</text>"
        )
    step = max(1, n // 7)
    for i, d in enumerate(days):
        if i % step == 0:
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - 10}" font-size="10" text-anchor="middle" '
                f'fill="#64748b">{d:%m-%d}</text>'
            )
    k = len(series)
    for s, (name, vs) in enumerate(series.items()):
        color = PALETTE[s % len(PALETTE)]
        if bars:
            w = plot_w / n * 0.8 / max(k, 1)
            for i, v in enumerate(vs):
                bx = left + plot_w * i / n + plot_w / n * 0.1 + s * w
                parts.append(
                    f'<rect x="{bx:.1f}" y="{y(v):.1f}" width="{w:.1f}" '
                    f'height="{top_pad + plot_h - y(v):.1f}" fill="{color}"><title>{escape(name)} '
                    f"{days[i]}: {float(v):,.2f}</title></rect>"
                )
        else:
            points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(vs))
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"/>')
        parts.append(
            f'<rect x="{left + 8 + s * 130}" y="{top_pad - 4}" width="10" height="10" fill="{color}"/>'
            f'<text x="{left + 22 + s * 130}" y="{top_pad + 5}" font-size="11">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart(title: str, items: Sequence[tuple[str, float]], *, label=lambda v: f"{v:,.2f}", width: int = 520) -> str:
    """Horizontal bars, one per item, longest first as given."""
    row, left = 22, 130
    height = 28 + row * max(len(items), 1)
    top = max([float(v) for _, v in items] or [0.0]) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}"><text x="4" y="14" font-size="12" font-weight="600">{escape(title)}</text>'
    ]
    for i, (name, v) in enumerate(items):
        y = 24 + i * row
        w = (width - left - 90) * float(v) / top
        parts.append(
            f'<text x="{left - 6}" y="{y + 13}" font-size="11" text-anchor="end">{escape(name)}</text>'
            f'<rect x="{left}" y="{y + 2}" width="{max(w, 0):.1f}" height="{row - 6}" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/><text x="{left + max(w, 0) + 4:.1f}" y="{y + 13}" '
            f'font-size="11">{escape(label(float(v)))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


# --- HTML pieces -----------------------------------------------------------------------------


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{CSS}</style></head>'
        f"<body><main>{body}</main></body></html>\n"
    )


def _tiles(data: ReportData) -> str:
    out = ['<div class="tiles">']
    for h in data.headlines():
        out.append(
            f'<div class="tile"><div class="n">{escape(h.name)}</div>'
            f'<div class="v">{escape(headline_value(h, data.currency))}</div>'
            f'<div class="{change_class(h)}">{escape(pct(h.change, signed=True))} vs previous</div></div>'
        )
    out.append("</div>")
    return "".join(out)


def _breakdown_table(rows: Sequence[Breakdown], currency: str, *, campaigns: bool) -> str:
    head = (
        "<tr><th>Channel</th>"
        + ('<th class="l">Campaign</th>' if campaigns else "")
        + "<th>Spend</th><th>Impr.</th><th>Clicks</th><th>CTR</th><th>CPC</th><th>Conv.</th><th>CPA</th>"
        "<th>Reported rev.</th><th>ROAS</th><th>Attr. conv.</th><th>Attr. booked</th><th>CAC</th>"
        "<th>ROI</th></tr>"
    )
    body = []
    for r in rows:
        t, k = r.totals, r.kpis
        campaign = f'<td class="l">{escape(r.campaign or "")}</td>' if campaigns else ""
        body.append(
            f"<tr><td>{escape(r.channel)}</td>{campaign}"
            f"<td>{money(t.spend, currency)}</td><td>{count(t.impressions)}</td><td>{count(t.clicks)}</td>"
            f"<td>{pct(k.ctr)}</td><td>{money(k.cpc, currency)}</td><td>{count(t.conversions)}</td>"
            f"<td>{money(k.cpa, currency)}</td><td>{money(t.reported_revenue, currency)}</td>"
            f"<td>{ratio(k.roas)}</td><td>{count(t.attributed_conversions)}</td>"
            f"<td>{money(t.attributed_revenue, currency)}</td><td>{money(k.cac, currency)}</td>"
            f"<td>{pct(k.roi)}</td></tr>"
        )
    if not body:
        body.append(
            f'<tr><td class="l" colspan="{15 if campaigns else 14}">No figures in the store for this '
            "period: run <code>mops report collect</code>.</td></tr>"
        )
    return f"<div class='t'><table>{head}{''.join(body)}</table></div>"


def _attribution_table(data: ReportData) -> str:
    if not data.attribution_models:
        return ""
    models = data.attribution_models
    head = "<tr><th>Channel</th>" + "".join(f"<th>{escape(m)}</th>" for m in models) + "</tr>"
    rows = []
    for r in data.attribution:
        cells = "".join(
            f"<td>{count(r.conversions.get(m))} · {money(r.revenue.get(m), data.currency)}</td>" for m in models
        )
        rows.append(f"<tr><td>{escape(r.channel)}</td>{cells}</tr>")
    if not rows:
        rows.append(f'<tr><td class="l" colspan="{len(models) + 1}">No lead converted in this period.</td></tr>')
    note = (
        f'<p class="note">{data.attributed_conversions} converted lead(s) in the period; credited conversions · '
        f"booked revenue per model. {data.unattributed} conversion(s) had no touch in the lookback.</p>"
    )
    return f"<div class='t'><table>{head}{''.join(rows)}</table></div>{note}"


def _sources(data: ReportData) -> str:
    rows = []
    for s in data.sources:
        state = f'<span class="stale">{s.state}</span>' if s.state != "fresh" else "fresh"
        rows.append(
            f"<tr><td>{escape(s.source)}</td><td class='l'>{state}</td><td>{s.days_loaded}/{s.days}</td>"
            f"<td>{s.violations}</td><td class='l'>{escape(s.detail or '')}</td></tr>"
        )
    return (
        "<table><tr><th>Source</th><th class='l'>Data</th><th>Days</th><th>Rows refused</th>"
        f"<th class='l'>Detail</th></tr>{''.join(rows)}</table>"
    )


def _automation(kpis: Sequence[FamilyKpis]) -> str:
    if not kpis:
        return ""
    rows = []
    for k in kpis:
        rows.append(
            f"<tr><td>{k.family.value}</td><td>{k.runs}</td><td>{k.completed}</td><td>{k.running}</td>"
            f"<td>{pct(k.no_touch_share)}</td><td>{pct(k.error_rate)}</td><td>{pct(k.retry_rate)}</td>"
            f"<td>{duration_text(k.median_cycle_seconds)}</td><td>{duration_text(k.p95_cycle_seconds)}</td>"
            f"<td>{duration_text(k.work_seconds)}</td><td>{duration_text(k.people_seconds)}</td>"
            f"<td>{pct(k.people_share)}</td></tr>"
        )
    return (
        "<table><tr><th>Process</th><th>Runs</th><th>Completed</th><th>Running</th><th>No-touch</th>"
        "<th>Errors</th><th>Retries</th><th>Median cycle</th><th>p95 cycle</th><th>Working</th>"
        f"<th>Waiting for people</th><th>People share</th></tr>{''.join(rows)}</table>"
        '<p class="note">No-touch: completed runs nobody had to decide on. People share: of the time not '
        "spent on timers, the part spent waiting for a person.</p>"
    )


def _charts(data: ReportData) -> str:
    days = [p.day for p in data.daily]
    spend = line_chart(
        f"Spend and reported revenue per day ({data.currency})",
        days,
        {
            "spend": [float(p.spend) for p in data.daily],
            "reported revenue": [float(p.reported_revenue) for p in data.daily],
        },
    )
    conversions = line_chart(
        "Conversions and clicks ÷ 10 per day",
        days,
        {"conversions": [p.conversions for p in data.daily], "clicks ÷ 10": [p.clicks / 10 for p in data.daily]},
        bars=True,
    )
    by_channel = hbar_chart(
        f"Spend by channel ({data.currency})",
        [(c.channel, float(c.totals.spend)) for c in data.channels if c.totals.spend > 0],
    )
    return (
        f'<div class="charts"><div class="chart">{spend}</div><div class="chart">{conversions}</div>'
        f'<div class="chart">{by_channel}</div></div>'
    )


def _subtitle(data: ReportData) -> str:
    return (
        f'<div class="sub">{escape(data.period.label())} ({escape(data.timezone)}) · compared with '
        f"{escape(data.previous.label())} · {escape(data.currency)} · generated "
        f"{data.generated_at:%Y-%m-%d %H:%M} UTC</div>"
    )


def dashboard_html(data: ReportData) -> str:
    """The dashboard: KPIs, trends, per-channel and per-campaign tables, attribution, sources."""
    body = [
        f"<h1>{escape(data.title)}</h1>",
        _subtitle(data),
        _tiles(data),
        "<h2>Trends</h2>",
        _charts(data),
        "<h2>Channels</h2>",
        _breakdown_table(data.channels, data.currency, campaigns=False),
        "<h2>Campaigns</h2>",
        _breakdown_table(data.campaigns, data.currency, campaigns=True),
        f"<h2>Attribution (channel figures use {escape(data.attribution_model)})</h2>",
        _attribution_table(data),
        f"<p class='note'>{data.leads} new lead(s) in the period.</p>",
    ]
    if data.automation:
        body += ["<h2>Automation</h2>", _automation(data.automation)]
    body += ["<h2>Data sources</h2>", _sources(data)]
    return _page(data.title, "".join(body))


def _campaign_line(c: Breakdown, currency: str) -> str:
    return (
        f"{c.campaign} ({c.channel}): ROAS {ratio(c.kpis.roas)}, spend {money(c.totals.spend, currency)}, "
        f"CPA {money(c.kpis.cpa, currency)}"
    )


def executive_html(data: ReportData) -> str:
    """The executive report: headlines with changes, top and bottom campaigns, budget moves,
    automation KPIs, two charts, and which sources are stale."""
    stale = [s for s in data.sources if s.state != "fresh"]
    body = [f"<h1>{escape(data.title)}</h1>", _subtitle(data), _tiles(data)]
    if stale:
        body.append(
            '<p class="stale">Incomplete data: '
            + escape("; ".join(f"{s.source} {s.state}" + (f" ({s.detail})" if s.detail else "") for s in stale))
            + "</p>"
        )
    days = [p.day for p in data.daily]
    body.append(
        '<div class="charts"><div class="chart">'
        + line_chart(
            f"Spend and reported revenue per day ({data.currency})",
            days,
            {
                "spend": [float(p.spend) for p in data.daily],
                "reported revenue": [float(p.reported_revenue) for p in data.daily],
            },
        )
        + "</div></div>"
    )
    top, bottom = data.top_campaigns(), data.bottom_campaigns()
    body.append(
        "<h2>Top campaigns</h2><ul>"
        + "".join(f"<li>{escape(_campaign_line(c, data.currency))}</li>" for c in top)
        + ("" if top else "<li>none</li>")
        + "</ul>"
    )
    body.append(
        "<h2>Bottom campaigns</h2><ul>"
        + "".join(f"<li>{escape(_campaign_line(c, data.currency))}</li>" for c in bottom)
        + ("" if bottom else "<li>none</li>")
        + "</ul>"
    )
    body.append("<h2>Channels</h2>" + _breakdown_table(data.channels, data.currency, campaigns=False))
    body.append(
        "<h2>Budget moves</h2><ul>"
        + "".join(
            f"<li>{m.at:%Y-%m-%d} {escape(m.campaign_id)}: {escape(m.detail)}"
            + (f" (approved by {escape(', '.join(m.decided_by))})" if m.decided_by else " (automatic)")
            + "</li>"
            for m in data.budget_moves
        )
        + ("" if data.budget_moves else "<li>none this period</li>")
        + "</ul>"
    )
    if data.automation:
        body.append("<h2>Automation</h2>" + _automation(data.automation))
    body.append(
        f"<h2>Attribution ({escape(data.attribution_model)} and the other models)</h2>" + _attribution_table(data)
    )
    return _page(f"{data.title}: {data.period.label()}", "".join(body))


def executive_text(data: ReportData) -> str:
    """The chat version: headline figures with their change, top/bottom campaign, stale sources."""
    lines = [f"*{data.title}* — {data.period.label()} ({data.timezone})"]
    for h in data.headlines():
        lines.append(f"• {h.name}: {headline_value(h, data.currency)} ({pct(h.change, signed=True)})")
    if top := data.top_campaigns(1):
        lines.append(f"Top: {_campaign_line(top[0], data.currency)}")
    if bottom := data.bottom_campaigns(1):
        lines.append(f"Bottom: {_campaign_line(bottom[0], data.currency)}")
    if data.budget_moves:
        lines.append(f"Budget moves: {len(data.budget_moves)}")
    stale = [s.source for s in data.sources if s.state == "stale"]
    if stale:
        lines.append(f"Stale sources (retried): {', '.join(stale)}")
    return "\n".join(lines)
