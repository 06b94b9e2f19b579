"""REST /v1 content: submit, state, list, and every decision the workflow refuses,
each answered with its own status; the decider is always the key's person."""

from __future__ import annotations

import uuid

from tests.conftest import eventually
from tests.gateway.conftest import Gateway
from tests.gateway.test_rest_leads import error

BODY = "Our launch checklist helps small teams ship campaigns on time.\n\nRead the [guide]({link})."


def brief(gw: Gateway, **fields) -> dict:
    data = dict(
        content_id=f"gw-{uuid.uuid4().hex[:8]}",
        title="The launch checklist",
        type="blog",
        channels=["cms", "linkedin"],
        body=BODY.format(link=f"{gw.sandbox_url}/_links/ok/guide"),
        author="maya",
    )
    data.update(fields)
    return data


async def submitted_in_review(gw: Gateway, **fields) -> str:
    data = brief(gw, **fields)
    r = await gw.http.post("/v1/content", json=data, headers=gw.auth("maya"))
    assert r.status_code == 201, r.text
    await wait_stage(gw, data["content_id"], "in_review")
    return data["content_id"]


async def wait_stage(gw: Gateway, cid: str, stage: str) -> dict:
    async def reached():
        r = await gw.http.get(f"/v1/content/{cid}", headers=gw.auth("reader"))
        assert r.status_code == 200 and r.json()["stage"] == stage, r.json().get("stage")
        return r.json()

    return await eventually(reached, what=f"content {stage}")


async def decide(gw: Gateway, cid: str, who: str, **body):
    return await gw.http.post(f"/v1/content/{cid}/decisions", json={"kind": "approve", **body}, headers=gw.auth(who))


async def test_submit_state_and_list(gw: Gateway) -> None:
    data = brief(gw)
    cid = data["content_id"]
    r = await gw.http.post("/v1/content", json=data, headers=gw.auth("ingest"))
    assert r.status_code == 201, r.text
    assert r.json()["workflow_id"] == f"content-{cid}" and r.json()["created"] is True
    assert [s["name"] for s in r.json()["stages"]] == ["brand"]
    again = await gw.http.post("/v1/content", json=data, headers=gw.auth("ingest"))
    assert again.status_code == 200 and again.json()["created"] is False, "submitting twice is one item"

    view = await wait_stage(gw, cid, "in_review")
    assert view["current_review"] == "brand" and set(view["pending_approvers"]) == {"omar", "sofia", "lena"}

    async def listed():
        r = await gw.http.get(
            "/v1/content",
            params={"stage": "in_review", "pending_approver": "omar", "limit": 500},
            headers=gw.auth("reader"),
        )
        assert r.status_code == 200, r.text
        return next((i for i in r.json()["items"] if i["content_id"] == cid), None)

    item = await eventually(listed, what="the item waiting for omar (visibility)")
    assert item["stage"] == "in_review" and "omar" in item["pending_approvers"]
    r = await gw.http.get("/v1/content", params={"pending_approver": "o'mar"}, headers=gw.auth("reader"))
    assert r.status_code == 422 and error(r)["message"].startswith("pending_approver:")
    r = await gw.http.get("/v1/content/no-such-item", headers=gw.auth("reader"))
    assert r.status_code == 404 and error(r)["code"] == "content_not_found"


async def test_submit_refusals(gw: Gateway) -> None:
    h = gw.auth("ingest")
    for fields, field in [
        ({"title": "  "}, "title"),
        ({"channels": []}, "channels"),
        ({"author": "nobody"}, "author"),
        ({"colour": "red"}, "colour"),
        ({"content_id": "X"}, "content_id"),
    ]:
        r = await gw.http.post("/v1/content", json=brief(gw, **fields), headers=h)
        assert r.status_code == 422, (fields, r.text)
        assert error(r)["message"].startswith(field), (field, r.json())
    # A key bound to a person submits only as that person.
    r = await gw.http.post("/v1/content", json=brief(gw, author="theo"), headers=gw.auth("maya"))
    assert r.status_code == 403 and error(r)["message"].startswith("author:")
    r = await gw.http.post("/v1/content", json=brief(gw), headers=gw.auth("reader"))
    assert r.status_code == 403


