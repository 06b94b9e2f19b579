"""CRM activities (HubSpot CRM v3). Hosted on the CRM task queue."""

from __future__ import annotations

import pycountry
from temporalio import activity

from activities.contracts import CRM_LIST_OWNERS, CRM_UPDATE_CONTACT, CRM_UPSERT_HANDOFF, CRM_UPSERT_LEAD
from activities.errors import platform_errors
from activities.models import (
    HandoffInput,
    HandoffResult,
    ListOwnersInput,
    ListOwnersResult,
    SalesOwner,
    UpdateContactInput,
    UpsertLeadInput,
    UpsertLeadResult,
)
from domain.leads import Firmographics
from integrations.hubspot import HubSpotClient

FIRMOGRAPHIC_PROPERTIES = ["company", "industry", "numberofemployees", "annualrevenue", "jobtitle", "country"]


def iso_country(value: str | None) -> str | None:
    """HubSpot's `country` is free text ("Germany", "DE", "Deutschland"...); scoring
    and compliance rules speak ISO 3166 alpha-2. Unknown text is kept as it is."""
    if not value or not value.strip():
        return None
    try:
        return pycountry.countries.lookup(value.strip()).alpha_2
    except LookupError:
        return value.strip()


def _number(value: str | None, kind: type) -> int | float | None:
    try:
        return kind(float(value)) if value not in (None, "") else None
    except ValueError:
        return None


class CrmActivities:
    def __init__(self, hubspot: HubSpotClient) -> None:
        self._hubspot = hubspot

    @activity.defn(name=CRM_UPSERT_LEAD.name)
    @platform_errors
    async def upsert_lead(self, inp: UpsertLeadInput) -> UpsertLeadResult:
        """Batch-upsert the contact keyed by email, then read its firmographics back."""
        contact = await self._hubspot.upsert_contact(inp.email, inp.properties)
        props = (await self._hubspot.get_contact(contact.id, FIRMOGRAPHIC_PROPERTIES)).properties
        return UpsertLeadResult(
            contact_id=contact.id,
            created=contact.properties.get("createdate") == contact.properties.get("lastmodifieddate"),
            firmographics=Firmographics(
                company=props.get("company"),
                industry=props.get("industry"),
                job_title=props.get("jobtitle"),
                country=iso_country(props.get("country")),
                employees=_number(props.get("numberofemployees"), int),
                annual_revenue=_number(props.get("annualrevenue"), float),
            ),
        )

    @activity.defn(name=CRM_UPDATE_CONTACT.name)
    @platform_errors
    async def update_contact(self, inp: UpdateContactInput) -> None:
        await self._hubspot.update_contact(inp.contact_id, inp.properties)

    @activity.defn(name=CRM_LIST_OWNERS.name)
    @platform_errors
    async def list_owners(self, inp: ListOwnersInput) -> ListOwnersResult:
        owners = await self._hubspot.list_owners()
        return ListOwnersResult(
            owners=[
                SalesOwner(
                    owner_id=o.id,
                    email=o.email,
                    name=" ".join(p for p in (o.first_name, o.last_name) if p),
                    archived=o.archived,
                )
                for o in owners
                if inp.include_archived or not o.archived
            ]
        )

    @activity.defn(name=CRM_UPSERT_HANDOFF.name)
    @platform_errors
    async def upsert_handoff(self, inp: HandoffInput) -> HandoffResult:
        """Deal + follow-up task for the owner, upserted by keys (a retry or a
        reassignment updates the same records, it never creates a second deal)."""
        deal_id = await self._hubspot.upsert_deal(
            f"{inp.key}:deal",
            {
                "dealname": inp.deal_name,
                "pipeline": inp.pipeline,
                "dealstage": inp.deal_stage,
                "hubspot_owner_id": inp.owner_id,
            },
            inp.contact_id,
        )
        task_id = await self._hubspot.upsert_task(
            f"{inp.key}:task",
            {
                "hs_task_subject": inp.task_subject,
                "hs_task_body": inp.task_body,
                "hs_timestamp": str(inp.task_due_epoch_ms),
                "hubspot_owner_id": inp.owner_id,
                "hs_task_status": "NOT_STARTED",
                "hs_task_priority": "HIGH",
            },
            inp.contact_id,
        )
        return HandoffResult(deal_id=deal_id, task_id=task_id)
