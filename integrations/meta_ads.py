"""Meta Marketing API client (Graph API, `/v21.0/...`): campaigns, ad sets, insights.

Auth is an OAuth bearer token (a system user's token in production). Budgets are
integers in the account currency's minor units (`daily_budget=2000` is 20.00 EUR); the
Graph API sends them back as strings, the models here hold ints. Campaigns carry no
budget: each ad set has its own daily budget, and budget changes set absolute values.

Meta has no idempotency keys, so creates are meant to be guarded by a lookup by name
(`find_campaign`, `find_ad_set`) in the caller. Deleting something that is already gone
answers (#100) subcode 33 "does not exist": `delete` then returns False, so a teardown
can be retried.

Errors: `code` is Meta's error code, with the subcode when there is one (`"100/33"`,
`"100/1885272"` budget too low, `"190"` bad token). Throttling (codes 4, 17, 32, 613 and
80000-80014) is `RateLimited` whatever the HTTP status (Meta answers it with 400), and
waits for the largest `estimated_time_to_regain_access` (minutes) in
`X-Business-Use-Case-Usage`, else `X-Ad-Account-Usage`'s `reset_time_duration`, else
`Retry-After`. `is_transient`, codes 1 and 2, and 5xx are `PlatformUnavailable`;
everything else (190 included) is `PlatformRejected`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from pydantic import BaseModel

from integrations.errors import PlatformError, PlatformRejected, PlatformUnavailable, RateLimited
from integrations.http import PlatformClient, json_body, retry_after_header

META_API_VERSION = "v21.0"
THROTTLING_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
TRANSIENT_CODES = frozenset({1, 2})
PAGE_LIMIT = 100
CAMPAIGN_FIELDS = "id,name,status,effective_status"
AD_SET_FIELDS = "id,name,campaign_id,status,effective_status,daily_budget"
INSIGHT_FIELDS = "spend,impressions,clicks,actions,action_values"


class MetaAccount(BaseModel):
    id: str
    currency: str
    timezone_name: str | None = None


class MetaCampaign(BaseModel):
    id: str
    name: str
    status: str
    effective_status: str | None = None


class MetaAdSet(BaseModel):
    id: str
    name: str
    campaign_id: str
    status: str
    effective_status: str | None = None
    daily_budget: int  # minor units of the account currency


class MetaInsightRow(BaseModel):
    day: date
    spend: Decimal  # major units ("12.34")
    impressions: int
    clicks: int
    conversions: int
    conversion_value: Decimal


class MetaCampaignDay(MetaInsightRow):
    """One campaign's insights for one day (account-level reporting)."""

    campaign_id: str
    campaign_name: str


