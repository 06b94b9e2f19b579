"""Meta Marketing API client (Graph API, `/v21.0/...`): campaigns, ad sets, ad images,
ad creatives, ads, insights.

Auth is an OAuth bearer token (a system user's token in production). Budgets are
integers in the account currency's minor units (`daily_budget=2000` is 20.00 EUR); the
Graph API sends them back as strings, the models here hold ints. Campaigns carry no
budget: each ad set has its own daily budget, and budget changes set absolute values.

An ad runs a creative: link data (the page it runs as, the link, an uploaded image's
hash, text, a call to action) or an existing post of the page. Images are uploaded as
base64 bytes and named by their hash, so uploading the same image again makes nothing new.

Meta has no idempotency keys, so creates are meant to be guarded by a lookup by name
(`find_campaign`, `find_ad_set`, `find_creative`, `find_ad`) in the caller. Deleting something that is already gone
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

import base64
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from pydantic import BaseModel

from domain.lead_ads import LeadAdSubmission
from integrations.errors import PlatformError, PlatformRejected, PlatformUnavailable, RateLimited
from integrations.http import PlatformClient, TokenSource, json_body, retry_after_header

META_API_VERSION = "v21.0"
THROTTLING_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
TRANSIENT_CODES = frozenset({1, 2})
PAGE_LIMIT = 100
CAMPAIGN_FIELDS = "id,name,status,effective_status"
AD_SET_FIELDS = "id,name,campaign_id,status,effective_status,daily_budget"
CREATIVE_FIELDS = "id,name,status"
AD_FIELDS = "id,name,adset_id,campaign_id,status,effective_status,creative"
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


class MetaCreative(BaseModel):
    id: str
    name: str
    status: str


class MetaAd(BaseModel):
    id: str
    name: str
    adset_id: str
    campaign_id: str
    status: str
    effective_status: str | None = None
    creative_id: str


class MetaInsightRow(BaseModel):
    day: date
    spend: Decimal  # major units ("12.34")
    impressions: int
    clicks: int
    conversions: int
    conversion_value: Decimal


LEAD_FIELDS = "created_time,field_data,custom_disclaimer_responses,form_id,ad_id,adset_id,campaign_id,is_organic"


class MetaCampaignDay(MetaInsightRow):
    """One campaign's insights for one day (account-level reporting)."""

    campaign_id: str
    campaign_name: str


