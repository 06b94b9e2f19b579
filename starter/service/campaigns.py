"""Python API for campaigns and budget reallocation: launch, decide, stop, inspect,
run a reallocation now or on a Temporal Schedule.

A campaign file is validated (against the people directory) before anything starts.
Launch uses update-with-start on the `preflight` update: the caller hears at once
whether every ad account bills in the campaign's currency; the workflow id is the
campaign id, so launching the same campaign twice returns the running one.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import ValidationError
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    WithStartWorkflowOperation,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.approvals import Decision, DecisionKind
from domain.campaigns import CampaignSpec, CampaignSpecError, load_campaign
from domain.content import DirectoryError, load_directory
from domain.money import show
from domain.refusals import Refused
from mops.approval_keys import verify_keys
from mops.queues import platform_queues
from mops.settings import Settings
from starter.service.conversion_plans import ConversionPlanError, plan_for_campaign
from starter.service.decision_proofs import DecisionSigner
from starter.service.errors import InputError, NotFound
from starter.service.leads import first_error
from starter.service.updates import execute_update
from workflows.approval import DecisionResult
from workflows.budget import BudgetReallocationWorkflow
from workflows.campaign import CampaignWorkflow
from workflows.campaign_models import (
    BudgetInput,
    BudgetView,
    CampaignInput,
    CampaignView,
    PreflightResult,
    StopRequest,
)


class CampaignInputError(InputError):
    """A campaign file or request we refuse (one line naming the field)."""


# A refused decision or stop is `Refused` (its code and reason), like every refusal; the
# name stays for callers that catch it.
CampaignRefused = Refused


class CampaignNotFound(NotFound):
    code = "campaign_not_found"


class BudgetProposalNotFound(CampaignNotFound):
    """No such reallocation run (a subclass: callers that catch CampaignNotFound still do)."""

    code = "budget_proposal_not_found"


def campaign_workflow_id(campaign_id: str) -> str:
    return f"campaign-{campaign_id}"


def budget_schedule_id(campaign_id: str) -> str:
    return f"budget-{campaign_id}"


def prepare(settings: Settings, path: Path, *, now) -> CampaignInput:
    """Validate a campaign file into the workflow's input; starts nothing."""
    try:
        directory = load_directory(settings.policies_dir / "directory.yaml")
    except (DirectoryError, ValueError) as err:
        raise CampaignInputError(str(err)) from None
    try:
        spec = load_campaign(path, directory=directory, now=now)
    except CampaignSpecError as err:
        raise CampaignInputError(str(err)) from None
    check_emails(settings, path, spec)
    if spec.conversions is not None:  # its leads' conversions need somewhere to go
        try:
            plan_for_campaign(settings, spec.conversions, str(path))
        except ConversionPlanError as err:
            raise CampaignInputError(str(err)) from None
    return CampaignInput(
        spec=spec,
        directory=directory,
        decision_keys=verify_keys(settings),
        queues=platform_queues(settings),
        gateway_url=settings.unsubscribe_base_url(),
    )


def check_emails(settings: Settings, path: Path, spec: CampaignSpec) -> list[str]:
    """The campaign's email as its lists would get it: CampaignInputError (file:line) when
    its template cannot render or it breaks a blocking brand rule; the warnings otherwise."""
    from activities.email_templates import TemplateProblem, check_campaign_emails, validation_templates
    from domain.brand import BrandRulesError, load_brand_rules

    templates = validation_templates(
        settings.campaign_templates_path,
        settings.mail_sender_postal,
        settings.mail_preferences_url,
        shared=(settings.email_templates_path,),
    )
    try:
        return check_campaign_emails(spec, path, templates, load_brand_rules(settings.policies_dir / "brand.yaml"))
    except (TemplateProblem, BrandRulesError) as err:
        raise CampaignInputError(str(err)) from None


