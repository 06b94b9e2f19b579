"""Meta Lead Ads: a person submits a page's instant form, Meta keeps the lead and tells the
app's webhook (`leadgen` on the `page` object), and the app reads the lead from Graph.

`POST /_sandbox/meta/leads` (admin, no auth) is the person submitting the form: the lead is
stored (Graph then answers `GET /v<N>.0/<lead id>?fields=...` with it, the Lead node's
fields: `created_time`, `field_data`, `custom_disclaimer_responses`, `form_id`, `ad_id`,
`adset_id`, `campaign_id`, `is_organic`, `platform`), and, with a `callback_url`, delivered as Meta delivers it: a POST
of `{"object": "page", "entry": [{"id", "time", "changes": [{"field": "leadgen", "value":
{leadgen_id, page_id, form_id, ad_id, adgroup_id, created_time}}]}]}` signed with the app
secret (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`). The delivery
carries no personal data, no timestamp in the signature and no idempotency key, as Meta's
does: a receiver must verify the signature, fetch the lead, and treat a repeated delivery
as the same lead. The answer holds the delivery's status and the exact body and signature
sent, so a test can replay them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from sandbox.state import SandboxState, get_state
from sandbox.store import MetaLead

router = APIRouter(prefix="/_sandbox/meta", tags=["admin"])


class LeadSubmission(BaseModel):
    form_id: str = Field(pattern=r"^\d{6,20}$")
    answers: dict[str, str | list[str]]  # question key -> answer(s), as the form asked them
    checkboxes: dict[str, bool] = {}  # the form's custom disclaimer checkboxes (marketing opt-in)
    ad_id: str | None = None
    adset_id: str | None = None
    campaign_id: str | None = None
    callback_url: str | None = None  # the app's webhook; none: stored only


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@router.post("/leads")
async def submit(sub: LeadSubmission, state: SandboxState = Depends(get_state)) -> dict[str, Any]:
    now = int(time.time())
    lead = MetaLead(
        id=str(uuid.uuid4().int % 10**16).rjust(16, "1"),
        form_id=sub.form_id,
        page_id=state.tokens.meta_page_id,
        created_time=datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000"),
        field_data=[{"name": k, "values": v if isinstance(v, list) else [v]} for k, v in sub.answers.items()],
        custom_disclaimer_responses=[{"checkbox_key": k, "is_checked": v} for k, v in sub.checkboxes.items()] or None,
        ad_id=sub.ad_id,
        adset_id=sub.adset_id,
        campaign_id=sub.campaign_id,
        is_organic=sub.ad_id is None,
    )
    state.store.meta_leads[lead.id] = lead
    change = {"leadgen_id": lead.id, "page_id": lead.page_id, "form_id": lead.form_id, "created_time": now}
    if lead.ad_id:
        change.update(ad_id=lead.ad_id, adgroup_id=lead.ad_id)
    entry = {"id": lead.page_id, "time": now, "changes": [{"field": "leadgen", "value": change}]}
    body = json.dumps({"object": "page", "entry": [entry]}).encode()
    signed = signature(state.tokens.meta_app_secret.get_secret_value(), body)
    answer: dict[str, Any] = {"leadgen_id": lead.id, "body": body.decode(), "signature": signed}
    if sub.callback_url:
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(
                sub.callback_url,
                content=body,
                headers={"Content-Type": "application/json", "X-Hub-Signature-256": signed},
            )
        answer["delivered"] = {"status": r.status_code, "body": r.text}
    return answer
