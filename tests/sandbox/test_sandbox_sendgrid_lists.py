"""SendGrid Marketing Campaigns lists in the sandbox: names unique, contacts join a list
only when their import job completes, an export is ready only after a status read and
is downloaded from signed urls, unknown lists are refused, and a triggered Single Send
reaches exactly the unsuppressed members of its lists, each with the whole message."""

from __future__ import annotations

import csv
import io


async def make_list(http, auth, name: str) -> str:
    r = await http.post("/v3/marketing/lists", json={"name": name}, headers=auth["sendgrid"])
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def until(http, auth, path: str, status: str) -> dict:
    for _ in range(5):
        body = (await http.get(path, headers=auth["sendgrid"])).json()
        if body["status"] == status:
            return body
    raise AssertionError(f"{path} never {status}: {body}")


async def add(http, auth, list_id: str, emails: list[str]) -> None:
    body = {"list_ids": [list_id], "contacts": [{"email": e} for e in emails]}
    r = await http.put("/v3/marketing/contacts", json=body, headers=auth["sendgrid"])
    assert r.status_code == 202, r.text
    job = f"/v3/marketing/contacts/imports/{r.json()['job_id']}"
    assert (await http.get(job, headers=auth["sendgrid"])).json()["status"] == "pending"
    await until(http, auth, job, "completed")


async def test_list_names_are_unique_and_lists_page(http, auth, admin) -> None:
    first = await make_list(http, auth, "Newsletter")
    again = await http.post("/v3/marketing/lists", json={"name": "Newsletter"}, headers=auth["sendgrid"])
    assert again.status_code == 400 and again.json()["errors"][0]["field"] == "name"
    for n in range(3):
        await make_list(http, auth, f"other {n}")
    page = (await http.get("/v3/marketing/lists", params={"page_size": 2}, headers=auth["sendgrid"])).json()
    assert [x["id"] for x in page["result"]][0] == first and "page_token=2" in page["_metadata"]["next"]
    bad = await http.get("/v3/marketing/lists", params={"page_size": 1001}, headers=auth["sendgrid"])
    assert bad.status_code == 400


async def test_members_join_when_the_import_completes_and_export_in_csv(http, auth, admin) -> None:
    list_id = await make_list(http, auth, "Launch")
    r = await http.put(
        "/v3/marketing/contacts",
        json={"list_ids": [list_id], "contacts": [{"email": "Ada@Example.com"}, {"email": "bob@example.com"}]},
        headers=auth["sendgrid"],
    )
    assert (await http.get(f"/v3/marketing/lists/{list_id}", headers=auth["sendgrid"])).json()["contact_count"] == 0
    await until(http, auth, f"/v3/marketing/contacts/imports/{r.json()['job_id']}", "completed")
    assert (await http.get(f"/v3/marketing/lists/{list_id}", headers=auth["sendgrid"])).json()["contact_count"] == 2

    made = await http.post("/v3/marketing/contacts/exports", json={"list_ids": [list_id]}, headers=auth["sendgrid"])
    assert made.status_code == 202
    path = f"/v3/marketing/contacts/exports/{made.json()['id']}"
    assert (await http.get(path, headers=auth["sendgrid"])).json()["status"] == "pending"
    ready = await until(http, auth, path, "ready")
    [url] = ready["urls"]
    forged = await http.get(url.split("?")[0] + "?sig=wrong")
    assert forged.status_code == 403, "the download link is signed"
    rows = list(csv.DictReader(io.StringIO((await http.get(url)).text)))
    assert sorted(r["EMAIL"] for r in rows) == ["ada@example.com", "bob@example.com"] and rows[0]["CONTACT_ID"]


async def test_unknown_lists_are_refused(http, auth, admin) -> None:
    r = await http.post("/v3/marketing/contacts/exports", json={"list_ids": ["nope"]}, headers=auth["sendgrid"])
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "list_ids"
    r = await http.put(
        "/v3/marketing/contacts",
        json={"list_ids": ["nope"], "contacts": [{"email": "a@example.com"}]},
        headers=auth["sendgrid"],
    )
    assert r.status_code == 404


async def test_a_triggered_single_send_reaches_the_unsuppressed_members(http, auth, admin) -> None:
    list_id = await make_list(http, auth, "Readers")
    await add(http, auth, list_id, ["ada@example.com", "bob@example.com", "cy@example.com"])
    r = await http.post(
        "/v3/asm/groups/4242/suppressions", json={"recipient_emails": ["bob@example.com"]}, headers=auth["sendgrid"]
    )
    assert r.status_code == 201
    single = {
        "name": "Spring #abc",
        "send_to": {"list_ids": [list_id]},
        "email_config": {
            "subject": "Spring",
            "html_content": '<p>Hi</p><a href="{{{unsubscribe}}}">unsubscribe</a>',
            "plain_content": "Hi. Unsubscribe: {{{unsubscribe}}}",
            "sender_id": 1,
            "suppression_group_id": 4242,
        },
    }
    made = (await http.post("/v3/marketing/singlesends", json=single, headers=auth["sendgrid"])).json()
    found = await http.post("/v3/marketing/singlesends/search", json={"name": "Spring #abc"}, headers=auth["sendgrid"])
    assert [s["id"] for s in found.json()["result"]] == [made["id"]]
    r = await http.put(
        f"/v3/marketing/singlesends/{made['id']}/schedule", json={"send_at": "now"}, headers=auth["sendgrid"]
    )
    assert r.status_code == 201
    delivered = await admin.effects("sendgrid", "singlesend.deliver")
    assert sorted(e["summary"]["to"][0] for e in delivered) == ["ada@example.com", "cy@example.com"]
    text, html = delivered[0]["summary"]["content"]
    assert text["type"] == "text/plain" and "{{{unsubscribe}}}" not in text["value"] + html["value"]
    assert "/unsubscribe/" in html["value"], "each recipient gets their own unsubscribe link"
