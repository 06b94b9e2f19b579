"""The keys of approval decisions' proofs, as settings give them: the signers' Ed25519
private key and the public keys workflows verify with (domain/decision_proofs.py).

Unset, the signing key is a dev key made on first use in `<data_dir>/approval-signing.key`
(mode 0600), like the key store beside it: every process of one `mops up` or `mops demo`
(CLI, gateway, demo) shares the data directory, so they sign with one key and the
workflows they start trust it, with no setup. Set `MOPS_APPROVAL_SIGNING_KEY` (signers)
and `MOPS_APPROVAL_VERIFY_KEYS` (starters) wherever processes do not share a data
directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.decision_proofs import ProofKeyError, parse_private_key, parse_public_keys, private_key_text, public_key
from mops.settings import Settings, SettingsError

DEV_KEY_FILE = "approval-signing.key"


def dev_key_path(settings: Settings) -> Path:
    return settings.data_dir / DEV_KEY_FILE


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """`MOPS_APPROVAL_SIGNING_KEY`, else the data directory's dev key (made if missing)."""
    if settings.approval_signing_key is not None:
        return parse_private_key(settings.approval_signing_key.get_secret_value())
    path = dev_key_path(settings)
    if not path.exists():
        _create(path)
    try:
        return parse_private_key(path.read_text())
    except ProofKeyError as err:
        raise SettingsError(f"MOPS_APPROVAL_SIGNING_KEY: not set, and the dev key {path} is unusable: {err}") from None


def verify_keys(settings: Settings) -> list[str]:
    """`MOPS_APPROVAL_VERIFY_KEYS` (newest first), else the signing key's public key."""
    if settings.approval_verify_keys is not None:
        return parse_public_keys(settings.approval_verify_keys)
    return [public_key(signing_key(settings))]


def _create(path: Path) -> None:
    """Write a new key where none is; a process that loses the race reads the winner's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(private_key_text(Ed25519PrivateKey.generate()))
    try:
        os.link(tmp, path)  # fails if another process made it first: theirs is kept
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


__all__ = ["DEV_KEY_FILE", "dev_key_path", "signing_key", "verify_keys"]
