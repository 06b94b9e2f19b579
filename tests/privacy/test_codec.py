"""The payload codec: AES-GCM, per-lead keys picked from the serialization context,
rotation of master keys, crypto-shredding, pass-through of unencrypted payloads, and
failure messages that travel encrypted."""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext
from temporalio.exceptions import ApplicationError

from mops.codec import EncryptionCodec, KeyRing, KeyUnavailable, is_encrypted, key_id_of
from mops.keystore import ErasureRecord, SqliteKeyStore, utc_now
from mops.master_keys import CodecKeyError, new_master_key, parse_master_keys
from mops.settings import SettingsError, load_settings
from mops.temporal import DATA_CONVERTER, data_converter

LEAD_A, LEAD_B = "a" * 24, "b" * 24
MARKER = "canary.codec@marker.example"


def key(key_id: str) -> tuple[str, bytes]:
    return key_id, os.urandom(32)


def ring(path: Path, *keys: tuple[str, bytes], ttl: float = 30.0) -> KeyRing:
    return KeyRing(dict(keys), SqliteKeyStore(path / "keys.db"), cache_seconds=ttl)


def ctx(workflow_id: str) -> WorkflowSerializationContext:
    return WorkflowSerializationContext(namespace="default", workflow_id=workflow_id)


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_roundtrip_hides_the_data_and_binds_the_key_id(tmp_path: Path) -> None:
    codec = EncryptionCodec(ring(tmp_path, key("k1")))
    [sealed] = await codec.encode([plain(MARKER)])
    assert is_encrypted(sealed) and key_id_of(sealed) == "k1"
    assert MARKER.encode() not in sealed.SerializeToString()
    assert (await codec.decode([sealed]))[0] == plain(MARKER)
    # The key id is authenticated: a payload relabelled to another key does not decrypt.
    forged = Payload()
    forged.CopyFrom(sealed)
    forged.metadata["encryption-key-id"] = b"k2"
    with pytest.raises(KeyUnavailable):
        await EncryptionCodec(ring(tmp_path, key("k2"), key("k1"))).decode([forged])
    tampered = Payload()
    tampered.CopyFrom(sealed)
    tampered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(KeyUnavailable):
        await codec.decode([tampered])


async def test_payloads_without_the_marker_pass_through(tmp_path: Path) -> None:
    """Histories recorded before encryption was on still decode (and replay)."""
    codec = EncryptionCodec(ring(tmp_path, key("k1")))
    old = plain("recorded before encryption")
    assert await codec.decode([old]) == [old]


async def test_the_workflow_id_picks_the_leads_own_key(tmp_path: Path) -> None:
    codec = EncryptionCodec(ring(tmp_path, key("k1")))
    ids = {}
    for workflow_id in (
        f"lead-{LEAD_A}",
        f"contact-sync-{LEAD_A}",
        f"erasure-{LEAD_A}",
        f"lead-{LEAD_B}",
        "content-launch",
        "owner-router",
        "lead-not-a-hash",
    ):
        [p] = await codec.with_context(ctx(workflow_id)).encode([plain("x")])
        ids[workflow_id] = key_id_of(p)
    a = ids[f"lead-{LEAD_A}"]
    assert a.startswith(f"dek:{LEAD_A}:")
    assert ids[f"contact-sync-{LEAD_A}"] == ids[f"erasure-{LEAD_A}"] == a, "one key per lead, every workflow of it"
    assert ids[f"lead-{LEAD_B}"].startswith(f"dek:{LEAD_B}:") and ids[f"lead-{LEAD_B}"] != a
    assert ids["content-launch"] == ids["owner-router"] == ids["lead-not-a-hash"] == "k1"
    # Activities carry their workflow's id: an activity's input is under the lead's key too.
    activity = ActivitySerializationContext(
        namespace="default",
        activity_id="1",
        activity_type="email.send",
        activity_task_queue="q",
        workflow_id=f"lead-{LEAD_A}",
        workflow_type="LeadJourney",
        is_local=False,
    )
    [p] = await codec.with_context(activity).encode([plain("x")])
    assert key_id_of(p) == a


