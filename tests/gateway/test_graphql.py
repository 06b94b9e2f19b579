"""GraphQL at /graphql over real HTTP: the dashboard's one round trip, lists, decisions
as the key's person, REST's error codes, scopes, and no personal data in leads."""

from __future__ import annotations

from tests.conftest import eventually
from tests.gateway.conftest import Gateway, awaiting_launch_approval, campaign_status, capture, unique_email
from tests.gateway.test_rest_content import submitted_in_review, wait_stage
from tests.gateway.test_rest_leads import error

DASHBOARD = """
query Dashboard($lead: String!, $item: String!) {
  lead(id: $lead) {
    id stage segment ownerId emailsSent touches nextStep nextStepAt
    score { total fit engagement reasons { rule points detail } }
  }
  contentItem(id: $item) {
    id stage title type revision author findings { rule severity message } pendingApprovers
    decisions { approver kind revision comment at stage }
    channels { channel status link ref note }
  }
}
"""


async def gql(gw: Gateway, who: str | None, query: str, **variables) -> dict:
    headers = gw.auth(who) if who else {}
    r = await gw.http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def codes(body: dict) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def test_dashboard_in_one_request_without_personal_data(gw: Gateway) -> None:
    email = unique_email()
    # Markers that cannot occur by chance in hex ids or generated text.
    lead = await capture(gw, email, first_name="Zyxwvut", last_name="Qvortrupp", company="Kwyjibo Works")
    cid = await submitted_in_review(gw)
    body = await gql(gw, "reader", DASHBOARD, lead=lead["lead_id"], item=cid)
    assert "errors" not in body, body
    got, item = body["data"]["lead"], body["data"]["contentItem"]
    assert got["id"] == lead["lead_id"] and got["touches"] == 1 and got["stage"] in ("NEW", "QUALIFYING", "NURTURING")
    assert item["id"] == cid and item["stage"] == "IN_REVIEW" and item["revision"] == 1 and item["author"] == "maya"
    assert set(item["pendingApprovers"]) == {"omar", "sofia", "lena"} and item["decisions"] == []
    assert {c["channel"] for c in item["channels"]} <= {"cms", "linkedin"}
    # The lead's full state, every field asked for: no address, name or company anywhere.
    text = str(body).lower()
    for personal in (email.lower(), email.split("@")[0].lower(), "zyxwvut", "qvortrupp", "kwyjibo"):
        assert personal not in text, personal
    # The same lead with the `lead-` prefix; an unknown one is REST's code and leaves the rest answered.
    body = await gql(
        gw,
        "reader",
        'query($id: String!) { lead(id: $id) { id } contentItem(id: "no-such-item") { id } }',
        id=f"lead-{lead['lead_id']}",
    )
    assert body["data"] == {"lead": {"id": lead["lead_id"]}, "contentItem": None}
    assert codes(body) == ["content_not_found"]
    body = await gql(gw, "reader", '{ lead(id: "alice@acme.example") { id } }')
    assert codes(body) == ["invalid_request"] and "alice" not in str(body)


async def test_lists_and_pending_approvals(gw: Gateway) -> None:
    lead = await capture(gw)
    cid = await submitted_in_review(gw)

    async def lead_listed():
        body = await gql(gw, "reader", "{ leads(stage: NURTURING, limit: 500) { id workflowId stage status } }")
        assert "errors" not in body, body
        return next((x for x in body["data"]["leads"] if x["id"] == lead["lead_id"]), None)

    row = await eventually(lead_listed, what="the lead listed as nurturing")
    assert row == {
        "id": lead["lead_id"],
        "workflowId": f"lead-{lead['lead_id']}",
        "stage": "NURTURING",
        "status": "running",
    }

    query = '{ contentItems(stage: IN_REVIEW, pendingApprover: "omar", limit: 500) { id stage pendingApprovers } }'

    async def item_listed():
        body = await gql(gw, "reader", query)
        assert "errors" not in body, body
        return next((i for i in body["data"]["contentItems"] if i["id"] == cid), None)

    item = await eventually(item_listed, what="the item waiting for omar (visibility)")
    assert item["stage"] == "IN_REVIEW" and "omar" in item["pendingApprovers"]
    # Defaults to the key's person; sofia's key (approve only) may ask for her own queue, not omar's.
    body = await gql(gw, "sofia", "{ pendingApprovals(limit: 500) { id } }")
    assert cid in [i["id"] for i in body["data"]["pendingApprovals"]], body
    body = await gql(gw, "reader", '{ pendingApprovals(approver: "sofia", limit: 500) { id } }')
    assert cid in [i["id"] for i in body["data"]["pendingApprovals"]], body
    assert codes(await gql(gw, "sofia", '{ pendingApprovals(approver: "omar") { id } }')) == ["forbidden"]
    assert codes(await gql(gw, "reader", "{ pendingApprovals { id } }")) == ["forbidden"]  # bound to nobody
    body = await gql(gw, "reader", '{ contentItems(pendingApprover: "o\'mar") { id } }')
    assert codes(body) == ["invalid_request"]
    assert codes(await gql(gw, "reader", "{ leads(stage: NEW, limit: 0) { id } }")) == ["invalid_request"]