class MetaAdsClient(PlatformClient):
    platform = "meta"

    def __init__(
        self,
        base_url: str,
        token: str | TokenSource,
        *,
        ad_account_id: str,
        page_id: str | None = None,
        api_version: str = META_API_VERSION,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`ad_account_id` with or without the `act_` prefix; `page_id` is the Facebook page
        link ads run as (needed to make a link creative only)."""
        super().__init__(base_url, token, timeout=timeout, transport=transport)
        self.ad_account_id = f"act_{ad_account_id.removeprefix('act_')}"
        self.page_id = page_id
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
        """Set a campaign's, ad set's or ad's status: ACTIVE or PAUSED."""
        await self._json("POST", self._path(object_id), json={"status": status})

    async def delete(self, object_id: str) -> bool:
        """Delete a campaign (with its ad sets and ads), an ad set (with its ads), an ad or an
        ad creative; False when it was already gone."""
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
        age_min: int | None = None,
        age_max: int | None = None,
        interests: Sequence[str] = (),
        custom_audiences: Sequence[str] = (),
        publisher_platforms: Sequence[str] = (),
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        status: str = "PAUSED",
    ) -> str:
        """Create an ad set paying per impression for link clicks in `countries` (and the
        ages, interest ids, custom audience ids and placements given); return its id. `daily_budget` is
        in minor units; naive times are taken as UTC."""
        targeting: dict[str, Any] = {"geo_locations": {"countries": list(countries)}}
        if age_min is not None:
            targeting["age_min"] = age_min
        if age_max is not None:
            targeting["age_max"] = age_max
        if interests:
            targeting["interests"] = [{"id": i} for i in interests]
        if custom_audiences:
            targeting["custom_audiences"] = [{"id": i} for i in custom_audiences]
        if publisher_platforms:
            targeting["publisher_platforms"] = list(publisher_platforms)
        payload: dict[str, Any] = {
            "name": name,
            "campaign_id": campaign_id,
            "daily_budget": daily_budget,
            "billing_event": "IMPRESSIONS",
            "optimization_goal": "LINK_CLICKS",
            "targeting": targeting,
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

    # images, creatives, ads

    async def upload_image(self, data: bytes, *, name: str) -> str:
        """Upload a png or jpg; return its hash (the same bytes always get the same hash)."""
        payload = {"bytes": base64.b64encode(data).decode("ascii"), "name": name}
        body = await self._json("POST", self._path(self.ad_account_id, "adimages"), json=payload)
        images = body.get("images") if isinstance(body, dict) else None
        if not isinstance(images, dict) or len(images) != 1:
            raise PlatformRejected(self.platform, 200, "BAD_RESPONSE", f"adimages answered without one image: {body}")
        (image,) = images.values()
        return str(image["hash"])

    async def find_creative(self, name: str) -> MetaCreative | None:
        """The ad account's creative with exactly this name that is not deleted, if any."""
        params = {"fields": CREATIVE_FIELDS, "filtering": _name_filter(name)}
        async for item in self._pages(self._path(self.ad_account_id, "adcreatives"), params):
            if item.get("name") == name and item.get("status") != "DELETED":
                return MetaCreative.model_validate(item)
        return None

    async def create_link_creative(
        self,
        *,
        name: str,
        link: str,
        image_hash: str,
        message: str,
        headline: str,
        call_to_action: str,
        description: str | None = None,
    ) -> str:
        """A link ad's creative as the configured page: image, primary text, headline,
        optional description and a call-to-action button to `link`; return its id."""
        if not self.page_id:
            raise ValueError("a link creative needs the Facebook page it runs as (MOPS_META_PAGE_ID)")
        link_data: dict[str, Any] = {
            "link": link,
            "image_hash": image_hash,
            "message": message,
            "name": headline,
            "call_to_action": {"type": call_to_action, "value": {"link": link}},
        }
        if description is not None:
            link_data["description"] = description
        payload = {"name": name, "object_story_spec": {"page_id": self.page_id, "link_data": link_data}}
        body = await self._json("POST", self._path(self.ad_account_id, "adcreatives"), json=payload)
        return str(body["id"])

    async def create_post_creative(self, *, name: str, object_story_id: str) -> str:
        """A creative that runs an existing page post (`<page id>_<post id>`); return its id."""
        payload = {"name": name, "object_story_id": object_story_id}
        body = await self._json("POST", self._path(self.ad_account_id, "adcreatives"), json=payload)
        return str(body["id"])

    async def find_ad(self, ad_set_id: str, name: str) -> MetaAd | None:
        """The ad set's ad with exactly this name that is not deleted, if any."""
        params = {"fields": AD_FIELDS, "filtering": _name_filter(name)}
        async for item in self._pages(self._path(ad_set_id, "ads"), params):
            if item.get("name") == name and item.get("effective_status") != "DELETED":
                return _ad(item)
        return None

    async def create_ad(self, *, name: str, ad_set_id: str, creative_id: str, status: str = "PAUSED") -> str:
        """An ad in the ad set running the creative; return its id."""
        payload = {"name": name, "adset_id": ad_set_id, "creative": {"creative_id": creative_id}, "status": status}
        body = await self._json("POST", self._path(self.ad_account_id, "ads"), json=payload)
        return str(body["id"])

    async def get_ad(self, ad_id: str) -> MetaAd:
        return _ad(await self._json("GET", self._path(ad_id), params={"fields": AD_FIELDS}))

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

    # lead ads

    async def lead(self, leadgen_id: str) -> LeadAdSubmission:
        """One lead a page's instant form collected (the token needs `leads_retrieval`)."""
        body = await self._json("GET", self._path(leadgen_id), params={"fields": LEAD_FIELDS})
        try:
            submitted = datetime.strptime(str(body.get("created_time")), "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC)
        except ValueError:
            raise PlatformRejected(self.platform, 200, "BAD_LEAD", "the lead's created_time is not Graph's") from None
        return LeadAdSubmission(
            platform="meta",
            lead_id=str(body["id"]),
            form_id=str(body.get("form_id") or ""),
            submitted_at=submitted,
            answers={str(f["name"]): [str(v) for v in f.get("values") or []] for f in body.get("field_data") or []},
            checkboxes={
                str(c["checkbox_key"]): bool(c.get("is_checked"))
                for c in body.get("custom_disclaimer_responses") or []
                if c.get("checkbox_key")
            },
            ad_id=body.get("ad_id"),
            organic=bool(body.get("is_organic")),
        )

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

    def _token_refused(self, response: httpx.Response) -> bool:
        """Graph refuses an expired or invalidated token with error 190 (HTTP 400 or 401)."""
        body = json_body(response)
        error = body.get("error") if isinstance(body, dict) else None
        return isinstance(error, dict) and _int_or_none(error.get("code")) == 190

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


def _ad(item: dict[str, Any]) -> MetaAd:
    raw = item.get("creative")
    creative = raw if isinstance(raw, dict) else {}
    return MetaAd.model_validate({**item, "creative_id": str(creative.get("id") or "")})


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
