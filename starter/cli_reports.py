"""`mops report ...`: collect and backfill into the analytics store, the HTML dashboard,
attribution models side by side, the executive report's Schedule, automation KPIs.

Bad input (a date that is not one, `--from` after `--to`, an unknown model, source or
time zone) is one line and exit code 2, and starts nothing.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from domain.analytics import duration_text
from starter.cli_common import JsonOpt, emit, out, run_async, settings, temporal_client
from starter.service.reports import (
    ReportService,
    duration,
    period,
    recipients,
    today,
    weekly,
)
from starter.service.reports import timezone as check_tz

report_app = typer.Typer(
    help="Analytics: collection, dashboard, attribution, executive report, automation KPIs.", no_args_is_help=True
)

FromOpt = Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD (in MOPS_REPORT_TIMEZONE).")]
ToOpt = Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (included).")]
SourceOpt = Annotated[
    list[str] | None, typer.Option("--source", help="meta, google_ads, sendgrid, ga4, hubspot (repeat; default: all)")
]


def _collection_lines(wf_id: str, view) -> None:
    out.print(f"[bold]{wf_id}[/]: {view.since} to {view.until}")
    for s in view.sources:
        r = s.result
        figures = ""
        if r is not None and hasattr(r, "rows"):
            figures = f"{r.days} day(s), {r.rows} row(s)" + (f", {r.violations} refused" if r.violations else "")
            if r.resumed_from:
                figures += f", resumed at {r.resumed_from}"
        elif r is not None:
            figures = f"{r.journeys} journey(s), {r.touches} touch(es)" + (
                f", {r.skipped} unreadable" if r.skipped else ""
            )
        state = s.state.value if s.state.value == "fresh" else f"[yellow]{s.state.value}[/] ({s.error})"
        out.print(f"  {s.source:<10} {state}  {figures}", highlight=False)
        if r is not None and getattr(r, "reasons", None):
            for why in r.reasons[:5]:
                out.print(f"      refused: {why}", highlight=False)
    for d in view.deal_conversions:  # won deals this run sent to the ad platforms (deal_won)
        detail = f" ({d.detail})" if d.detail else ""
        out.print(f"  deal won   {d.deal_id} → {d.platform.value}: {d.outcome.value}{detail}", highlight=False)


async def _collect(
    from_: str | None, to: str | None, source: list[str] | None, wait: bool, as_json: bool, *, default_days: int
) -> None:
    s = settings()
    days = period(from_, to, default_days=default_days, end=today(s) - timedelta(days=1))
    inp = ReportService(None, s).collection_input(days, source)  # validated before connecting
    wf_id, view = await ReportService(await temporal_client(), s).collect(inp, wait=wait)
    if view is None:
        emit(
            {"workflow_id": wf_id},
            as_json,
            lambda: out.print(f"collecting {days.label()} in [bold]{wf_id}[/]\nWeb UI: {s.workflow_url(wf_id)}"),
        )
        return
    emit(
        {"workflow_id": wf_id, **view.model_dump(mode="json"), "stale": view.stale},
        as_json,
        lambda: _collection_lines(wf_id, view),
    )


@report_app.command("collect")
@run_async("mops report collect")
async def report_collect(
    from_: FromOpt = None,
    to: ToOpt = None,
    source: SourceOpt = None,
    wait: Annotated[bool, typer.Option(help="Wait for the collection to finish.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Collect every platform's daily figures (default: yesterday) and the lead journeys'
    touch paths into the analytics store. Re-collecting a day replaces it."""
    await _collect(from_, to, source, wait, as_json, default_days=1)