async def test_mutations_decide_as_the_keys_person(gw: Gateway) -> None:
    cid = await submitted_in_review(gw)
    # Refusals carry REST's codes; refused decisions leave no trace.
    body = await gql(gw, "maya", "mutation($id: String!) { approve(contentId: $id) { outcome } }", id=cid)
    assert codes(body) == ["author_cannot_decide"] and body["data"] is None
    body = await gql(gw, "raj", "mutation($id: String!) { approve(contentId: $id) { outcome } }", id=cid)
    assert codes(body) == ["not_an_approver"]
    body = await gql(gw, "omar", "mutation($id: String!) { approve(contentId: $id, revision: 2) { outcome } }", id=cid)
    assert codes(body) == ["stale_revision"]
    body = await gql(gw, "reader", "mutation($id: String!) { approve(contentId: $id) { outcome } }", id=cid)
    assert codes(body) == ["forbidden"]  # no approve scope
    body = await gql(gw, "admin", "mutation($id: String!) { approve(contentId: $id) { outcome } }", id=cid)
    assert codes(body) == ["forbidden"]  # admin is bound to nobody
    body = await gql(
        gw, "omar", 'mutation($id: String!) { approve(contentId: $id, approver: "sofia") { outcome } }', id=cid
    )
    assert "errors" in body and body.get("data") is None  # the approver is never an argument
    assert (await gw.content.state(cid)).decisions == []

    body = await gql(
        gw, "omar", "mutation($id: String!) { approve(contentId: $id, revision: 1) { stage outcome revision } }", id=cid
    )
    assert body == {"data": {"approve": {"stage": "brand", "outcome": "pending", "revision": 1}}}
    body = await gql(gw, "omar", "mutation($id: String!) { approve(contentId: $id) { outcome } }", id=cid)
    assert codes(body) == ["already_decided"]
    body = await gql(
        gw,
        "sofia",
        'mutation($id: String!) { requestChanges(contentId: $id, comment: "Shorter") { stage outcome revision } }',
        id=cid,
    )
    assert body == {"data": {"requestChanges": {"stage": "brand", "outcome": "changes_requested", "revision": 1}}}
    await wait_stage(gw, cid, "changes_requested")
    decisions = (await gw.content.state(cid)).decisions
    assert [(d.approver, d.kind.value) for d in decisions] == [("omar", "approve"), ("sofia", "request_changes")]

    other = await submitted_in_review(gw)
    body = await gql(
        gw, "sofia", 'mutation($id: String!) { reject(contentId: $id, comment: "  ") { outcome } }', id=other
    )
    assert codes(body) == ["invalid_input"]  # a rejection needs a reason, as in REST
    body = await gql(
        gw,
        "sofia",
        'mutation($id: String!) { reject(contentId: $id, comment: "Off brand") { stage outcome revision } }',
        id=other,
    )
    assert body == {"data": {"reject": {"stage": "brand", "outcome": "rejected", "revision": 1}}}
    await wait_stage(gw, other, "rejected")


async def test_authentication_and_scopes(gw: Gateway) -> None:
    query = {"query": "{ contentItems { id } }"}
    for headers in ({}, {"Authorization": "Bearer mops_not-a-key"}):
        r = await gw.http.post("/graphql", json=query, headers=headers)
        assert r.status_code == 401 and error(r)["code"] == "unauthenticated", r.text
        assert r.headers["WWW-Authenticate"] == "Bearer"
    r = await gw.http.get("/graphql", params=query)
    assert r.status_code == 401 and error(r)["code"] == "unauthenticated"
    # A key without `read`: per-field 'forbidden', the message names the scope.
    body = await gql(gw, "ingest", "{ contentItems { id } leads(stage: NEW) { id } }")
    assert codes(body) == ["forbidden", "forbidden"] and "'read'" in body["errors"][0]["message"]
    assert body["data"] == {"contentItems": None, "leads": None}
    body = await gql(gw, "sofia", '{ lead(id: "' + "a" * 24 + '") { id } }')
    assert codes(body) == ["forbidden"]
    body = await gql(gw, "reader", '{ lead(id: "' + "a" * 24 + '") { id } }')
    assert codes(body) == ["lead_not_found"] and body["data"] == {"lead": None}


