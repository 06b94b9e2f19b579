"""Payload encryption for everything mops stores in Temporal: AES-256-GCM, per-lead keys.

Every payload a client, worker or replayer writes (workflow inputs and results, signals,
updates, queries, activity inputs and results, memos, summaries, failure details) goes
through `EncryptionCodec` (composed with the pydantic converter in `mops.temporal`):

    metadata  encoding=binary/encrypted, encryption-key-id=<key id>, encryption-cipher=AES256-GCM
    data      12-byte nonce + AES-GCM(serialized original payload), the key id as associated data

Keys
- **Master keys** come from settings (`MOPS_CODEC_KEYS`, `id:base64`, newest first). New
  writes use the newest; older ones still decrypt, so rotating is: put a new key first,
  keep the old ones until `mops codec rewrap` has re-wrapped the data keys and no
  history encrypted directly under them is still needed.
- **Per-lead data keys** (crypto-shredding): a payload of a lead-scoped workflow
  (`lead-<id>`, `contact-sync-<id>`, `erasure-<id>`: see `domain.privacy`) is encrypted
  under that lead's own random data key, created on first use and stored wrapped by the
  newest master key in the key store (`mops.keystore`). Destroying it (`mops lead erase`)
  makes every payload of that lead unreadable, everywhere, for good; other leads keep
  their keys and still decode and replay.

How the codec knows the lead at encode time: Temporal's serialization context. The SDK
gives every codec a `WorkflowSerializationContext` / `ActivitySerializationContext`
carrying the id of the workflow the payload belongs to, on every path (client start,
signal, update, query; worker activations and completions; activity inputs, results
and heartbeats; child workflows get the child's id; the replayer). `with_context`
binds the lead found in that id, so nothing has to be carried in the payloads or the
models. Decoding never needs the context: the key id is in each payload's metadata, so
the codec server (Web UI, `temporal` CLI) decodes without knowing the workflow. A
payload encoded without a workflow context (the codec server's `/encode`, schedules'
id prefixes) uses the newest master key.

Payloads without the `binary/encrypted` marker pass through `decode` untouched: histories
recorded before encryption was switched on still replay.

Failures: `EncryptedFailureConverter` moves every failure's message and stack trace into
its encoded attributes (a payload, so encrypted like the rest); the server keeps only
"Encoded failure" and the error type.
"""

from __future__ import annotations

import functools
import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
)

from domain.privacy import lead_of_workflow
from mops.database import shared_database
from mops.keystore import KeyStore, SqliteKeyStore, StoredKey, utc_now
from mops.keystore_pg import PostgresKeyStore
from mops.master_keys import CodecKeyError, parse_master_keys
from mops.settings import Settings

ENCODING = b"binary/encrypted"
CIPHER = b"AES256-GCM"
META_ENCODING = "encoding"
META_KEY_ID = "encryption-key-id"
META_CIPHER = "encryption-cipher"
NONCE_BYTES = 12
DATA_KEY_PREFIX = "dek"


class KeyUnavailable(Exception):
    """A payload's key is gone (destroyed by an erasure) or was never known here."""

    def __init__(self, key_id: str, why: str = "destroyed or unknown") -> None:
        super().__init__(f"payload key {key_id!r} is not available ({why})")
        self.key_id = key_id


def _wrap_aad(key_id: str, lead_id: str) -> bytes:
    return f"mops-data-key:{key_id}:{lead_id}".encode()


