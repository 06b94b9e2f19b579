"""The contact budget rule: consent and unsubscribe first, then the frequency cap over
every source's sends, then quiet hours in the person's zone; each skip names its reason
and (for cap and quiet hours) when a message would be allowed."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from domain.contact_budget import BudgetFacts, SkipReason, summarise, verdict
from domain.schedule import FrequencyCap, QuietHours, earliest_send_time

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
CAP = FrequencyCap(max_emails=1, per=timedelta(days=7))
QUIET = QuietHours(start=time(20), end=time(8))


def facts(**kw) -> BudgetFacts:
    return BudgetFacts(**{"timezone": "UTC", "quiet_hours": QUIET, "frequency_cap": CAP, **kw})


def test_nobody_knows_the_person_so_the_list_send_is_allowed() -> None:
    assert verdict(None, [NOON - timedelta(hours=1)], NOON).allowed


def test_an_unsubscribed_person_is_skipped_with_no_time_to_retry() -> None:
    v = verdict(facts(may_email=False, why_not=SkipReason.UNSUBSCRIBED), [], NOON)
    assert (v.allowed, v.reason, v.allowed_at) == (False, SkipReason.UNSUBSCRIBED, None)
    v = verdict(facts(may_email=False, why_not=SkipReason.NO_CONSENT), [], NOON)
    assert v.reason == SkipReason.NO_CONSENT


def test_a_capped_person_is_skipped_until_the_window_frees_a_slot() -> None:
    sent = [NOON - timedelta(days=2)]
    v = verdict(facts(), sent, NOON)
    assert (v.allowed, v.reason) == (False, SkipReason.FREQUENCY_CAP)
    assert v.allowed_at == earliest_send_time(NOON, sent, CAP, QUIET, "UTC") == sent[0] + CAP.per


def test_a_send_that_left_the_window_does_not_count() -> None:
    assert verdict(facts(), [NOON - timedelta(days=7, seconds=1)], NOON).allowed


def test_quiet_hours_in_the_persons_zone() -> None:
    # 12:00 UTC is 21:00 in Tokyo: inside 20:00-08:00, allowed at 08:00 local (23:00 UTC).
    v = verdict(facts(timezone="Asia/Tokyo"), [], NOON)
    assert (v.allowed, v.reason, v.allowed_at) == (False, SkipReason.QUIET_HOURS, datetime(2026, 3, 10, 23, tzinfo=UTC))
    assert verdict(facts(timezone="Europe/Berlin"), [], NOON).allowed


def test_summary_counts_reasons_and_keeps_a_bounded_sample() -> None:
    skips = [(f"lead-{i}", SkipReason.FREQUENCY_CAP) for i in range(50)] + [("lead-x", SkipReason.UNSUBSCRIBED)]
    summary = summarise(100, 49, skips)
    assert summary.skipped == {SkipReason.FREQUENCY_CAP: 50, SkipReason.UNSUBSCRIBED: 1}
    assert len(summary.sample[SkipReason.FREQUENCY_CAP]) == 20 and summary.sample[SkipReason.UNSUBSCRIBED] == ["lead-x"]
    assert summary.describe() == "sent to 49 of 100; left out 51 (frequency_cap 50, unsubscribed 1)"
