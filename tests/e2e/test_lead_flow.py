"""Capture → MQL → hand-off against the real dev server, with every side effect
checked in the sandbox's record of what reached each platform."""

from __future__ import annotations

import uuid

from domain.leads import EventType, LeadStage
from domain.unsubscribe import verify_token
from starter.service.leads import build_capture, build_event
from tests.conftest import eventually
from tests.e2e.conftest import Stack
from workflows.lead_journey import LeadJourneyWorkflow
from workflows.lead_models import SalesDecision, SalesDecisionKind


def unique_email(domain: str) -> str:
    return f"lead.{uuid.uuid4().hex[:10]}@{domain}"


def contact_key(email: str) -> str:
    from sandbox.store import email_hash

    return email_hash(email)


async def wait_for_stage(stack: Stack, email: str, stage: LeadStage, timeout: float = 30.0):
    async def reached():
        st = await stack.leads.state(email=email)
        return st.stage == stage and st

    return await eventually(reached, timeout=timeout, what=f"stage {stage.value}")


def welcomed(stack: Stack, email: str):
    async def check():
        st = await stack.leads.state(email=email)
        assert st.emails_sent == 1, (st.stage, st.next_step, st.timeline[-3:])
        return st

    return check


async def mails_to(stack: Stack, email: str) -> list[dict]:
    return [e for e in await stack.admin.effects("sendgrid", "mail.send") if email in e["summary"]["to"]]


