"""One contact budget across journeys, campaigns and content list sends, on the dev server
and the sandbox: a campaign send leaves out a lead whose journey cap is used and says
so; a content list send leaves out a lead who unsubscribed; a journey counts a campaign
send in its cap and sends its own email only once the window has room again."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from domain.campaigns import ChannelKind
from domain.contact_budget import SkipReason
from domain.leads import EventType, LeadStage
from starter.service.campaigns import CampaignService
from starter.service.content import ContentService, prepare
from starter.service.leads import build_capture, build_event
from tests.conftest import eventually
from tests.e2e.conftest import Stack
from tests.e2e.test_campaign_flow import campaign_input, status_is
from tests.e2e.test_content_flow import brief, wait_stage
from tests.e2e.test_lead_flow import unique_email, wait_for_stage
from workflows.campaign_models import CampaignStatus
from workflows.content_models import ContentStage

WINDOW_S = 20


def write_journey(stack: Stack, cap: str, steps: str) -> str:
    """A journey of this test's own (a unique id) in the stack's journeys directory."""
    journey_id = f"budget-{uuid.uuid4().hex[:8]}"
    (stack.settings.journeys_dir / f"{journey_id}.yaml").write_text(
        f"""id: {journey_id}
version: 1
name: Contact budget test
requires_consent: true
from_email: marketing@mops.example
unsubscribe_group_id: 4242
default_timezone: UTC
frequency_cap: {cap}
scoring: default
handoff:
  sla: 1h
  max_reassignments: 1
  manager_owner_id: "105"
  owner_weights: {{"101": 1}}
  notify_channel: "#sales-handoff"
steps:
{steps}
"""
    )
    return journey_id


WELCOME_THEN_WAIT = """  - id: welcome
    type: send_email
    template: nurture-welcome
    subject: Welcome - here is where to start
  - id: rest
    type: wait
    duration: 30d
