"""Right to erasure: the journey ends cleanly first, every platform gets its delete or
suppress call, then the lead's data key is destroyed: its histories no longer decode or
replay, while another lead's still do, and the erasure log holds no personal data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowHistory
from temporalio.converter import WorkflowSerializationContext
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from domain.consent import Purpose
from domain.contact_budget import SendSource
from domain.leads import EventType, LeadStage
from domain.privacy import contact_sync_workflow_id, erasure_workflow_id
from integrations.meta_audiences import hashed_email
from mops.codec import KeyUnavailable
from mops.contact_ledger import LedgerSend, SqliteContactLedger
from mops.temporal import DATA_CONVERTER
from sandbox.server import SandboxServer
from sandbox.store import email_hash
from starter.service.leads import LeadNotFound, build_event
from tests.conftest import eventually
from tests.privacy.stack import capture, marker_email, privacy_stack, stage, synced
from workers.main import WORKFLOWS


async def replays(history: WorkflowHistory) -> bool:
    result = await Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER).replay_workflow(
        history, raise_on_replay_failure=False
    )
    return result.replay_failure is None


async def test_erasure_shreds_one_lead_and_leaves_the_others(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer
) -> None:
    async with privacy_stack(dev_env, sandbox) as stack:
        gone_email, kept_email = marker_email("gone"), marker_email("kept", "initech.example")
        gone = await capture(stack, gone_email, first_name="Gonda", last_name="Erased")
        kept = await capture(stack, kept_email, first_name="Keith")
        await stack.privacy.grant(email=gone_email, purpose=Purpose.AD_AUDIENCES, source="test")
        await synced(stack, gone.lead_id, lambda v: v.consent.allows(Purpose.AD_AUDIENCES))
        await synced(stack, kept.lead_id)
        await stage(stack, gone_email, LeadStage.NURTURING)
        before = await stack.admin.privacy_state()
        assert hashed_email(gone_email) in before["audiences"][stack.settings.meta_audience_id]
        assert gone.lead_id in before["braze_users"] and gone_email in before["marketing_contacts"]

        ledger = SqliteContactLedger(stack.settings.contact_ledger_file)
        since = datetime.now(UTC) - timedelta(days=1)
        ledger.record_sends(
            LedgerSend(lead.lead_id, datetime.now(UTC), SendSource.CAMPAIGN, "campaign-erasure-test:email")
            for lead in (gone, kept)
        )

        record = await stack.privacy.erase(gone_email, requested_by="dpo@mops.example", reason="ticket 4711")

        # The contact ledger forgets the lead's sends and budget facts; the other lead's stay.
        assert gone.lead_id not in ledger.sends_since([gone.lead_id], since)
        assert gone.lead_id not in ledger.facts([gone.lead_id])
        assert kept.lead_id in ledger.sends_since([kept.lead_id], since)
        ledger.close()

        # The journey and the contact sync ended cleanly (nothing failed or was terminated).
        journey = await stack.client.get_workflow_handle(gone.workflow_id).describe()
        sync = await stack.client.get_workflow_handle(contact_sync_workflow_id(gone.lead_id)).describe()
        assert journey.status.name == sync.status.name == "COMPLETED"
        assert record.steps == {
            "end:lead": "ended",
            "end:contact-sync": "ended",
            "erase:crm": "deleted",
            "erase:email": "deleted, suppressed",
            "erase:cdp": "deleted",
            "erase:ads": "removed",
        }
        # Every platform: deleted, or (SendGrid) kept on the suppression list only.
        after = await stack.admin.privacy_state()
        assert gone_email not in after["marketing_contacts"] and gone.lead_id not in after["braze_users"]
        assert hashed_email(gone_email) not in after["audiences"][stack.settings.meta_audience_id]
        assert gone_email in after["global_suppressions"]
        crm = await stack.admin.state("hubspot")
        assert all(c["properties"].get("email") != gone_email for c in crm["contacts"])
        assert any(e["key"] == email_hash(gone_email) for e in await stack.admin.effects("hubspot", "contact.delete"))
        assert kept.lead_id in after["braze_users"] and kept_email in after["marketing_contacts"]

        # The key is gone: nothing of this lead decodes or replays any more ...
        assert record.destroyed_key_ids and all(k.startswith(f"dek:{gone.lead_id}:") for k in record.destroyed_key_ids)
        assert stack.keyring.store.current_for_lead(gone.lead_id) is None
        for workflow_id in (
            gone.workflow_id,
            contact_sync_workflow_id(gone.lead_id),
            erasure_workflow_id(gone.lead_id),
        ):
            history = await stack.client.get_workflow_handle(workflow_id).fetch_history()
            started = history.events[0].workflow_execution_started_event_attributes.input.payloads
            converter = DATA_CONVERTER.with_context(WorkflowSerializationContext("default", workflow_id))
            with pytest.raises(KeyUnavailable):
                await converter.decode(started)
            if workflow_id == gone.workflow_id:
                assert not await replays(history)
        with pytest.raises(LeadNotFound):
            await stack.privacy.contact(gone.lead_id)

        # ... while the other lead still decodes, replays and runs.
        assert await replays(await stack.client.get_workflow_handle(kept.workflow_id).fetch_history())
        await stack.leads.record_event(build_event(type=EventType.OPEN), email=kept_email)

        async def counted():
            return (await stack.leads.state(email=kept_email)).events_recorded == 1

        await eventually(counted, what="the other lead to go on")

        # The erasure log says who, when, what happened where: no address, no name.
        [logged] = stack.privacy.erasures(gone.lead_id)
        assert logged.erasure_id == record.erasure_id and logged.requested_by == "dpo@mops.example"
        assert logged.steps == record.steps and logged.destroyed_key_ids == record.destroyed_key_ids
        assert gone_email not in repr(logged) and "Gonda" not in repr(logged) and "Erased" not in repr(logged)