@report_app.command("backfill")
@run_async("mops report backfill")
async def report_backfill(
    from_: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    to: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD (included).")],
    source: SourceOpt = None,
    wait: Annotated[bool, typer.Option(help="Wait for the backfill to finish.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Collect a range of past days in one go (resumable: a crash continues from the last day loaded)."""
    await _collect(from_, to, source, wait, as_json, default_days=1)


@report_app.command("dashboard")
@run_async("mops report dashboard")
async def report_dashboard(
    from_: FromOpt = None,
    to: ToOpt = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="HTML file to write.")] = None,
    model: Annotated[str, typer.Option(help="Attribution model for the channel table.")] = "w_shaped",
    as_json: JsonOpt = False,
) -> None:
    """Render the HTML dashboard (default: the last 28 days) from the store; prints its path."""
    s = settings()
    days = period(from_, to, default_days=28, end=today(s))
    path, data = await ReportService(None, s).dashboard(days, out_file, model=model)
    t = data.totals
    emit(
        {
            "path": str(path),
            "period": data.period.model_dump(mode="json"),
            "totals": t.model_dump(mode="json"),
            "kpis": data.kpis.model_dump(mode="json"),
            "sources": [x.model_dump(mode="json") for x in data.sources],
        },
        as_json,
        lambda: out.print(
            f"dashboard for {days.label()}: spend {t.spend:,.2f} {data.currency}, "
            f"{t.conversions:,.0f} conversions, {t.customers} won deal(s)\n{path}",
            highlight=False,
            soft_wrap=True,
        ),
    )


@report_app.command("attribution")
@run_async("mops report attribution")
async def report_attribution(
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="first_touch, last_touch, linear, time_decay, u_shaped, w_shaped or all (repeat)"),
    ] = None,
    from_: FromOpt = None,
    to: ToOpt = None,
    half_life: Annotated[str | None, typer.Option(help="Time-decay half-life, e.g. 7d.")] = None,
    lookback: Annotated[
        str | None, typer.Option(help="Touches older than this before a conversion do not count, e.g. 90d.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Credit the conversions of the period to channels by each model, side by side."""
    s = settings()
    days = period(from_, to, default_days=30, end=today(s))
    hl = duration(half_life, "half_life") if half_life else None
    lb = duration(lookback, "lookback") if lookback else None
    comparison = await ReportService(None, s).attribution(days, model or ["all"], half_life=hl, lookback=lb)

    def human() -> None:
        first = comparison.results[comparison.models[0]]
        table = Table(
            title=f"Attribution {days.label()}: {first.conversions} conversion(s), "
            f"{first.customers} customer(s), {first.revenue:,.2f} {s.report_currency} booked"
        )
        table.add_column("channel")
        for m in comparison.models:
            table.add_column(m.value, justify="right")
        for row in comparison.rows:
            table.add_row(
                row.channel, *[f"{row.conversions[m]:.2f} · {row.revenue[m]:,.2f}" for m in comparison.models]
            )
        out.print(table)
        if first.unattributed:
            out.print(f"{first.unattributed} conversion(s) had no touch within the lookback.")

    emit(
        {
            "period": days.model_dump(mode="json"),
            "models": [m.value for m in comparison.models],
            "results": {m.value: r.model_dump(mode="json") for m, r in comparison.results.items()},
        },
        as_json,
        human,
    )


@report_app.command("schedule")
@run_async("mops report schedule")
async def report_schedule(
    weekly_at: Annotated[tuple[str, str], typer.Option("--weekly", help="Day and time, e.g. --weekly mon 08:00.")],
    tz: Annotated[str | None, typer.Option("--tz", help="IANA time zone (default MOPS_REPORT_TIMEZONE).")] = None,
    to: Annotated[
        list[str] | None, typer.Option("--to", help="Recipient e-mail (repeat; default MOPS_REPORT_RECIPIENTS).")
    ] = None,
    chat: Annotated[str | None, typer.Option(help="Chat channel (default MOPS_REPORT_CHAT_CHANNEL).")] = None,
    title: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create (or update) the Temporal Schedule that runs the executive report (overlap: skip)."""
    s = settings()
    spec = weekly(weekly_at[0], weekly_at[1], tz, s)
    svc = ReportService(None, s)
    inp = svc.report_input(tz=spec.timezone, to=recipients(to, s), chat=chat or s.report_chat_channel, title=title)
    schedule_id = await ReportService(await temporal_client(), s).schedule(spec, inp)
    emit(
        {"schedule_id": schedule_id, "when": spec.describe(), "recipients": inp.recipients, "chat": inp.chat_channel},
        as_json,
        lambda: out.print(
            f"schedule [bold]{schedule_id}[/] runs the executive report {spec.describe()} "
            f"(overlap: skip) to {len(inp.recipients)} recipient(s)"
            + (f" and {inp.chat_channel}" if inp.chat_channel else ""),
            highlight=False,
        ),
    )


@report_app.command("automation")
@run_async("mops report automation")
async def report_automation(
    from_: FromOpt = None,
    to: ToOpt = None,
    tz: Annotated[str | None, typer.Option("--tz", help="IANA time zone.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Runs, no-touch share, error and retry rates, cycle times and waiting for people, per process family."""
    s = settings()
    s = s.model_copy(update={"report_timezone": check_tz(tz, s)})
    days = period(from_, to, default_days=7, end=today(s))
    kpis = await ReportService(await temporal_client(), s).automation(days)

    def human() -> None:
        table = Table(title=f"Automation {days.label()} ({s.report_timezone})")
        for col in (
            "process",
            "runs",
            "completed",
            "no-touch",
            "errors",
            "retries",
            "median",
            "p95",
            "working",
            "waiting for people",
        ):
            table.add_column(col, justify="left" if col == "process" else "right")
        for k in kpis:
            table.add_row(
                k.family.value,
                str(k.runs),
                str(k.completed),
                _pct(k.no_touch_share),
                _pct(k.error_rate),
                _pct(k.retry_rate),
                duration_text(k.median_cycle_seconds),
                duration_text(k.p95_cycle_seconds),
                duration_text(k.work_seconds),
                duration_text(k.people_seconds),
            )
        out.print(table)

    emit([{**k.model_dump(mode="json"), "people_share": k.people_share} for k in kpis], as_json, human)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