class KeyRing:
    """Master keys (settings) + per-lead data keys (key store), with a small cache.

    Cached data keys live `cache_seconds` (0 = no cache): a key destroyed by another
    process stops decrypting here within that time; one destroyed through this ring at
    once. Thread-safe (the CLI runs its commands on a worker thread)."""

    def __init__(
        self,
        master_keys: dict[str, bytes],
        store: KeyStore,
        *,
        cache_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not master_keys:
            raise CodecKeyError("at least one master key is needed")
        self._masters = {kid: AESGCM(k) for kid, k in master_keys.items()}
        self.newest_master_id = next(iter(master_keys))
        self.store = store
        self._ttl = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._by_id: dict[str, tuple[AESGCM, float]] = {}
        self._by_lead: dict[str, tuple[str, float]] = {}

    @property
    def master_ids(self) -> list[str]:
        return list(self._masters)

    # keys for writing ---------------------------------------------------------------

    def newest_master(self) -> tuple[str, AESGCM]:
        return self.newest_master_id, self._masters[self.newest_master_id]

    def lead_key(self, lead_id: str) -> tuple[str, AESGCM]:
        """The lead's current data key, created (and stored wrapped) on first use."""
        now = self._clock()
        with self._lock:
            hit = self._by_lead.get(lead_id)
            if hit and hit[1] > now and (cached := self._by_id.get(hit[0])) and cached[1] > now:
                return hit[0], cached[0]
            stored = self.store.current_for_lead(lead_id)
            if stored is None:
                stored = self.store.add_if_absent(self._new_data_key(lead_id))
            aead = self._unwrap(stored)
            self._remember(stored.key_id, lead_id, aead, now)
            return stored.key_id, aead

    def _new_data_key(self, lead_id: str) -> StoredKey:
        key_id = f"{DATA_KEY_PREFIX}:{lead_id}:{secrets.token_hex(4)}"
        kek_id, kek = self.newest_master()
        nonce = os.urandom(NONCE_BYTES)
        wrapped = nonce + kek.encrypt(nonce, AESGCM.generate_key(bit_length=256), _wrap_aad(key_id, lead_id))
        return StoredKey(key_id=key_id, lead_id=lead_id, kek_id=kek_id, wrapped=wrapped, created_at=utc_now())

    # keys for reading ---------------------------------------------------------------

    def key(self, key_id: str) -> AESGCM:
        """The key a payload names; `KeyUnavailable` if it is destroyed or unknown."""
        if (master := self._masters.get(key_id)) is not None:
            return master
        now = self._clock()
        with self._lock:
            cached = self._by_id.get(key_id)
            if cached and cached[1] > now:
                return cached[0]
            stored = self.store.get(key_id)
            if stored is None:
                self._by_id.pop(key_id, None)
                raise KeyUnavailable(key_id)
            aead = self._unwrap(stored)
            self._remember(key_id, None, aead, now)
            return aead

    def _unwrap(self, stored: StoredKey) -> AESGCM:
        kek = self._masters.get(stored.kek_id)
        if kek is None:
            raise KeyUnavailable(stored.key_id, f"its master key {stored.kek_id!r} is not configured")
        nonce, body = stored.wrapped[:NONCE_BYTES], stored.wrapped[NONCE_BYTES:]
        try:
            return AESGCM(kek.decrypt(nonce, body, _wrap_aad(stored.key_id, stored.lead_id)))
        except InvalidTag:
            raise KeyUnavailable(stored.key_id, f"it does not unwrap with master key {stored.kek_id!r}") from None

    def _remember(self, key_id: str, lead_id: str | None, aead: AESGCM, now: float) -> None:
        if self._ttl <= 0:
            return
        self._by_id[key_id] = (aead, now + self._ttl)
        if lead_id is not None:
            self._by_lead[lead_id] = (key_id, now + self._ttl)

    # lifecycle ------------------------------------------------------------------------

    def forget_lead(self, lead_id: str) -> None:
        """Drop the lead's keys from this process's cache."""
        with self._lock:
            self._by_lead.pop(lead_id, None)
            for key_id in [k for k in self._by_id if k.startswith(f"{DATA_KEY_PREFIX}:{lead_id}:")]:
                del self._by_id[key_id]

    def destroy_lead(self, lead_id: str, record) -> list[str]:
        """Crypto-shred: delete the lead's data keys (and log the erasure) in one transaction."""
        self.forget_lead(lead_id)
        destroyed = self.store.destroy_lead(lead_id, record)
        self.forget_lead(lead_id)
        return destroyed

    def rewrap(self) -> int:
        """Re-wrap every data key under the newest master key; return how many changed.
        After this, older master keys are needed only for payloads encrypted directly
        under them (workflows that are not lead-scoped)."""
        kek_id, kek = self.newest_master()
        changed = []
        for stored in self.store.all_keys():
            if stored.kek_id == kek_id:
                continue
            raw_kek = self._masters.get(stored.kek_id)
            if raw_kek is None:
                raise KeyUnavailable(stored.key_id, f"its master key {stored.kek_id!r} is not configured")
            aad = _wrap_aad(stored.key_id, stored.lead_id)
            raw = raw_kek.decrypt(stored.wrapped[:NONCE_BYTES], stored.wrapped[NONCE_BYTES:], aad)
            nonce = os.urandom(NONCE_BYTES)
            changed.append(
                StoredKey(
                    stored.key_id, stored.lead_id, kek_id, nonce + kek.encrypt(nonce, raw, aad), stored.created_at
                )
            )
        if changed:
            self.store.replace(changed)
        return len(changed)


# ------------------------------------------------------------------ the codec


def is_encrypted(payload: Payload) -> bool:
    return payload.metadata.get(META_ENCODING) == ENCODING


def key_id_of(payload: Payload) -> str | None:
    """The key a payload is encrypted under (None when it is not encrypted)."""
    if not is_encrypted(payload) or META_KEY_ID not in payload.metadata:
        return None
    return payload.metadata[META_KEY_ID].decode()


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """AES-GCM codec; bound by `with_context` to the lead of the payload's workflow."""

    def __init__(self, keyring: KeyRing | Callable[[], KeyRing], *, lead_id: str | None = None) -> None:
        self._source = keyring if callable(keyring) else (lambda ring=keyring: ring)
        self.lead_id = lead_id

    @property
    def keyring(self) -> KeyRing:
        return self._source()

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        lead_id = lead_of_workflow(getattr(context, "workflow_id", None))
        if lead_id == self.lead_id:
            return self
        return EncryptionCodec(self._source, lead_id=lead_id)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        ring = self._source()
        key_id, aead = ring.lead_key(self.lead_id) if self.lead_id else ring.newest_master()
        aad = key_id.encode()
        out = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            out.append(
                Payload(
                    metadata={META_ENCODING: ENCODING, META_KEY_ID: aad, META_CIPHER: CIPHER},
                    data=nonce + aead.encrypt(nonce, payload.SerializeToString(), aad),
                )
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        ring = None
        out = []
        for payload in payloads:
            if not is_encrypted(payload):
                out.append(payload)  # written before encryption was on (or by another codec's caller)
                continue
            key_id = payload.metadata.get(META_KEY_ID, b"").decode()
            ring = ring or self._source()
            aead = ring.key(key_id)
            try:
                plain = aead.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], key_id.encode())
            except InvalidTag:
                raise KeyUnavailable(key_id, "the payload does not decrypt with it") from None
            decoded = Payload()
            decoded.ParseFromString(plain)
            out.append(decoded)
        return out


