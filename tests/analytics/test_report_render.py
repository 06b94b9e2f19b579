"""The HTML dashboard and executive report render the figures they are given: headline
KPIs with their changes, channels and campaigns, attribution side by side, automation,
budget moves, stale sources; self-contained (inline SVG, no scripts)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser

from domain.analytics import (
    AttributionRow,
    BudgetMove,
    Fact,
    Family,
    FamilyKpis,
    Period,
    Source,
    SourceFreshness,
    report_data,
)
from domain.report_render import dashboard_html, executive_html, executive_text

D = Decimal
WEEK = Period(start=date(2026, 3, 2), end=date(2026, 3, 8))


def fact(source: Source, day: date, campaign: str, **kw) -> Fact:
    channel = {Source.META: "meta_ads", Source.GOOGLE_ADS: "google_ads", Source.HUBSPOT: "crm"}[source]
    return Fact(source=source, day=day, channel=channel, campaign=campaign, currency="EUR", **kw)


def data():
    facts = [
        fact(
            Source.META,
            WEEK.start,
            "spring",
            spend=D("120.00"),
            impressions=4000,
            clicks=100,
            conversions=6,
            revenue=D("480.00"),
        ),
        fact(
            Source.GOOGLE_ADS,
            WEEK.start + timedelta(days=1),
            "search",
            spend=D("80.00"),
            impressions=1000,
            clicks=50,
            conversions=2,
            revenue=D("80.00"),
        ),
        fact(Source.HUBSPOT, WEEK.start + timedelta(days=2), "(none)", customers=1, revenue=D("1000.00")),
    ]
    previous = [
        fact(
            Source.META,
            WEEK.start - timedelta(days=7),
            "spring",
            spend=D("100.00"),
            impressions=3000,
            clicks=80,
            conversions=4,
            revenue=D("300.00"),
        )
    ]
    return report_data(
        title="Weekly marketing report",
        period=WEEK,
        currency="EUR",
        timezone="Europe/Berlin",
        generated_at=datetime(2026, 3, 9, 7, tzinfo=UTC),
        facts=facts,
        previous_facts=previous,
        credits={
            ("meta_ads", "spring"): (D("0.7"), D("0.7"), D("700.00")),
            ("webinar", "(none)"): (D("0.3"), D("0.3"), D("300.00")),
        },
        attribution_model="w_shaped",
        attribution_models=["w_shaped", "last_touch"],
        attribution=[
            AttributionRow(
                channel="meta_ads",
                conversions={"w_shaped": D("0.7"), "last_touch": D(1)},
                revenue={"w_shaped": D("700.00"), "last_touch": D("1000.00")},
            )
        ],
        attributed_conversions=1,
        leads=12,
        automation=[
            FamilyKpis(
                family=Family.CONTENT,
                runs=4,
                completed=3,
                no_touch_share=1 / 3,
                error_rate=0.25,
                median_cycle_seconds=7200,
                people_seconds=3600,
                work_seconds=1200,
            )
        ],
        budget_moves=[
            BudgetMove(
                at=datetime(2026, 3, 4, 9, tzinfo=UTC),
                campaign_id="spring",
                workflow_id="b-1",
                detail="meta_ads 60.00 EUR → 48.00 EUR a day",
                decided_by=["dana"],
            )
        ],
        sources=[
            SourceFreshness(source="meta", state="fresh", days_loaded=7, days=7),
            SourceFreshness(source="hubspot", state="stale", days=7, detail="hubspot 503 server_error"),
        ],
    )


def text_of(html: str) -> str:
    class Text(HTMLParser):
        parts: list[str] = []

        def handle_data(self, d: str) -> None:
            self.parts.append(d)

    parser = Text()
    parser.parts = []
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def test_dashboard_shows_the_figures() -> None:
    html = dashboard_html(data())
    text = text_of(html)
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and "http" not in html.split("<svg")[0][:200]
    assert html.count("<svg") == 3
    # Headlines with their change against the week before (spend 200 vs 100, CPA flat, ROAS 2.80 vs 3.00).
    assert "Spend 200.00 EUR +100.0% vs previous" in text
    assert "CPA 25.00 EUR +0.0% vs previous" in text
    assert "ROAS 2.80 -6.7% vs previous" in text
    assert "Booked revenue 1,000.00 EUR" in text and "ROI 400.0%" in text
    # The channel table: meta spent 120 for 480 reported (ROAS 4.00), 700 booked credited -> ROI 483.3%.
    row = re.search(
        r"meta_ads 120\.00 EUR 4,000 100 2\.5% 1\.20 EUR 6 20\.00 EUR 480\.00 EUR 4\.00 0\.70 "
        r"700\.00 EUR 171\.43 EUR 483\.3%",
        text,
    )
    assert row, text
    assert "search 80.00 EUR" in text and "webinar" in text
    assert "2026-03-02 to 2026-03-08 (Europe/Berlin)" in text and "12 new lead(s)" in text
    assert "hubspot stale" in text and "hubspot 503 server_error" in text


def test_executive_report_and_chat_text() -> None:
    d = data()
    html = executive_html(d)
    text = text_of(html)
    assert "<script" not in html and "<svg" in html
    assert "Incomplete data: hubspot stale (hubspot 503 server_error)" in text
    assert "Top campaigns spring (meta_ads): ROAS 4.00, spend 120.00 EUR, CPA 20.00 EUR" in text
    assert "Bottom campaigns search (google_ads): ROAS 1.00" in text
    assert "2026-03-04 spring: meta_ads 60.00 EUR → 48.00 EUR a day (approved by dana)" in text
    assert "content 4 3 0 33.3% 25.0%" in text and "2.0h" in text
    assert "0.70 · 700.00 EUR" in text and "1 · 1,000.00 EUR" in text
    chat = executive_text(d)
    assert chat.splitlines()[0] == "*Weekly marketing report* — 2026-03-02 to 2026-03-08 (Europe/Berlin)"
    assert "• Spend: 200.00 EUR (+100.0%)" in chat and "Stale sources (retried): hubspot" in chat
    assert "Top: spring (meta_ads)" in chat and "Bottom: search (google_ads)" in chat


def test_an_empty_store_renders_a_hint_not_an_error() -> None:
    empty = report_data(
        title="Dashboard",
        period=WEEK,
        currency="EUR",
        timezone="UTC",
        generated_at=datetime(2026, 3, 9, tzinfo=UTC),
        facts=[],
        previous_facts=[],
    )
    text = text_of(dashboard_html(empty))
    assert "No figures in the store for this period" in text and "Spend 0.00 EUR" in text
