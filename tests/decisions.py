"""Signed decisions for tests that send the `decide` update themselves, as another service
would (starter/service/decision_proofs.py): one key per test session, its public key for
the workflow inputs."""

from __future__ import annotations

from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.approvals import Decision
from domain.decision_proofs import public_key
from starter.service.decision_proofs import DecisionSigner

KEY = Ed25519PrivateKey.generate()
KEYS = [public_key(KEY)]
SIGNER = DecisionSigner(KEY, timedelta(minutes=5))


async def proven(env: WorkflowEnvironment, handle: WorkflowHandle, decision: Decision) -> Decision:
    """`decision` signed for `handle`'s workflow, valid from the server's clock (which the
    time-skipping server moves on)."""
    return SIGNER.sign(decision, workflow_id=handle.id, now=await env.get_current_time())