class MetaAdsClient(PlatformClient):
    platform = "meta"

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        ad_account_id: str,
        api_version: str = META_API_VERSION,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`ad_account_id` with or without the `act_` prefix."""
        super().__init__(base_url, token, timeout=timeout, transport=transport)
        self.ad_account_id = f"act_{ad_account_id.removeprefix('act_')}"
        self._prefix = f"/{api_version}"

    # the ad account

    async def account(self) -> MetaAccount:
        """The ad account's id, currency and time zone."""
        body = await self._json("GET", self._path(self.ad_account_id), params={"fields": "id,currency,timezone_name"})
        return MetaAccount.model_validate(body)

    # campaigns

    async def find_campaign(self, name: str) -> MetaCampaign | None:
        """The campaign with exactly this name that is not deleted, if any."""
        params = {"fields": CAMPAIGN_FIELDS, "filtering": _name_filter(name)}
        async for item in self._pages(self._path(self.ad_account_id, "campaigns"), params):
            if item.get("name") == name and item.get("effective_status") != "DELETED":
                return MetaCampaign.model_validate(item)
        return None

    async def create_campaign(self, *, name: str, objective: str, status: str = "PAUSED") -> str:
        """Create a campaign (no special ad categories); return its id."""
        payload = {"name": name, "objective": objective, "status": status, "special_ad_categories": []}
        body = await self._json("POST", self._path(self.ad_account_id, "campaigns"), json=payload)
        return str(body["id"])

    async def get_campaign(self, campaign_id: str) -> MetaCampaign:
        body = await self._json("GET", self._path(campaign_id), params={"fields": CAMPAIGN_FIELDS})
        return MetaCampaign.model_validate(body)

    async def set_status(self, object_id: str, status: str) -> None:
        """Set a campaign's or ad set's status: ACTIVE or PAUSED."""
        await self._json("POST", self._path(object_id), json={"status": status})

    async def delete(self, object_id: str) -> bool:
        """Delete a campaign (with its ad sets) or an ad set; False when it was already gone."""
        try:
            await self._json("DELETE", self._path(object_id))
        except PlatformRejected as err:
            if err.code == "100/33":
                return False
            raise
        return True

    # ad sets

    async def find_ad_set(self, campaign_id: str, name: str) -> MetaAdSet | None:
        """The campaign's ad set with exactly this name that is not deleted, if any."""
        params = {"fields": AD_SET_FIELDS, "filtering": _name_filter(name)}
        async for item in self._pages(self._path(campaign_id, "adsets"), params):
            if item.get("name") == name and item.get("effective_status") != "DELETED":
                return _ad_set(item)
        return None

    async def create_ad_set(
        self,
        *,
        campaign_id: str,
        name: str,
        daily_budget: int,
        countries: list[str],
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        status: str = "PAUSED",
    ) -> str:
        """Create an ad set paying per impression for link clicks in `countries`; return its id.
        `daily_budget` is in minor units; naive times are taken as UTC."""
        payload: dict[str, Any] = {
            "name": name,
            "campaign_id": campaign_id,
            "daily_budget": daily_budget,
            "billing_event": "IMPRESSIONS",
            "optimization_goal": "LINK_CLICKS",
            "targeting": {"geo_locations": {"countries": list(countries)}},
            "status": status,
        }
        if start_time is not None:
            payload["start_time"] = _graph_time(start_time)
        if end_time is not None:
            payload["end_time"] = _graph_time(end_time)
        body = await self._json("POST", self._path(self.ad_account_id, "adsets"), json=payload)
        return str(body["id"])

    async def get_ad_set(self, ad_set_id: str) -> MetaAdSet:
        return _ad_set(await self._json("GET", self._path(ad_set_id), params={"fields": AD_SET_FIELDS}))

    async def set_daily_budget(self, ad_set_id: str, daily_budget: int) -> None:
        """Set the ad set's daily budget (absolute, minor units)."""
        await self._json("POST", self._path(ad_set_id), json={"daily_budget": daily_budget})

    # insights

    async def insights(
        self, campaign_id: str, *, since: date, until: date, conversion_action: str = "lead"
    ) -> list[MetaInsightRow]:
        """Daily rows for the campaign (days without delivery have none); conversions are the
        `actions` of type `conversion_action`, their value its `action_values`."""
        params = {
            "fields": INSIGHT_FIELDS,
            "time_increment": "1",
            "level": "campaign",
            "time_range": json.dumps({"since": since.isoformat(), "until": until.isoformat()}),
        }
        rows = []
        async for item in self._pages(self._path(campaign_id, "insights"), params):
            rows.append(
                MetaInsightRow(
                    day=date.fromisoformat(item["date_start"]),
                    spend=_decimal(item.get("spend")),
                    impressions=int(item.get("impressions") or 0),
                    clicks=int(item.get("clicks") or 0),
                    conversions=int(_action_total(item.get("actions"), conversion_action)),
                    conversion_value=_action_total(item.get("action_values"), conversion_action),
                )
            )
        return rows

    async def account_insights(
        self, *, since: date, until: date, conversion_action: str = "lead"
    ) -> list[MetaCampaignDay]:
        """Daily rows of every campaign of the ad account (`/act_<id>/insights`, level
        campaign, every page followed), for reporting; deleted campaigns' days included."""
        params = {
            "fields": f"campaign_id,campaign_name,{INSIGHT_FIELDS}",
            "time_increment": "1",
            "level": "campaign",
            "time_range": json.dumps({"since": since.isoformat(), "until": until.isoformat()}),
        }
        rows = []
        async for item in self._pages(self._path(self.ad_account_id, "insights"), params):
            rows.append(
                MetaCampaignDay(
                    campaign_id=str(item.get("campaign_id") or ""),
                    campaign_name=str(item.get("campaign_name") or ""),
                    day=date.fromisoformat(item["date_start"]),
                    spend=_decimal(item.get("spend")),
                    impressions=int(item.get("impressions") or 0),
                    clicks=int(item.get("clicks") or 0),
                    conversions=int(_action_total(item.get("actions"), conversion_action)),
                    conversion_value=_action_total(item.get("action_values"), conversion_action),
                )
            )
        return rows

    # plumbing

    def _path(self, *parts: str) -> str:
        return "/".join((self._prefix, *parts))

    async def _pages(self, path: str, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Every item of a Graph list, following the `after` cursor while there is a `next` page."""
        params = {"limit": PAGE_LIMIT, **params}
        while True:
            body = await self._json("GET", path, params=params)
            for item in body.get("data") or []:
                yield item
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return
            params = {**params, "after": after}

    def _error(self, response: httpx.Response) -> PlatformError:
        """Read the Graph error body `{"error": {"message", "code", "error_subcode", "is_transient", ...}}`."""
        status = response.status_code
        body = json_body(response)
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        number = _int_or_none(error.get("code"))
        subcode = _int_or_none(error.get("error_subcode"))
        code = f"HTTP_{status}" if number is None else (f"{number}/{subcode}" if subcode else str(number))
        message = str(error.get("message") or response.reason_phrase or "error")
        if error.get("error_user_msg"):
            message = f"{message}: {error['error_user_msg']}"
        if number in THROTTLING_CODES or status == 429:
            retry_after = _usage_retry_after(response.headers)
            if retry_after is None:
                retry_after = retry_after_header(response.headers)
            return RateLimited(self.platform, status, code, message, retry_after=retry_after)
        if error.get("is_transient") is True or number in TRANSIENT_CODES or status >= 500:
            return PlatformUnavailable(
                self.platform, status, code, message, retry_after=retry_after_header(response.headers)
            )
        return PlatformRejected(self.platform, status, code, message)


def _name_filter(name: str) -> str:
    return json.dumps([{"field": "name", "operator": "EQUAL", "value": name}])


def _ad_set(item: dict[str, Any]) -> MetaAdSet:
    return MetaAdSet.model_validate({**item, "daily_budget": int(item.get("daily_budget") or 0)})


def _graph_time(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S%z")


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _action_total(actions: Any, action_type: str) -> Decimal:
    """The summed `value` of the entries of `action_type` in an actions list."""
    if not isinstance(actions, list):
        return Decimal(0)
    return sum(
        (_decimal(a.get("value")) for a in actions if isinstance(a, dict) and a.get("action_type") == action_type),
        Decimal(0),
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _usage_retry_after(headers: httpx.Headers) -> float | None:
    """Seconds until access comes back, from Meta's usage headers (None when they do not say)."""
    waits: list[float] = []
    try:
        usage = json.loads(headers.get("x-business-use-case-usage") or "{}")
    except ValueError:
        usage = {}
    for entries in usage.values() if isinstance(usage, dict) else []:
        for entry in entries if isinstance(entries, list) else []:
            minutes = entry.get("estimated_time_to_regain_access") if isinstance(entry, dict) else None
            if isinstance(minutes, int | float) and minutes > 0:
                waits.append(float(minutes) * 60)
    if waits:
        return max(waits)
    try:
        account = json.loads(headers.get("x-ad-account-usage") or "{}")
    except ValueError:
        return None
    reset = account.get("reset_time_duration") if isinstance(account, dict) else None
    return float(reset) if isinstance(reset, int | float) and reset > 0 else None
