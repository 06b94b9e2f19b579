"""Python API for content: submit briefs, decide, revise, retract, inspect.

Briefs are validated against the people directory and approval policies before
anything starts; decisions go through the workflow's update validators, so the
caller hears at once whether a decision was accepted or why it was refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.approvals import Decision, DecisionKind
from domain.content import (
    BriefError,
    ContentBrief,
    DirectoryError,
    build_brief,
    load_directory,
    load_policies,
    validate_brief,
)
from domain.refusals import Refused
from mops.approval_keys import verify_keys
from mops.queues import platform_queues
from mops.settings import Settings
from starter.service.decision_proofs import DecisionSigner
from starter.service.errors import InputError, NotFound
from starter.service.leads import first_error
from starter.service.updates import execute_update
from workflows.content import ContentWorkflow
from workflows.content_models import ContentInput, ContentView, DecisionResult, RetractRequest, Revision


class ContentInputError(InputError):
    """A brief or request we refuse (one line naming the field)."""


# A refused decision, revision or retract is `Refused` (its code and reason), like every
# refusal; the name stays for callers that catch it.
ContentRefused = Refused


class ContentNotFound(NotFound):
    code = "content_not_found"


def content_workflow_id(content_id: str) -> str:
    return f"content-{content_id}"


def read_brief_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ContentInputError(f"brief: cannot read {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ContentInputError(f"brief: {path} is not valid YAML/JSON: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ContentInputError(f"brief: {path} must hold a mapping of brief fields")
    return data


def prepare(settings: Settings, data: dict[str, Any]) -> ContentInput:
    """Validate a brief (raw fields) into the workflow's input; starts nothing."""
    d = settings.policies_dir
    try:
        directory, policies = load_directory(d / "directory.yaml"), load_policies(d / "approval.yaml")
    except (DirectoryError, ValueError) as err:
        raise ContentInputError(str(err)) from None
    try:
        brief: ContentBrief = build_brief(data)
        stages = validate_brief(brief, directory, policies)
    except BriefError as err:
        raise ContentInputError(str(err)) from None
    return ContentInput(
        brief=brief,
        stages=stages,
        legal_stage=policies.legal_stage,
        directory=directory,
        decision_keys=verify_keys(settings),
        queues=platform_queues(settings),
    )


class ContentService:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self._signer: DecisionSigner | None = None  # made on the first decision

    async def submit(self, inp: ContentInput) -> tuple[str, bool]:
        """Start the item's workflow; (workflow id, created). Submitting a running item
        again returns it; an id that already finished is refused."""
        wf_id = content_workflow_id(inp.brief.content_id)
        try:
            running = await self._client.get_workflow_handle(wf_id).describe()
            if running.status is not None and running.status.name == "RUNNING":
                return wf_id, False
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
        b = inp.brief
        try:
            await self._client.start_workflow(
                ContentWorkflow.run,
                inp,
                id=wf_id,
                task_queue=self._settings.workflow_task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=f"{b.type.value} · {b.title}",
                static_details=f"Author `{b.author}` · channels {', '.join(c.value for c in b.channels)}",
            )
        except WorkflowAlreadyStartedError:
            raise ContentInputError(f"content_id: '{b.content_id}' was already used by a finished item") from None
        return wf_id, True

    def handle(self, content_id: str) -> WorkflowHandle:
        return self._client.get_workflow_handle_for(ContentWorkflow.run, content_workflow_id(content_id))

    async def state(self, content_id: str) -> ContentView:
        try:
            return await self.handle(content_id).query(ContentWorkflow.state)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise ContentNotFound(f"content: no item '{content_id}'") from None
            raise

    async def decide(
        self,
        content_id: str,
        *,
        approver: str,
        kind: DecisionKind | str,
        comment: str | None = None,
        revision: int | None = None,
    ) -> DecisionResult:
        if revision is None:
            revision = (await self.state(content_id)).revision
        try:
            decision = Decision(approver=approver, kind=kind, revision=revision, comment=comment)
        except ValidationError as err:
            raise ContentInputError(first_error(err)) from None
        self._signer = self._signer or DecisionSigner.from_settings(self._settings)
        signed = self._signer.sign(decision, workflow_id=content_workflow_id(content_id))
        return await self._update(content_id, ContentWorkflow.decide, signed)

    async def revise(self, content_id: str, revision: Revision) -> int:
        return (await self._update(content_id, ContentWorkflow.revise, revision)).revision

    async def retract(self, content_id: str, *, requested_by: str, reason: str) -> None:
        request = RetractRequest(requested_by=requested_by, reason=reason)
        await self._update(content_id, ContentWorkflow.retract, request)

    async def _update(self, content_id: str, update, arg):
        """Raises `Refused` with the validator's code when the workflow refuses."""
        return await execute_update(
            self.handle(content_id), update, arg, not_found=ContentNotFound(f"content: no running item '{content_id}'")
        )
