"""Stand-in activities for time-skipping workflow tests, registered under the real
activities' names. They record every call with the (virtual) time it ran."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities import contracts as act
from activities.contracts import ErrorType
from activities.journeys import JourneyActivities
from activities.models import (
    AssignOwnerInput,
    AssignOwnerResult,
    HandoffInput,
    HandoffResult,
    ListOwnersInput,
    ListOwnersResult,
    NotifyInput,
    NotifyResult,
    SalesOwner,
    SendEmailInput,
    SendEmailResult,
    SuppressInput,
    UpdateContactInput,
    UpsertLeadInput,
    UpsertLeadResult,
)
from activities.privacy_models import PublishChangeInput, PublishChangeResult
from domain.leads import Firmographics
from mops.contact_ledger import SqliteContactLedger
from mops.queues import PlatformQueues
from workers.experiments import ExperimentActivities
from workflows.experiment import JourneyExperimentWorkflow
from workflows.lead_journey import LeadJourneyWorkflow

OWNERS = [SalesOwner(owner_id=str(i), email=f"owner{i}@mops.example") for i in (101, 102, 103, 104, 105)]


@dataclass
class Call:
    name: str
    at: datetime
    arg: object


@dataclass
class Recorder:
    """Every call with the (virtual) time it ran; optional one-off rejections."""

    calls: list[Call] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    # Activity names that answer once with a non-retryable platform rejection.
    reject_once: set[str] = field(default_factory=set)

    def _record(self, name: str, arg: object) -> None:
        self.calls.append(Call(name, activity.info().current_attempt_scheduled_time, arg))
        if name in self.reject_once:
            self.reject_once.discard(name)
            raise ApplicationError("rejected", "VALIDATION_ERROR", type=ErrorType.PLATFORM_REJECTED, non_retryable=True)

    def of(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.name == name]


@dataclass
class FakePlatforms(Recorder):
    @activity.defn(name=act.SYNC_PUBLISH.name)
    async def publish_change(self, inp: PublishChangeInput) -> PublishChangeResult:
        """The contact sync's inbox (recorded; the sync itself is tested elsewhere)."""
        self._record(act.SYNC_PUBLISH.name, inp)
        return PublishChangeResult(workflow_id=f"contact-sync-{inp.lead_id}")

    firmographics: Firmographics = field(
        default_factory=lambda: Firmographics(company="Small Shop", industry="retail", employees=12)
    )
    suppressed: bool = False
    unsendable: dict[str, int] = field(default_factory=dict)  # template -> sends that fail as unsendable
    send_gate: asyncio.Event | None = None

    @activity.defn(name=act.CRM_UPSERT_LEAD.name)
    async def upsert_lead(self, inp: UpsertLeadInput) -> UpsertLeadResult:
        self._record(act.CRM_UPSERT_LEAD.name, inp)
        return UpsertLeadResult(contact_id="c-1", firmographics=self.firmographics)

    @activity.defn(name=act.CRM_UPDATE_CONTACT.name)
    async def update_contact(self, inp: UpdateContactInput) -> None:
        self._record(act.CRM_UPDATE_CONTACT.name, inp)

    @activity.defn(name=act.CRM_LIST_OWNERS.name)
    async def list_owners(self, inp: ListOwnersInput) -> ListOwnersResult:
        self._record(act.CRM_LIST_OWNERS.name, inp)
        return ListOwnersResult(owners=OWNERS)

    @activity.defn(name=act.CRM_UPSERT_HANDOFF.name)
    async def upsert_handoff(self, inp: HandoffInput) -> HandoffResult:
        self._record(act.CRM_UPSERT_HANDOFF.name, inp)
        return HandoffResult(deal_id=f"deal-{inp.key[-2:]}", task_id="task-1")

    @activity.defn(name=act.ROUTING_ASSIGN_OWNER.name)
    async def assign_owner(self, inp: AssignOwnerInput) -> AssignOwnerResult:
        self._record(act.ROUTING_ASSIGN_OWNER.name, inp)
        eligible = [o.owner_id for o in inp.owners if o.owner_id not in inp.exclude]
        return AssignOwnerResult(owner_id=eligible[0])

    @activity.defn(name=act.EMAIL_SEND.name)
    async def send(self, inp: SendEmailInput) -> SendEmailResult:
        self._record(act.EMAIL_SEND.name, inp)
        if self.send_gate is not None:  # a send held in flight until the test opens the gate
            await self.send_gate.wait()
        if self.unsendable.get(inp.template, 0) > 0:  # the real activity's answer to a broken template
            self.unsendable[inp.template] -= 1
            reason = f"templates/{inp.template}.txt:3: 'frist_name' is undefined"
            raise ApplicationError(
                f"template {inp.template}: {reason}", reason, type=ErrorType.EMAIL_UNSENDABLE, non_retryable=True
            )
        if self.suppressed:
            return SendEmailResult(sent=False, suppressed=True)
        return SendEmailResult(sent=True, message_id=f"m-{next(self._ids)}")

    @activity.defn(name=act.EMAIL_SUPPRESS.name)
    async def suppress(self, inp: SuppressInput) -> None:
        self._record(act.EMAIL_SUPPRESS.name, inp)

    @activity.defn(name=act.CHAT_NOTIFY.name)
    async def notify(self, inp: NotifyInput) -> NotifyResult:
        self._record(act.CHAT_NOTIFY.name, inp)
        return NotifyResult(ts=str(next(self._ids)), channel=inp.channel or "U1")

    def workers(self, client: Client, queues: PlatformQueues, journeys_dir: Path) -> list[Worker]:
        # The real journey activities over a ledger of this fake's own (journey exits for `reentry`).
        ledger = SqliteContactLedger(Path(tempfile.mkdtemp(prefix="mops-fake-ledger-")) / "contacts.db")
        journeys = JourneyActivities(journeys_dir, ledger)
        experiments = ExperimentActivities(client)
        return [
            Worker(
                client,
                task_queue=queues.workflows,
                workflows=[LeadJourneyWorkflow, JourneyExperimentWorkflow],
                activities=[
                    journeys.load,
                    journeys.last_exit,
                    journeys.record_exit,
                    self.assign_owner,
                    self.publish_change,
                    experiments.enter,  # the real ones: they only talk to the Temporal server
                    experiments.report,
                ],
            ),
            Worker(
                client,
                task_queue=queues.crm,
                activities=[self.upsert_lead, self.update_contact, self.list_owners, self.upsert_handoff],
            ),
            Worker(client, task_queue=queues.email, activities=[self.send, self.suppress]),
            Worker(client, task_queue=queues.chat, activities=[self.notify]),
        ]
