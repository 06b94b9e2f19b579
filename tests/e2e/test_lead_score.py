"""A lead's score reaches the CRM contact (HubSpot `mops_score`, a property the portal
defines) and the `LeadScore` search attribute, against the dev server and the sandbox."""

from __future__ import annotations

import math
import uuid

from domain.leads import EventType
from starter.service.leads import build_capture, build_event
from tests.conftest import eventually
from tests.e2e.conftest import Stack
from tests.e2e.test_lead_flow import contact_key, welcomed


async def test_an_engaged_leads_score_reaches_the_crm_contact_and_the_search_attribute(stack: Stack) -> None:
    email = f"lead.{uuid.uuid4().hex[:10]}@smallshop.example"
    res = await stack.leads.capture(build_capture(stack.settings, email=email, source="web_form", consent=True))
    await eventually(welcomed(stack, email), what="the welcome email")
    await stack.leads.record_event(build_event(type=EventType.FORM), email=email)

    async def scored():
        st = await stack.leads.state(email=email)
        return st.score is not None and st.score.engagement == 15 and st.score

    score = await eventually(scored, what="the form in the score")
    expected = math.floor(score.total)  # the fit depends on the sandbox's enrichment of the address

    async def in_crm():
        contacts = (await stack.admin.state("hubspot"))["contacts"]
        [contact] = [c for c in contacts if c["properties"].get("email") == email]
        assert contact["properties"].get("mops_score") == str(expected), contact["properties"]
        return contact

    await eventually(in_crm, what="mops_score on the HubSpot contact")

    async def listed():
        query = f"WorkflowId = '{res.workflow_id}' AND LeadScore = {expected}"
        return [w async for w in stack.client.list_workflows(query)]

    await eventually(listed, what="the LeadScore search attribute in visibility")
    # One write, of the score alone, sent while the journey waits.
    updates = [u for u in await stack.admin.effects("hubspot", "contact.update") if u["key"] == contact_key(email)]
    assert [u["summary"]["properties"] for u in updates] == [{"mops_score": str(expected)}]
