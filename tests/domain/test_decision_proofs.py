"""Decision proofs as pure rules: what a signature covers, and each reason a proof fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.decision_proofs import ProofProblem, check, parse_public_keys, public_key, sign
from mops.settings import SettingsError, load_settings

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
CLAIMS = dict(workflow_id="content-a", approver="sofia", kind="approve", revision=2, comment="Fine")


def verdict(proof, **changes):
    expected = {**CLAIMS, **changes}
    keys = expected.pop("keys", [public_key(KEY)])
    now = expected.pop("now", NOW)
    problem = check(proof, keys=keys, now=now, **expected)
    return problem and problem[0]


def test_a_proof_holds_only_for_its_own_decision_until_it_expires() -> None:
    proof = sign(KEY, expires_at=NOW + timedelta(minutes=5), **CLAIMS)
    assert verdict(proof) is None
    assert verdict(proof, now=NOW + timedelta(minutes=5)) == ProofProblem.EXPIRED
    assert verdict(proof, workflow_id="content-b") == ProofProblem.OTHER_WORKFLOW
    assert verdict(proof, approver="omar") == ProofProblem.OTHER_APPROVER
    for change in ({"kind": "reject"}, {"revision": 3}, {"comment": None}):
        assert verdict(proof, **change) == ProofProblem.OTHER_DECISION, change
    assert verdict(proof, keys=[public_key(Ed25519PrivateKey.generate())]) == ProofProblem.UNKNOWN_KEY
    assert verdict(proof, keys=[]) == ProofProblem.NO_KEYS
    assert verdict(None) == ProofProblem.MISSING


def test_claims_changed_after_signing_break_the_signature() -> None:
    proof = sign(KEY, expires_at=NOW + timedelta(minutes=5), **CLAIMS)
    for change in ({"approver": "omar"}, {"expires_at": NOW + timedelta(days=1)}, {"workflow_id": "content-b"}):
        assert verdict(proof.model_copy(update=change), **{k: v for k, v in change.items() if k != "expires_at"}) == (
            ProofProblem.BAD_SIGNATURE
        ), change


def test_keys_in_settings_are_checked_at_start_with_one_line() -> None:
    with pytest.raises(SettingsError, match=r"^MOPS_APPROVAL_SIGNING_KEY: the signing key is not valid base64$"):
        load_settings(approval_signing_key="not a key!")
    with pytest.raises(SettingsError, match=r"^MOPS_APPROVAL_VERIFY_KEYS: key 1 must be 32 bytes"):
        load_settings(approval_verify_keys=f"{public_key(KEY)},AAAA")
    assert parse_public_keys(f" {public_key(KEY)} ,") == [public_key(KEY)]
