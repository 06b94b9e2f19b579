"""The contact ledger: one row per lead and send (a retried send is one row), facts per
lead, reads by many lead ids at once, shared by two processes' connections, pruned
beyond the longest cap window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from domain.contact_budget import BudgetFacts, SendSource
from domain.schedule import FrequencyCap
from mops.contact_ledger import MIN_RETENTION, JourneyExit, LedgerSend, SqliteContactLedger


def test_sends_and_facts_round_trip_across_connections(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    one, other = SqliteContactLedger(tmp_path / "c.db"), SqliteContactLedger(tmp_path / "c.db")
    send = LedgerSend("lead-a", now, SendSource.CAMPAIGN, "campaign-x:email", "ss-1")
    one.record_sends([send, send])  # a retried bulk send records once
    one.record_sends([LedgerSend("lead-a", now, SendSource.JOURNEY, "lead-a:welcome", "m-1")])
    facts = BudgetFacts(timezone="Europe/Berlin", frequency_cap=FrequencyCap(max_emails=2, per=timedelta(days=7)))
    one.set_facts("lead-a", facts)
    found = other.sends_since(["lead-a", "lead-b"], now - timedelta(days=1))
    assert [(s.source, s.source_id) for s in found["lead-a"]] == [
        (SendSource.CAMPAIGN, "campaign-x:email"),
        (SendSource.JOURNEY, "lead-a:welcome"),
    ] and "lead-b" not in found
    assert other.facts(["lead-a", "lead-b"]) == {"lead-a": facts}


def test_many_ids_at_once(tmp_path: Path) -> None:
    ledger, now = SqliteContactLedger(tmp_path / "c.db"), datetime.now(UTC)
    ids = [f"lead-{i}" for i in range(2_500)]
    ledger.record_sends(LedgerSend(i, now, SendSource.CONTENT, "post-1:email") for i in ids)
    assert len(ledger.sends_since(ids, now - timedelta(minutes=1))) == 2_500


def test_old_sends_are_pruned_beyond_the_longest_cap_window(tmp_path: Path) -> None:
    ledger, now = SqliteContactLedger(tmp_path / "c.db"), datetime.now(UTC)
    ledger.set_facts("lead-a", BudgetFacts(frequency_cap=FrequencyCap(max_emails=1, per=timedelta(days=60))))
    old = [
        LedgerSend("lead-a", now - timedelta(days=59), SendSource.JOURNEY, "k1"),
        LedgerSend("lead-a", now - timedelta(days=61), SendSource.JOURNEY, "k2"),
        LedgerSend("lead-b", now - MIN_RETENTION + timedelta(days=1), SendSource.JOURNEY, "k3"),
    ]
    ledger.record_sends(old)
    kept = ledger.sends_since(["lead-a", "lead-b"], now - timedelta(days=365))
    assert [s.source_id for s in kept["lead-a"]] == ["k1"] and [s.source_id for s in kept["lead-b"]] == ["k3"]


def test_journey_exits_keep_the_last_finish_per_journey_and_go_on_erasure(tmp_path: Path) -> None:
    one, other = SqliteContactLedger(tmp_path / "c.db"), SqliteContactLedger(tmp_path / "c.db")
    first = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    one.record_exit(JourneyExit("lead-a", "welcome", first, "goal: replied"))
    one.record_exit(JourneyExit("lead-a", "welcome", first + timedelta(days=40), "nurture_complete"))
    one.record_exit(JourneyExit("lead-a", "webinar", first, "unsubscribed (cli)"))
    assert other.last_exit("lead-a", "welcome") == JourneyExit(
        "lead-a", "welcome", first + timedelta(days=40), "nurture_complete"
    )
    assert other.last_exit("lead-b", "welcome") is None
    one.set_facts("lead-a", BudgetFacts())
    assert other.forget("lead-a") == 3  # the facts and both journeys' exits
    assert one.last_exit("lead-a", "welcome") is None and one.last_exit("lead-a", "webinar") is None
