"""LinkedIn Lead Sync: a member submits a Lead Gen form, LinkedIn notifies the app's webhook,
and the app reads the response (`/rest/leadFormResponses/<id>`) and the form's questions
(`/rest/leadForms/<id>`).

`POST /_sandbox/linkedin/leads` (admin, no auth) is the member submitting: the form is made
on its first submission (one question per answer key, in order, numbered from 1, with
LinkedIn's predefined field for the standard ones; one consent checkbox per consent key),
the response stored, and, with a `callback_url`, the notification delivered as LinkedIn
delivers it: `{"type": "LEAD_ACTION", "leadAction": "CREATED", "leadGenFormResponse":
"urn:li:leadGenFormResponse:<id>", "leadGenForm": "urn:li:versionedLeadGenForm:(urn:li:
leadGenForm:<form id>,1)", "owner": {"sponsoredAccount": ...}, "associatedEntity": {...},
"leadType", "occuredAt"}` with `X-LI-Signature: hmacsha256=<hex HMAC-SHA256(client secret,
raw body)>`: no personal data, no timestamp in the signature, no idempotency key. The answer
holds the body and signature sent and the delivery's status.

The reads need the bearer token (the middleware's) and `LinkedIn-Version`; an unknown id is
LinkedIn's 404 `{"status": 404, "code": "NOT_FOUND", ...}`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import unquote

import httpx
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from sandbox.platforms import SandboxError
from sandbox.state import SandboxState, get_state
from sandbox.store import LinkedInLeadForm, LinkedInLeadResponse

admin = APIRouter(prefix="/_sandbox/linkedin", tags=["admin"])
router = APIRouter(prefix="/rest")

PREDEFINED = {
    "email": "EMAIL",
    "first_name": "FIRST_NAME",
    "last_name": "LAST_NAME",
    "company": "COMPANY_NAME",
    "country": "COUNTRY",
    "job_title": "JOB_TITLE",
}


class LeadSubmission(BaseModel):
    form_id: str = Field(pattern=r"^\d{4,20}$")
    answers: dict[str, str]  # question name -> the member's answer
    consents: dict[str, bool] = {}  # consent checkbox name -> ticked
    creative_id: str | None = None  # the sponsored creative that carried the form (none: organic)
    campaign_id: str | None = None
    callback_url: str | None = None


def signature(secret: str, body: bytes) -> str:
    return "hmacsha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _form(state: SandboxState, sub: LeadSubmission) -> LinkedInLeadForm:
    form = state.store.linkedin_lead_forms.get(sub.form_id)
    if form is None:
        form = LinkedInLeadForm(
            id=sub.form_id,
            owner=state.tokens.linkedin_ad_account,
            questions=[
                {"questionId": i, "name": name, "predefinedField": PREDEFINED.get(name)}
                for i, name in enumerate(sub.answers, start=1)
            ],
            consents=[{"consentId": i, "name": name} for i, name in enumerate(sub.consents, start=1)],
        )
        state.store.linkedin_lead_forms[form.id] = form
    return form


@admin.post("/leads")
async def submit(sub: LeadSubmission, state: SandboxState = Depends(get_state)) -> dict[str, Any]:
    form = _form(state, sub)
    ids = {q["name"]: q["questionId"] for q in form.questions}
    consent_ids = {c["name"]: c["consentId"] for c in form.consents}
    unknown = sorted((set(sub.answers) - set(ids)) | (set(sub.consents) - set(consent_ids)))
    if unknown:
        raise SandboxError(400, "INVALID", f"form {form.id} has no question or consent {unknown[0]}")
    now_ms = int(time.time() * 1000)
    response = LinkedInLeadResponse(
        id=uuid.uuid4().hex[:20],
        form_id=form.id,
        owner=form.owner,
        submitted_at=now_ms,
        answers=[
            {"questionId": ids[k], "answerDetails": {"textQuestionAnswer": {"answer": answer}}}
            for k, answer in sub.answers.items()
        ],
        consents=[{"consentId": consent_ids[k], "accepted": v} for k, v in sub.consents.items()],
        lead_type="SPONSORED" if sub.creative_id else "COMPANY",
        creative=f"urn:li:sponsoredCreative:{sub.creative_id}" if sub.creative_id else None,
        campaign=f"urn:li:sponsoredCampaign:{sub.campaign_id}" if sub.campaign_id else None,
    )
    state.store.linkedin_lead_responses[response.id] = response
    notice = {
        "type": "LEAD_ACTION",
        "leadAction": "CREATED",
        "leadGenFormResponse": f"urn:li:leadGenFormResponse:{response.id}",
        "leadGenForm": f"urn:li:versionedLeadGenForm:(urn:li:leadGenForm:{form.id},1)",
        "owner": {"sponsoredAccount": form.owner},
        "associatedEntity": {"sponsoredCreative": response.creative} if response.creative else {},
        "leadType": response.lead_type,
        "occuredAt": now_ms,  # sic: LinkedIn's spelling
    }
    body = json.dumps(notice).encode()
    signed = signature(state.tokens.linkedin_client_secret.get_secret_value(), body)
    answer: dict[str, Any] = {"response_id": response.id, "body": body.decode(), "signature": signed}
    if sub.callback_url:
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(
                sub.callback_url, content=body, headers={"Content-Type": "application/json", "X-LI-Signature": signed}
            )
        answer["delivered"] = {"status": r.status_code, "body": r.text}
    return answer


def _not_found(what: str) -> SandboxError:
    return SandboxError(404, "NOT_FOUND", f"{what} does not exist")


def _id(raw: str, prefix: str) -> str:
    return unquote(raw).removeprefix(prefix)


@router.get("/leadFormResponses/{response_id}")
async def lead_form_response(response_id: str, state: SandboxState = Depends(get_state)) -> dict[str, Any]:
    found = state.store.linkedin_lead_responses.get(_id(response_id, "urn:li:leadGenFormResponse:"))
    if found is None:
        raise _not_found(f"leadFormResponse {response_id}")
    return {
        "id": found.id,
        "owner": {"sponsoredAccount": found.owner},
        "leadType": found.lead_type,
        "versionedLeadGenFormUrn": f"urn:li:versionedLeadGenForm:(urn:li:leadGenForm:{found.form_id},1)",
        "submittedAt": found.submitted_at,
        "testLead": False,
        "associatedEntity": {"sponsoredCreative": found.creative} if found.creative else {},
        "leadMetadata": {"sponsoredLeadMetadata": {"campaign": found.campaign}} if found.campaign else {},
        "formResponse": {"answers": found.answers, "consentResponses": found.consents},
    }


@router.get("/leadForms/{form_id}")
async def lead_form(form_id: str, state: SandboxState = Depends(get_state)) -> dict[str, Any]:
    found = state.store.linkedin_lead_forms.get(_id(form_id, "urn:li:leadGenForm:"))
    if found is None:
        raise _not_found(f"leadForm {form_id}")
    return {
        "id": int(found.id),
        "owner": {"sponsoredAccount": found.owner},
        "state": "PUBLISHED",
        "versionId": 1,
        "content": {
            "questions": [
                {
                    "questionId": q["questionId"],
                    "name": q["name"],
                    **({"predefinedField": q["predefinedField"]} if q["predefinedField"] else {}),
                    "question": {"localized": {"en_US": q["name"].replace("_", " ").title()}},
                }
                for q in found.questions
            ],
            "consents": [
                {"consentId": c["consentId"], "name": c["name"], "content": {"localized": {"en_US": c["name"]}}}
                for c in found.consents
            ],
        },
    }
