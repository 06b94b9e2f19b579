"""Unsubscribe race on the real stack: whether the opt-out comes while the journey waits for
its next send or while the send activity is already talking to SendGrid, no email is
delivered after the opt-out is recorded (`mops lead unsubscribe` has returned), and the
opt-out reaches every platform."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.testing import WorkflowEnvironment

from domain.leads import LeadStage
from sandbox.server import SandboxServer
from tests.conftest import eventually
from tests.privacy.stack import PrivacyStack, capture, marker_email, privacy_stack, stage, synced
from workflows.lead_journey import LeadJourneyWorkflow


async def last_seq(stack: PrivacyStack) -> int:
    return max((e["seq"] for e in await stack.admin.effects()), default=0)


async def mails(stack: PrivacyStack, email: str) -> list[dict]:
    return [e for e in await stack.admin.effects("sendgrid", "mail.send") if email in e["summary"]["to"]]


def delivered(mail: dict, email: str) -> bool:
    return email not in mail["summary"]["dropped"]


async def reached_every_platform(stack: PrivacyStack, email: str, lead_id: str) -> None:
    async def everywhere():
        state = await stack.admin.privacy_state()
        crm = next(c for c in (await stack.admin.state("hubspot"))["contacts"] if c["properties"]["email"] == email)
        assert email in state["global_suppressions"]
        assert crm["properties"].get("hs_email_optout") == "true"
        assert crm["properties"].get("mops_consent_email_marketing") == "withdrawn"
        assert state["braze_users"][lead_id]["email_subscribe"] == "unsubscribed"
        return True

    await synced(stack, lead_id)
    await eventually(everywhere, what="the opt-out on every platform")


async def test_opt_out_while_waiting_for_the_next_send(dev_env: WorkflowEnvironment, sandbox: SandboxServer) -> None:
    async with privacy_stack(dev_env, sandbox) as stack:
        email = marker_email("wait")
        lead = await capture(stack, email, journey="demo", first_name="Wanda")

        async def waiting():
            st = await stack.leads.state(email=email)
            return st.next_step == "settle-in" and st.emails_sent == 1 and st

        st = await eventually(waiting, what="the wait before the second email (3 s)")
        assert st.next_step_at - datetime.now(UTC) >= timedelta(seconds=1), "the timer must not have fired yet"
        result = await stack.privacy.opt_out(email=email, source="cli")  # what `mops lead unsubscribe` does
        recorded = await last_seq(stack)
        assert result.email_gate == "suppressed" and result.journey and result.sync
        final = await stack.client.get_workflow_handle_for(LeadJourneyWorkflow.run, lead.workflow_id).result()

        assert final.stage == LeadStage.UNSUBSCRIBED and final.emails_sent == 1
        sent = await mails(stack, email)
        assert [m["summary"]["custom_args"]["mops_step"] for m in sent] == ["welcome"]
        assert all(m["seq"] < recorded for m in sent), "nothing reached SendGrid after the opt-out"
        await reached_every_platform(stack, email, lead.lead_id)


async def test_opt_out_while_the_send_activity_runs(dev_env: WorkflowEnvironment, sandbox: SandboxServer) -> None:
    async with privacy_stack(dev_env, sandbox) as stack:
        # SendGrid takes 1.5 s before it handles a send: the welcome is in flight when we opt out.
        await stack.admin.set_faults("sendgrid", latency_ms=1500, path_prefix="/v3/mail/send")
        email = marker_email("flight")
        lead = await capture(stack, email, journey="demo")
        handle = stack.client.get_workflow_handle(lead.workflow_id)

        async def sending():
            d = await handle.describe()
            return any(
                a.activity_type.name == "email.send" and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                for a in d.raw_description.pending_activities
            )

        await eventually(sending, what="the welcome send in flight")
        await stack.privacy.opt_out(email=email, source="cli")
        recorded = await last_seq(stack)
        final = await stack.client.get_workflow_handle_for(LeadJourneyWorkflow.run, lead.workflow_id).result()
        await stack.admin.clear_faults()

        assert final.stage == LeadStage.UNSUBSCRIBED and final.outcome == "unsubscribed (cli)"
        sent = await mails(stack, email)
        after = [m for m in sent if m["seq"] > recorded]
        assert [m for m in after if delivered(m, email)] == [], "zero sends after the opt-out was recorded"
        # The send in flight reached SendGrid after the suppression and was dropped there;
        # no later step sent anything (the journey stopped at once).
        assert len(sent) <= 1 and all(m["summary"]["custom_args"]["mops_step"] == "welcome" for m in sent)
        suppressed = [
            e
            for e in await stack.admin.effects("sendgrid", "suppression.add")
            if e["summary"].get("email") == email and e["summary"]["group_id"] is None
        ]
        assert suppressed and suppressed[0]["seq"] <= recorded
        await stage(stack, email, LeadStage.UNSUBSCRIBED)
        await reached_every_platform(stack, email, lead.lead_id)
