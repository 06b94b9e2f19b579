"""One contact budget across everything that sends email: may this person get a message now?

A person's budget is their journey's: consent and unsubscribe (`may_email`), the journey's
frequency cap and quiet hours in their time zone. A journey email, a campaign single send
and a content list send all count against the same cap. The cap and quiet-hours arithmetic
is `domain.schedule`'s (`earliest_send_time`, the function the journey's own wait uses);
this module only adds the consent gate and names why a message may not go out now.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from domain.schedule import FrequencyCap, QuietHours, earliest_send_time, frequency_cap_release

__all__ = [
    "AudienceSummary",
    "BudgetFacts",
    "SendSource",
    "SkipReason",
    "Verdict",
    "summarise",
    "verdict",
]

SAMPLE_SIZE = 20  # lead ids kept per send as examples of who was left out


class SendSource(StrEnum):
    """What sent an email: a lead's journey, a campaign single send, a content list send."""

    JOURNEY = "journey"
    CAMPAIGN = "campaign"
    CONTENT = "content"


class SkipReason(StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    NO_CONSENT = "no_consent"
    FREQUENCY_CAP = "frequency_cap"
    QUIET_HOURS = "quiet_hours"
    INVALID_ADDRESS = "invalid_address"


class BudgetFacts(BaseModel):
    """What a lead's journey knows of their budget (recorded by the email activities)."""

    may_email: bool = True
    why_not: SkipReason | None = None  # when may_email is False: unsubscribed or no_consent
    timezone: str = "UTC"
    quiet_hours: QuietHours | None = None
    frequency_cap: FrequencyCap | None = None


@dataclass(frozen=True)
class Verdict:
    """Allowed now, or skipped with the reason and (for cap and quiet hours) when it would be allowed."""

    allowed: bool
    reason: SkipReason | None = None
    allowed_at: datetime | None = None


ALLOWED = Verdict(True)


def verdict(facts: BudgetFacts | None, sent: list[datetime], now: datetime) -> Verdict:
    """May a message go out at `now` to a person with these `facts` and these recent sends
    (from every source)? No facts (nobody's journey has met this person) means no budget
    beyond the list's own consent and the platform's suppressions: allowed."""
    if facts is None:
        return ALLOWED
    if not facts.may_email:
        return Verdict(False, facts.why_not or SkipReason.UNSUBSCRIBED)
    release = earliest_send_time(now, sent, facts.frequency_cap, facts.quiet_hours, facts.timezone)
    if release <= now:
        return ALLOWED
    capped = frequency_cap_release(sent, facts.frequency_cap, now) > now
    return Verdict(False, SkipReason.FREQUENCY_CAP if capped else SkipReason.QUIET_HOURS, release)


class AudienceSummary(BaseModel):
    """Who a bulk send reached and who it left out, and why (counts, and a few lead ids)."""

    members: int = 0  # on the lists
    sent: int = 0
    skipped: dict[SkipReason, int] = {}
    sample: dict[SkipReason, list[str]] = {}  # up to SAMPLE_SIZE lead ids per reason

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def describe(self) -> str:
        """`sent to 9 of 10; left out 1 (frequency_cap 1)`, for timelines."""
        text = f"sent to {self.sent} of {self.members}"
        if self.skipped:
            parts = ", ".join(f"{reason.value} {n}" for reason, n in sorted(self.skipped.items()))
            text += f"; left out {self.skipped_total} ({parts})"
        return text


def summarise(members: int, sent: int, skips: list[tuple[str, SkipReason]]) -> AudienceSummary:
    """An `AudienceSummary` from the (lead id, reason) of every skipped member."""
    counts = Counter(reason for _, reason in skips)
    sample: dict[SkipReason, list[str]] = {}
    for lead_id, reason in skips:
        kept = sample.setdefault(reason, [])
        if len(kept) < SAMPLE_SIZE:
            kept.append(lead_id)
    return AudienceSummary(members=members, sent=sent, skipped=dict(counts), sample=sample)
