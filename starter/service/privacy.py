"""Python API for data protection: opt-outs that reach every platform, consent per
purpose, the right to erasure, reconciliation and compliance monitoring.

The CLI (`mops lead erase`, `mops consent ...`, `mops sync ...`, `mops compliance ...`)
and the gateway (one-click unsubscribe, webhooks) are thin layers over this.

Opt-out order (the unsubscribe race): an opt-out is *recorded* when `opt_out` returns,
and from then on no email goes out:
1. the journey gets `unsubscribe` (it sends nothing more: the send step checks first),
2. the address goes on SendGrid's global suppression list, the platform-side gate that
   drops any send still in flight (and the email activity checks it right before
   sending),
3. the lead's contact sync gets the withdrawal and writes it to every platform: CRM
   properties, the ad audience (removal), the CDP, the suppression again (idempotent).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from temporalio.client import (
    Client,
    ScheduleAlreadyRunningError,
    ScheduleUpdate,
    WorkflowQueryRejectedError,
)
from temporalio.common import QueryRejectCondition, WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.privacy_models import SyncView
from activities.sync import start_or_signal
from domain.consent import MARKETING, ConsentRecord, Purpose, opt_out
from domain.forms import FORMS_FILE, FormsError, confirmation_id, load_forms
from domain.leads import lead_key, lead_workflow_id
from domain.privacy import (
    RUNNING_CONFIRMATIONS,
    bare_lead_id,
    contact_sync_workflow_id,
    erasure_workflow_id,
    lead_of_workflow,
)
from domain.sync import ContactChange
from integrations.errors import PlatformError
from integrations.sendgrid_contacts import SendGridContactsClient
from mops.codec import KeyRing, shared_keyring
from mops.contact_ledger import SqliteContactLedger
from mops.keystore import ErasureRecord, utc_now
from mops.queues import contact_platforms, sync_queues
from mops.settings import Settings
from starter.service.leads import LeadInputError, LeadNotFound
from workflows.erasure import LeadErasureWorkflow
from workflows.lead_models import UnsubscribeRequest
from workflows.privacy_models import ConsentUpdate, ErasureInput, ReconcileInput, ReconcileReport
from workflows.reconcile import ReconciliationWorkflow

if TYPE_CHECKING:
    from workers.accuracy import AccuracyRun

log = logging.getLogger("mops.privacy")


class OptOutResult:
    def __init__(self, lead_id: str, journey: bool, email_gate: str, sync: bool) -> None:
        self.lead_id, self.journey, self.email_gate, self.sync = lead_id, journey, email_gate, sync

    def as_dict(self) -> dict:
        return {
            "lead_id": self.lead_id,
            "journey_told": self.journey,
            "email_gate": self.email_gate,
            "contact_sync_told": self.sync,
        }


def contact_sync_input(settings: Settings, lead_id: str, email: str):
    from activities.privacy_models import ContactSyncInput

    return ContactSyncInput(
        lead_id=lead_id,
        email=email,
        queues=sync_queues(settings),
        platforms=contact_platforms(settings),
        audience_id=settings.meta_audience_id,
    )


class PrivacyService:
    def __init__(self, client: Client | None, settings: Settings, *, keyring: KeyRing | None = None) -> None:
        self._client = client
        self._settings = settings
        self._keyring = keyring
        self._sendgrid = SendGridContactsClient(
            settings.sendgrid_base_url,
            settings.sendgrid_api_key.get_secret_value(),
            timeout=settings.http_timeout_seconds,
        )

    async def aclose(self) -> None:
        await self._sendgrid.aclose()

    @property
    def _temporal(self) -> Client:
        # Made without a client for the erasure log alone; every other call needs the server.
        if self._client is None:
            raise RuntimeError(f"{type(self).__name__} was made without a Temporal client, which this call needs")
        return self._client

    @property
    def keyring(self) -> KeyRing:
        return self._keyring or shared_keyring(self._settings)

    # ids -----------------------------------------------------------------------------

    def lead_id(self, *, email: str | None = None, lead_id: str | None = None) -> str:
        try:
            if lead_id:
                return bare_lead_id(lead_id)
            if email:
                return lead_key(email, self._settings.lead_id_secret.get_secret_value())
        except ValueError as err:
            raise LeadInputError(str(err)) from None
        raise LeadInputError("lead: give an email or a lead id")

    async def contact(self, lead_id: str) -> SyncView:
        """The lead's contact-sync record (with the address: mops's own use only). Only a
        running sync has one: an ended one (erased) is not replayed to answer."""
        try:
            return await self._temporal.get_workflow_handle(contact_sync_workflow_id(lead_id)).query(
                "state", result_type=SyncView, reject_condition=QueryRejectCondition.NOT_OPEN
            )
        except WorkflowQueryRejectedError:
            raise LeadNotFound("lead: its contact record has ended (erased)") from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise LeadNotFound("lead: no contact record for that lead") from None
            raise

    async def _address(self, lead_id: str) -> str | None:
        try:
            return (await self.contact(lead_id)).email
        except LeadNotFound:
            return None

    # opt-outs and consent ------------------------------------------------------------

    async def opt_out(
        self,
        *,
        email: str | None = None,
        lead_id: str | None = None,
        source: str,
        at: datetime | None = None,
        purposes: Iterable[Purpose] = MARKETING,
        email_platform_recorded: bool = False,
    ) -> OptOutResult:
        """Withdraw consent for `purposes` (default: the marketing ones) from any channel.
        `email_platform_recorded`: the email platform already holds it (its own webhook)."""
        lead = self.lead_id(email=email, lead_id=lead_id)
        at = at or datetime.now(UTC)
        purposes = list(purposes)
        records = opt_out(source, at, purposes)
        journey = await self._tell_journey(lead, records, source, at)
        address = email.strip().lower() if email else await self._address(lead)
        gate = "not_needed"
        if Purpose.EMAIL_MARKETING in purposes:
            gate = "recorded_by_platform" if email_platform_recorded else "unknown_address"
            if address and not email_platform_recorded:
                try:
                    await self._sendgrid.add_global_suppression(address)
                    gate = "suppressed"
                except PlatformError as err:  # the workflows still write it, with retries
                    log.warning("opt-out: SendGrid suppression failed (%s); the contact sync will retry", err.code)
                    gate = "failed"
        change = ContactChange(
            change_id=f"opt-out:{uuid.uuid4().hex}",
            source=source[:120],
            at=at,
            consent=records,
            origin="email" if email_platform_recorded and purposes == [Purpose.EMAIL_MARKETING] else None,
        )
        told_sync = await self._tell_sync(lead, address, change)
        if not journey and not told_sync:
            raise LeadNotFound("lead: no journey or contact record for that lead (never captured, or erased)")
        return OptOutResult(lead, journey, gate, told_sync)

    async def grant(
        self, *, email: str | None = None, lead_id: str | None = None, purpose: Purpose, source: str
    ) -> OptOutResult:
        """Record consent for one purpose; for email marketing the address also comes off
        SendGrid's global suppression list (the sync never removes one by itself)."""
        lead = self.lead_id(email=email, lead_id=lead_id)
        at = datetime.now(UTC)
        record = ConsentRecord(purpose=purpose, granted=True, source=source[:120], at=at)
        journey = await self._tell_journey(lead, [record], source, at)
        address = email.strip().lower() if email else await self._address(lead)
        gate = "not_needed"
        if purpose == Purpose.EMAIL_MARKETING and address:
            await self._sendgrid.remove_global_suppression(address)
            gate = "unsuppressed"
        change = ContactChange(change_id=f"grant:{uuid.uuid4().hex}", source=source[:120], at=at, consent=[record])
        told_sync = await self._tell_sync(lead, address, change)
        if not journey and not told_sync:
            raise LeadNotFound("lead: no journey or contact record for that lead (never captured, or erased)")
        return OptOutResult(lead, journey, gate, told_sync)

    async def _tell_journey(self, lead: str, records: list[ConsentRecord], source: str, at: datetime) -> bool:
        handle = self._temporal.get_workflow_handle(lead_workflow_id(lead))
        email_withdrawn = any(r.purpose == Purpose.EMAIL_MARKETING and not r.granted for r in records)
        try:
            if email_withdrawn:  # the journey's own opt-out: it stops at once
                await handle.signal("unsubscribe", UnsubscribeRequest(source=source, at=at))
            else:
                await handle.signal("consent", ConsentUpdate(records=records))
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            return False
        return True

    async def _tell_sync(self, lead: str, address: str | None, change: ContactChange) -> bool:
        if address:
            await start_or_signal(
                self._temporal,
                contact_sync_input(self._settings, lead, address),
                change,
                self._settings.workflow_task_queue,
            )
            return True
        try:
            await self._temporal.get_workflow_handle(contact_sync_workflow_id(lead)).signal("change", change)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            return False
        return True

    async def record_change(self, lead_id: str, email: str, change: ContactChange) -> str:
        """A contact change seen on a platform (webhook) → the lead's contact sync."""
        return await start_or_signal(
            self._temporal,
            contact_sync_input(self._settings, bare_lead_id(lead_id), email),
            change,
            self._settings.workflow_task_queue,
        )

    # erasure ---------------------------------------------------------------------------

    def erasure_input(self, lead: str, address: str, erasure_id: str, requested_by: str) -> ErasureInput:
        s = self._settings
        return ErasureInput(
            lead_id=lead,
            email=address,
            erasure_id=erasure_id,
            requested_by=requested_by,
            queues=sync_queues(s),
            platforms=contact_platforms(s),
            audience_id=s.meta_audience_id,
        )

    async def erase(self, email: str, *, requested_by: str, reason: str = "") -> ErasureRecord:
        """End the lead's workflows, delete it on every platform, then destroy its data key
        (its histories can no longer be decoded) and log the erasure (no personal data)."""
        lead = self.lead_id(email=email)
        address = email.strip().lower()
        # Read before anything is ended: a forms file that does not load stops the erasure here.
        confirmations = self._confirmation_ids(lead)
        erasure_id = f"er-{uuid.uuid4().hex[:12]}"
        record = ErasureRecord(
            erasure_id=erasure_id, lead_id=lead, requested_at=utc_now(), requested_by=requested_by, reason=reason
        )
        handle = await self._temporal.start_workflow(
            LeadErasureWorkflow.run,
            self.erasure_input(lead, address, erasure_id, requested_by),
            id=erasure_workflow_id(lead),
            task_queue=self._settings.workflow_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"Right to erasure · lead `{lead}`",
        )
        result = await handle.result()
        record.steps = dict(result.steps)
        self.keyring.destroy_lead(lead, record)
        # The ledger holds only the keyed lead id, but that still links the sends to an
        # address anyone with the id secret can hash: it goes with the rest.
        ledger = SqliteContactLedger(self._settings.contact_ledger_file)
        try:
            ledger.forget(lead)
        finally:
            ledger.close()
        await self._sweep(lead, confirmations)
        return record

    def _confirmation_ids(self, lead: str) -> list[str]:
        """The id this lead's double opt-in has on each configured form (`forms.yaml`)."""
        path = self._settings.policies_dir / FORMS_FILE
        try:
            forms = load_forms(path).forms if path.exists() else []
        except FormsError as err:
            raise LeadInputError(f"{err} (an erasure reads the forms to find the lead's double opt-ins)") from None
        return [confirmation_id(form.id, lead) for form in forms]

    async def _sweep(self, lead: str, confirmations: list[str]) -> None:
        """Anything of this lead still running now can never be decoded again: terminate it
        (terminating decodes nothing). A late webhook may have restarted its contact sync, and
        a form posted while the erasure ran may have started a double opt-in, which its first
        step did not see: by its id on each configured form, and by a visibility list (which
        also finds forms no longer configured)."""
        listed = self._temporal.list_workflows(RUNNING_CONFIRMATIONS)
        pending = {e.id async for e in listed if lead_of_workflow(e.id) == lead}
        for workflow_id in (
            lead_workflow_id(lead),
            contact_sync_workflow_id(lead),
            *sorted(pending | set(confirmations)),
        ):
            handle = self._temporal.get_workflow_handle(workflow_id)
            try:
                description = await handle.describe()
                if description.status is not None and description.status.name == "RUNNING":
                    await handle.terminate("erased: its data key was destroyed")
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise

    def erasures(self, lead_id: str | None = None) -> list[ErasureRecord]:
        return self.keyring.store.erasures(lead_id)

    # reconciliation and compliance -----------------------------------------------------

    def reconcile_input(self, mode: str, *, repair: bool = True, lead_ids: list[str] | None = None) -> ReconcileInput:
        from workers.accuracy import reconcile_input  # not at import: the gateway loads no worker code

        return reconcile_input(self._settings, mode, repair=repair, lead_ids=lead_ids)

    async def reconcile(
        self, mode: str = "data", *, repair: bool = True, lead_ids: list[str] | None = None
    ) -> tuple[str, ReconcileReport]:
        if mode not in ("data", "compliance"):
            raise LeadInputError("mode: one of data, compliance")
        workflow_id = f"reconcile-{mode}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        handle = await self._temporal.start_workflow(
            ReconciliationWorkflow.run,
            self.reconcile_input(mode, repair=repair, lead_ids=lead_ids),
            id=workflow_id,
            task_queue=self._settings.workflow_task_queue,
            static_summary=f"{'Compliance check' if mode == 'compliance' else 'Contact reconciliation'}",
        )
        return workflow_id, await handle.result()

    async def schedule_compliance(self, every: timedelta) -> str:
        """Create or update the Schedule that runs the compliance check every `every`."""
        from workers.accuracy import accuracy_schedule

        schedule_id = self._settings.compliance_schedule_id
        schedule = accuracy_schedule(self._settings, "compliance", every)
        try:
            await self._temporal.create_schedule(schedule_id, schedule)
        except ScheduleAlreadyRunningError:
            await self._temporal.get_schedule_handle(schedule_id).update(lambda _: ScheduleUpdate(schedule=schedule))
        return schedule_id

    async def accuracy_runs(self, *, last: int = 10) -> list[AccuracyRun]:
        """The latest finished compliance checks and data reconciliations, newest first, with
        each one's accuracy against the objective (`mops sync accuracy`)."""
        from workers.accuracy import recent_accuracy

        return await recent_accuracy(self._temporal, self._settings, last=last)


__all__ = ["PrivacyService", "OptOutResult", "contact_sync_input"]
