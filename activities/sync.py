"""Contact sync activities: start/feed a lead's contact sync, write each platform's view
of the record, and compare every record with the platforms (reconciliation).

- `sync.publish` (workflow queue): signal-with-start `ContactSync` with one change.
- `sync.push_crm` (CRM queue), `sync.push_email` (email queue), `sync.push_cdp` (CDP
  queue), `sync.push_audience` (Meta queue): absolute writes, safe to retry.
- `sync.scan` and `sync.repair` (workflow queue): read every running contact sync's
  record and each platform's copy, report mismatches (lead ids and field names only),
  then ask the drifted syncs to write again and adopt opt-outs seen on a platform.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from temporalio import activity
from temporalio.client import Client, WorkflowQueryRejectedError
from temporalio.common import QueryRejectCondition
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts import (
    SYNC_PUBLISH,
    SYNC_PUSH_AUDIENCE,
    SYNC_PUSH_CDP,
    SYNC_PUSH_CRM,
    SYNC_PUSH_EMAIL,
    SYNC_REPAIR,
    SYNC_SCAN,
)
from activities.errors import platform_errors
from activities.privacy_models import (
    ContactSyncInput,
    PublishChangeInput,
    PublishChangeResult,
    PushContactInput,
    PushContactResult,
    RepairInput,
    RepairResult,
    ScanInput,
    ScanResult,
)
from domain.consent import (
    CRM_CONSENT_PROPERTIES,
    CRM_EMAIL_OPTOUT,
    ConsentRecord,
    Purpose,
    cdp_observed,
    consent_mismatches,
    crm_observed,
    email_platform_observed,
    withdrawals_seen,
)
from domain.leads import lead_workflow_id
from domain.privacy import contact_sync_workflow_id
from domain.sync import FIELD_NAMES, ContactChange, FieldMismatch, GoldenRecord, field_mismatches, platform_state
from integrations.braze import BrazeClient
from integrations.hubspot_contacts import LEAD_ID_PROPERTY, HubSpotContactsClient
from integrations.meta_audiences import MetaAudienceClient
from integrations.sendgrid_contacts import SendGridContactsClient
from mops.queues import SyncQueues

CONTACT_SYNC_TYPE = "ContactSync"
SCAN_CONCURRENCY = 16


class SyncActivities:
    def __init__(
        self,
        client: Client,
        *,
        hubspot: HubSpotContactsClient,
        sendgrid: SendGridContactsClient,
        meta: MetaAudienceClient,
        braze: BrazeClient | None,
        queues: SyncQueues,
        audience_id: str | None,
    ) -> None:
        self._client = client
        self._hubspot = hubspot
        self._sendgrid = sendgrid
        self._meta = meta
        self._braze = braze
        self._queues = queues
        self._audience_id = audience_id

    @property
    def platforms(self) -> list[str]:
        return ["crm", "email", "ads"] + (["cdp"] if self._braze is not None else [])

    def sync_input(self, lead_id: str, email: str) -> ContactSyncInput:
        return ContactSyncInput(
            lead_id=lead_id, email=email, queues=self._queues, platforms=self.platforms, audience_id=self._audience_id
        )

    # ------------------------------------------------------------ publish

    @activity.defn(name=SYNC_PUBLISH.name)
    async def publish(self, inp: PublishChangeInput) -> PublishChangeResult:
        workflow_id = await start_or_signal(
            self._client, self.sync_input(inp.lead_id, inp.email), inp.change, self._queues.workflows
        )
        return PublishChangeResult(workflow_id=workflow_id)

    # -------------------------------------------------------------- pushes

    @activity.defn(name=SYNC_PUSH_CRM.name)
    @platform_errors
    async def push_crm(self, inp: PushContactInput) -> PushContactResult:
        props = {k: "" if v is None else str(v) for k, v in _crm_view(inp).items()}
        props[LEAD_ID_PROPERTY] = inp.lead_id
        contact_id = inp.contact_id
        if contact_id is None:
            found = await self._hubspot.read_by_email([inp.email], [LEAD_ID_PROPERTY])
            contact_id = found[inp.email.lower()].id if inp.email.lower() in found else None
        if contact_id is None:  # not in the CRM yet: create it (keyed by email, so a retry updates)
            contact = await self._hubspot.upsert_contact(inp.email, props)
            return PushContactResult(platform="crm", contact_id=contact.id)
        await self._hubspot.update_contact(contact_id, props)
        return PushContactResult(platform="crm", contact_id=contact_id)

    @activity.defn(name=SYNC_PUSH_EMAIL.name)
    @platform_errors
    async def push_email(self, inp: PushContactInput) -> PushContactResult:
        fields = {FIELD_NAMES["email"][k]: v for k, v in inp.values.items() if k in FIELD_NAMES["email"]}
        if fields:
            await self._sendgrid.upsert_contact(inp.email, fields)
        if inp.consent.granted(Purpose.EMAIL_MARKETING) is False:
            await self._sendgrid.add_global_suppression(inp.email)
        return PushContactResult(platform="email")

    @activity.defn(name=SYNC_PUSH_CDP.name)
    @platform_errors
    async def push_cdp(self, inp: PushContactInput) -> PushContactResult:
        if self._braze is None:
            return PushContactResult(platform="cdp", changed=False, detail="no CDP configured")
        view = platform_state(_record(inp), "cdp") or {}
        await self._braze.track(inp.lead_id, {"email": inp.email, **view})
        return PushContactResult(platform="cdp")

    @activity.defn(name=SYNC_PUSH_AUDIENCE.name)
    @platform_errors
    async def push_audience(self, inp: PushContactInput) -> PushContactResult:
        granted = inp.consent.granted(Purpose.AD_AUDIENCES)
        audience = inp.audience_id or self._audience_id
        if granted is None or not audience:
            return PushContactResult(platform="ads", changed=False, detail="no ad consent recorded")
        if granted:
            await self._meta.add_users(audience, [inp.email])
        else:
            await self._meta.remove_users(audience, [inp.email])
        return PushContactResult(platform="ads", detail="added" if granted else "removed")

    # -------------------------------------------------------- reconciliation

    @activity.defn(name=SYNC_SCAN.name)
    @platform_errors
    async def scan(self, inp: ScanInput) -> ScanResult:
        views = await self._records(inp)
        result = ScanResult(contacts=len(views))
        if not views:
            return result
        emails = [v.email for v in views]
        crm = (
            await self._hubspot.read_by_email(
                emails, [*FIELD_NAMES["crm"].values(), *CRM_CONSENT_PROPERTIES.values(), CRM_EMAIL_OPTOUT]
            )
            if "crm" in inp.platforms
            else {}
        )
        email_contacts = {}
        if "email" in inp.platforms:
            for start in range(0, len(emails), 100):
                email_contacts.update(await self._sendgrid.find_contacts(emails[start : start + 100]))
        suppressed = await self._suppressions(emails) if "email" in inp.platforms else {}
        cdp: dict[str, dict] = {}
        if "cdp" in inp.platforms and self._braze is not None:
            ids = [v.lead_id for v in views]
            for start in range(0, len(ids), 50):
                cdp.update(await self._braze.export(ids[start : start + 50]))
        for view in views:
            activity.heartbeat()
            record = GoldenRecord(fields=view.fields, consent=view.consent)
            address = view.email.lower()
            observed = []
            if "crm" in inp.platforms:
                props = crm[address].properties if address in crm else None
                self._compare(result, inp, view.lead_id, record, "crm", props)
                observed += crm_observed(props or {})
            if "email" in inp.platforms:
                self._compare(result, inp, view.lead_id, record, "email", email_contacts.get(address))
                observed += email_platform_observed(suppressed.get(address, False))
            if "cdp" in inp.platforms and self._braze is not None:
                attrs = cdp.get(view.lead_id)
                self._compare(result, inp, view.lead_id, record, "cdp", attrs)
                observed += cdp_observed(attrs or {})
            for m in consent_mismatches(record.consent, observed):
                result.mismatches.append(
                    FieldMismatch(lead_id=view.lead_id, platform=m.platform, field=f"consent:{m.purpose.value}")
                )
            result.compared += len(observed)
            seen = withdrawals_seen(record.consent, observed)
            if seen:
                result.withdrawals_seen[view.lead_id] = seen
        return result

    @staticmethod
    def _compare(
        result: ScanResult, inp: ScanInput, lead_id: str, record: GoldenRecord, platform: str, observed: dict | None
    ) -> None:
        if inp.mode != "data":
            return
        compared, mismatches = field_mismatches(lead_id, record, platform, observed)
        result.compared += compared
        result.mismatches.extend(mismatches)

    async def _suppressions(self, emails: list[str]) -> dict[str, bool]:
        limit = asyncio.Semaphore(SCAN_CONCURRENCY)

        async def one(email: str) -> tuple[str, bool]:
            async with limit:
                return email.lower(), await self._sendgrid.globally_suppressed(email)

        return dict(await asyncio.gather(*(one(e) for e in emails)))

    async def _records(self, inp: ScanInput):
        from workflows.contact_sync_models import SyncView

        if inp.lead_ids:
            ids = [contact_sync_workflow_id(lid) for lid in inp.lead_ids]
        else:
            query = (
                f"WorkflowType = '{CONTACT_SYNC_TYPE}' AND ExecutionStatus = 'Running' "
                f"AND TaskQueue = '{_literal(inp.task_queue)}'"
            )
            ids = [wf.id async for wf in self._client.list_workflows(query, limit=inp.limit)]
        limit = asyncio.Semaphore(SCAN_CONCURRENCY)

        async def view(workflow_id: str) -> SyncView | None:
            async with limit:
                try:
                    return await self._client.get_workflow_handle(workflow_id).query(
                        "state", result_type=SyncView, reject_condition=QueryRejectCondition.NOT_OPEN
                    )
                except WorkflowQueryRejectedError:
                    return None  # ended (erased): nothing to compare
                except RPCError as err:
                    if err.status == RPCStatusCode.NOT_FOUND:
                        return None
                    raise

        views = await asyncio.gather(*(view(i) for i in ids))
        return [v for v in views if v is not None]

    @activity.defn(name=SYNC_REPAIR.name)
    async def repair(self, inp: RepairInput) -> RepairResult:
        result = RepairResult()
        now = datetime.now(UTC)
        for lead_id in inp.lead_ids:
            handle = self._client.get_workflow_handle(contact_sync_workflow_id(lead_id))
            try:
                withdrawn = [
                    ConsentRecord(purpose=p, granted=False, source=inp.source, at=now)
                    for p in inp.withdrawals_seen.get(lead_id, [])
                ]
                if withdrawn:
                    # Most restrictive wins: an opt-out a platform shows is adopted, by the
                    # contact record and by the journey (which stops emailing).
                    await handle.signal(
                        "change",
                        ContactChange(
                            change_id=f"{inp.source}:{inp.run_id}:{lead_id}",
                            source=inp.source,
                            at=now,
                            consent=withdrawn,
                        ),
                    )
                    await self._tell_journey(lead_id, withdrawn)
                await handle.signal("reconcile", {"reason": inp.source, "platforms": []})
                result.signalled += 1
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                result.not_found += 1
        return result

    async def _tell_journey(self, lead_id: str, records: list[ConsentRecord]) -> None:
        try:
            await self._client.get_workflow_handle(lead_workflow_id(lead_id)).signal(
                "consent", {"records": [r.model_dump(mode="json") for r in records]}
            )
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise


async def start_or_signal(client: Client, start: ContactSyncInput, change: ContactChange, task_queue: str) -> str:
    """Deliver `change` to the lead's contact sync, starting it if it is not running."""
    workflow_id = contact_sync_workflow_id(start.lead_id)
    await client.start_workflow(
        CONTACT_SYNC_TYPE,
        start,
        id=workflow_id,
        task_queue=task_queue,
        start_signal="change",
        start_signal_args=[change],
        static_summary=f"Contact sync · lead `{start.lead_id}`",
        static_details="Owned contact fields and consent, kept consistent across CRM, email platform and CDP.",
    )
    return workflow_id


def _record(inp: PushContactInput) -> GoldenRecord:
    from domain.sync import FieldValue

    now = datetime.now(UTC)
    fields = {k: FieldValue(value=v, at=now, source="push") for k, v in inp.values.items()}
    return GoldenRecord(fields=fields, consent=inp.consent)


def _crm_view(inp: PushContactInput) -> dict[str, object]:
    return platform_state(_record(inp), "crm") or {}


def _literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")