async def test_the_project_converter_encrypts_models(tmp_path: Path) -> None:
    from workflows.lead_models import UnsubscribeRequest

    converter = DATA_CONVERTER.with_context(ctx(f"lead-{LEAD_A}"))
    [p] = await converter.encode([UnsubscribeRequest(source=MARKER)])
    assert MARKER.encode() not in p.SerializeToString()
    assert (await converter.decode([p], [UnsubscribeRequest]))[0].source == MARKER


async def test_each_context_is_bound_once_and_to_its_own_lead(monkeypatch: pytest.MonkeyPatch) -> None:
    import mops.temporal

    monkeypatch.setattr(mops.temporal, "BOUND_CONVERTERS", 2)
    converter = data_converter()
    a, a_activity = (
        ctx(f"lead-{LEAD_A}"),
        ActivitySerializationContext(
            namespace="default",
            workflow_id=f"lead-{LEAD_A}",
            workflow_type="LeadJourney",
            activity_type="crm.upsert_lead",
            activity_task_queue="crm",
            activity_id="1",
            is_local=False,
        ),
    )
    bound_a = converter.with_context(a)
    assert converter.with_context(ctx(f"lead-{LEAD_A}")) is bound_a, "an equal context: the same converter"
    bound_b = converter.with_context(ctx(f"contact-sync-{LEAD_B}"))
    bound_activity = converter.with_context(a_activity)
    # Each is bound to the lead its workflow id names, and keeps the shared payload converter.
    [pa], [pb], [pact] = [await c.encode(["x"]) for c in (bound_a, bound_b, bound_activity)]
    assert key_id_of(pa) == key_id_of(pact) != key_id_of(pb)
    assert bound_b.payload_converter is converter.payload_converter
    # Past the bound the oldest is dropped and made again, bound the same way.
    again = converter.with_context(a)
    assert again is not bound_a and key_id_of((await again.encode(["x"]))[0]) == key_id_of(pa)
    # A bound converter keeps no cache of its own (it would grow one per context it is asked).
    assert bound_a.with_context(ctx(f"lead-{LEAD_B}")) is not bound_a.with_context(ctx(f"lead-{LEAD_B}"))


async def test_rotation_new_writes_use_the_newest_key_old_ones_still_decode(tmp_path: Path) -> None:
    k1, k2 = key("k1"), key("k2")
    before = EncryptionCodec(ring(tmp_path, k1))
    [old_master] = await before.encode([plain("old")])
    [old_lead] = await before.with_context(ctx(f"lead-{LEAD_A}")).encode([plain("old lead")])

    rotated_ring = ring(tmp_path, k2, k1)  # the new key first, the old one kept
    rotated = EncryptionCodec(rotated_ring)
    [new_master] = await rotated.encode([plain("new")])
    [new_lead] = await rotated.with_context(ctx(f"lead-{LEAD_B}")).encode([plain("new lead")])
    assert key_id_of(new_master) == "k2"
    assert rotated_ring.store.current_for_lead(LEAD_B).kek_id == "k2", "new data keys are wrapped by the new key"
    assert rotated_ring.store.current_for_lead(LEAD_A).kek_id == "k1"
    assert [p.data for p in await rotated.decode([old_master, old_lead, new_master, new_lead])] == [
        b'"old"',
        b'"old lead"',
        b'"new"',
        b'"new lead"',
    ]

    assert rotated_ring.rewrap() == 1
    assert {k.kek_id for k in rotated_ring.store.all_keys()} == {"k2"}
    retired = EncryptionCodec(ring(tmp_path, k2))  # k1 removed after the re-wrap
    assert (await retired.decode([old_lead, new_lead]))[0].data == b'"old lead"'
    with pytest.raises(KeyUnavailable):  # what was encrypted directly under k1 needs k1
        await retired.decode([old_master])


async def test_destroying_a_leads_key_shreds_only_that_lead(tmp_path: Path) -> None:
    here = ring(tmp_path, key("k1"))
    codec = EncryptionCodec(here)
    [a] = await codec.with_context(ctx(f"lead-{LEAD_A}")).encode([plain("a")])
    [b] = await codec.with_context(ctx(f"lead-{LEAD_B}")).encode([plain("b")])
    record = ErasureRecord(
        erasure_id="er-1", lead_id=LEAD_A, requested_at=utc_now(), requested_by="test", steps={"erase:crm": "deleted"}
    )
    destroyed = here.destroy_lead(LEAD_A, record)
    assert destroyed == [key_id_of(a)]
    with pytest.raises(KeyUnavailable):
        await codec.decode([a])
    assert (await codec.decode([b]))[0].data == b'"b"'
    [log] = here.store.erasures(LEAD_A)
    assert log.destroyed_key_ids == destroyed and log.steps == {"erase:crm": "deleted"} and log.completed_at
    # A later capture of the same person gets a fresh key; the old payloads stay unreadable.
    [again] = await codec.with_context(ctx(f"lead-{LEAD_A}")).encode([plain("again")])
    assert key_id_of(again) != key_id_of(a)
    with pytest.raises(KeyUnavailable):
        await codec.decode([a])


