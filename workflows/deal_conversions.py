"""Won deals sent to the ad platforms as `deal_won` conversions, from the analytics
collection (workflow code: orchestration only, no I/O).

After the CRM's won deals are in the store, `send_deal_conversions` asks the store
which deals of mops leads have a platform still without a recorded conversion
(`analytics.deals_to_convert`), sends each to each such platform on its own queue
(`conversions.deal_won_meta`, `conversions.deal_won_google_ads`) with the id
`deal_won_key(lead, deal)` as Meta's `event_id` and Google's `orderId`, and records the
outcomes (`analytics.record_deal_conversions`). Exactly once: a retried upload carries
the same id and time (the platform drops the repeat; Google's "already exists" is
`duplicate`); a recorded deal is not due again, so a second collection sends nothing.
An upload that fails for another reason (the platform down past the retries) is not
recorded and is tried again by the next collection with the same id.

Nothing personal passes through here: the uploads read the lead's hashed address and
click ids from its journey.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.contracts import ErrorType
    from activities.conversion_models import (
        DealConversionInput,
        DealsToConvertInput,
        DealWon,
        RecordDealConversionsInput,
    )
    from domain.conversions import (
        ConversionOutcome,
        ConversionPlan,
        DealConversion,
        Platform,
        deal_won_key,
        deal_won_value,
    )
    from mops.queues import AnalyticsQueues
    from workflows.common import call, is_type, reason

# Collections that send won deals to the ad platforms (asked only when the plan has deal_won).
DEAL_WON_PATCH = "analytics-deal-won-v1"
# Bounded, unlike a lead journey's uploads: a platform down for hours must not hold the
# collection (and the report after it); what is not sent is not recorded, and the next
# collection sends it with the same id.
DEAL_WON_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=[ErrorType.PLATFORM_REJECTED],
)


def destinations(plan: ConversionPlan) -> list[Platform]:
    """The platforms the plan has a destination for."""
    out = []
    if plan.meta_pixel_id is not None:
        out.append(Platform.META)
    if plan.google_conversion_action is not None and plan.google_customer_id is not None:
        out.append(Platform.GOOGLE_ADS)
    return out


async def send_deal_conversions(
    plan: ConversionPlan, queues: AnalyticsQueues, note: Callable[[str], None]
) -> list[DealConversion]:
    """Send every due won deal; return what was recorded."""
    due = await call(
        act.ANALYTICS_DEALS_TO_CONVERT,
        DealsToConvertInput(platforms=destinations(plan)),
        queue=queues.reports,
        summary="won deals still to send to the ad platforms",
        retry=DEAL_WON_RETRY,
    )
    recorded: list[DealConversion] = []
    for deal in due.deals:
        sent = await asyncio.gather(*(_send(plan, queues, deal, p, note) for p in deal.platforms))
        entries = [e for e in sent if e is not None]
        if entries:
            await call(
                act.ANALYTICS_RECORD_DEAL_CONVERSIONS,
                RecordDealConversionsInput(entries=entries),
                queue=queues.reports,
                summary=f"record deal {deal.deal_id}'s conversions",
                retry=DEAL_WON_RETRY,
            )
            recorded += entries
        for e in entries:
            note(
                f"deal {deal.deal_id} won → {e.platform.value}: {e.outcome.value}"
                + (f" ({e.detail})" if e.detail else "")
            )
    return recorded


async def _send(
    plan: ConversionPlan, queues: AnalyticsQueues, deal: DealWon, platform: Platform, note: Callable[[str], None]
) -> DealConversion | None:
    value, currency = deal_won_value(plan, deal.amount, deal.currency)
    key = deal_won_key(deal.lead_workflow_id.removeprefix("lead-"), deal.deal_id)
    inp = DealConversionInput(
        deal_id=deal.deal_id,
        lead_workflow_id=deal.lead_workflow_id,
        event_id=key,
        at=deal.closed_at,
        value=value,
        currency=currency,
        pixel_id=plan.meta_pixel_id,
        customer_id=plan.google_customer_id,
        conversion_action=plan.google_conversion_action,
    )
    ref, queue = (
        (act.CONVERSIONS_DEAL_WON_META, queues.meta)
        if platform == Platform.META
        else (act.CONVERSIONS_DEAL_WON_GOOGLE_ADS, queues.google_ads)
    )
    detail: str | None
    try:
        res = await call(
            ref, inp, queue=queue, summary=f"deal {deal.deal_id} won → {platform.value}", retry=DEAL_WON_RETRY
        )
        outcome, detail = res.outcome, res.detail
    except ActivityError as err:
        if not is_type(err, ErrorType.PLATFORM_REJECTED):
            # Not recorded: the next collection tries again, with the same id.
            note(f"deal {deal.deal_id} won → {platform.value}: not sent this time ({type(err.cause).__name__})")
            return None
        # A refusal (an unknown pixel, a click too old) is recorded: sending it again would be refused again.
        outcome, detail = ConversionOutcome.REJECTED, reason(err)
    return DealConversion(
        deal_id=deal.deal_id,
        lead_workflow_id=deal.lead_workflow_id,
        platform=platform,
        key=key,
        at=workflow.now(),
        outcome=outcome,
        detail=detail,
        value=value,
        currency=currency,
    )
