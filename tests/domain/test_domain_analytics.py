"""The canonical analytics model: validation of source rows, ROI/ROAS/CPA/CAC maths,
breakdowns, periods, report data and the automation KPI maths."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain.analytics import (
    ActivitySpan,
    Fact,
    Family,
    Period,
    RunFacts,
    Source,
    Totals,
    automation_kpis,
    breakdown,
    campaign_key,
    change,
    freshness,
    kpis,
    percentile,
    period_before,
    report_data,
    roi,
    time_split,
    to_facts,
    totals,
)

D = Decimal
DAY = date(2026, 3, 2)


def fact(source: Source = Source.META, **kw) -> Fact:
    base = {
        "source": source,
        "day": DAY,
        "channel": {"meta": "meta_ads", "google_ads": "google_ads", "hubspot": "crm"}.get(source.value, "email"),
        "campaign": "spring",
        "currency": "EUR",
    }
    return Fact.model_validate({**base, **kw})


def test_kpi_maths() -> None:
    t = Totals(
        spend=D("200.00"),
        impressions=20_000,
        clicks=400,
        conversions=8,
        reported_revenue=D("600.00"),
        attributed_customers=D(2),
        attributed_revenue=D("500.00"),
    )
    k = kpis(t)
    assert (k.ctr, k.cpc, k.cpa, k.roas, k.cac, k.roi) == (0.02, D("0.50"), D("25.00"), 3.0, D("100.00"), 1.5)
    assert kpis(t, booked=D("100"), customers=D("0.5")).roi == -0.5
    assert kpis(t, customers=D("0.5")).cac == D("400.00")
    # Every KPI is None when its denominator is 0.
    assert kpis(Totals()).model_dump() == {
        "ctr": None,
        "cpc": None,
        "cpa": None,
        "roas": None,
        "cac": None,
        "roi": None,
    }
    assert roi(D("300"), D("200")) == 0.5 and roi(D("1"), D(0)) is None
    assert change(D("125"), D("100")) == 0.25 and change(5, 0) is None and change(None, 3) is None
    # Fractional (modelled) conversions are summed exactly.
    assert totals([fact(conversions=0.1), fact(conversions=0.2)]).conversions == 0.3


def test_rows_that_break_the_schema_are_counted_with_a_reason() -> None:
    rows = [
        {"campaign": "spring", "spend": "10.50", "impressions": 1000, "clicks": 20, "conversions": 1, "revenue": "40"},
        {"campaign": "spring", "spend": "1.50", "impressions": 100, "clicks": 2},  # same key: added up
        {"campaign": "autumn", "spend": "-3"},
        {"campaign": "autumn", "clicks": None},
        {"campaign": "autumn", "day": "2026-03-03"},
        {"campaign": "autumn", "currency": "USD", "spend": "1"},
        {"campaign": "autumn", "impressions": "many"},
    ]
    facts, violations = to_facts(Source.META, DAY, rows, currency="EUR")
    assert len(facts) == 1
    assert (facts[0].spend, facts[0].impressions, facts[0].clicks, facts[0].revenue) == (D("12.00"), 1100, 22, D("40"))
    assert [(v.row, v.reason.split(":")[0]) for v in violations] == [
        (2, "spend"),
        (3, "clicks"),
        (4, "day"),
        (5, "currency"),
        (6, "impressions"),
    ]
    assert violations[1].reason == "clicks: missing"
    assert "not the reporting currency EUR" in violations[3].reason


def test_campaign_keys_from_platform_names() -> None:
    assert campaign_key("Spring launch [mops:spring-2027:meta_ads]") == "spring-2027"
    assert campaign_key("  Brand   search ") == "Brand search"
    assert campaign_key("") == campaign_key(None) == "(none)"


def test_breakdown_per_channel_with_attributed_credit() -> None:
    facts = [
        fact(spend=D("100"), clicks=100, impressions=5000, conversions=4, revenue=D("300")),
        fact(
            Source.GOOGLE_ADS,
            campaign="search",
            spend=D("50"),
            clicks=40,
            impressions=1000,
            conversions=5,
            revenue=D("100"),
        ),
        fact(Source.HUBSPOT, campaign="(none)", customers=2, revenue=D("900")),
    ]
    credits = {("meta_ads", "spring"): (D(1), D(1), D("600")), ("webinar", "(none)"): (D(1), D(1), D("300"))}
    rows = {r.channel: r for r in breakdown(facts, by="channel", credits=credits)}
    assert set(rows) == {"meta_ads", "google_ads", "webinar"}  # CRM rows reach channels only via attribution
    meta = rows["meta_ads"]
    assert (meta.kpis.roas, meta.kpis.cpa, meta.kpis.roi, meta.kpis.cac) == (3.0, D("25.00"), 5.0, D("100.00"))
    assert rows["google_ads"].kpis.roi == -1.0  # spent, credited with nothing
    assert rows["webinar"].kpis.roi is None and rows["webinar"].totals.attributed_revenue == D("300")
    assert [r.channel for r in breakdown(facts, by="channel", credits=credits)][:2] == ["meta_ads", "google_ads"]


def test_periods() -> None:
    week = period_before(date(2026, 3, 30), 7)  # a Monday: the Monday to Sunday before
    assert (week.start, week.end, week.days) == (date(2026, 3, 23), date(2026, 3, 29), 7)
    assert week.previous() == Period(start=date(2026, 3, 16), end=date(2026, 3, 22))
    # Berlin moves to summer time on 2026-03-29: that week is 167 hours long.
    start, end = week.bounds("Europe/Berlin")
    assert start == datetime(2026, 3, 22, 23, tzinfo=UTC) and end - start == timedelta(hours=167)
    with pytest.raises(ValidationError, match="is after to"):
        Period(start=date(2026, 3, 5), end=date(2026, 3, 1))


def test_report_data_headlines_changes_and_ranking() -> None:
    week = Period(start=DAY, end=DAY + timedelta(days=6))
    previous_day = DAY - timedelta(days=7)
    facts = [
        fact(spend=D("120"), clicks=100, impressions=4000, conversions=6, revenue=D("480")),
        fact(
            Source.GOOGLE_ADS,
            campaign="search",
            spend=D("80"),
            clicks=50,
            impressions=1000,
            conversions=2,
            revenue=D("80"),
        ),
        fact(Source.HUBSPOT, campaign="(none)", customers=1, revenue=D("1000")),
    ]
    before = [fact(day=previous_day, spend=D("100"), clicks=80, impressions=3000, conversions=4, revenue=D("300"))]
    data = report_data(
        title="Weekly",
        period=week,
        currency="EUR",
        timezone="UTC",
        generated_at=datetime.now(UTC),
        facts=facts,
        previous_facts=before,
    )
    heads = {h.name: h for h in data.headlines()}
    assert heads["Spend"].current == 200.0 and heads["Spend"].change == 1.0
    assert heads["CPA"].current == 25.0 and heads["CPA"].previous == 25.0 and heads["CPA"].change == 0.0
    assert heads["ROAS"].current == pytest.approx(2.8) and heads["ROAS"].previous == 3.0
    assert heads["ROI"].current == 4.0  # (1000 booked - 200 spent) / 200
    assert [c.campaign for c in data.top_campaigns(1)] == ["spring"]
    assert [c.campaign for c in data.bottom_campaigns(1)] == ["search"]
    assert len(data.daily) == 7 and data.daily[0].spend == D("200")


def test_freshness_of_sources() -> None:
    week = Period(start=DAY, end=DAY + timedelta(days=1))
    got = freshness(
        ["meta", "ga4", "hubspot"],
        week,
        {"meta": {DAY, DAY + timedelta(days=1)}, "ga4": {DAY}},
        {"meta": 2},
        {"hubspot": "hubspot 503 server_error"},
    )
    assert [(f.source, f.state, f.days_loaded, f.violations) for f in got] == [
        ("meta", "fresh", 2, 2),
        ("ga4", "missing", 1, 0),
        ("hubspot", "stale", 0, 0),
    ]


T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def s(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_time_split_working_versus_waiting_for_people() -> None:
    spans = [
        ActivitySpan(name="cms.create_draft", scheduled=s(0), closed=s(1)),
        ActivitySpan(name="chat.notify", scheduled=s(1), closed=s(2)),  # the ask
        ActivitySpan(name="chat.notify", scheduled=s(60), closed=s(61)),  # a reminder: still waiting
        ActivitySpan(name="cms.publish", scheduled=s(100), closed=s(102)),
    ]
    work, people = time_split(T0, s(102), spans, [s(90)])
    assert work == 5 * 60
    assert people == (90 - 1 - 2) * 60  # from the end of real work (1) to the decision (90), less the two notifies
    assert time_split(T0, s(102), spans, []) == (5 * 60, 0.0)


def test_percentiles_and_family_kpis() -> None:
    assert percentile([], 50) is None
    assert percentile([5, 1, 3, 2, 4], 50) == 3 and percentile([5, 1, 3, 2, 4], 95) == 5
    assert percentile(list(range(1, 101)), 95) == 95

    def run(status, minutes=None, human=0, activities=4, retries=0, family=Family.CONTENT) -> RunFacts:
        return RunFacts(
            family=family,
            workflow_id=f"w{minutes}",
            status=status,
            started=T0,
            closed=s(minutes) if minutes is not None else None,
            human_messages=human,
            activities=activities,
            retries=retries,
            work_seconds=60,
            people_seconds=120 if human else 0,
        )

    runs = [
        run("completed", 10),
        run("completed", 20, human=2),
        run("completed", 30, retries=2),
        run("failed", 40),
        run("running"),
    ]
    k = {x.family: x for x in automation_kpis(runs, now=s(60))}
    content = k[Family.CONTENT]
    assert (content.runs, content.completed, content.failed, content.running) == (5, 3, 1, 1)
    assert content.no_touch_share == pytest.approx(2 / 3)
    assert content.error_rate == 0.25 and content.retry_rate == 0.1
    assert content.median_cycle_seconds == 20 * 60 and content.p95_cycle_seconds == 40 * 60
    assert content.people_seconds == 120 and content.people_share == pytest.approx(120 / (120 + 300))
    assert k[Family.LEADS].runs == 0 and k[Family.LEADS].error_rate is None  # every family is listed
