"""Every refusal code gets its answer on every surface — REST, GraphQL, the approval page
and Slack — from the one table (domain/refusals.py), however its reason is worded; and
content items, campaign launches and budget proposals are decided by the one gate."""

from __future__ import annotations

import subprocess
import sys
import uuid
from html import escape

import pytest

import workflows.approval
from domain.refusals import Refusal, Refused
from starter.service.content import ContentService
from tests.gateway.conftest import Gateway, awaiting_launch_approval
from tests.gateway.test_approval_page import browser_client, csrf_of, sign_in, submit_for
from tests.gateway.test_graphql import codes, gql
from tests.gateway.test_rest_campaigns import live_campaign_with_data, proposal_status
from tests.gateway.test_rest_content import decide, submitted_in_review
from tests.gateway.test_webhooks import slack_body

# Other codes' old wording: matching on text would answer these with the wrong status.
REWORDED = "nothing to stop; decision is for revision 9, the current revision is 1; already decided"
APPROVE = "mutation($id: String!) { approve(contentId: $id, revision: 1) { outcome } }"


@pytest.mark.parametrize("code", list(Refusal))
async def test_each_refusal_code_answers_from_the_table_on_every_surface(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch, code: Refusal
) -> None:
    refused = Refused(code, REWORDED)
    calls: list[str] = []

    async def refusing(self, content_id: str, **_) -> None:
        calls.append(content_id)
        raise Refused(code, REWORDED)

    monkeypatch.setattr(ContentService, "decide", refusing)
    cid = f"refused-{uuid.uuid4().hex[:8]}"

    r = await decide(gw, cid, "omar", revision=1)
    assert r.status_code == code.status, r.text
    assert r.json() == {"error": {"code": code.value, "message": refused.message}}

    body = await gql(gw, "omar", APPROVE, id=cid)
    assert codes(body) == [code.value] and body["errors"][0]["message"] == refused.message
    assert body["data"] is None

    slack = slack_body("U0OMAR", f"approve:{cid}:1")
    r = await gw.http.post("/webhooks/slack", content=slack, headers=gw.slack_headers(slack))
    assert r.status_code == 200 and r.json()["text"] == f"Not recorded: {refused.message}"

    async with browser_client(gw) as client:
        assert (await sign_in(client, gw.raw_keys["omar"])).status_code == 303
        csrf = csrf_of((await client.get("/approvals")).text)
        r = await client.post(f"/approvals/{cid}/decide", data={"kind": "approve", "revision": "1", "csrf": csrf})
    assert r.status_code == code.status
    assert escape(f"Refused, {code.value.replace('_', ' ')} ({cid}): {refused.message}", quote=False) in r.text

    assert calls == [cid] * 4, "every surface asked the service"


async def test_a_reworded_validator_reason_keeps_its_status(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real workflow, with the domain's reasons reworded in the running worker."""
    original = workflows.approval.refusal

    def reworded(*args, **kwargs):
        why = original(*args, **kwargs)
        return why and Refused(why.code, f"said differently: {REWORDED}")

    # The workflows import the gate through the sandbox's pass-through: the worker sees this.
    monkeypatch.setattr(workflows.approval, "refusal", reworded)
    cid = await submitted_in_review(gw)
    cases = [("maya", {}, 403, "author_cannot_decide"), ("raj", {}, 403, "not_an_approver")]
    cases += [("omar", {"revision": 2}, 409, "stale_revision")]
    for who, extra, status, code in cases:
        r = await decide(gw, cid, who, **extra)
        assert r.status_code == status, (who, r.text)
        error = r.json()["error"]
        assert error["code"] == code and error["message"].endswith(f"said differently: {REWORDED}"), error
    assert (await gw.content.state(cid)).decisions == [], "refused decisions leave no trace"


# --- one gate for content items, campaign launches and budget proposals -------------------


async def waiting_for_dana(gw: Gateway, kind: str) -> tuple[str, str]:
    """(decisions path, stage name) of something maya asked for that waits for dana."""
    if kind == "content":
        return f"/v1/content/{await submit_for(gw, ['dana'])}", "brand"
    if kind == "campaign":
        return f"/v1/campaigns/{await awaiting_launch_approval(gw)}", "director"
    cid = await live_campaign_with_data(gw)
    wid = (await gw.campaigns.reallocate(cid, requested_by="maya", run_id=uuid.uuid4().hex[:8])).id
    await proposal_status(gw, wid, "awaiting_approval")
    return f"/v1/budget-proposals/{wid}", "director"


@pytest.mark.parametrize(
    ("kind", "own"),
    [
        ("content", "author_cannot_decide"),
        ("campaign", "requester_cannot_decide"),
        ("budget", "requester_cannot_decide"),
    ],
)
async def test_one_gate_decides_content_campaigns_and_budget_moves_alike(gw: Gateway, kind: str, own: str) -> None:
    path, stage = await waiting_for_dana(gw, kind)

    async def decide_as(who: str):
        return await gw.http.post(f"{path}/decisions", json={"kind": "approve"}, headers=gw.auth(who))

    r = await decide_as("maya")
    assert (r.status_code, r.json()["error"]["code"]) == (403, own), r.text
    r = await decide_as("raj")
    assert r.status_code == 403 and r.json()["error"] == {
        "code": "not_an_approver",
        "message": f"approver: 'raj' is not an approver of stage '{stage}'",
    }
    r = await decide_as("dana")
    assert r.status_code == 200 and r.json() == {"accepted": True, "stage": stage, "outcome": "approved", "revision": 1}
    r = await decide_as("dana")
    assert r.status_code == 409 and r.json()["error"]["code"] in ("already_decided", "not_waiting_for_decisions")


def test_the_error_map_imports_no_service_heavyweights() -> None:
    # The gateway answers every service error from starter.service.errors; that must not
    # drag in the analytics service (DuckDB, the collection activities) or the worker. The
    # worker-room modules it may load are the capture's start (a single capture and an import
    # share it) and which credential a platform client gets (the lead-ad webhooks read Meta and
    # LinkedIn with it); both import nothing the service does not.
    code = (
        "import sys, gateway.app; "
        "shared = ('workers', 'workers.lead_start', 'workers.credentials'); "
        "bad = [m for m in sys.modules if (m.split('.')[0] in ('duckdb', 'workers') and m not in shared) "
        "or m == 'activities.analytics_collect']; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
