"""Slack interactivity: `POST /webhooks/slack` (approval buttons → content decisions).

Signature v0: `X-Slack-Signature` = `v0=` + hex HMAC-SHA256(signing secret,
`v0:{timestamp}:{raw body}`), `X-Slack-Request-Timestamp` within 5 minutes. The body is
form-encoded with one `payload` field holding the interaction JSON; `block_actions`
with a button value `approve:<content id>:<revision>` (or `reject:` /
`request_changes:`) becomes `ContentService.decide` as the person the Slack user is
mapped to (`MOPS_SLACK_USER_MAP`). Slack shows our answer's `text` to the user, so
refusals are answered 200 with the reason; only a bad request gets a 4xx.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from domain.approvals import DecisionKind
from gateway import deps
from gateway.errors import ApiError, ErrorBody
from gateway.settings import GatewaySettings
from gateway.webhooks.common import Replays, replayed, signed_body
from starter.service.content import ContentService
from starter.service.errors import failure

log = logging.getLogger("mops.gateway.slack")

SIGNATURE = "X-Slack-Signature"
TIMESTAMP = "X-Slack-Request-Timestamp"
ACTION = re.compile(r"^(approve|reject|request_changes):([a-z0-9][a-z0-9-]{2,62}):(\d{1,6})$")
VERB = {"approve": "approved", "reject": "rejected", "request_changes": "requested changes on"}

router = APIRouter(
    prefix="/webhooks", tags=["webhooks"], responses={s: {"model": ErrorBody} for s in (400, 401, 409, 413)}
)


class SlackMessage(BaseModel):
    """What Slack shows the person who clicked."""

    response_type: str = "ephemeral"
    replace_original: bool = False
    text: str


def signature_v0(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@router.post("/slack", response_model=SlackMessage, summary="Slack interactivity (approval buttons)")
async def slack_interaction(
    request: Request,
    settings: GatewaySettings = Depends(deps.settings),
    content: ContentService = Depends(deps.content),
) -> SlackMessage:
    secret = settings.slack_signing_secret.get_secret_value()
    body, signature = await signed_body(
        request,
        header=SIGNATURE,
        timestamp_header=TIMESTAMP,
        tolerance=settings.gateway_webhook_tolerance_seconds,
        expected=lambda body, timestamp: signature_v0(secret, timestamp, body),
    )
    requests: Replays = request.app.state.webhook_requests
    if not await requests.add(f"slack:{signature}"):
        raise replayed(SIGNATURE)

    try:
        payload = json.loads(parse_qs(body.decode("utf-8"))["payload"][0])
        kind = payload["type"]
        user_id = payload["user"]["id"]
        actions = payload.get("actions") or []
    except (KeyError, IndexError, TypeError, ValueError):
        raise ApiError(400, "invalid_payload", "payload: expected Slack's form field 'payload' with JSON") from None
    if kind != "block_actions" or not actions:
        return SlackMessage(text="Nothing to do for this interaction.")
    match = ACTION.fullmatch(str(actions[0].get("value", "")))
    if match is None:
        return SlackMessage(text="This button is not a mops decision.")
    verb, content_id, revision = match.group(1), match.group(2), int(match.group(3))
    approver = settings.slack_user_map.get(str(user_id))
    if approver is None:
        return SlackMessage(text="Your Slack account is not linked to a mops approver; ask an admin to map it.")
    try:
        result = await content.decide(content_id, approver=approver, kind=DecisionKind(verb), revision=revision)
    except Exception as err:  # noqa: BLE001 - answered from the one map below, or re-raised
        answer = failure(err)
        if answer is None or answer.status >= 500:
            raise  # unexpected, or Temporal down: a 5xx, so the person sees it did not go through
        return SlackMessage(text=f"Not recorded: {answer.message}")
    log.info("slack decision recorded for %s by %s", content_id, approver)
    return SlackMessage(
        text=f"You {VERB[verb]} revision {result.revision} of {content_id} ({result.stage}: {result.outcome})."
    )
