"""Analytics end to end against the dev server, the sandbox platforms over HTTP and the
real workers: every source collected into the store in canonical figures (a won deal
without an amount refused and reported), a collection run again replaces and never
doubles, the lead journeys' touch paths read by visibility + query, attribution of a
won deal to them, the dashboard written by the CLI with the store's figures, and bad
input refused in one line with exit code 2, starting nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from domain.analytics import Source
from domain.leads import Utm
from integrations.google_ads import GoogleAdsClient
from integrations.hubspot import HubSpotClient
from integrations.meta_ads import MetaAdsClient
from integrations.sendgrid import SendGridClient
from mops.settings import Settings, get_settings
from starter.cli import app
from starter.service.leads import build_capture, build_event
from starter.service.reports import ReportService, period
from tests.ad_fixtures import add_running_ad
from tests.conftest import eventually
from tests.e2e.conftest import Stack
from tests.google_search import make_serving
from workflows.analytics_models import SourceState


def cli_env(settings: Settings) -> dict[str, str]:
    return {
        f"MOPS_{k.upper()}": str(v)
        for k, v in settings.model_dump(mode="json").items()
        if isinstance(v, str | int | float)
        and not isinstance(v, bool)
        and "token" not in k
        and "key" not in k
        and "secret" not in k
        and "password" not in k
    }


async def run_cli(settings: Settings, *args: str):
    get_settings.cache_clear()
    try:
        return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=cli_env(settings))
    finally:
        get_settings.cache_clear()


async def collections(stack: Stack) -> int:
    q = stack.settings.workflow_task_queue
    return (await stack.client.count_workflows(f"WorkflowType = 'AnalyticsCollection' AND TaskQueue = '{q}'")).count


async def seed_platforms(s: Settings, tag: str, lead_workflow_id: str) -> dict[str, str]:
    """What the platforms would hold on their own: a live Meta and Google Ads campaign, a
    sent e-mail, a won deal for the lead and one won deal without an amount."""
    now = datetime.now(UTC)
    async with MetaAdsClient(
        s.meta_base_url, s.meta_token.get_secret_value(), ad_account_id=s.meta_ad_account_id, page_id=s.meta_page_id
    ) as meta:
        campaign = await meta.create_campaign(
            name=f"Analytics {tag} [mops:{tag}:meta_ads]", objective="OUTCOME_LEADS", status="ACTIVE"
        )
        ad_set = await meta.create_ad_set(
            campaign_id=campaign, name=f"{tag} ad set", daily_budget=5000, countries=["DE"], status="ACTIVE"
        )
        await add_running_ad(meta, ad_set, tag)
    async with GoogleAdsClient(
        s.google_ads_base_url,
        s.google_ads_token.get_secret_value(),
        customer_id=s.google_ads_customer_id,
        developer_token=s.google_ads_developer_token.get_secret_value(),
    ) as google:
        budget = await google.create_budget(name=f"{tag} budget", amount_micros=30_000_000)
        campaign_rn = await google.create_campaign(
            name=f"Search {tag} [mops:{tag}:google_ads]", budget=budget, status="ENABLED"
        )
        await make_serving(google, campaign_rn)
    async with SendGridClient(s.sendgrid_base_url, s.sendgrid_api_key.get_secret_value()) as sendgrid:
        await sendgrid.send_mail(
            to_email=f"{tag}@acme.example",
            from_email="news@mops.example",
            subject="Hi",
            html="<p>Hi</p>",
            asm_group_id=None,
            categories=["mops"],
            custom_args={},
            idempotency_key=f"{tag}-mail",
        )
    async with HubSpotClient(s.hubspot_base_url, s.hubspot_token.get_secret_value()) as hubspot:
        contact = await hubspot.upsert_contact(f"buyer.{tag}@acme.example", {})
        closed = str(int(now.timestamp() * 1000))
        won = await hubspot.upsert_deal(
            f"{lead_workflow_id}:c0:deal",
            {
                "dealname": "won",
                "pipeline": "default",
                "dealstage": "closedwon",
                "amount": "1200.50",
                "closedate": closed,
                "deal_currency_code": "EUR",
            },
            contact.id,
        )
        unpriced = await hubspot.upsert_deal(
            f"lead-{uuid.uuid4().hex[:24]}:c0:deal",
            {"dealname": "no amount", "pipeline": "default", "dealstage": "closedwon", "closedate": closed},
            contact.id,
        )
    return {"meta_campaign": campaign, "won": won, "unpriced": unpriced}


async def test_collection_journeys_attribution_and_dashboard(stack: Stack, tmp_path: Path) -> None:
    s, tag = stack.settings, f"ana-{uuid.uuid4().hex[:8]}"
    # A lead that came through the campaign's Meta ad, then clicked the campaign e-mail.
    captured = await stack.leads.capture(
        build_capture(
            s,
            email=f"lead.{tag}@acme.example",
            source="paid_social",
            consent=True,
            utm=Utm(source="facebook", medium="paid_social", campaign=tag, content="meta_ads"),
        )
    )
    await stack.leads.record_event(
        build_event(type="click", detail=f"https://site.example/spring?utm_campaign={tag}&utm_content=email"),
        lead_id=captured.workflow_id,
    )
    await eventually(lambda: _touches(stack, captured.workflow_id, 2), what="two touches on the lead")
    refs = await seed_platforms(s, tag, captured.workflow_id)

    svc = ReportService(stack.client, s)
    # The e-mail's day as the sandbox stamped it (its statistics count it on that day), not the
    # clock read after seeding: a run crossing midnight UTC would look for it a day late. The
    # deal closed before it, so on that day or the one before.
    [mail] = [
        e for e in await stack.admin.effects("sendgrid", "mail.send") if f"{tag}@acme.example" in e["summary"]["to"]
    ]
    today = datetime.fromisoformat(mail["at"].replace("Z", "+00:00")).date()
    days = period(today - timedelta(days=1), today, default_days=2, end=today)
    _, view = await svc.collect(svc.collection_input(days))
    assert view.stale == {}, view.timeline
    states = {x.source: x for x in view.sources}
    assert all(x.state == SourceState.FRESH for x in view.sources)
    assert states["hubspot"].result.violations == 1 and "revenue: missing" in states["hubspot"].result.reasons[0]
    assert states["journeys"].result.journeys == 1 and states["journeys"].result.touches == 2

    facts = svc.store.facts(days.start, days.end)
    mine = [f for f in facts if f.campaign == tag]
    assert {f.channel for f in mine} == {"meta_ads", "google_ads"}
    # The canonical Meta spend is what the platform reports for that campaign, day by day.
    async with MetaAdsClient(
        s.meta_base_url, s.meta_token.get_secret_value(), ad_account_id=s.meta_ad_account_id
    ) as meta:
        insight = await meta.insights(refs["meta_campaign"], since=days.start, until=days.end)
    assert (
        sorted((f.day, f.spend) for f in mine if f.channel == "meta_ads") == sorted((r.day, r.spend) for r in insight)
        and insight
    )
    assert sum(f.spend for f in mine) > 0 and all(f.clicks > 0 and f.impressions > f.clicks for f in mine)
    assert any(f.source == Source.SENDGRID and f.day == today and f.impressions >= 1 for f in facts)
    assert (
        all(f.sessions > 0 for f in facts if f.source == Source.GA4)
        and len([f for f in facts if f.source == Source.GA4]) == 2
    )
    deals = {d.deal_id: d for d in svc.store.deals()}
    assert deals[refs["won"]].amount == Decimal("1200.50") and refs["unpriced"] not in deals
    assert deals[refs["won"]].lead_workflow_id == captured.workflow_id

    # Collected again: the same rows, not twice as many; the loads were redone.
    loads_before = {(x.source, x.day): x.loaded_at for x in svc.store.loads(days.start, days.end)}
    await svc.collect(svc.collection_input(days))
    assert svc.store.facts(days.start, days.end) == facts
    loads_after = {(x.source, x.day): x.loaded_at for x in svc.store.loads(days.start, days.end)}
    assert loads_after.keys() == loads_before.keys() and all(loads_after[k] > loads_before[k] for k in loads_after)

    # The won deal is the lead's conversion: each model credits its touches.
    [journey] = [j for j in svc.store.journeys() if f"lead-{j.lead_id}" == captured.workflow_id]
    assert [t.channel for t in journey.touches] == ["meta_ads", "email"] and journey.revenue == Decimal("1200.50")
    result = await run_cli(
        s,
        "report",
        "attribution",
        "--model",
        "first_touch",
        "--model",
        "last_touch",
        "--model",
        "linear",
        "--from",
        days.start.isoformat(),
        "--to",
        days.end.isoformat(),
        "--json",
    )
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)["results"]
    assert {c["channel"]: Decimal(c["revenue"]) for c in got["first_touch"]["credits"]} == {
        "meta_ads": Decimal("1200.50")
    }
    assert {c["channel"]: Decimal(c["revenue"]) for c in got["last_touch"]["credits"]} == {"email": Decimal("1200.50")}
    assert {c["channel"]: Decimal(c["conversions"]) for c in got["linear"]["credits"]} == {
        "meta_ads": Decimal("0.5"),
        "email": Decimal("0.5"),
    }

    # The dashboard from the CLI: a self-contained file with the store's figures.
    out = tmp_path / "dash.html"
    result = await run_cli(
        s, "report", "dashboard", "--from", days.start.isoformat(), "--to", days.end.isoformat(), "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert str(out) in result.output.replace("\n", "")
    html = out.read_text()
    meta_spend = sum(f.spend for f in mine if f.channel == "meta_ads")
    assert tag in html and f"{meta_spend:,.2f} EUR" in html and "1,200.50 EUR" in html
    assert "<svg" in html and "<script" not in html

    # Collecting from the CLI, and the automation KPIs of what ran: the lead journey and the
    # three collections (two above, one here), per process family.
    result = await run_cli(s, "report", "collect", "--source", "sendgrid", "--from", today.isoformat(), "--json")
    assert result.exit_code == 0, result.output
    collected = json.loads(result.output)
    assert [x["source"] for x in collected["sources"]] == ["sendgrid", "journeys"] and collected["stale"] == {}
    # From the day before the e-mail's: the lead was captured before it was sent (a day earlier
    # when midnight passed between), and only this test's runs are on its task queue.
    result = await run_cli(s, "report", "automation", "--from", days.start.isoformat(), "--json")
    assert result.exit_code == 0, result.output
    families = {k["family"]: k for k in json.loads(result.output)}
    assert set(families) == {"leads", "content", "campaigns", "budget", "reports"}
    assert families["leads"]["runs"] == 1 and families["leads"]["running"] == 1
    reports = families["reports"]
    assert reports["runs"] == 3 and reports["completed"] == 3 and reports["no_touch_share"] == 1.0
    assert reports["error_rate"] == 0.0 and reports["median_cycle_seconds"] > 0 and reports["work_seconds"] > 0

    # A journey that has ended is read once more after it closed, then no longer queried
    # (a closed workflow answers a query by replaying its whole history).
    await stack.leads.unsubscribe(lead_id=captured.workflow_id, source="test")

    async def closed() -> bool:
        return (await stack.client.get_workflow_handle(captured.workflow_id).describe()).close_time is not None

    await eventually(closed, what="the journey to end")
    reads = []
    for _ in range(2):
        _, again = await svc.collect(
            svc.collection_input(period(today, today, default_days=1, end=today), ["sendgrid"])
        )
        reads.append(next(x.result for x in again.sources if x.source == "journeys"))
    assert (reads[0].journeys, reads[0].unchanged) == (1, 0) and (reads[1].journeys, reads[1].unchanged) == (0, 1)
    assert [j.stage for j in svc.store.journeys() if f"lead-{j.lead_id}" == captured.workflow_id] == ["unsubscribed"]


async def _touches(stack: Stack, workflow_id: str, n: int) -> bool:
    return len((await stack.leads.state(lead_id=workflow_id)).touch_path) >= n


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["attribution", "--model", "markov"], "model: unknown model 'markov'"),
        (["attribution", "--from", "2026-03-10", "--to", "2026-03-01"], "from: 2026-03-10 is after to 2026-03-01"),
        (["dashboard", "--from", "yesterday"], "from: 'yesterday' is not a date"),
        (["collect", "--source", "tiktok"], "source: unknown source 'tiktok'"),
        (["backfill", "--from", "2026-03-10", "--to", "2026-03-01"], "from: 2026-03-10 is after to"),
        (["schedule", "--weekly", "mon", "08:00", "--tz", "Mars/Olympus"], "tz: unknown timezone 'Mars/Olympus'"),
        (["schedule", "--weekly", "someday", "08:00"], "weekly: unknown day 'someday'"),
        (["schedule", "--weekly", "mon", "25:00"], "weekly: '25:00' is not a time of day"),
        (["automation", "--tz", "Nowhere/City"], "tz: unknown timezone"),
    ],
)
async def test_bad_input_is_one_line_exit_2_and_starts_nothing(stack: Stack, args: list[str], message: str) -> None:
    before = await collections(stack)
    result = await run_cli(stack.settings, "report", *args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output
    assert await collections(stack) == before
