"""Google Ads click conversions: `POST /v<N>/customers/{id}:uploadClickConversions`.

The request is `{"conversions": [...], "partialFailure": true}` (Google requires partial
failure mode for conversion uploads); each conversion carries exactly one of `gclid`,
`gbraid`, `wbraid`, the `conversionAction` resource name, `conversionDateTime`
(`yyyy-mm-dd hh:mm:ss+hh:mm`), and optionally `conversionValue`, `currencyCode` and
`orderId`. A conversion that fails comes back as an empty result with its error in
`partialFailureError` (a `google.rpc.Status` whose details hold a GoogleAdsFailure): that
is raised as `PlatformRejected` with the error's code
(`conversionUploadError.CLICK_CONVERSION_ALREADY_EXISTS`), never taken as success.
"""

from __future__ import annotations

from typing import Any

from integrations.errors import PlatformRejected
from integrations.google_ads import GoogleAdsClient

# Google already holds this conversion: the same click, action and time, or the same order id.
ALREADY_EXISTS = frozenset(
    {
        "conversionUploadError.CLICK_CONVERSION_ALREADY_EXISTS",
        "conversionUploadError.ORDER_ID_ALREADY_IN_USE",
    }
)


class GoogleConversionsClient(GoogleAdsClient):
    async def upload_click_conversion(self, conversion: dict[str, Any]) -> dict[str, Any]:
        """Upload one click conversion; return Google's result for it."""
        body = await self._json(
            "POST",
            f"{self._prefix}:uploadClickConversions",
            json={"conversions": [conversion], "partialFailure": True},
        )
        body = body if isinstance(body, dict) else {}
        failure = body.get("partialFailureError")
        if isinstance(failure, dict) and failure:
            raise _partial_failure(self.platform, failure)
        results = body.get("results") or []
        if not results or not isinstance(results[0], dict) or not results[0]:
            raise PlatformRejected(self.platform, 200, "EMPTY_RESULT", "Google returned no result for the conversion")
        return results[0]


def _partial_failure(platform: str, status: dict[str, Any]) -> PlatformRejected:
    message = str(status.get("message") or "partial failure")
    code = "PARTIAL_FAILURE"
    for detail in status.get("details") or []:
        if not isinstance(detail, dict) or not str(detail.get("@type", "")).endswith("GoogleAdsFailure"):
            continue
        for error in detail.get("errors") or []:
            error_code = error.get("errorCode") if isinstance(error, dict) else None
            if isinstance(error_code, dict) and error_code:
                kind, value = next(iter(error_code.items()))
                code = f"{kind}.{value}"
                message = str(error.get("message") or message)
                break
        if code != "PARTIAL_FAILURE":
            break
    return PlatformRejected(platform, 200, code, message)