class CampaignService:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self._signer: DecisionSigner | None = None  # made on the first decision

    async def launch(self, inp: CampaignInput) -> PreflightResult:
        """Start the campaign (or find it running) and wait for its preflight."""
        spec: CampaignSpec = inp.spec
        start = WithStartWorkflowOperation(
            CampaignWorkflow.run,
            inp,
            id=campaign_workflow_id(spec.id),
            task_queue=self._settings.workflow_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"campaign · {spec.name}",
            static_details=f"Owner `{spec.owner}` · {show(spec.total_budget, spec.currency)} · "
            + ", ".join(c.kind.value for c in spec.channels),
        )
        try:
            return await self._client.execute_update_with_start_workflow(
                # The SDK types `@workflow.update(name=...)` on an async def as returning the coroutine.
                CampaignWorkflow.preflight,  # type: ignore[arg-type]
                start_workflow_operation=start,
            )
        except WorkflowAlreadyStartedError:
            raise CampaignInputError(f"id: campaign '{spec.id}' was already used by a finished campaign") from None
        except RPCError as err:
            if err.status == RPCStatusCode.ALREADY_EXISTS:
                raise CampaignInputError(f"id: campaign '{spec.id}' was already used by a finished campaign") from None
            raise

    def handle(self, campaign_id: str) -> WorkflowHandle:
        return self._client.get_workflow_handle_for(CampaignWorkflow.run, campaign_workflow_id(campaign_id))

    async def state(self, campaign_id: str) -> CampaignView:
        try:
            return await self.handle(campaign_id).query(CampaignWorkflow.state)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise CampaignNotFound(f"campaign: no campaign '{campaign_id}'") from None
            raise

    async def decide(
        self, campaign_id: str, *, approver: str, kind: DecisionKind | str, comment: str | None = None
    ) -> DecisionResult:
        decision = self._signed(_decision(approver, kind, comment), campaign_workflow_id(campaign_id))
        return await execute_update(
            self.handle(campaign_id), CampaignWorkflow.decide, decision, not_found=_not_running(campaign_id)
        )

    async def stop(self, campaign_id: str, *, requested_by: str, reason: str) -> None:
        await execute_update(
            self.handle(campaign_id),
            CampaignWorkflow.stop,
            StopRequest(requested_by=requested_by, reason=reason),
            not_found=_not_running(campaign_id),
        )

    # ------------------------------------------------------------- budgets

    def _budget_input(self, campaign_id: str, requested_by: str | None) -> BudgetInput:
        directory = load_directory(self._settings.policies_dir / "directory.yaml")
        return BudgetInput(
            campaign_id=campaign_id,
            directory=directory,
            decision_keys=verify_keys(self._settings),
            queues=platform_queues(self._settings),
            requested_by=requested_by,
            gateway_url=self._settings.unsubscribe_base_url(),
        )

    async def reallocate(self, campaign_id: str, *, requested_by: str | None, run_id: str) -> WorkflowHandle:
        """Start one reallocation now; `run_id` makes the workflow id (one run per id)."""
        await self.state(campaign_id)  # a clear error for an unknown campaign
        return await self._client.start_workflow(
            BudgetReallocationWorkflow.run,
            self._budget_input(campaign_id, requested_by),
            id=f"budget-{campaign_id}-{run_id}",
            task_queue=self._settings.workflow_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"budget reallocation · {campaign_id}",
        )

    async def schedule(self, campaign_id: str, *, every: timedelta) -> str:
        """Create or update the campaign's reallocation Schedule (one run at a time;
        a run still waiting for approval makes the next one skip)."""
        await self.state(campaign_id)
        schedule_id = budget_schedule_id(campaign_id)
        schedule = Schedule(
            action=ScheduleActionStartWorkflow(
                BudgetReallocationWorkflow.run,
                self._budget_input(campaign_id, None),
                id=schedule_id,
                task_queue=self._settings.workflow_task_queue,
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        )
        try:
            await self._client.create_schedule(schedule_id, schedule)
        except ScheduleAlreadyRunningError:
            await self._client.get_schedule_handle(schedule_id).update(lambda _: ScheduleUpdate(schedule=schedule))
        return schedule_id

    def budget_handle(self, workflow_id: str) -> WorkflowHandle:
        return self._client.get_workflow_handle_for(BudgetReallocationWorkflow.run, workflow_id)

    async def budget_state(self, workflow_id: str) -> BudgetView:
        try:
            return await self.budget_handle(workflow_id).query(BudgetReallocationWorkflow.state)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise BudgetProposalNotFound(f"budget: no reallocation '{workflow_id}'") from None
            raise

    async def budget_decide(
        self, workflow_id: str, *, approver: str, kind: DecisionKind | str, comment: str | None = None
    ) -> DecisionResult:
        decision = self._signed(_decision(approver, kind, comment), workflow_id)
        return await execute_update(
            self.budget_handle(workflow_id),
            BudgetReallocationWorkflow.decide,
            decision,
            not_found=BudgetProposalNotFound(f"reallocation '{workflow_id}': not found or not running"),
        )

    def _signed(self, decision: Decision, workflow_id: str) -> Decision:
        self._signer = self._signer or DecisionSigner.from_settings(self._settings)
        return self._signer.sign(decision, workflow_id=workflow_id)


def _decision(approver: str, kind: DecisionKind | str, comment: str | None) -> Decision:
    try:
        return Decision(approver=approver, kind=kind, revision=1, comment=comment)
    except ValidationError as err:
        raise CampaignInputError(first_error(err)) from None


def _not_running(campaign_id: str) -> CampaignNotFound:
    return CampaignNotFound(f"campaign '{campaign_id}': not found or not running")
