"""REST /v1/imports over real HTTP: a CSV upload validated, staged and imported by the
real workers; its progress and report read back; the same file again a no-op."""

from __future__ import annotations

import uuid

from domain.consent import Purpose
from tests.conftest import eventually
from tests.gateway.conftest import Gateway
from tests.gateway.test_rest_leads import error

CSV = {"content-type": "text/csv"}


def params(**extra: str) -> dict[str, str]:
    return {"journey": "default-nurture", "map": "email=Email,first_name=First", "consent_source": "api list", **extra}


async def test_upload_imports_the_good_rows_and_reports_the_rest(gw: Gateway) -> None:
    tag = uuid.uuid4().hex[:8]
    ada, bob = f"ada.{tag}@acme.example", f"bob.{tag}@acme.example"
    body = f"Email,First\n{ada},Ada\nnobody,No\n{bob},Bob\n".encode()
    r = await gw.http.post("/v1/imports", params=params(rate="50"), content=body, headers={**gw.auth("ingest"), **CSV})
    assert r.status_code == 202, r.text
    started = r.json()
    assert (started["accepted"], started["rejected"], started["already_imported"]) == (2, 1, False)
    import_id = started["import_id"]
    assert import_id.startswith("import-default-nurture-")

    async def finished():
        s = await gw.http.get(f"/v1/imports/{import_id}", headers=gw.auth("reader"))
        assert s.status_code == 200, s.text
        return s.json()["finished"] and s.json()

    status = await eventually(finished, what="the import to finish")
    assert status["progress"]["counts"] == {"cursor": 3, "captured": 2, "started": 2, "touched": 0, "refused": 0}
    assert status["rejections"] == [{"row": 2, "reason": "email: 'n***' is not a valid email address"}]
    assert "nobody" not in str(status)
    st = await gw.leads.state(email=bob)
    assert st.consents[Purpose.EMAIL_MARKETING].source == "capture:import:api list"

    again = await gw.http.post("/v1/imports", params=params(), content=body, headers={**gw.auth("ingest"), **CSV})
    assert again.status_code == 202 and again.json()["already_imported"] is True, again.text
    assert (await gw.leads.state(email=ada)).touches == 1


async def test_upload_refusals(gw: Gateway) -> None:
    body = b"Email,First\nada@acme.example,Ada\n"
    h = {**gw.auth("ingest"), **CSV}
    r = await gw.http.post("/v1/imports", params=params(map="email=Mail"), content=body, headers=h)
    assert r.status_code == 422 and error(r) == {
        "code": "invalid_input",
        "message": "map: column 'Mail' is not in the file's header (Email, First)",
    }
    r = await gw.http.post("/v1/imports", params=params(journey="no-such-journey"), content=body, headers=h)
    assert r.status_code == 422 and error(r)["message"].startswith("journey: "), r.text
    r = await gw.http.post(
        "/v1/imports", params=params(), content=body, headers={**gw.auth("ingest"), "content-type": "application/json"}
    )
    assert r.status_code == 415 and error(r)["code"] == "unsupported_media_type"
    r = await gw.http.post("/v1/imports", params=params(), content=body, headers={**gw.auth("reader"), **CSV})
    assert r.status_code == 403
    r = await gw.http.get(f"/v1/imports/import-default-nurture-{'0' * 32}", headers=gw.auth("reader"))
    assert r.status_code == 404 and error(r)["code"] == "import_not_found"
