"""The baseline of `bench/lead_capture.py`: a plain Temporal workflow doing what a lead's
first minute amounts to — CRM upsert → score → welcome email — as three HTTP activities
against the same sandbox endpoints mops calls before its first email. Written the way the
SDK samples write it (dataclass input, default data converter, no interceptors, default
retry policy); not part of mops.

Workflow type `PlainLead`, id `plain-<tag>-<n>`: no signals, updates or queries; it ends
after the email.

The HTTP calls are the ones mops' activities make up to the welcome email:
`crm_upsert` = HubSpot batch upsert of the contact; `score` = read the contact's
firmographics back (GET) and score them; `send_email` = SendGrid global and group
suppression checks, then `mail/send`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import httpx

WORKFLOW_TYPE = "PlainLead"
SEND_ACTIVITY = "plain.send_email"
FIRMOGRAPHICS = ["company", "industry", "numberofemployees", "country", "jobtitle"]
GROUP_ID = 4242


@dataclass
class PlainLeadInput:
    email: str
    source: str
    idempotency_key: str


@dataclass
class ScoreInput:
    contact_id: str
    source: str


@dataclass
class SendInput:
    email: str
    score: int
    idempotency_key: str


class PlainActivities:
    """One httpx client per platform, shared by every activity run (as a sample would)."""

    def __init__(self, hubspot: httpx.AsyncClient, sendgrid: httpx.AsyncClient) -> None:
        self._hubspot = hubspot
        self._sendgrid = sendgrid

    @activity.defn(name="plain.crm_upsert")
    async def crm_upsert(self, inp: PlainLeadInput) -> str:
        body = {
            "inputs": [
                {
                    "idProperty": "email",
                    "id": inp.email,
                    "properties": {"lifecyclestage": "lead", "hs_lead_status": "NEW", "mops_source": inp.source},
                }
            ]
        }
        r = await self._hubspot.post("/crm/v3/objects/contacts/batch/upsert", json=body)
        r.raise_for_status()
        return str(r.json()["results"][0]["id"])

    @activity.defn(name="plain.score")
    async def score(self, inp: ScoreInput) -> int:
        r = await self._hubspot.get(
            f"/crm/v3/objects/contacts/{inp.contact_id}", params={"properties": ",".join(FIRMOGRAPHICS)}
        )
        r.raise_for_status()
        props = r.json().get("properties") or {}
        points = 10 if inp.source == "webinar" else 0
        employees = props.get("numberofemployees") or ""
        points += 5 if employees.isdigit() and int(employees) >= 50 else 0
        return points + (5 if props.get("industry") else 0)

    @activity.defn(name=SEND_ACTIVITY)
    async def send_email(self, inp: SendInput) -> str:
        address = quote(inp.email, safe="@")
        r = await self._sendgrid.get(f"/v3/asm/suppressions/global/{address}")
        r.raise_for_status()
        if r.json():
            return "suppressed"
        r = await self._sendgrid.post(
            f"/v3/asm/groups/{GROUP_ID}/suppressions/search", json={"recipient_emails": [inp.email]}
        )
        r.raise_for_status()
        if r.json():
            return "suppressed"
        message = {
            "personalizations": [{"to": [{"email": inp.email}], "custom_args": {"score": str(inp.score)}}],
            "from": {"email": "marketing@mops.example"},
            "subject": "Welcome - here is where to start",
            "content": [{"type": "text/html", "value": "<p>Welcome! Here is where to start.</p>"}],
            "asm": {"group_id": GROUP_ID},
        }
        r = await self._sendgrid.post("/v3/mail/send", json=message, headers={"Idempotency-Key": inp.idempotency_key})
        r.raise_for_status()
        return r.headers.get("x-message-id", "")


@workflow.defn(name=WORKFLOW_TYPE)
class PlainLeadWorkflow:
    @workflow.run
    async def run(self, inp: PlainLeadInput) -> str:
        timeout = timedelta(seconds=10)
        contact_id = await workflow.execute_activity(PlainActivities.crm_upsert, inp, start_to_close_timeout=timeout)
        score = await workflow.execute_activity(
            PlainActivities.score, ScoreInput(contact_id, inp.source), start_to_close_timeout=timeout
        )
        return await workflow.execute_activity(
            PlainActivities.send_email,
            SendInput(inp.email, score, inp.idempotency_key),
            start_to_close_timeout=timeout,
        )
