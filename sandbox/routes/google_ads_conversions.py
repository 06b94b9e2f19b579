"""Google Ads click conversions (`POST /v<N>/customers/{id}:uploadClickConversions`).

The body is `{"conversions": [...], "partialFailure": true, "validateOnly": false}`;
`partialFailure` must be true (Google requires it for conversion uploads: otherwise
`partialFailureError.PARTIAL_FAILURE_MODE_REQUIRED`, the whole request refused). Up to
2,000 conversions. Each needs exactly one of `gclid`, `gbraid`, `wbraid`, a
`conversionAction` resource name of this customer that exists, and `conversionDateTime`
as `yyyy-mm-dd hh:mm:ss+|-hh:mm`; `currencyCode`, when given, is an ISO 4217 code.

A conversion that fails leaves an empty result and an error in `partialFailureError`
(a google.rpc.Status with a GoogleAdsFailure, located at `conversions[i].<field>`);
the others are kept. Duplicates as Google has them: the same click, action and time as
a kept conversion is CLICK_CONVERSION_ALREADY_EXISTS, the same `orderId` for the action
ORDER_ID_ALREADY_IN_USE, a repeat inside one request DUPLICATE_CLICK_CONVERSION_IN_REQUEST.
Kept conversions are in `Store.click_conversions`; `/_sandbox/conversions` shows them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends

from sandbox.platforms import google_ads_failure, trace_id
from sandbox.routes.google_ads import _check_customer, ads_error, failure
from sandbox.state import SandboxState, get_state

router = APIRouter()

MAX_CONVERSIONS = 2000
CLICK_FIELDS = ("gclid", "gbraid", "wbraid")
_CLICK_ID = re.compile(r"[A-Za-z0-9_-]{10,512}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}")
DATE_TIME_MESSAGE = "The string date time's format should be yyyy-mm-dd hh:mm:ss+|-hh:mm."


class ConversionError(Exception):
    def __init__(self, kind: str, value: str, message: str, field: str) -> None:
        super().__init__(message)
        self.kind, self.value, self.message, self.field = kind, value, message, field

    def located(self, index: int) -> dict[str, Any]:
        elements = [{"fieldName": "conversions", "index": index}, {"fieldName": self.field}]
        return {**failure(self.kind, self.value, self.message), "location": {"fieldPathElements": elements}}


def _upload_error(value: str, message: str, field: str) -> ConversionError:
    return ConversionError("conversionUploadError", value, message, field)


def check_conversion(conversion: Any, customer_id: str, action: str) -> tuple[str, str]:
    """(click field, click id) of a well-formed conversion; ConversionError otherwise."""
    if not isinstance(conversion, dict):
        raise ConversionError("requestError", "INVALID_INPUT", "Each conversion must be an object.", "conversions")
    clicks = [f for f in CLICK_FIELDS if conversion.get(f)]
    if not clicks:
        raise ConversionError(
            "requestError", "REQUIRED_FIELD_MISSING", "One of gclid, gbraid or wbraid is required.", "gclid"
        )
    if "gbraid" in clicks and "wbraid" in clicks:
        raise _upload_error("GBRAID_WBRAID_BOTH_SET", "Only one of gbraid and wbraid may be set.", "wbraid")
    if len(clicks) > 1:
        raise ConversionError(
            "fieldError", "VALUE_MUST_BE_UNSET", "Only one of gclid, gbraid or wbraid may be set.", clicks[1]
        )
    field = clicks[0]
    click_id = conversion[field]
    if not isinstance(click_id, str) or not _CLICK_ID.fullmatch(click_id):
        value = "UNPARSEABLE_GCLID" if field == "gclid" else "UNPARSEABLE_WBRAID_OR_GBRAID"
        raise _upload_error(value, f"The imported {field} could not be decoded.", field)
    wanted = conversion.get("conversionAction")
    if not isinstance(wanted, str) or not wanted:
        raise ConversionError(
            "requestError", "REQUIRED_FIELD_MISSING", "conversionAction is required.", "conversion_action"
        )
    if wanted != action or not wanted.startswith(f"customers/{customer_id}/"):
        raise _upload_error(
            "NO_CONVERSION_ACTION_FOUND",
            "The conversion action specified in the upload request cannot be found. Make sure it's available "
            "in this account.",
            "conversion_action",
        )
    when = conversion.get("conversionDateTime")
    if not isinstance(when, str) or not _DATE_TIME.fullmatch(when):
        raise ConversionError(
            "dateError", "INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET", DATE_TIME_MESSAGE, "conversion_date_time"
        )
    try:
        datetime.strptime(when, "%Y-%m-%d %H:%M:%S%z")
    except ValueError:
        raise ConversionError(
            "dateError", "INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET", DATE_TIME_MESSAGE, "conversion_date_time"
        ) from None
    if "conversionValue" in conversion:
        value = conversion["conversionValue"]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConversionError(
                "fieldError", "INVALID_VALUE", "conversionValue must be a number.", "conversion_value"
            )
    if "currencyCode" in conversion:  # without one, the account's currency applies
        currency = conversion["currencyCode"]
        if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
            raise ConversionError(
                "fieldError", "INVALID_VALUE", "currencyCode must be an ISO 4217 code.", "currency_code"
            )
    order_id = conversion.get("orderId")
    if order_id is not None and (not isinstance(order_id, str) or not order_id or len(order_id) > 100):
        raise ConversionError("fieldError", "INVALID_VALUE", "orderId must be 1 to 100 characters.", "order_id")
    return field, click_id


@router.post("/{version:ads_version}/customers/{customer_id}:uploadClickConversions")
async def upload_click_conversions(
    version: str, customer_id: str, body: Any = Body(None), state: SandboxState = Depends(get_state)
) -> dict[str, Any]:
    _check_customer(state, customer_id, version)
    body = body if isinstance(body, dict) else {}
    if body.get("partialFailure") is not True:
        raise ads_error(
            400,
            [
                failure(
                    "partialFailureError",
                    "PARTIAL_FAILURE_MODE_REQUIRED",
                    "The partial failure field was false in the request. This method requires this field be set "
                    "to true.",
                )
            ],
            version,
        )
    conversions = body.get("conversions")
    if not isinstance(conversions, list) or not conversions:
        raise ads_error(400, [failure("requestError", "REQUIRED_FIELD_MISSING", "conversions is required.")], version)
    if len(conversions) > MAX_CONVERSIONS:
        raise ads_error(
            400,
            [failure("conversionUploadError", "TOO_MANY_CONVERSIONS_IN_REQUEST", "Upload fewer than 2001 events.")],
            version,
        )
    store, action = state.store, state.tokens.google_ads_conversion_action
    validate_only = body.get("validateOnly") is True
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    in_request: set[tuple[str, str, str]] = set()
    for i, conversion in enumerate(conversions):
        try:
            field, click_id = check_conversion(conversion, customer_id, action)
            click = (click_id, conversion["conversionAction"], conversion["conversionDateTime"])
            if click in in_request:
                raise _upload_error(
                    "DUPLICATE_CLICK_CONVERSION_IN_REQUEST",
                    "This event is a duplicate of another event in the same request.",
                    field,
                )
            for kept in store.click_conversions:
                if (kept["clickId"], kept["conversionAction"], kept["conversionDateTime"]) == click:
                    raise _upload_error(
                        "CLICK_CONVERSION_ALREADY_EXISTS",
                        "The imported event has the same click and conversion_date_time as an existing conversion.",
                        field,
                    )
                order = conversion.get("orderId")
                if order and kept.get("orderId") == order and kept["conversionAction"] == click[1]:
                    raise _upload_error(
                        "ORDER_ID_ALREADY_IN_USE",
                        "The order ID was already used for a conversion of this conversion action.",
                        "order_id",
                    )
        except ConversionError as err:
            errors.append(err.located(i))
            results.append({})
            if err.value in ("CLICK_CONVERSION_ALREADY_EXISTS", "ORDER_ID_ALREADY_IN_USE"):
                store.count_replay("google_ads")
            continue
        in_request.add(click)
        if not validate_only:
            store.click_conversions.append(
                {"customerId": customer_id, "clickField": field, "clickId": click_id, **conversion}
            )
            store.record("google_ads", "conversion.upload", conversion.get("orderId"), {"conversionAction": click[1]})
        results.append({field: click_id, "conversionAction": click[1], "conversionDateTime": click[2]})
    answer: dict[str, Any] = {
        "jobId": str(len(store.click_conversions) + 1000),
        "results": [] if validate_only else results,
    }
    if errors:
        first = errors[0]["message"]
        where = ".".join(
            f"{e['fieldName']}[{e['index']}]" if "index" in e else e["fieldName"]
            for e in errors[0]["location"]["fieldPathElements"]
        )
        answer["partialFailureError"] = {
            "code": 3,
            "message": (
                f"Multiple errors in ‘details’. First error: {first}, at {where}"
                if len(errors) > 1
                else f"{first}, at {where}"
            ),
            "details": [{**google_ads_failure(errors, version), "requestId": trace_id()}],
        }
    return answer