async def test_capture_to_mql_to_handoff(stack: Stack) -> None:
    email = unique_email("acme.example")
    result = await stack.leads.capture(build_capture(stack.settings, email=email, source="web_form", consent=True))
    assert result.created and not result.duplicate
    wf_id = result.workflow_id
    assert email.split("@")[0] not in wf_id, "the workflow id carries no personal data"

    await eventually(welcomed(stack, email), what="the welcome email")
    for kind in (EventType.FORM, EventType.REPLY, EventType.CLICK):
        await stack.leads.record_event(build_event(type=kind), email=email)
    st = await wait_for_stage(stack, email, LeadStage.SALES_ASSIGNED)
    assert st.score.mql and st.score.total >= 60
    assert {r.rule for r in st.score.reasons} >= {"fit:enterprise-size", "engagement:form"}
    assert st.owner_id in {"101", "102", "103", "104"} and st.deal_id

    # What reached the platforms: one contact, one welcome, one deal + task, chat to the owner.
    contacts = [e for e in await stack.admin.effects("hubspot", "contact.upsert") if e["key"] == contact_key(email)]
    assert len(contacts) == 1
    [welcome] = await mails_to(stack, email)
    # RFC 8058: the email carries its own one-click unsubscribe link for this lead.
    assert welcome["summary"]["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = welcome["summary"]["headers"]["List-Unsubscribe"].strip("<>")
    token = link.rsplit("/", 1)[1]
    secret = stack.settings.gateway_unsubscribe_secret.get_secret_value()
    assert verify_token(secret, token) == result.lead_id and email.split("@")[0] not in link
    deals = [e for e in await stack.admin.effects("hubspot", "deal.upsert") if e["key"].startswith(wf_id)]
    tasks = [e for e in await stack.admin.effects("hubspot", "task.upsert") if e["key"].startswith(wf_id)]
    assert len(deals) == 1 and len(tasks) == 1
    assert deals[0]["summary"]["properties"]["hubspot_owner_id"] == st.owner_id

    async def owner_told():
        # The journey records the owner before it tells them in chat: wait for the message.
        return [e for e in await stack.admin.effects("slack", "chat.post") if st.deal_id in e["summary"]["text"]]

    chats = await eventually(owner_told, what="the owner's chat notification")
    assert [c["summary"]["channel"] for c in chats] == [f"U00000{st.owner_id}"]
    assert all(email not in c["summary"]["text"] for c in chats), "chat carries no personal data"

    await stack.leads.sales_decision(
        SalesDecision(decision=SalesDecisionKind.ACCEPTED, owner_id=st.owner_id), email=email
    )
    final = await stack.client.get_workflow_handle_for(LeadJourneyWorkflow.run, wf_id).result()
    assert final.stage == LeadStage.CONVERTED and final.outcome == "converted"
    updates = await stack.admin.effects("hubspot", "contact.update")
    assert any(u["summary"].get("properties", {}).get("lifecyclestage") == "salesqualifiedlead" for u in updates)


async def test_duplicate_capture_is_one_workflow(stack: Stack) -> None:
    email = unique_email("initech.example")
    first = build_capture(stack.settings, email=email, source="web_form", consent=True)
    a = await stack.leads.capture(first)
    b = await stack.leads.capture(build_capture(stack.settings, email=email.upper(), source="event", consent=True))
    again = await stack.leads.capture(first)  # a retried request: same update id
    assert a.workflow_id == b.workflow_id == again.workflow_id
    assert (a.created, b.created) == (True, False) and b.touches == 2
    assert again == a, "a retried capture gets the original answer and counts no touch"
    runs = [w async for w in stack.client.list_workflows(f"WorkflowId = '{a.workflow_id}'")]
    assert len(runs) == 1
    st = await stack.leads.state(email=email)
    assert st.touches == 2 and any("touch from event" in t.what for t in st.timeline)


async def test_platform_faults_lose_nothing_and_duplicate_nothing(stack: Stack) -> None:
    # HubSpot answers 500 twice; SendGrid throttles twice (429 with its reset header),
    # then loses the answer after applying the send (the retry must not send again: it
    # finds the email in SendGrid's Email Activity feed).
    await stack.admin.set_faults("hubspot", fail_next=2, error_status=500)
    await stack.admin.set_faults("sendgrid", rate_limit_next=2, retry_after_s=1)
    email = unique_email("smallshop.example")
    await stack.leads.capture(build_capture(stack.settings, email=email, source="organic", consent=True))

    async def throttled_out():
        stats = (await stack.admin.stats())["requests"]
        return stats.get("sendgrid", {}).get("429", 0) >= 2

    await eventually(throttled_out, what="the 429 storm to be served")
    await stack.admin.set_faults(
        "sendgrid", fail_next=1, error_status=503, fail_after_apply=True, path_prefix="/v3/mail/send"
    )

    await eventually(welcomed(stack, email), timeout=60, what="the welcome email despite faults")
    mails = await mails_to(stack, email)
    assert len(mails) == 1, "exactly one email for one idempotency key"
    contacts = [e for e in await stack.admin.effects("hubspot", "contact.upsert") if e["key"] == contact_key(email)]
    assert len(contacts) == 1
    stats = (await stack.admin.stats())["requests"]
    assert stats["hubspot"].get("500", 0) >= 2 and stats["sendgrid"].get("503", 0) >= 1


async def test_unsubscribe_reaches_the_platforms(stack: Stack) -> None:
    email = unique_email("globex.example")
    res = await stack.leads.capture(build_capture(stack.settings, email=email, source="referral", consent=True))

    await eventually(welcomed(stack, email), what="the welcome email")
    await stack.leads.unsubscribe(email=email, source="test")
    final = await stack.client.get_workflow_handle_for(LeadJourneyWorkflow.run, res.workflow_id).result()
    assert final.stage == LeadStage.UNSUBSCRIBED and final.emails_sent == 1
    suppressions = await stack.admin.effects("sendgrid", "suppression.add")
    assert any(email in str(s["summary"]) for s in suppressions)
    # Later sends for the same address are refused at send time by the platform check.
    assert len(await mails_to(stack, email)) == 1


async def test_state_query_and_search_attributes(stack: Stack) -> None:
    email = unique_email("smallshop.example")
    res = await stack.leads.capture(build_capture(stack.settings, email=email, source="web_form", consent=True))
    await wait_for_stage(stack, email, LeadStage.NURTURING)

    async def visible():
        found = [
            w
            async for w in stack.client.list_workflows(
                f"WorkflowId = '{res.workflow_id}' AND LeadStage = 'nurturing' AND JourneyId = 'default-nurture'"
            )
        ]
        return found

    found = await eventually(visible, what="search attributes in visibility")
    assert found[0].typed_search_attributes is not None
    desc = await stack.client.get_workflow_handle(res.workflow_id).describe()
    assert "Lead journey" in (await desc.static_summary() or "")
    handle = stack.client.get_workflow_handle(res.workflow_id)

    async def settling_in():
        # The stage turns nurturing before the welcome goes out; the wait after it comes next.
        state = await handle.query(LeadJourneyWorkflow.state)
        return state if state.next_step == "settle-in" else None

    state = await eventually(settling_in, what="the wait after the welcome")
    assert state.next_step_at is not None