# Failure types whose messages mops builds itself from operational facts only (never from
# a platform's answer or any input): they stay readable without a codec, so operators see
# at a glance why work is held. Add a type here only if that is true of every message.
PLAINTEXT_FAILURE_TYPES = frozenset(
    {
        "PlatformDegraded",  # workers/health_gate.py: "<platform> is degraded (<probe stats>); holding ..."
    }
)


class EncryptedFailureConverter(DefaultFailureConverterWithEncodedAttributes):
    """Failure messages and stack traces travel as an encoded (hence encrypted) payload.

    A platform's error text can quote what it was sent (an address, a name); with this
    converter the server and its Web UI see only "Encoded failure" and the error type,
    while workflows, activities and the codec server see the full message. The one
    exception is `PLAINTEXT_FAILURE_TYPES` (messages made only of operational facts)."""

    def to_failure(self, exception: BaseException, payload_converter, failure) -> None:
        super().to_failure(exception, payload_converter, failure)
        if (
            failure.HasField("application_failure_info")
            and failure.application_failure_info.type in PLAINTEXT_FAILURE_TYPES
        ):
            failure.ClearField("encoded_attributes")
            failure.message = str(getattr(exception, "message", exception))


# ------------------------------------------------------------------ one ring per configuration


@dataclass(frozen=True)
class _RingConfig:
    keys: str
    store_path: Path
    cache_seconds: float
    database_url: str | None = None  # set: the shared PostgreSQL store, and store_path is unused


@functools.lru_cache(maxsize=16)
def _ring_for(config: _RingConfig) -> KeyRing:
    store: KeyStore
    if config.database_url is not None:
        store = PostgresKeyStore(shared_database(config.database_url))
    else:
        store = SqliteKeyStore(config.store_path)
    return KeyRing(parse_master_keys(config.keys), store, cache_seconds=config.cache_seconds)


def keystore_path(settings: Settings) -> Path:
    return settings.keystore_path or settings.data_dir / "keys.db"


def shared_keyring(settings: Settings) -> KeyRing:
    """The process's key ring for these settings (one per key configuration, so the
    gateway, workers and CLI in one process share one cache and one store connection):
    over the shared PostgreSQL database when `MOPS_DATABASE_URL` is set, else the SQLite file."""
    url = settings.database_url.get_secret_value() if settings.database_url else None
    return _ring_for(
        _RingConfig(settings.codec_keys.get_secret_value(), keystore_path(settings), settings.key_cache_seconds, url)
    )


__all__ = [
    "EncryptionCodec",
    "EncryptedFailureConverter",
    "KeyRing",
    "KeyUnavailable",
    "shared_keyring",
    "keystore_path",
    "is_encrypted",
    "key_id_of",
]