async def test_every_refused_decision_has_its_status(gw: Gateway) -> None:
    cid = await submitted_in_review(gw)
    cases = [
        ("maya", {}, 403, "author_cannot_decide"),  # the author
        ("raj", {}, 403, "not_an_approver"),  # not an approver of the brand stage
        ("omar", {"revision": 2}, 409, "stale_revision"),
        ("omar", {"kind": "reject"}, 422, "invalid_input"),  # reject needs a reason
        ("reader", {}, 403, "forbidden"),  # no approve scope
        ("admin", {}, 403, "forbidden"),  # admin is bound to nobody
    ]
    for who, body, status, code in cases:
        r = await decide(gw, cid, who, **body)
        assert r.status_code == status, (who, body, r.text)
        assert error(r)["code"] == code, (who, r.json())
    r = await gw.http.post(f"/v1/content/{cid}/decisions", json={"kind": "approve"})
    assert r.status_code == 401
    # The approver comes from the key, never from the body.
    r = await decide(gw, cid, "sofia", approver="omar")
    assert r.status_code == 422 and error(r)["message"].startswith("approver:")
    assert (await gw.content.state(cid)).decisions == [], "refused decisions leave no trace"

    r = await decide(gw, cid, "omar", comment="Looks good", revision=1)
    assert r.status_code == 200 and r.json() == {
        "accepted": True,
        "stage": "brand",
        "outcome": "pending",
        "revision": 1,
    }
    r = await decide(gw, cid, "omar")
    assert r.status_code == 409 and error(r)["code"] == "already_decided"
    r = await decide(gw, cid, "sofia")  # sofia's key: recorded as sofia
    assert r.status_code == 200 and r.json()["outcome"] == "approved"
    decisions = (await gw.content.state(cid)).decisions
    assert [(d.approver, d.kind.value) for d in decisions] == [("omar", "approve"), ("sofia", "approve")]
    # Signed by the gateway for the key's person: the workflow checked and kept each proof.
    assert [(d.proof and d.proof.approver) for d in decisions] == ["omar", "sofia"]
    assert (await gw.content.state(cid)).refused_decisions == []

    await eventually(lambda: _left_review(gw, cid), what="the item to leave review")
    r = await decide(gw, cid, "omar")
    assert r.status_code == 409 and error(r)["code"] in ("not_waiting_for_decisions", "already_decided")
    r = await decide(gw, "no-such-item", "omar", revision=1)
    assert r.status_code == 404


async def _left_review(gw: Gateway, cid: str) -> bool:
    return (await gw.content.state(cid)).stage.value != "in_review"


async def test_revisions_are_the_authors_and_retract(gw: Gateway) -> None:
    cid = await submitted_in_review(gw)
    r = await decide(gw, cid, "omar", kind="request_changes", comment="Shorter intro")
    assert r.status_code == 200 and r.json()["outcome"] == "changes_requested"
    await wait_stage(gw, cid, "changes_requested")

    url = f"/v1/content/{cid}/revisions"
    r = await gw.http.post(url, json={"body": "New body"}, headers=gw.auth("omar"))
    assert r.status_code == 403 and error(r)["code"] == "not_the_author"
    r = await gw.http.post(url, json={"note": "nothing changed"}, headers=gw.auth("maya"))
    assert r.status_code == 422 and error(r)["code"] == "invalid_revision"
    r = await gw.http.post(url, json={"author": "omar", "body": "x"}, headers=gw.auth("maya"))
    assert r.status_code == 422 and error(r)["message"].startswith("author:")
    new_body = BODY.format(link=f"{gw.sandbox_url}/_links/ok/guide") + "\n\nShorter."
    r = await gw.http.post(url, json={"body": new_body, "note": "shorter"}, headers=gw.auth("maya"))
    assert r.status_code == 200 and r.json() == {"content_id": cid, "revision": 2}

    view = await wait_stage(gw, cid, "in_review")
    assert view["revision"] == 2
    r = await gw.http.post(url, json={"body": new_body}, headers=gw.auth("maya"))
    assert r.status_code == 409 and error(r)["code"] == "no_revision_expected"
    r = await decide(gw, cid, "sofia", revision=1)
    assert r.status_code == 409 and error(r)["code"] == "stale_revision"
    r = await gw.http.post(f"/v1/content/{cid}/retract", json={"reason": "too early"}, headers=gw.auth("maya"))
    assert r.status_code == 409 and error(r)["code"] == "nothing_to_retract"
    for who in ("sofia", "omar"):
        assert (await decide(gw, cid, who, revision=2)).status_code == 200
    await wait_stage(gw, cid, "published")

    retract = f"/v1/content/{cid}/retract"
    r = await gw.http.post(retract, json={"reason": "wrong date"}, headers=gw.auth("raj"))
    assert r.status_code == 403 and error(r)["code"] == "may_not_retract"
    r = await gw.http.post(retract, json={}, headers=gw.auth("maya"))
    assert r.status_code == 422 and error(r)["message"].startswith("reason:")
    r = await gw.http.post(retract, json={"reason": "wrong date"}, headers=gw.auth("maya"))
    assert r.status_code == 202 and r.json() == {"content_id": cid, "retract_requested": True}
    await wait_stage(gw, cid, "retracted")
