"""A won deal's conversion to the ad platforms, and the store's record of what was sent.

Run by the analytics collection (`workflows.deal_conversions`), after the lead's journey
has usually ended. The uploads (`conversions.deal_won_meta`, `conversions.deal_won_google_ads`)
run on their platform's queue; their input carries no personal data: each reads the
hashed address and the click ids from the lead's journey (`conversion_identity` query,
answered from the journey's own encrypted history, also once it has closed) and sends
with the key the workflow fixed (`event_id` / `orderId` = `deal_won_key`), so a retry
after a lost answer is deduplicated by the platform. A lead with no click id for the
platform, or one that withdrew ad consent or was erased, sends nothing: `not_sent`.

The store activities (`analytics.deals_to_convert`, `analytics.record_deal_conversions`)
run on the reports queue, where the store is: what is recorded is never due again.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities import contracts as act
from activities.conversion_models import (
    ConversionResult,
    DealConversionInput,
    DealsToConvertInput,
    DealsToConvertResult,
    DealWon,
    GoogleConversionInput,
    RecordDealConversionsInput,
    RecordDealConversionsResult,
)
from activities.conversions import check_google_customer, meta_payload, upload_google
from activities.errors import platform_errors
from domain.conversions import DEAL_WON, ConversionIdentity, ConversionOutcome
from integrations.analytics_store import AnalyticsStore
from integrations.google_conversions import GoogleConversionsClient
from integrations.meta_conversions import MetaConversionsClient

QUERY_TIMEOUT = timedelta(seconds=10)


class DealConversionActivities:
    """The uploads of won deals (hosted on the Meta and Google Ads queues)."""

    def __init__(self, client: Client, meta: MetaConversionsClient, google: GoogleConversionsClient) -> None:
        self._client = client
        self._meta = meta
        self._google = google

    async def _identity(self, lead_workflow_id: str) -> ConversionIdentity | str:
        """The lead's ids, or why there are none (the reason recorded as `not_sent`)."""
        handle = self._client.get_workflow_handle(lead_workflow_id)
        try:
            identity = await handle.query(
                "conversion_identity", result_type=ConversionIdentity, rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return "lead journey not found"
            raise  # the server or the workflows' worker is unreachable: retried
        except WorkflowQueryFailedError as err:
            # The journey cannot answer (a run from before the query; its key destroyed):
            # no retry helps, and no record is made, so the next collection tries again.
            raise ApplicationError(
                f"lead journey {lead_workflow_id} cannot tell its ids: {err}", non_retryable=True
            ) from None
        return identity.withheld or identity

    @activity.defn(name=act.CONVERSIONS_DEAL_WON_META.name)
    @platform_errors
    async def meta(self, inp: DealConversionInput) -> ConversionResult:
        if inp.pixel_id is None:
            raise ApplicationError("pixel_id: required for a Meta conversion", non_retryable=True)
        identity = await self._identity(inp.lead_workflow_id)
        if isinstance(identity, str):
            return ConversionResult(outcome=ConversionOutcome.NOT_SENT, detail=identity)
        ids = identity.click_ids
        if ids is None or not ids.meta() or identity.email_hash is None:
            return ConversionResult(outcome=ConversionOutcome.NOT_SENT, detail="no Meta click id")
        event = meta_payload(
            event_name=DEAL_WON,
            event_id=inp.event_id,
            at=inp.at,
            email_hash=identity.email_hash,
            lead_id=identity.lead_id,
            fbc=ids.fbc,
            fbp=ids.fbp,
            value=inp.value,
            currency=inp.currency,
        )
        await self._meta.send_events(inp.pixel_id, [event])
        return ConversionResult(outcome=ConversionOutcome.SENT)

    @activity.defn(name=act.CONVERSIONS_DEAL_WON_GOOGLE_ADS.name)
    @platform_errors
    async def google_ads(self, inp: DealConversionInput) -> ConversionResult:
        if inp.customer_id is None or inp.conversion_action is None:
            raise ApplicationError(
                "customer_id, conversion_action: required for a Google conversion", non_retryable=True
            )
        check_google_customer(self._google, inp.customer_id)
        identity = await self._identity(inp.lead_workflow_id)
        if isinstance(identity, str):
            return ConversionResult(outcome=ConversionOutcome.NOT_SENT, detail=identity)
        click = identity.click_ids.google() if identity.click_ids else None
        if click is None:
            return ConversionResult(outcome=ConversionOutcome.NOT_SENT, detail="no Google click id")
        return await upload_google(
            self._google,
            GoogleConversionInput(
                customer_id=inp.customer_id,
                conversion_action=inp.conversion_action,
                click_field=click[0],
                click_id=click[1],
                at=inp.at,
                order_id=inp.event_id,
                value=inp.value,
                currency=inp.currency,
            ),
        )


class DealLedgerActivities:
    """Which won deals are due, and the record of what was sent (hosted on the reports queue)."""

    def __init__(self, store: AnalyticsStore) -> None:
        self._store = store

    @activity.defn(name=act.ANALYTICS_DEALS_TO_CONVERT.name)
    async def deals_to_convert(self, inp: DealsToConvertInput) -> DealsToConvertResult:
        due = await asyncio.to_thread(self._store.deals_to_convert, inp.platforms)
        return DealsToConvertResult(
            deals=[
                DealWon(
                    deal_id=deal.deal_id,
                    lead_workflow_id=deal.lead_workflow_id,
                    amount=deal.amount,
                    currency=deal.currency,
                    closed_at=deal.closed_at,
                    platforms=platforms,
                )
                for deal, platforms in due[: inp.limit]
                if deal.lead_workflow_id is not None
            ]
        )

    @activity.defn(name=act.ANALYTICS_RECORD_DEAL_CONVERSIONS.name)
    async def record_deal_conversions(self, inp: RecordDealConversionsInput) -> RecordDealConversionsResult:
        recorded = await asyncio.to_thread(self._store.record_deal_conversions, inp.entries)
        return RecordDealConversionsResult(recorded=recorded)
