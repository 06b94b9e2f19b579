"""The analytics part of `mops demo`: once the leads and the campaign have run, the
sales rep closes Ada's deal as won in the CRM (as they would in HubSpot), the last
seven days are collected from every platform into the analytics store, and the HTML
dashboard is written to `.mops/reports/` (its path is printed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from temporalio.client import Client

from domain.analytics import ReportData
from domain.money import show
from integrations.hubspot import HubSpotClient
from mops.settings import Settings
from starter.render import make_console
from starter.service.reports import ReportService, period, today
from workflows.analytics_models import CollectionView

WON_AMOUNT = "12000.00"


class ReportDemoError(RuntimeError):
    pass


@dataclass
class ReportDemo:
    collection: CollectionView
    dashboard: Path
    data: ReportData
    won_deal: str | None


async def close_won(settings: Settings, deal_id: str, amount: str = WON_AMOUNT) -> None:
    """What the sales rep does in the CRM when the customer signs."""
    async with HubSpotClient(settings.hubspot_base_url, settings.hubspot_token.get_secret_value()) as hubspot:
        await hubspot.update_deal(
            deal_id,
            {
                "dealstage": "closedwon",
                "amount": amount,
                "closedate": str(int(datetime.now(UTC).timestamp() * 1000)),
                "deal_currency_code": settings.report_currency,
            },
        )


async def run_report_demo(client: Client, settings: Settings, console: Console, won_deal: str | None) -> ReportDemo:
    if won_deal:
        await close_won(settings, won_deal)
        console.print(f"  deal {won_deal} closed won in the CRM ({WON_AMOUNT} {settings.report_currency})")
    svc = ReportService(client, settings)
    end = today(settings)
    days = period(end - timedelta(days=6), end, default_days=7, end=end)
    _, view = await svc.collect(svc.collection_input(days, retry_within=timedelta(0)))
    if view is None or view.stale:
        raise ReportDemoError(f"analytics collection left sources stale: {view.stale if view else 'no result'}")
    console.print(f"  collected {days.label()} from every platform into {settings.analytics_store_file}")
    path, data = await svc.dashboard(days)
    return ReportDemo(collection=view, dashboard=path, data=data, won_deal=won_deal)


def report_row(demo: ReportDemo) -> dict:
    d = demo.data
    top = max(d.attribution, key=lambda r: (r.revenue.get(d.attribution_model, 0), r.channel), default=None)
    return {
        "dashboard": str(demo.dashboard),
        "period": d.period.label(),
        "spend": show(d.totals.spend, d.currency),
        "conversions": d.totals.conversions,
        "won_deals": d.totals.customers,
        "booked_revenue": show(d.totals.booked_revenue, d.currency),
        "roas": d.kpis.roas,
        "roi": d.kpis.roi,
        "attributed_to": top.channel if top else None,
        "sources": {s.source: s.state for s in d.sources},
    }


def print_report(row: dict) -> None:
    out = make_console(min_width=100)
    roas = f"{row['roas']:.2f}" if row["roas"] is not None else "-"
    roi = f"{row['roi']:.0%}" if row["roi"] is not None else "-"
    out.print(
        f"\n[bold]Analytics[/] {row['period']}: spend {row['spend']}, {row['conversions']:,.0f} platform "
        f"conversions (ROAS {roas}), {row['won_deals']} won deal(s) worth {row['booked_revenue']} (ROI {roi})"
        + (f", credited to {row['attributed_to']} (w_shaped)" if row["attributed_to"] else ""),
        soft_wrap=True,
        highlight=False,
    )
    out.print(f"  Dashboard: {row['dashboard']}", soft_wrap=True, highlight=False)
