"""Approval decisions must prove who made them, against the real dev server and workers:
raw `decide` updates through a Temporal client (no proof, a forged one, an expired one,
one for another workflow or another approver, one for another decision) are refused,
recorded on the item and shown by `mops content show`, and change nothing; the CLI's
signed decision is accepted."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.client import WorkflowUpdateFailedError
from typer.testing import CliRunner

from domain import decision_proofs
from domain.approvals import Decision, DecisionKind
from domain.decision_proofs import ProofProblem
from domain.refusals import Refusal
from mops.approval_keys import signing_key
from mops.settings import get_settings
from starter.cli import app
from starter.service.content import ContentService, content_workflow_id, prepare
from starter.service.decision_proofs import sign_decision
from starter.service.updates import refused
from tests.e2e.conftest import Stack
from tests.e2e.test_content_flow import brief, wait_stage
from workflows.content import ContentWorkflow
from workflows.content_models import ContentStage


async def test_raw_decisions_without_valid_proof_are_refused_recorded_and_not_applied(stack: Stack) -> None:
    svc = ContentService(stack.client, stack.settings)
    data = brief(stack, approval=[{"name": "review", "approvers": ["omar", "sofia"], "mode": "all"}])
    cid, other = data["content_id"], brief(stack)["content_id"]
    wf_id = content_workflow_id(cid)
    await svc.submit(prepare(stack.settings, data))
    await wait_stage(svc, cid, ContentStage.IN_REVIEW)
    handle = stack.client.get_workflow_handle_for(ContentWorkflow.run, wf_id)
    sofia = Decision(approver="sofia", kind="approve", revision=1)
    now = datetime.now(UTC)

    def proof(decision: Decision, **claims):
        return decision_proofs.sign(
            claims.pop("key", signing_key(stack.settings)),
            **{
                "workflow_id": wf_id,
                "approver": decision.approver,
                "kind": decision.kind.value,
                "revision": decision.revision,
                "comment": decision.comment,
                "expires_at": now + timedelta(minutes=5),
                **claims,
            },
        )

    good = proof(sofia)
    forged_signature = good.model_copy(update={"signature": proof(sofia, approver="omar").signature})
    raw: dict[ProofProblem, Decision] = {
        ProofProblem.MISSING: sofia,
        ProofProblem.UNKNOWN_KEY: sofia.model_copy(update={"proof": proof(sofia, key=Ed25519PrivateKey.generate())}),
        ProofProblem.BAD_SIGNATURE: sofia.model_copy(update={"proof": forged_signature}),
        ProofProblem.EXPIRED: sofia.model_copy(update={"proof": proof(sofia, expires_at=now - timedelta(hours=1))}),
        ProofProblem.OTHER_WORKFLOW: sofia.model_copy(
            update={"proof": proof(sofia, workflow_id=content_workflow_id(other))}
        ),
        ProofProblem.OTHER_APPROVER: sofia.model_copy(update={"proof": proof(sofia, approver="omar")}),
        ProofProblem.OTHER_DECISION: sofia.model_copy(
            update={"kind": DecisionKind.REJECT, "comment": "No thanks", "proof": good}
        ),
    }
    for problem, decision in raw.items():
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(ContentWorkflow.decide, decision)
        why = refused(err.value)
        assert why.code == Refusal.DECISION_NOT_PROVEN and why.status == 403, (problem, why)

    view = await svc.state(cid)
    assert [r.problem for r in view.refused_decisions] == list(raw)
    assert {(r.approver, r.stage) for r in view.refused_decisions} == {("sofia", "review")}
    assert view.decisions == [] and view.stage == ContentStage.IN_REVIEW, "nothing refused was applied"
    assert set(view.pending_approvers) == {"omar", "sofia"}
    assert sum("refused a decision in sofia's name" in note for _, note in view.timeline) == len(raw)

    # Another service deciding through its own Temporal client signs the documented way.
    signed = sign_decision(sofia, workflow_id=wf_id, settings=stack.settings)
    env = {"MOPS_TEMPORAL_ADDRESS": stack.settings.temporal_address}

    async def cli(*args: str):
        get_settings.cache_clear()
        try:
            return await asyncio.to_thread(CliRunner().invoke, app, ["content", *args], env=env)
        finally:
            get_settings.cache_clear()

    shown = await cli("show", cid)
    assert shown.exit_code == 0 and "refused decisions" in shown.output and "expired" in shown.output
    as_json = json.loads((await cli("show", cid, "--json")).output)
    assert [r["problem"] for r in as_json["refused_decisions"]] == [p.value for p in raw]

    assert (await handle.execute_update(ContentWorkflow.decide, signed)).outcome == "pending"
    ok = await cli("approve", cid, "--as", "omar", "--json")
    assert ok.exit_code == 0 and json.loads(ok.output)["outcome"] == "approved", ok.output
    view = await svc.state(cid)
    assert [(d.approver, d.proof is not None) for d in view.decisions] == [("sofia", True), ("omar", True)]
    assert len(view.refused_decisions) == len(raw), "the accepted ones are decisions, not refusals"