"""


async def welcomed_lead(stack: Stack, journey_id: str) -> tuple[str, str]:
    email = unique_email("budget.example")
    result = await stack.leads.capture(
        build_capture(stack.settings, email=email, source="web_form", consent=True, journey_id=journey_id)
    )

    async def welcomed():
        assert (await stack.leads.state(email=email)).emails_sent == 1
        return True

    await eventually(welcomed, what="the welcome email")
    return email, result.lead_id


def email_only(list_id: str) -> list[dict]:
    return [
        {
            "kind": "email",
            "subject": "Spring",
            "body": "Spring is here.",
            "list_ids": [list_id],
            "template": "campaign-email",
        }
    ]


async def deliveries(stack: Stack, single_send_id: str | None) -> list[dict]:
    return [
        e
        for e in await stack.admin.effects("sendgrid", "singlesend.deliver")
        if e["summary"]["single_send_id"] == single_send_id
    ]


async def test_a_campaign_send_skips_a_capped_lead(stack: Stack) -> None:
    journey_id = write_journey(stack, "{max_emails: 1, per: 7d}", WELCOME_THEN_WAIT)
    capped, capped_id = await welcomed_lead(stack, journey_id)
    reader = unique_email("readers.example")  # on the list, in no journey: no budget beyond the list's
    list_id = await stack.new_list([capped, reader])
    svc = CampaignService(stack.client, stack.settings)
    inp = campaign_input(stack, channels=email_only(list_id))
    assert (await svc.launch(inp)).ok
    view = await status_is(svc, inp.spec.id, CampaignStatus.LIVE)

    [part] = [p for p in view.parts if p.channel == ChannelKind.EMAIL]
    assert part.audience is not None and part.audience.members == 2 and part.audience.sent == 1
    assert part.audience.skipped == {SkipReason.FREQUENCY_CAP: 1}
    assert part.audience.sample[SkipReason.FREQUENCY_CAP] == [capped_id], "the skip names the lead, not the address"
    assert any("left out 1 (frequency_cap 1)" in text for _, text in view.timeline), view.timeline
    # What the platform delivered: the reader got the campaign, the capped lead nothing.
    got = await deliveries(stack, part.single_send_id)
    assert [e["summary"]["to"] for e in got] == [[reader]]
    assert "Spring is here." in got[0]["summary"]["content"][-1]["value"]
    assert not [e for e in await stack.admin.effects("sendgrid", "singlesend.deliver") if capped in e["summary"]["to"]]
    await svc.stop(inp.spec.id, requested_by="maya", reason="test over")


async def test_a_content_list_send_skips_an_unsubscribed_lead(stack: Stack) -> None:
    journey_id = write_journey(stack, "{max_emails: 5, per: 7d}", WELCOME_THEN_WAIT)
    gone, gone_id = await welcomed_lead(stack, journey_id)
    await stack.leads.unsubscribe(email=gone, source="test")
    await wait_for_stage(stack, gone, LeadStage.UNSUBSCRIBED)
    reader = unique_email("readers.example")
    list_id = await stack.new_list([gone, reader])
    svc = ContentService(stack.client, stack.settings)
    data = brief(
        stack,
        channels=["cms", "email"],
        email_list_ids=[list_id],
        approval=[{"name": "review", "approvers": ["omar"], "mode": "all"}],
    )
    await svc.submit(prepare(stack.settings, data))
    await wait_stage(svc, data["content_id"], ContentStage.IN_REVIEW)
    await svc.decide(data["content_id"], approver="omar", kind="approve")
    view = await wait_stage(svc, data["content_id"], ContentStage.PUBLISHED, timeout=60)

    [email] = [c for c in view.channels if c.channel.value == "email"]
    assert email.audience is not None and email.audience.skipped == {SkipReason.UNSUBSCRIBED: 1}
    assert email.audience.sample[SkipReason.UNSUBSCRIBED] == [gone_id]
    got = await deliveries(stack, email.ref)
    assert [e["summary"]["to"] for e in got] == [[reader]]


async def test_a_journey_counts_a_campaign_send_in_its_cap(stack: Stack) -> None:
    # One email per WINDOW_S seconds; the journey's email waits for a click.
    journey_id = write_journey(
        stack,
        f"{{max_emails: 1, per: {WINDOW_S}s}}",
        """  - id: await-click
    type: wait_for_event
    events: [click]
    timeout: 1h
    on_event: follow-up
    on_timeout: follow-up
  - id: follow-up
    type: send_email
    template: nurture-case-study
    subject: How a 40-person team cut campaign launch time in half
  - id: rest
    type: wait
    duration: 30d
""",
    )
    email = unique_email("budget.example")
    await stack.leads.capture(
        build_capture(stack.settings, email=email, source="web_form", consent=True, journey_id=journey_id)
    )
    list_id = await stack.new_list([email])
    svc = CampaignService(stack.client, stack.settings)
    inp = campaign_input(stack, channels=email_only(list_id))
    assert (await svc.launch(inp)).ok
    view = await status_is(svc, inp.spec.id, CampaignStatus.LIVE)
    [part] = [p for p in view.parts if p.channel == ChannelKind.EMAIL]
    [campaign_mail] = await deliveries(stack, part.single_send_id)
    assert campaign_mail["summary"]["to"] == [email], "the campaign reached the lead"

    await stack.leads.record_event(build_event(type=EventType.CLICK), email=email)

    async def journey_mail():
        mails = [e for e in await stack.admin.effects("sendgrid", "mail.send") if email in e["summary"]["to"]]
        assert mails, (await stack.leads.state(email=email)).timeline[-3:]
        return mails

    async def deferred():
        st = await stack.leads.state(email=email)
        assert any("deferred" in t.what for t in st.timeline), st.timeline[-3:]
        return st

    await eventually(deferred, what="the journey email deferred by the campaign send")
    [mail] = await eventually(journey_mail, timeout=WINDOW_S + 60, what="the journey email after the window")
    sent_campaign = datetime.fromisoformat(campaign_mail["at"].replace("Z", "+00:00"))
    sent_journey = datetime.fromisoformat(mail["at"].replace("Z", "+00:00"))
    assert sent_journey >= sent_campaign + timedelta(seconds=WINDOW_S), "not before the cap window had room"
    await svc.stop(inp.spec.id, requested_by="maya", reason="test over")