async def test_another_process_stops_decoding_once_its_cache_expires(tmp_path: Path) -> None:
    k1 = key("k1")
    now = [0.0]
    writer = KeyRing(dict([k1]), SqliteKeyStore(tmp_path / "keys.db"))
    reader = KeyRing(dict([k1]), SqliteKeyStore(tmp_path / "keys.db"), cache_seconds=30, clock=lambda: now[0])
    [a] = await EncryptionCodec(writer).with_context(ctx(f"lead-{LEAD_A}")).encode([plain("a")])
    assert (await EncryptionCodec(reader).decode([a]))[0].data == b'"a"'  # now cached in the reader
    writer.destroy_lead(LEAD_A, ErasureRecord("er-2", LEAD_A, utc_now(), "test"))
    now[0] = 31.0
    with pytest.raises(KeyUnavailable):
        await EncryptionCodec(reader).decode([a])


def test_two_writers_agree_on_one_key_per_lead(tmp_path: Path) -> None:
    k1 = key("k1")
    rings = [KeyRing(dict([k1]), SqliteKeyStore(tmp_path / "keys.db"), cache_seconds=0) for _ in range(4)]
    got: list[str] = []
    barrier = threading.Barrier(len(rings))

    def grab(r: KeyRing) -> None:
        barrier.wait()
        got.append(r.lead_key(LEAD_A)[0])

    threads = [threading.Thread(target=grab, args=(r,)) for r in rings]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 1 and len(rings[0].store.all_keys()) == 1


async def test_failure_messages_and_stack_traces_travel_encrypted(tmp_path: Path) -> None:
    converter = data_converter()
    failure = Failure()
    error = ApplicationError(
        f"sendgrid 400 bad_request: invalid address {MARKER}",
        "VALIDATION_ERROR",
        type="PlatformRejected",
        non_retryable=True,
    )
    await converter.with_context(ctx(f"lead-{LEAD_A}")).encode_failure(error, failure)
    wire = failure.SerializeToString()
    assert MARKER.encode() not in wire and b"VALIDATION_ERROR" not in wire
    assert failure.message == "Encoded failure" and failure.application_failure_info.type == "PlatformRejected"
    back = await converter.decode_failure(failure)
    assert MARKER in str(back) and back.details == ("VALIDATION_ERROR",)
    # Messages mops builds from operational facts only stay readable (why work is held).
    held = Failure()
    await converter.encode_failure(
        ApplicationError("sendgrid is degraded (error rate 100%); holding", type="PlatformDegraded"), held
    )
    assert held.message.startswith("sendgrid is degraded") and not held.HasField("encoded_attributes")
    assert (await converter.decode_failure(held)).message.startswith("sendgrid is degraded")


def test_master_keys_are_validated_with_one_clear_line() -> None:
    assert list(parse_master_keys(new_master_key("b") + "," + new_master_key("a"))) == ["b", "a"]
    for bad, why in (
        ("", "at least one"),
        ("nocolon", "expected"),
        ("k1:not-base64!", "not valid base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "32 bytes"),
        (new_master_key("k1") + "," + new_master_key("k1"), "duplicate"),
    ):
        with pytest.raises(CodecKeyError, match=why):
            parse_master_keys(bad)
    with pytest.raises(SettingsError, match=r"^MOPS_CODEC_KEYS: .*32 bytes"):
        load_settings(codec_keys="k1:" + base64.b64encode(b"short").decode())
    # The key itself never appears in the message.
    secret = base64.b64encode(os.urandom(31)).decode()
    with pytest.raises(SettingsError) as caught:
        load_settings(codec_keys=f"k1:{secret}")
    assert secret not in str(caught.value)
