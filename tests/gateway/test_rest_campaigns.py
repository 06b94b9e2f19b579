"""REST /v1/campaigns, /v1/budget-proposals and /v1/approvals against real workers, the dev
server and the sandbox ad platforms: launch approval decided as the key's person with
every refusal on its own status, stop, listing by pending approver (visibility) across
content, campaigns and budget proposals, and a budget proposal decided through the
gateway (REST, GraphQL and the approval page share the one update path)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from html import escape

from tests.conftest import eventually
from tests.gateway.conftest import DIRECTOR, Gateway, awaiting_launch_approval, campaign_status, launch
from tests.gateway.test_approval_page import browser_client, csrf_of, sign_in, submit_for
from tests.gateway.test_graphql import codes, gql
from tests.gateway.test_rest_leads import error


async def proposal_status(gw: Gateway, wid: str, *statuses: str, timeout: float = 60) -> dict:
    async def reached():
        r = await gw.http.get(f"/v1/budget-proposals/{wid}", headers=gw.auth("reader"))
        assert r.status_code == 200, r.text
        assert r.json()["status"] in statuses, (r.json()["status"], r.json().get("outcome"))
        return r.json()

    return await eventually(reached, timeout=timeout, what=f"budget proposal {' or '.join(statuses)}")


async def decide(gw: Gateway, path: str, who: str, **body):
    return await gw.http.post(f"{path}/decisions", json={"kind": "approve", **body}, headers=gw.auth(who))


async def stop(gw: Gateway, cid: str, who: str = "maya"):
    return await gw.http.post(f"/v1/campaigns/{cid}/stop", json={"reason": "test over"}, headers=gw.auth(who))


async def test_launch_approval_refusals_decision_and_stop(gw: Gateway) -> None:
    cid = await awaiting_launch_approval(gw)
    view = await campaign_status(gw, cid, "awaiting_approval")
    assert view["pending_approvers"] == ["dana"] and view["owner"] == "maya" and view["name"] == "Spring launch"
    assert view["total_budget"] == "6000.00" and view["currency"] == "EUR" and view["start"] and view["end"]
    assert [p["channel"] for p in view["parts"]] == ["landing_page", "meta_ads", "google_ads"]

    path = f"/v1/campaigns/{cid}"
    cases = [
        ("maya", {}, 403, "requester_cannot_decide"),  # the owner asked for the launch
        ("raj", {}, 403, "not_an_approver"),
        ("omar", {}, 403, "not_an_approver"),  # dana's backup, but nothing is escalated
        ("dana", {"kind": "reject"}, 422, "invalid_input"),  # a rejection needs a reason
        ("dana", {"kind": "request_changes", "comment": "x"}, 422, "invalid_request"),  # approve or reject only
        ("dana", {"revision": 1}, 422, "invalid_request"),  # no revisions for campaigns
        ("dana", {"approver": "omar"}, 422, "invalid_request"),  # the approver is the key's person
        ("reader", {}, 403, "forbidden"),  # no approve scope
        ("admin", {}, 403, "forbidden"),  # bound to nobody
    ]
    for who, body, status, code in cases:
        r = await decide(gw, path, who, **body)
        assert r.status_code == status, (who, body, r.text)
        assert error(r)["code"] == code, (who, body, r.json())
    assert (await gw.http.post(f"{path}/decisions", json={"kind": "approve"})).status_code == 401
    assert (await gw.campaigns.state(cid)).approval.decisions == [], "refused decisions leave no trace"

    async def listed():
        r = await gw.http.get(
            "/v1/campaigns",
            params={"status": "awaiting_approval", "pending_approver": "dana", "limit": 500},
            headers=gw.auth("reader"),
        )
        assert r.status_code == 200, r.text
        return next((c for c in r.json()["items"] if c["campaign_id"] == cid), None)

    row = await eventually(listed, what="the campaign waiting for dana (visibility)")
    assert row == {
        "campaign_id": cid,
        "workflow_id": f"campaign-{cid}",
        "status": "awaiting_approval",
        "channels": ["landing_page", "meta_ads", "google_ads"],
        "budget_state": "as_planned",
        "approval_state": "director:pending",
        "pending_approvers": ["dana"],
        "execution_status": "running",
    }

    r = await decide(gw, path, "dana", comment="Go")
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": True, "stage": "director", "outcome": "approved", "revision": 1}
    r = await decide(gw, path, "dana")
    assert r.status_code == 409 and error(r)["code"] in ("already_decided", "not_waiting_for_decisions"), r.text
    decisions = (await gw.campaigns.state(cid)).approval.decisions
    assert [(d.approver, d.kind.value, d.comment, d.stage) for d in decisions] == [
        ("dana", "approve", "Go", "director")
    ]
    assert decisions[0].proof is not None and decisions[0].proof.workflow_id == f"campaign-{cid}"

    view = await campaign_status(gw, cid, "live")
    r = await decide(gw, path, "dana")
    assert r.status_code == 409 and error(r)["code"] == "not_waiting_for_decisions"
    assert error(r)["message"] == "stage: not waiting for decisions (status live)"

    r = await stop(gw, cid, "raj")
    assert r.status_code == 403 and error(r)["code"] == "may_not_stop", r.text
    r = await gw.http.post(f"{path}/stop", json={}, headers=gw.auth("maya"))
    assert r.status_code == 422 and error(r)["message"].startswith("reason:")
    r = await stop(gw, cid, "maya")
    assert r.status_code == 202 and r.json() == {"campaign_id": cid, "stop_requested": True}, r.text
    r = await stop(gw, cid, "dana")
    assert r.status_code == 409 and error(r)["code"] == "nothing_to_stop", r.text
    view = await campaign_status(gw, cid, "completed")
    assert view["outcome"].startswith("stopped by maya")


async def test_not_found_and_invalid_ids(gw: Gateway) -> None:
    r = await gw.http.get("/v1/campaigns/no-such-campaign", headers=gw.auth("reader"))
    assert r.status_code == 404 and error(r)["code"] == "campaign_not_found"
    r = await decide(gw, "/v1/campaigns/no-such-campaign", "dana")
    assert r.status_code == 404 and error(r)["code"] == "campaign_not_found"
    r = await stop(gw, "no-such-campaign")
    assert r.status_code == 404 and error(r)["code"] == "campaign_not_found"
    r = await gw.http.get("/v1/budget-proposals/budget-no-such-campaign-x1", headers=gw.auth("reader"))
    assert r.status_code == 404 and error(r)["code"] == "budget_proposal_not_found"
    r = await decide(gw, "/v1/budget-proposals/budget-no-such-campaign-x1", "dana")
    assert r.status_code == 404 and error(r)["code"] == "budget_proposal_not_found"
    # Ids are checked before anything reaches Temporal: a content or campaign workflow is no proposal.
    for path in (
        "/v1/campaigns/Bad_Id",
        "/v1/budget-proposals/campaign-spring",
        "/v1/budget-proposals/content-gw-1234",
    ):
        r = await gw.http.get(path, headers=gw.auth("reader"))
        assert r.status_code == 422 and error(r)["code"] == "invalid_request", (path, r.text)
    for params in ({"pending_approver": "d'ana"}, {"status": "nope"}):
        r = await gw.http.get("/v1/campaigns", params=params, headers=gw.auth("reader"))
        assert r.status_code == 422, (params, r.text)
    r = await gw.http.get("/v1/budget-proposals", params={"campaign_id": "x' OR 1=1"}, headers=gw.auth("reader"))
    assert r.status_code == 422 and error(r)["message"].startswith("campaign_id:")
    r = await gw.http.get("/v1/campaigns", headers=gw.auth("dana"))
    assert r.status_code == 403, "listing campaigns needs the read scope"
    # /v1/approvals: an approve key sees its own person's queue only; read sees anyone's.
    r = await gw.http.get("/v1/approvals", params={"approver": "omar"}, headers=gw.auth("dana"))
    assert r.status_code == 403 and error(r)["code"] == "forbidden"
    r = await gw.http.get("/v1/approvals", headers=gw.auth("reader"))
    assert r.status_code == 403 and "not bound to a person" in error(r)["message"]
    r = await gw.http.get("/v1/approvals", headers=gw.auth("ingest"))
    assert r.status_code == 403
    r = await gw.http.get("/v1/approvals", params={"approver": "dana"}, headers=gw.auth("reader"))
    assert r.status_code == 200 and r.json()["approver"] == "dana"
    paths = (await gw.http.get("/openapi.json")).json()["paths"]
    assert {
        "/v1/campaigns/{campaign_id}/decisions",
        "/v1/campaigns/{campaign_id}/stop",
        "/v1/approvals",
        "/v1/budget-proposals/{workflow_id}/decisions",
    } <= set(paths)


async def live_campaign_with_data(gw: Gateway) -> str:
    """Live for 10 days (complete days to judge by); Google converts far more cheaply than
    Meta, so the rules propose moving budget to Google, above the auto-apply threshold."""
    now = datetime.now(UTC).replace(microsecond=0)
    cid = await launch(
        gw,
        start=(now - timedelta(days=10)).isoformat(),
        reallocation={
            "approval": DIRECTOR,
            "auto_apply_under_pct": "1",
            "min_conversions": 1,
            "min_clicks": 10,
            "min_spend": "10",
        },
    )
    await campaign_status(gw, cid, "live")
    await gw.admin.set_ads_performance("meta", cid, conversion_factor=0.2)
    return cid


async def test_budget_proposal_and_everything_pending_for_dana(gw: Gateway) -> None:
    cid = await live_campaign_with_data(gw)
    handle = await gw.campaigns.reallocate(cid, requested_by="maya", run_id=uuid.uuid4().hex[:8])
    wid = handle.id
    view = await proposal_status(gw, wid, "awaiting_approval")
    p = view["proposal"]
    assert view["campaign_id"] == cid and view["pending_approvers"] == ["dana"] and p["action"] == "approval"
    assert p["proposed"]["google_ads"] > p["current"]["google_ads"] and p["reasons"]
    # dana also waits on a content item and a campaign launch: one request lists all three.
    item = await submit_for(gw, ["dana"])
    launch_id = await awaiting_launch_approval(gw)

    async def all_listed():
        r = await gw.http.get("/v1/approvals", params={"limit": 500}, headers=gw.auth("dana"))
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["approver"] == "dana"
        assert item in [i["content_id"] for i in got["content"]], "content not listed yet"
        assert launch_id in [c["campaign_id"] for c in got["campaigns"]], "campaign not listed yet"
        assert wid in [b["workflow_id"] for b in got["budget_proposals"]], "proposal not listed yet"
        return got

    got = await eventually(all_listed, what="content, campaign and proposal waiting for dana (visibility)")
    row = next(b for b in got["budget_proposals"] if b["workflow_id"] == wid)
    assert row == {
        "workflow_id": wid,
        "campaign_id": cid,
        "status": "awaiting_approval",
        "approval_state": "director:pending",
        "pending_approvers": ["dana"],
        "execution_status": "running",
    }

    queue = """query($limit: Int!) { approvalQueue(limit: $limit) {
      approver contentItems { id stage pendingApprovers }
      campaigns { id status pendingApprovers approvalState }
      budgetProposals { id campaignId status pendingApprovers } } }"""
    body = await gql(gw, "dana", queue, limit=500)
    assert "errors" not in body, body
    q = body["data"]["approvalQueue"]
    assert q["approver"] == "dana"
    assert {"id": item, "stage": "IN_REVIEW", "pendingApprovers": ["dana"]} in q["contentItems"]
    assert {
        "id": launch_id,
        "status": "AWAITING_APPROVAL",
        "pendingApprovers": ["dana"],
        "approvalState": "director:pending",
    } in q["campaigns"]
    assert {"id": wid, "campaignId": cid, "status": "AWAITING_APPROVAL", "pendingApprovers": ["dana"]} in q[
        "budgetProposals"
    ]
    body = await gql(
        gw,
        "reader",
        "query($c: String!) { budgetProposals(campaignId: $c) { id } "
        'campaigns(status: AWAITING_APPROVAL, approver: "dana", limit: 500) { id } }',
        c=cid,
    )
    assert body["data"]["budgetProposals"] == [{"id": wid}], body
    assert launch_id in [c["id"] for c in body["data"]["campaigns"]]
    r = await gw.http.get("/v1/budget-proposals", params={"campaign_id": cid}, headers=gw.auth("reader"))
    assert [b["workflow_id"] for b in r.json()["items"]] == [wid]

    # The proposal, for people: current vs proposed per channel, and why.
    body = await gql(
        gw,
        "reader",
        """query($id: String!) { budgetProposal(id: $id) {
      id campaignId status currency action metric movedPct reasons pendingApprovers
      budgets { channel current proposed currentAmount proposedAmount } decisions { approver } } }""",
        id=wid,
    )
    assert "errors" not in body, body
    bp = body["data"]["budgetProposal"]
    assert bp["id"] == wid and bp["status"] == "AWAITING_APPROVAL" and bp["action"] == "approval"
    assert bp["reasons"] == p["reasons"] and bp["decisions"] == [] and bp["pendingApprovers"] == ["dana"]
    budgets = {b["channel"]: b for b in bp["budgets"]}
    assert set(budgets) == {"META_ADS", "GOOGLE_ADS"}
    assert budgets["GOOGLE_ADS"]["current"] == p["current"]["google_ads"]
    assert budgets["GOOGLE_ADS"]["proposed"] == p["proposed"]["google_ads"]
    assert budgets["META_ADS"]["currentAmount"].endswith(" EUR")

    path = f"/v1/budget-proposals/{wid}"
    r = await decide(gw, path, "maya")
    assert r.status_code == 403 and error(r)["code"] == "requester_cannot_decide", r.text
    r = await decide(gw, path, "raj")
    assert r.status_code == 403 and error(r)["code"] == "not_an_approver", r.text
    body = await gql(gw, "omar", "mutation($id: String!) { approveBudgetProposal(id: $id) { outcome } }", id=wid)
    assert codes(body) == ["not_an_approver"]
    body = await gql(
        gw, "dana", 'mutation($id: String!) { rejectBudgetProposal(id: $id, comment: " ") { outcome } }', id=wid
    )
    assert codes(body) == ["invalid_input"]
    assert (await gw.campaigns.budget_state(wid)).approval.decisions == []

    # dana approves on the approval page: the same update, as her.
    async with browser_client(gw) as page:
        assert (await sign_in(page, gw.raw_keys["dana"])).status_code == 303
        html = (await page.get("/approvals")).text
        assert f'data-budget-proposal-id="{wid}"' in html and f'data-campaign-id="{launch_id}"' in html
        assert all(escape(reason) in html for reason in p["reasons"]), "the proposal's reasons are shown"
        r = await page.post(
            f"/approvals/budget-proposals/{wid}/decide", data={"kind": "approve", "csrf": csrf_of(html)}
        )
        assert r.status_code == 200, r.text
        assert f"You approved budget proposal {wid}. Stage director: approved." in r.text
    r = await decide(gw, path, "dana")
    assert r.status_code in (404, 409) and error(r)["code"] in (
        "already_decided",
        "not_waiting_for_decisions",
        "budget_proposal_not_found",
    ), r.text

    view = await proposal_status(gw, wid, "applied")
    assert [(d["approver"], d["kind"]) for d in view["approval"]["decisions"]] == [("dana", "approve")]
    assert all(c["verified"] == c["after"] for c in view["changes"])

    async def recorded():
        c = await gw.campaigns.state(cid)
        return c.budget_changes and c

    assert (await eventually(recorded, what="the campaign to record the change")).budget_changes[0].decided_by == [
        "dana"
    ]
    # Tidy up: stop the live campaign, reject the launch and the content item.
    assert (await stop(gw, cid)).status_code == 202
    assert (await decide(gw, f"/v1/campaigns/{launch_id}", "dana", kind="reject", comment="Not now")).status_code == 200
    r = await gw.http.post(
        f"/v1/content/{item}/decisions", json={"kind": "reject", "comment": "Not now"}, headers=gw.auth("dana")
    )
    assert r.status_code == 200, r.text