CAMPAIGN = """query($id: String!) { campaign(id: $id) {
  id name status owner currency totalBudget start end timezone approvalStage pendingApprovers problems outcome
  channels { channel state dailyBudgetMinor dailyBudget }
  decisions { approver kind revision comment stage }
  budgetChanges { proposalId }
} }"""


async def test_campaign_queries_and_decisions(gw: Gateway) -> None:
    cid = await awaiting_launch_approval(gw)
    body = await gql(gw, "reader", CAMPAIGN, id=cid)
    assert "errors" not in body, body
    c = body["data"]["campaign"]
    assert c["id"] == cid and c["name"] == "Spring launch" and c["status"] == "AWAITING_APPROVAL"
    assert c["owner"] == "maya" and c["currency"] == "EUR" and c["totalBudget"] == "6000.00" and c["start"]
    assert c["approvalStage"] == "director" and c["pendingApprovers"] == ["dana"] and c["decisions"] == []
    assert [(ch["channel"], ch["state"]) for ch in c["channels"]] == [
        ("LANDING_PAGE", "pending"),
        ("META_ADS", "pending"),
        ("GOOGLE_ADS", "pending"),
    ]

    async def listed():
        body = await gql(
            gw,
            "reader",
            '{ campaigns(status: AWAITING_APPROVAL, approver: "dana", limit: 500) '
            "{ id workflowId status channels budgetState approvalState pendingApprovers "
            "executionStatus } }",
        )
        assert "errors" not in body, body
        return next((x for x in body["data"]["campaigns"] if x["id"] == cid), None)

    row = await eventually(listed, what="the campaign waiting for dana (visibility)")
    assert row == {
        "id": cid,
        "workflowId": f"campaign-{cid}",
        "status": "AWAITING_APPROVAL",
        "channels": ["landing_page", "meta_ads", "google_ads"],
        "budgetState": "as_planned",
        "approvalState": "director:pending",
        "pendingApprovers": ["dana"],
        "executionStatus": "running",
    }
    # The approver queue: the key's own person with an approve key, anyone's with read.
    body = await gql(gw, "reader", '{ approvalQueue(approver: "dana", limit: 500) { approver campaigns { id } } }')
    assert cid in [x["id"] for x in body["data"]["approvalQueue"]["campaigns"]], body
    assert codes(await gql(gw, "dana", '{ approvalQueue(approver: "omar") { approver } }')) == ["forbidden"]
    assert codes(await gql(gw, "reader", "{ approvalQueue { approver } }")) == ["forbidden"]
    assert codes(await gql(gw, "reader", '{ approvalQueue(approver: "d\'ana") { approver } }')) == ["invalid_request"]
    assert codes(await gql(gw, "reader", '{ campaign(id: "Not An Id") { id } }')) == ["invalid_request"]
    body = await gql(
        gw,
        "reader",
        '{ campaign(id: "no-such-campaign") { id } budgetProposal(id: "budget-no-such-campaign-x1") { id } }',
    )
    assert sorted(codes(body)) == ["budget_proposal_not_found", "campaign_not_found"]
    assert body["data"] == {"campaign": None, "budgetProposal": None}
    assert codes(await gql(gw, "dana", CAMPAIGN, id=cid)) == ["forbidden"]  # dana's key has no read scope

    approve = "mutation($id: String!) { approveCampaign(campaignId: $id) { stage outcome revision } }"
    assert codes(await gql(gw, "maya", approve, id=cid)) == ["requester_cannot_decide"]
    assert codes(await gql(gw, "omar", approve, id=cid)) == ["not_an_approver"]
    assert codes(await gql(gw, "reader", approve, id=cid)) == ["forbidden"]
    body = await gql(
        gw, "dana", 'mutation($id: String!) { rejectCampaign(campaignId: $id, comment: "  ") { outcome } }', id=cid
    )
    assert codes(body) == ["invalid_input"]
    assert (await gw.campaigns.state(cid)).approval.decisions == []

    body = await gql(
        gw,
        "dana",
        'mutation($id: String!) { rejectCampaign(campaignId: $id, comment: "Too early") { stage outcome revision } }',
        id=cid,
    )
    assert body == {"data": {"rejectCampaign": {"stage": "director", "outcome": "rejected", "revision": 1}}}
    view = await campaign_status(gw, cid, "rejected")
    assert "Too early" in view["outcome"]
    body = await gql(gw, "dana", approve, id=cid)
    assert codes(body)[0] in ("campaign_not_found", "not_waiting_for_decisions"), body
    body = await gql(gw, "reader", CAMPAIGN, id=cid)
    c = body["data"]["campaign"]
    assert c["status"] == "REJECTED" and c["approvalStage"] is None and c["pendingApprovers"] == []
    assert [(d["approver"], d["kind"], d["comment"]) for d in c["decisions"]] == [("dana", "reject", "Too early")]
