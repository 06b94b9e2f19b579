"""Real-time contact sync on the real stack: concurrent edits from the CRM (signed
webhooks through the gateway), a journey capture and an operator converge to the latest
source value per field on CRM, email platform and CDP; reconciliation finds exactly the
drift injected behind the sync's back and repairs it to zero; the compliance check
alerts on a consent mismatch and enforces the opt-out it found."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from temporalio.testing import WorkflowEnvironment

from domain.consent import Purpose
from domain.leads import LeadStage
from domain.sync import ContactChange
from gateway.app import create_app
from gateway.server import GatewayServer
from gateway.settings import gateway_settings
from gateway.webhooks.hubspot import signature_v3
from integrations.braze import BrazeClient
from integrations.hubspot import HubSpotClient
from integrations.sendgrid_contacts import SendGridContactsClient
from sandbox.server import SandboxServer
from starter.service.leads import build_capture
from tests.conftest import eventually
from tests.privacy.stack import PrivacyStack, capture, marker_email, privacy_stack, stage, synced
from workers.accuracy import reconcile_input
from workflows.reconcile import ReconciliationWorkflow


def hubspot_event(contact_id: str, prop: str, value: str, at: datetime) -> dict:
    return {
        "eventId": uuid.uuid4().int % 2**40,
        "subscriptionId": 1,
        "portalId": 62515,
        "appId": 1,
        "occurredAt": int(at.timestamp() * 1000),
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": int(contact_id),
        "propertyName": prop,
        "propertyValue": value,
        "changeSource": "CRM_UI",
    }


async def crm_contact(stack: PrivacyStack, email: str) -> dict:
    return next(c for c in (await stack.admin.state("hubspot"))["contacts"] if c["properties"].get("email") == email)


async def test_concurrent_edits_converge_on_every_platform(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer
) -> None:
    async with privacy_stack(dev_env, sandbox) as stack:
        email = marker_email("conv")
        t0 = datetime.now(UTC)
        lead = await capture(stack, email, first_name="Ann", last_name="First", company="Acme")
        view = await synced(stack, lead.lead_id)
        contact_id = view.contact_id or (await crm_contact(stack, email))["id"]

        settings = gateway_settings(stack.settings, hubspot_client_secret="hs-sync-secret")
        async with (
            GatewayServer(create_app(settings, stack.client)) as gw,
            httpx.AsyncClient(base_url=gw.url, timeout=15) as http,
        ):
            body = json.dumps(
                [
                    hubspot_event(contact_id, "firstname", "Bea", t0 + timedelta(seconds=2)),
                    hubspot_event(contact_id, "lastname", "Crm", t0 + timedelta(seconds=1)),
                ]
            ).encode()
            ts = str(int(time.time() * 1000))
            headers = {
                "Content-Type": "application/json",
                "X-HubSpot-Request-Timestamp": ts,
                "X-HubSpot-Signature-v3": signature_v3(
                    "hs-sync-secret", "POST", f"{gw.url}/webhooks/hubspot", body, ts
                ),
            }
            # Three sources edit the same fields at once, with their own timestamps:
            # the CRM (webhook), the journey (a second capture) and an operator.
            webhook, touch, _ = await asyncio.gather(
                http.post("/webhooks/hubspot", content=body, headers=headers),
                stack.leads.capture(
                    build_capture(
                        stack.settings,
                        email=email,
                        source="webinar",
                        consent=True,
                        first_name="Cleo",
                        last_name="Journey",
                        captured_at=t0 + timedelta(seconds=1, milliseconds=500),
                    )
                ),
                stack.privacy.record_change(
                    lead.lead_id,
                    email,
                    ContactChange(
                        change_id=f"cli:{uuid.uuid4().hex}",
                        source="cli",
                        at=t0 + timedelta(seconds=3),
                        fields={"company": "Later Inc", "last_name": "Operator"},
                    ),
                ),
            )
            assert webhook.status_code == 200 and webhook.json()["applied"] == 2, webhook.text
            assert touch.touches == 2

        expected = {"first_name": "Bea", "last_name": "Operator", "company": "Later Inc"}
        await synced(stack, lead.lead_id, lambda v: {k: f.value for k, f in v.fields.items()} == expected)

        async def converged():
            crm = (await crm_contact(stack, email))["properties"]
            state = await stack.admin.privacy_state()
            sg, braze = state["marketing_contacts"][email], state["braze_users"][lead.lead_id]
            assert (crm["firstname"], crm["lastname"], crm["company"]) == ("Bea", "Operator", "Later Inc")
            assert (sg["first_name"], sg["last_name"]) == ("Bea", "Operator")
            assert (braze["first_name"], braze["last_name"], braze["company"]) == ("Bea", "Operator", "Later Inc")
            return True

        await eventually(converged, what="every platform to hold the latest value per field")


async def test_reconciliation_finds_injected_drift_and_repairs_it(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer
) -> None:
    async with privacy_stack(dev_env, sandbox) as stack:
        emails = [marker_email(f"rec{i}") for i in range(4)]
        leads = [await capture(stack, e, first_name=f"Rita{i}") for i, e in enumerate(emails)]
        for lead in leads:
            await synced(stack, lead.lead_id)
        _, baseline = await stack.privacy.reconcile("data", repair=False)
        assert baseline.contacts == 4 and baseline.mismatches_before == 0, baseline

        # Drift behind the sync's back: a CRM edit whose webhook was lost, a CDP profile
        # deleted, and an unsubscribe SendGrid recorded whose webhook never came.
        url = stack.sandbox_url
        async with (
            HubSpotClient(url, "sandbox-hubspot-token") as hubspot,
            BrazeClient(url, "sandbox-braze-key") as braze,
            SendGridContactsClient(url, "SG.sandbox-key") as sendgrid,
        ):
            await hubspot.update_contact((await crm_contact(stack, emails[0]))["id"], {"firstname": "Drifted"})
            await braze.delete([leads[1].lead_id])
            await sendgrid.add_global_suppression(emails[2])

        # The same drift measured against a loose objective: met, so no alert.
        loose = reconcile_input(stack.settings.model_copy(update={"data_accuracy_objective": 0.5}), "data")
        loose.repair = False
        measured = await stack.client.execute_workflow(
            ReconciliationWorkflow.run, loose, id=f"reconcile-loose-{uuid.uuid4().hex[:6]}", task_queue=loose.task_queue
        )
        assert measured.mismatches_before == 3 and measured.met and not measured.alerted
        assert measured.accuracy == 1 - 3 / measured.compared

        _, report = await stack.privacy.reconcile("data")
        assert report.contacts == 4
        # Below the 99.5 % objective: one alert with the figures and no address.
        assert report.objective == 0.995 and not report.met and report.alerted
        alerts = [m for m in (await stack.admin.state("slack"))["messages"] if "Sync check: 3 mismatches" in m["text"]]
        channel = "C" + hashlib.sha256(stack.settings.alert_chat_channel[1:].encode()).hexdigest()[:10].upper()
        assert len(alerts) == 1 and alerts[0]["channel"] == channel, alerts  # Slack's id of #mops-alerts
        assert f"accuracy {1 - 3 / report.compared:.2%} against an objective of 99.5%" in alerts[0]["text"]
        assert all(e not in alerts[0]["text"] for e in emails), "alerts carry no addresses"
        assert report.by_platform == {"cdp/first_name": 1, "crm/first_name": 1, "email/consent:email_marketing": 1}
        assert report.mismatches_before == 3 and report.rate_before == 3 / report.compared
        assert {(m.lead_id, m.platform) for m in report.sample} == {
            (leads[0].lead_id, "crm"),
            (leads[1].lead_id, "cdp"),
            (leads[2].lead_id, "email"),
        }
        assert report.mismatches_after == 0 and report.rate_after == 0.0
        assert report.adopted_withdrawals == 1 and report.repaired_leads == 3

        assert (await crm_contact(stack, emails[0]))["properties"]["firstname"] == "Rita0"
        assert (await stack.admin.privacy_state())["braze_users"][leads[1].lead_id]["first_name"] == "Rita1"
        # The opt-out SendGrid held is now everyone's: the record, the journey, the CRM.
        st = await stage(stack, emails[2], LeadStage.UNSUBSCRIBED)
        assert st.outcome.startswith("unsubscribed (consent:reconcile:data")
        view = await synced(stack, leads[2].lead_id, lambda v: v.consent.granted(Purpose.EMAIL_MARKETING) is False)
        assert view.consent.records[Purpose.EMAIL_MARKETING].source == "reconcile:data"

        # `mops sync accuracy` reads the finished runs back, newest first.
        async def listed():
            runs = await stack.privacy.accuracy_runs(last=3)
            assert [r.mismatches for r in runs] == [3, 3, 0] and [r.met for r in runs] == [False, True, True], runs
            return runs

        runs = await eventually(listed, what="the finished checks in the visibility store")
        assert runs[0].accuracy == report.accuracy and runs[0].mismatches_after == 0


async def test_compliance_check_alerts_and_enforces_opt_outs(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer
) -> None:
    async with privacy_stack(dev_env, sandbox) as stack:
        emails = [marker_email(f"cmp{i}") for i in range(2)]
        leads = [await capture(stack, e) for e in emails]
        for lead in leads:
            await synced(stack, lead.lead_id)
        async with HubSpotClient(stack.sandbox_url, "sandbox-hubspot-token") as hubspot:  # opted out in the CRM UI
            await hubspot.update_contact((await crm_contact(stack, emails[1]))["id"], {"hs_email_optout": "true"})

        _, report = await stack.privacy.reconcile("compliance")
        assert report.mode == "compliance" and report.by_platform == {"crm/consent:email_marketing": 1}
        assert report.mismatches_after == 0 and report.alerted
        alerts = [
            m
            for m in (await stack.admin.state("slack"))["messages"]
            if "Compliance check: 1 mismatches" in m.get("text", "")
        ]
        assert len(alerts) == 1 and all(e not in alerts[0]["text"] for e in emails), "alerts carry no addresses"

        async def everywhere():
            state = await stack.admin.privacy_state()
            assert emails[1] in state["global_suppressions"] and emails[0] not in state["global_suppressions"]
            return True

        await eventually(everywhere, what="the adopted opt-out to reach the email platform")
        await stage(stack, emails[1], LeadStage.UNSUBSCRIBED)

        schedule_id = await stack.privacy.schedule_compliance(timedelta(hours=1))
        described = await stack.client.get_schedule_handle(schedule_id).describe()
        assert described.schedule.spec.intervals[0].every == timedelta(hours=1)
        await stack.client.get_schedule_handle(schedule_id).delete()
