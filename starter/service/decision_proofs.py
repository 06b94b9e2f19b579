"""Signing approval decisions: how a service that has established who is deciding proves
it to the workflow (domain/decision_proofs.py checks it there).

The gateway (after its sign-in or API key), the CLI (`--as NAME`, as an operator tool
holding the key) and `ContentService` / `CampaignService` sign through here. A service
that sends the `decide` update with its own Temporal client signs the same way:

    decision = sign_decision(build_decision({...}), workflow_id="content-launch-week", settings=settings)
    await client.get_workflow_handle("content-launch-week").execute_update("decide", decision)

Holding the signing key is the authority to decide in anyone's name: give it only to
processes that authenticate the people they decide for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain import decision_proofs
from domain.approvals import Decision
from mops.approval_keys import signing_key
from mops.settings import Settings


class DecisionSigner:
    """One signing key and how long its proofs stay valid."""

    def __init__(self, key: Ed25519PrivateKey, valid_for: timedelta) -> None:
        self._key, self._valid_for = key, valid_for

    @classmethod
    def from_settings(cls, settings: Settings) -> DecisionSigner:
        return cls(signing_key(settings), timedelta(seconds=settings.approval_proof_seconds))

    def sign(self, decision: Decision, *, workflow_id: str, now: datetime | None = None) -> Decision:
        """`decision` with its proof, valid from `now` (the signer's clock) for the configured time."""
        proof = decision_proofs.sign(
            self._key,
            workflow_id=workflow_id,
            approver=decision.approver,
            kind=decision.kind.value,
            revision=decision.revision,
            comment=decision.comment,
            expires_at=(now or datetime.now(UTC)) + self._valid_for,
        )
        return decision.model_copy(update={"proof": proof})


def sign_decision(decision: Decision, *, workflow_id: str, settings: Settings, now: datetime | None = None) -> Decision:
    """`decision` signed with the settings' key (`MOPS_APPROVAL_SIGNING_KEY`, or the dev key)."""
    return DecisionSigner.from_settings(settings).sign(decision, workflow_id=workflow_id, now=now)


__all__ = ["DecisionSigner", "sign_decision"]
