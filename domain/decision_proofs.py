"""Proof of who made an approval decision: claims signed with Ed25519, checked by the
workflow that the decision is for.

A decision names its approver; without proof, anyone who can send an update to a
workflow could decide in anyone's name. So a signer that has established who is
deciding (the gateway after its sign-in or API key, the operator's CLI, another service
holding the key) signs the decision's claims: this workflow, this approver, this kind,
revision and comment, valid until a moment. The workflow holds only public keys (in
its input, so checking stays a pure function of its history) and checks the signature,
the expiry against its own clock, and that the claims are this decision's.

Pure logic: the key material is bytes, the clock a parameter. The signing key lives
with the signers (`mops/approval_keys.py`, `starter/service/decision_proofs.py`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from pydantic import BaseModel, Field

from domain.fields import UtcDatetime

# Domain separation: these bytes are signed for nothing but an approval decision of this shape.
CONTEXT = b"mops approval decision v1\n"
KEY_BYTES = 32


def _raise_once_outside_workflows() -> None:
    """cryptography's Rust core imports its exception types the first time it raises one.
    Done inside a workflow's sandbox, whose import hooks it cannot go through, that
    aborts the worker process (a forged signature would take the worker down). This
    module is imported by the worker before any workflow runs, so one failed check here
    makes every later raise find the type ready."""
    with contextlib.suppress(InvalidSignature):
        Ed25519PrivateKey.from_private_bytes(bytes(KEY_BYTES)).public_key().verify(bytes(64), CONTEXT)


_raise_once_outside_workflows()


class ProofKeyError(ValueError):
    """Key material that cannot be used (the message names the problem, never the key)."""


class DecisionProof(BaseModel):
    """What a signer vouches for, and its signature over `canonical(...)` of those claims."""

    workflow_id: str = Field(min_length=1)
    approver: str = Field(min_length=1)
    kind: str
    revision: int = Field(ge=1)
    comment: str | None = None
    expires_at: UtcDatetime
    key_id: str = Field(min_length=1)  # which public key verifies it (`key_id(public)`)
    signature: str  # base64 of the 64-byte Ed25519 signature


class ProofProblem(StrEnum):
    """Why a decision's proof is not accepted (recorded with each refused decision)."""

    MISSING = "missing"
    NO_KEYS = "no_keys"  # the run was started without verification keys
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    OTHER_WORKFLOW = "other_workflow"
    OTHER_APPROVER = "other_approver"
    OTHER_DECISION = "other_decision"  # kind, revision or comment differ from what was signed


def canonical(
    *, workflow_id: str, approver: str, kind: str, revision: int, comment: str | None, expires_at: datetime
) -> bytes:
    """The signed bytes: sorted compact JSON of the claims, expiry in UTC to the second."""
    claims = {
        "workflow_id": workflow_id,
        "approver": approver,
        "kind": kind,
        "revision": revision,
        "comment": comment,
        "expires_at": expires_at.astimezone(UTC).isoformat(timespec="seconds"),
    }
    return CONTEXT + json.dumps(claims, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_id(public: bytes) -> str:
    """A short, stable name of a public key (the first 8 bytes of its SHA-256, hex)."""
    return hashlib.sha256(public).hexdigest()[:16]


def _b64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ProofKeyError(f"{what} is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise ProofKeyError(f"{what} must be {KEY_BYTES} bytes (Ed25519), got {len(raw)}")
    return raw


def parse_private_key(text: str) -> Ed25519PrivateKey:
    """base64 of the 32-byte Ed25519 private key."""
    return Ed25519PrivateKey.from_private_bytes(_b64(text, "the signing key"))


def parse_public_keys(text: str) -> list[str]:
    """base64 public keys, comma-separated, newest first; checked, returned as given."""
    keys = [k.strip() for k in text.split(",") if k.strip()]
    for i, k in enumerate(keys):
        _b64(k, f"key {i}")
    if not keys:
        raise ProofKeyError("at least one key is needed")
    return keys


def public_key(private: Ed25519PrivateKey) -> str:
    return base64.b64encode(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def private_key_text(private: Ed25519PrivateKey) -> str:
    return base64.b64encode(private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())).decode()


def sign(
    private: Ed25519PrivateKey,
    *,
    workflow_id: str,
    approver: str,
    kind: str,
    revision: int,
    comment: str | None,
    expires_at: datetime,
) -> DecisionProof:
    expires_at = expires_at.astimezone(UTC).replace(microsecond=0)
    signed = canonical(
        workflow_id=workflow_id, approver=approver, kind=kind, revision=revision, comment=comment, expires_at=expires_at
    )
    return DecisionProof(
        workflow_id=workflow_id,
        approver=approver,
        kind=kind,
        revision=revision,
        comment=comment,
        expires_at=expires_at,
        key_id=key_id(base64.b64decode(public_key(private))),
        signature=base64.b64encode(private.sign(signed)).decode(),
    )


def check(
    proof: DecisionProof | None,
    *,
    workflow_id: str,
    approver: str,
    kind: str,
    revision: int,
    comment: str | None,
    keys: list[str],
    now: datetime,
) -> tuple[ProofProblem, str] | None:
    """Why `proof` does not prove this decision (a problem and one line), or None if it does.

    The signature is checked before any claim is read, so a claim is only ever reported
    (another workflow, another approver) when the signer really made it."""
    if proof is None:
        return ProofProblem.MISSING, "the decision carries no proof of who made it"
    if not keys:
        return ProofProblem.NO_KEYS, "this run was started without keys to verify decisions (re-submit it)"
    by_id = {key_id(raw): raw for raw in (base64.b64decode(k) for k in keys)}
    public = by_id.get(proof.key_id)
    if public is None:
        return ProofProblem.UNKNOWN_KEY, f"the proof is signed with key {proof.key_id!r}, which this run does not trust"
    claimed = canonical(
        workflow_id=proof.workflow_id,
        approver=proof.approver,
        kind=proof.kind,
        revision=proof.revision,
        comment=proof.comment,
        expires_at=proof.expires_at,
    )
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(base64.b64decode(proof.signature, validate=True), claimed)
    except (InvalidSignature, binascii.Error, ValueError):
        return ProofProblem.BAD_SIGNATURE, "the proof's signature does not verify"
    if proof.expires_at <= now:
        return ProofProblem.EXPIRED, f"the proof expired at {proof.expires_at.isoformat()}"
    if proof.workflow_id != workflow_id:
        return ProofProblem.OTHER_WORKFLOW, f"the proof is for workflow {proof.workflow_id!r}"
    if proof.approver != approver:
        return ProofProblem.OTHER_APPROVER, f"the proof is for approver {proof.approver!r}, not {approver!r}"
    if (proof.kind, proof.revision, proof.comment) != (kind, revision, comment):
        return ProofProblem.OTHER_DECISION, "the proof was signed for another decision (kind, revision or comment)"
    return None
