"""The DuckDB analytics store: a day re-loaded replaces itself (never doubles), a failed
load leaves the previous one, schema violations are recorded, journeys and deals join,
threads and a second process are waited for, deal conversions recorded once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from domain.analytics import Fact, Source, to_facts
from domain.attribution import Journey, PathTouch
from domain.conversions import ConversionOutcome, DealConversion, Platform
from domain.journey_stats import LeadStepRow
from integrations.analytics_store import Deal, Distribution, DuckDBStore, StoreError

DAY = date(2026, 3, 2)


def meta_rows(scale: int = 1) -> list[dict]:
    return [
        {
            "campaign": "spring",
            "spend": f"{10 * scale}.25",
            "impressions": 1000 * scale,
            "clicks": 20 * scale,
            "conversions": 1.5 * scale,
            "revenue": f"{40 * scale}",
        },
        {"campaign": "autumn", "spend": "5", "impressions": 300, "clicks": 3},
    ]


@pytest.fixture
def store(tmp_path: Path) -> DuckDBStore:
    return DuckDBStore(tmp_path / "a" / "analytics.duckdb")


def test_reloading_a_day_replaces_it_and_never_doubles(store: DuckDBStore) -> None:
    facts, bad = to_facts(Source.META, DAY, meta_rows(), currency="EUR")
    store.replace_day(Source.META, DAY, facts, bad)
    store.replace_day(Source.META, DAY, facts, bad)
    other, _ = to_facts(Source.GOOGLE_ADS, DAY, [{"campaign": "search", "spend": "7"}], currency="EUR")
    store.replace_day(Source.GOOGLE_ADS, DAY, other, [])
    got = store.facts(DAY, DAY)
    assert [(f.source, f.campaign, f.spend) for f in got] == [
        (Source.GOOGLE_ADS, "search", Decimal("7")),
        (Source.META, "autumn", Decimal("5")),
        (Source.META, "spring", Decimal("10.25")),
    ]
    # New figures for the day (the platform restated them) replace the old ones; other sources stay.
    facts3, _ = to_facts(Source.META, DAY, meta_rows(3)[:1], currency="EUR")
    store.replace_day(Source.META, DAY, facts3, [])
    got = store.facts(DAY, DAY, [Source.META])
    assert [(f.campaign, f.spend, f.conversions) for f in got] == [("spring", Decimal("30.25"), 4.5)]
    assert len(store.facts(DAY, DAY, [Source.GOOGLE_ADS])) == 1
    assert [(load.source, load.rows) for load in store.loads(DAY, DAY)] == [(Source.GOOGLE_ADS, 1), (Source.META, 1)]


def test_a_failed_load_leaves_the_previous_one(store: DuckDBStore) -> None:
    facts, _ = to_facts(Source.META, DAY, meta_rows(), currency="EUR")
    store.replace_day(Source.META, DAY, facts, [])
    twice = [facts[0], facts[0]]  # the same key twice breaks the primary key half way through the insert
    with pytest.raises(Exception, match="(?i)constraint|duplicate"):
        store.replace_day(Source.META, DAY, twice, [])
    assert [f.campaign for f in store.facts(DAY, DAY)] == ["autumn", "spring"]
    with pytest.raises(ValueError, match="cannot be loaded as"):
        store.replace_day(Source.GOOGLE_ADS, DAY, facts, [])


def test_violations_are_recorded_with_the_load(store: DuckDBStore) -> None:
    facts, bad = to_facts(Source.META, DAY, [*meta_rows(), {"campaign": "x", "spend": "-1"}], currency="EUR")
    record = store.replace_day(Source.META, DAY, facts, bad)
    assert (record.rows, record.violations) == (2, 1)
    [load] = store.loads(DAY, DAY)
    assert load.violations == 1 and load.reasons == ["row 2: spend: Input should be greater than or equal to 0"]


def test_journeys_touches_and_won_deals(store: DuckDBStore) -> None:
    t = datetime(2026, 3, 1, 9, tzinfo=UTC)
    journey = Journey(
        lead_id="k1",
        stage="converted",
        converted_at=t + timedelta(days=2),
        touches=[
            PathTouch(at=t, channel="meta_ads", campaign="spring"),
            PathTouch(at=t + timedelta(days=1), channel="email"),
        ],
    )
    store.replace_journeys([("lead-k1", journey)])
    store.replace_journeys([("lead-k1", journey)])  # read again: replaced, not doubled
    deal = Deal(
        deal_id="5001",
        lead_workflow_id="lead-k1",
        amount=Decimal("1200.00"),
        currency="EUR",
        closed_at=t + timedelta(days=3),
    )
    fact = Fact(source=Source.HUBSPOT, day=DAY, channel="crm", currency="EUR", customers=1, revenue=Decimal("1200.00"))
    store.replace_day(Source.HUBSPOT, DAY, [fact], [], [deal])
    store.replace_day(Source.HUBSPOT, DAY, [fact], [], [deal])
    [got] = store.journeys()
    assert got.touches == journey.touches and got.revenue == Decimal("1200.00")
    assert got.won_at == t + timedelta(days=3) and got.converted_at == journey.converted_at
    # The deal is reopened in the CRM: re-loading its day takes the revenue away.
    store.replace_day(Source.HUBSPOT, DAY, [], [], [])
    assert store.journeys()[0].revenue == 0 and store.deals() == []


def test_distributions_are_recorded_once_per_recipient(store: DuckDBStore) -> None:
    at = datetime(2026, 3, 2, 8, tzinfo=UTC)
    sent = [
        Distribution("report-1", "email", "ceo@acme.example", "sent", "m1", at),
        Distribution("report-1", "chat", "#leadership", "sent", "1.2", at),
    ]
    store.record_distribution(sent)
    store.record_distribution(sent)
    assert store.distributions("report-1") == sorted(sent, key=lambda d: (d.channel, d.recipient))


def test_threads_are_serialised(store: DuckDBStore) -> None:
    errors: list[BaseException] = []

    def load(day: date) -> None:
        try:
            for _ in range(3):
                facts, _ = to_facts(Source.META, day, meta_rows(), currency="EUR")
                store.replace_day(Source.META, day, facts, [])
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=load, args=(DAY + timedelta(days=i),)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == [] and len(store.facts(DAY, DAY + timedelta(days=5))) == 12


def test_a_file_held_by_another_process_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "held.duckdb"
    DuckDBStore(path).loads(DAY, DAY)  # create it
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('held', flush=True); time.sleep(1.0)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        assert DuckDBStore(path, lock_timeout=20).loads(DAY, DAY) == []  # waits for the holder to let go
        assert time.monotonic() - started > 0.2
        holder2 = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('held', flush=True); time.sleep(30)",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder2.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match="lock"):
            DuckDBStore(path, lock_timeout=0.3).loads(DAY, DAY)
        holder2.kill()
        holder2.wait()
    finally:
        holder.wait()


def test_deal_conversions_are_due_until_recorded_and_outlive_the_day_reloads(store: DuckDBStore) -> None:
    closed = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    won = Deal("d1", "lead-" + "a" * 24, Decimal("980.50"), "EUR", closed)
    foreign = Deal("d2", None, Decimal("10"), "EUR", closed)  # not a mops lead's deal
    store.replace_day(Source.HUBSPOT, DAY, [], [], [won, foreign])
    both = [Platform.META, Platform.GOOGLE_ADS]
    assert store.deals_to_convert(both) == [(won, both)]

    sent = DealConversion(
        deal_id="d1",
        lead_workflow_id=won.lead_workflow_id or "",
        platform=Platform.META,
        key="k",
        at=closed,
        outcome=ConversionOutcome.SENT,
        value=Decimal("980.50"),
        currency="EUR",
    )
    assert store.record_deal_conversions([sent]) == 1
    retried = sent.model_copy(update={"outcome": ConversionOutcome.DUPLICATE})
    assert store.record_deal_conversions([retried]) == 0, "the first record stays"
    store.replace_day(Source.HUBSPOT, DAY, [], [], [won, foreign])  # a second collection reloads the day
    assert store.deals_to_convert(both) == [(won, [Platform.GOOGLE_ADS])]
    assert store.deals_to_convert([Platform.META]) == []
    assert store.deal_conversions(won.lead_workflow_id) == [sent] == store.deal_conversions()
    assert store.deal_conversions("lead-" + "b" * 24) == []


def test_journey_steps_are_replaced_with_their_journey_never_added_to(store: DuckDBStore) -> None:
    journey = Journey(lead_id="k2", stage="nurturing")
    row = LeadStepRow(workflow_id="lead-k2", journey_id="j", version=1, step_id="welcome", entered=1, emails=1)
    store.replace_journeys([("lead-k2", journey)], {"lead-k2": [row]})
    store.replace_journeys([("lead-k2", journey)], {"lead-k2": [row.model_copy(update={"opens": 2})]})
    assert store.journey_steps("j") == [row.model_copy(update={"opens": 2})]
    assert store.journey_steps("j", 2) == [] and store.journey_steps("other") == []
