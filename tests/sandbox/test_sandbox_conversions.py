"""The conversion endpoints of the Meta and Google Ads stand-ins: shapes, refusals, dedup."""

from __future__ import annotations

import hashlib
import time

import pytest

META_EVENTS = "/v21.0/1234567890123456/events"
GOOGLE_UPLOAD = "/v18/customers/1234567890:uploadClickConversions"
ACTION = "customers/1234567890/conversionActions/987654321"
EM = hashlib.sha256(b"ada@example.com").hexdigest()
FBC = "fb.1.1700000000000.IwAR2abcdefghijk"


def meta_event(**over):
    event = {
        "event_name": "mql",
        "event_time": int(time.time()) - 60,
        "event_id": "lead-1-mql-0",
        "action_source": "system_generated",
        "user_data": {"em": [EM], "fbc": FBC},
    }
    return {**event, **over}


def click(**over):
    conversion = {
        "gclid": "Cj0KCQiA1234567890abc",
        "conversionAction": ACTION,
        "conversionDateTime": "2025-03-01 10:00:00+00:00",
        "orderId": "lead-1-mql-0",
    }
    return {**conversion, **over}


async def test_meta_event_is_kept_once_per_event_name_and_id(http, auth, admin):
    for _ in range(2):
        r = await http.post(META_EVENTS, headers=auth["meta"], json={"data": [meta_event()]})
        assert r.status_code == 200, r.text
        assert r.json()["events_received"] == 1
    other = await http.post(META_EVENTS, headers=auth["meta"], json={"data": [meta_event(event_name="converted")]})
    assert other.status_code == 200
    kept = await admin.conversions()
    assert [(e["event_name"], e["event_id"]) for e in kept["meta"]] == [
        ("mql", "lead-1-mql-0"),
        ("converted", "lead-1-mql-0"),
    ]
    assert kept["deduplicated"]["meta"] == 1


# Each event is built when its test runs, not when the module is collected: an event_time an
# hour ahead of collection is no longer in the future once the suite has run for an hour.
@pytest.mark.parametrize(
    ("event", "field"),
    [
        (lambda: meta_event(user_data={"em": ["ada@example.com"]}), "user_data.em"),
        (lambda: meta_event(user_data={"em": [EM.upper()]}), "user_data.em"),
        (lambda: meta_event(event_time=int(time.time()) + 3600), "event_time"),
        (lambda: meta_event(event_time=int(time.time()) - 8 * 86400), "event_time"),
        (lambda: meta_event(action_source="crm"), "action_source"),
        (lambda: meta_event(action_source="website"), "event_source_url"),
        (lambda: meta_event(user_data={"fbc": "IwAR2abcdefghijk"}), "user_data.fbc"),
        (lambda: meta_event(user_data={}), "user_data"),
        (lambda: {k: v for k, v in meta_event().items() if k != "event_name"}, "event_name"),
        (lambda: meta_event(custom_data={"value": 10}), "custom_data.currency"),
    ],
)
async def test_meta_refuses_bad_events_naming_the_field(http, auth, admin, event, field):
    r = await http.post(META_EVENTS, headers=auth["meta"], json={"data": [event()]})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == 100
    assert error["error_user_msg"].startswith(f"data[0].{field}:"), error
    assert (await admin.conversions())["meta"] == []


async def test_meta_unknown_pixel_and_empty_data(http, auth, admin):
    r = await http.post("/v21.0/999999999/events", headers=auth["meta"], json={"data": [meta_event()]})
    assert r.status_code == 400 and r.json()["error"]["error_subcode"] == 33
    r = await http.post(META_EVENTS, headers=auth["meta"], json={"data": []})
    assert r.status_code == 400


async def test_google_keeps_a_click_conversion_and_refuses_its_repeat(http, auth, admin):
    body = {"conversions": [click()], "partialFailure": True}
    first = await http.post(GOOGLE_UPLOAD, headers=auth["google_ads"], json=body)
    assert first.status_code == 200, first.text
    assert "partialFailureError" not in first.json()
    assert first.json()["results"][0]["gclid"] == "Cj0KCQiA1234567890abc"

    again = await http.post(GOOGLE_UPLOAD, headers=auth["google_ads"], json=body)
    assert again.status_code == 200
    answer = again.json()
    assert answer["results"] == [{}]
    codes = [e["errorCode"] for e in answer["partialFailureError"]["details"][0]["errors"]]
    assert codes == [{"conversionUploadError": "CLICK_CONVERSION_ALREADY_EXISTS"}]

    # Another time for the same order id of the action: Google refuses it too.
    later = {"conversions": [click(conversionDateTime="2025-03-01 11:00:00+00:00")], "partialFailure": True}
    errors = (await http.post(GOOGLE_UPLOAD, headers=auth["google_ads"], json=later)).json()["partialFailureError"]
    assert errors["details"][0]["errors"][0]["errorCode"] == {"conversionUploadError": "ORDER_ID_ALREADY_IN_USE"}

    kept = await admin.conversions()
    assert len(kept["google_ads"]) == 1 and kept["google_ads"][0]["orderId"] == "lead-1-mql-0"
    assert kept["deduplicated"]["google_ads"] == 2


async def test_google_requires_partial_failure(http, auth, admin):
    r = await http.post(GOOGLE_UPLOAD, headers=auth["google_ads"], json={"conversions": [click()]})
    assert r.status_code == 400
    error = r.json()["error"]["details"][0]["errors"][0]
    assert error["errorCode"] == {"partialFailureError": "PARTIAL_FAILURE_MODE_REQUIRED"}
    assert (await admin.conversions())["google_ads"] == []


@pytest.mark.parametrize(
    ("conversion", "code", "field"),
    [
        (
            click(conversionDateTime="2025-03-01T10:00:00Z"),
            {"dateError": "INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET"},
            "conversion_date_time",
        ),
        (
            click(conversionAction="customers/1234567890/conversionActions/1"),
            {"conversionUploadError": "NO_CONVERSION_ACTION_FOUND"},
            "conversion_action",
        ),
        ({k: v for k, v in click().items() if k != "gclid"}, {"requestError": "REQUIRED_FIELD_MISSING"}, "gclid"),
        (click(gclid="not a click id!"), {"conversionUploadError": "UNPARSEABLE_GCLID"}, "gclid"),
        (click(conversionValue=10.0, currencyCode="euro"), {"fieldError": "INVALID_VALUE"}, "currency_code"),
    ],
)
async def test_google_refuses_a_bad_conversion_located_at_its_field(http, auth, admin, conversion, code, field):
    r = await http.post(
        GOOGLE_UPLOAD, headers=auth["google_ads"], json={"conversions": [conversion], "partialFailure": True}
    )
    assert r.status_code == 200
    error = r.json()["partialFailureError"]["details"][0]["errors"][0]
    assert error["errorCode"] == code
    assert error["location"]["fieldPathElements"] == [{"fieldName": "conversions", "index": 0}, {"fieldName": field}]
    assert (await admin.conversions())["google_ads"] == []
