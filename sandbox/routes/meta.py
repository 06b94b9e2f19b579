"""Meta Marketing API (Graph API `/v<N>.0/...`): the ad account, campaigns, ad sets, ad
images, ad creatives, ads, insights.

`/act_<id>` is the ad account (read it; its `/campaigns`, `/adsets`, `/adimages`,
`/adcreatives` and `/ads` edges list and create); `/<object id>` is a campaign, ad set,
ad creative or ad (read with `?fields=`, update with POST, DELETE), with `/adsets`,
`/ads` and `/insights` edges. Parameters arrive as JSON, form fields
or query parameters, as the Graph API takes them (objects and lists as JSON text in a
form). Only the configured ad account answers; others get the (#200) permission error.

Lists are newest first and page with `limit` and the `after` cursor. Deleted objects
stay readable by id (status DELETED) but are left out of lists unless the request
filters on `effective_status`; deleting or updating one again is the 100/33 "does not
exist" error, like any unknown id. Deleting a campaign deletes its ad sets and their
ads, deleting an ad set its ads; a creative an ad still uses cannot be deleted. An ACTIVE
ad set under a PAUSED campaign has the effective status CAMPAIGN_PAUSED; an ACTIVE ad is
ADSET_PAUSED or CAMPAIGN_PAUSED when a parent is paused, and ACTIVE only when all three are.

Images are uploaded as base64 `bytes` (png or jpg) and named by their hash (the md5 of
the bytes), so the same image uploads once. A creative is link data (`object_story_spec`
with the configured page, a link, an uploaded image's hash, text and a call to action)
or an existing post of that page (`object_story_id`).

Insights are campaign-level and come from `sandbox.ads`: the campaign delivers on a day
when one of its ad sets is scheduled (start_time/end_time, UTC days) and it, the
campaign and at least one of its ads (with a creative) were ACTIVE per the ad set's
timeline; a campaign with ad sets but no running ad delivers nothing. Spend follows the
sum of the delivering ad sets' daily budgets. `time_range` is required (the sandbox does not know what day it
is); `time_increment=1` gives one row per day with delivery, else one row for the range.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal, overload
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from starlette.convertors import Convertor, register_url_convertor

from sandbox.ads import DayPerformance, day_performance, days, override_for, total
from sandbox.platforms import SandboxError
from sandbox.state import SandboxState, get_state
from sandbox.store import MetaAd, MetaAdSet, MetaCampaign, MetaCreative, MetaImage, Store, now_iso


class GraphVersion(Convertor[str]):
    regex = r"v\d+\.0"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("graph_version", GraphVersion())
router = APIRouter(prefix="/{version:graph_version}")

OBJECTIVES = (
    "OUTCOME_APP_PROMOTION",
    "OUTCOME_AWARENESS",
    "OUTCOME_ENGAGEMENT",
    "OUTCOME_LEADS",
    "OUTCOME_SALES",
    "OUTCOME_TRAFFIC",
)
SPECIAL_AD_CATEGORIES = (
    "NONE",
    "EMPLOYMENT",
    "HOUSING",
    "CREDIT",
    "ISSUES_ELECTIONS_POLITICS",
    "FINANCIAL_PRODUCTS_SERVICES",
)
STATUSES = ("ACTIVE", "PAUSED")
BILLING_EVENTS = ("IMPRESSIONS", "LINK_CLICKS", "THRUPLAY", "POST_ENGAGEMENT")
OPTIMIZATION_GOALS = (
    "LINK_CLICKS",
    "IMPRESSIONS",
    "REACH",
    "LANDING_PAGE_VIEWS",
    "LEAD_GENERATION",
    "OFFSITE_CONVERSIONS",
    "QUALITY_LEAD",
    "POST_ENGAGEMENT",
)
INSIGHT_FIELDS = (
    "spend",
    "impressions",
    "clicks",
    "actions",
    "action_values",
    "cpc",
    "cpm",
    "ctr",
    "campaign_id",
    "campaign_name",
    "account_id",
    "account_currency",
)
CONVERSION_ACTIONS = ("lead", "offsite_conversion.fb_pixel_lead")
MIN_DAILY_BUDGET = 100  # minor units: one euro a day
CAMPAIGN_IDS, ADSET_IDS = 120_210_000_000_000_000, 120_211_000_000_000_000
CREATIVE_IDS, AD_IDS = 120_212_000_000_000_000, 120_213_000_000_000_000
CALL_TO_ACTIONS = (
    "LEARN_MORE",
    "SIGN_UP",
    "DOWNLOAD",
    "SUBSCRIBE",
    "CONTACT_US",
    "APPLY_NOW",
    "GET_QUOTE",
    "GET_OFFER",
    "SHOP_NOW",
    "BUY_NOW",
    "ORDER_NOW",
    "BOOK_TRAVEL",
    "WATCH_MORE",
    "NO_BUTTON",
)
MAX_IMAGE_BYTES = 30 * 1024 * 1024
PUBLISHER_PLATFORMS = ("facebook", "instagram", "messenger", "audience_network")
TIMEZONE = "Europe/Berlin"
DEFAULT_LIMIT, MAX_LIMIT = 25, 5000
MAX_DAYS = 37 * 31
SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}
DOCS = "Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"


def graph_error(
    code: int,
    message: str,
    *,
    subcode: int | None = None,
    status: int = 400,
    title: str | None = None,
    user_msg: str | None = None,
    kind: str = "OAuthException",
) -> SandboxError:
    data: dict[str, Any] = {"type": kind}
    if subcode is not None:
        data["error_subcode"] = subcode
    if title:
        data["error_user_title"] = title
    if user_msg:
        data["error_user_msg"] = user_msg
    return SandboxError(status, str(code), message, data)


def missing(object_id: str, method: str = "get") -> SandboxError:
    """Graph's answer for an id it cannot find (or that is deleted, for POST and DELETE)."""
    return graph_error(
        100,
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be "
        f"loaded due to missing permissions, or does not support this operation. {DOCS}",
        subcode=33,
        kind="GraphMethodException",
    )


def invalid(message: str) -> SandboxError:
    return graph_error(100, f"(#100) {message}")


async def graph_params(request: Request) -> dict[str, Any]:
    """Query parameters plus a JSON or form body (`access_token` is the middleware's business)."""
    params: dict[str, Any] = {k: v for k, v in request.query_params.items() if k != "access_token"}
    body = await request.body()
    if body:
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                decoded = json.loads(body)
            except ValueError as exc:
                raise invalid("The request body is not valid JSON") from exc
            if not isinstance(decoded, dict):
                raise invalid("The request body must be a JSON object")
            params.update(decoded)
        else:
            params.update(parse_qsl(body.decode("utf-8", "replace")))
    params.pop("access_token", None)
    return params


def json_param(params: dict[str, Any], name: str) -> Any:
    """A parameter that is an object or list (JSON text when it came as a form field)."""
    value = params.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise invalid(f"Param {name} must be a JSON encoded object or array") from exc
    return value


def _int_param(params: dict[str, Any], name: str) -> int:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().lstrip("-").isdigit():
        raise invalid(f"Param {name} must be an integer")
    return int(value)


@overload
def _str_param(params: dict[str, Any], name: str, required: Literal[True] = True) -> str: ...
@overload
def _str_param(params: dict[str, Any], name: str, required: bool) -> str | None: ...
def _str_param(params: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = params.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"The parameter {name} is required")
    return value


def _enum_param(params: dict[str, Any], name: str, allowed: tuple[str, ...], default: str | None = None) -> str:
    value = params.get(name, default)
    if value is None:
        raise invalid(f"The parameter {name} is required")
    if value not in allowed:
        raise invalid(f"Param {name} must be one of {{{', '.join(allowed)}}}")
    return value


def _time_param(params: dict[str, Any], name: str) -> datetime | None:
    """ISO 8601 (naive means UTC) or a UNIX timestamp."""
    value = params.get(name)
    if value in (None, "", 0, "0"):
        return None
    try:
        if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
            return datetime.fromtimestamp(int(value), UTC)
        parsed = datetime.fromisoformat(str(value))
    except (ValueError, OverflowError, OSError) as exc:
        raise invalid(f"Param {name} must be a valid time (ISO 8601 or a UNIX timestamp)") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def graph_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S%z")


def _check_account(state: SandboxState, account_id: str) -> None:
    if account_id != state.tokens.meta_account_number:
        raise graph_error(200, "(#200) Requires ads_management permission to manage the object", status=403)


def _fields(params: dict[str, Any]) -> list[str]:
    return [f.strip() for f in str(params.get("fields") or "").split(",") if f.strip()]


def _select(view: dict[str, Any], params: dict[str, Any], node: str) -> dict[str, Any]:
    """`id` plus the requested fields (Graph leaves out fields without a value)."""
    selected = {"id": view["id"]}
    for name in _fields(params):
        if name not in view:
            raise invalid(f"Tried accessing nonexisting field ({name}) on node type ({node})")
        if view[name] is not None:
            selected[name] = view[name]
    return selected


# views


def campaign_view(campaign: MetaCampaign, account: str) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "account_id": account,
        "name": campaign.name,
        "objective": campaign.objective,
        "status": campaign.status,
        "configured_status": campaign.status,
        "effective_status": campaign.status,
        "special_ad_categories": campaign.special_ad_categories,
        "created_time": campaign.created_time,
        "buying_type": "AUCTION",
    }


def effective_status(store: Store, adset: MetaAdSet) -> str:
    campaign = store.meta_campaigns[adset.campaign_id]
    if adset.status == "DELETED" or campaign.status == "DELETED":
        return "DELETED"
    if adset.status == "ACTIVE" and campaign.status == "PAUSED":
        return "CAMPAIGN_PAUSED"
    return adset.status


def adset_view(store: Store, adset: MetaAdSet, account: str) -> dict[str, Any]:
    return {
        "id": adset.id,
        "account_id": account,
        "name": adset.name,
        "campaign_id": adset.campaign_id,
        "status": adset.status,
        "configured_status": adset.status,
        "effective_status": effective_status(store, adset),
        "daily_budget": str(adset.daily_budget),
        "billing_event": adset.billing_event,
        "optimization_goal": adset.optimization_goal,
        "targeting": adset.targeting,
        "start_time": graph_time(adset.start_time) if adset.start_time else None,
        "end_time": graph_time(adset.end_time) if adset.end_time else None,
        "created_time": adset.created_time,
    }


def ad_effective_status(store: Store, ad: MetaAd) -> str:
    adset = store.meta_adsets[ad.adset_id]
    campaign = store.meta_campaigns[ad.campaign_id]
    if "DELETED" in (ad.status, adset.status, campaign.status):
        return "DELETED"
    if ad.status == "ACTIVE" and campaign.status == "PAUSED":
        return "CAMPAIGN_PAUSED"
    if ad.status == "ACTIVE" and adset.status == "PAUSED":
        return "ADSET_PAUSED"
    return ad.status


def ad_view(store: Store, ad: MetaAd, account: str) -> dict[str, Any]:
    return {
        "id": ad.id,
        "account_id": account,
        "name": ad.name,
        "adset_id": ad.adset_id,
        "campaign_id": ad.campaign_id,
        "creative": {"id": ad.creative_id},
        "status": ad.status,
        "configured_status": ad.status,
        "effective_status": ad_effective_status(store, ad),
        "created_time": ad.created_time,
    }


def creative_view(creative: MetaCreative, account: str) -> dict[str, Any]:
    link = ((creative.object_story_spec or {}).get("link_data") or {}) if creative.object_story_spec else {}
    cta = link.get("call_to_action") or {}
    return {
        "id": creative.id,
        "account_id": account,
        "name": creative.name,
        "status": creative.status,
        "effective_status": creative.status,
        "object_story_spec": creative.object_story_spec,
        "object_story_id": creative.object_story_id,
        "effective_object_story_id": creative.object_story_id,
        "image_hash": link.get("image_hash"),
        "link_url": link.get("link"),
        "body": link.get("message"),
        "title": link.get("name"),
        "call_to_action_type": cta.get("type"),
    }


def image_view(image: MetaImage, account: str) -> dict[str, Any]:
    return {
        "id": f"{account}:{image.hash}",
        "account_id": account,
        "hash": image.hash,
        "name": image.name,
        "width": image.width,
        "height": image.height,
        "status": "ACTIVE",
        "url": f"https://scontent.sandbox.invalid/{image.hash}",
        "created_time": image.created_time,
    }


# lists


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"sandbox:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return int(text.removeprefix("sandbox:"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid("Invalid cursor") from exc


def page(request: Request, params: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    """Graph paging: `limit` items after the `after` cursor, with cursors and a `next` link."""
    limit = _int_param(params, "limit") if "limit" in params else DEFAULT_LIMIT
    if limit < 1:
        raise invalid("Param limit must be a positive integer")
    limit = min(limit, MAX_LIMIT)
    start = _offset(params["after"]) if params.get("after") else 0
    chunk = items[start : start + limit]
    if not chunk:
        return {"data": []}
    paging: dict[str, Any] = {"cursors": {"before": _cursor(start), "after": _cursor(start + len(chunk))}}
    if start + len(chunk) < len(items):
        paging["next"] = str(request.url.include_query_params(after=_cursor(start + len(chunk)), limit=limit))
    return {"data": chunk, "paging": paging}


_OPERATORS = {
    "EQUAL": lambda a, b: str(a) == str(b),
    "NOT_EQUAL": lambda a, b: str(a) != str(b),
    "CONTAIN": lambda a, b: str(b).casefold() in str(a).casefold(),
    "NOT_CONTAIN": lambda a, b: str(b).casefold() not in str(a).casefold(),
    "IN": lambda a, b: isinstance(b, list) and str(a) in [str(v) for v in b],
    "NOT_IN": lambda a, b: isinstance(b, list) and str(a) not in [str(v) for v in b],
}
_FILTER_FIELDS = ("id", "name", "effective_status", "configured_status", "campaign_id", "adset_id", "objective")


def filtered(params: dict[str, Any], views: list[dict[str, Any]], node: str) -> list[dict[str, Any]]:
    """Apply `filtering` (name/id/status/...; EQUAL, CONTAIN, IN, ...); deleted objects only
    when the filter is on effective_status."""
    rules = json_param(params, "filtering") or []
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise invalid("Param filtering must be an array of {field, operator, value} objects")
    checks = []
    for rule in rules:
        field = str(rule.get("field", "")).removeprefix(f"{node}.")
        operator = rule.get("operator")
        if field not in _FILTER_FIELDS:
            raise invalid(f"Filtering field '{rule.get('field')}' is invalid or not supported by the sandbox")
        if operator not in _OPERATORS:
            raise invalid(f"Filtering operator '{operator}' must be one of {{{', '.join(_OPERATORS)}}}")
        checks.append((field, _OPERATORS[operator], rule.get("value")))
    on_status = any(field == "effective_status" for field, _, _ in checks)
    return [
        view
        for view in views
        if (on_status or view["effective_status"] != "DELETED")
        and all(test(view[field], value) for field, test, value in checks)
    ]


def _listing(request: Request, params: dict[str, Any], views: list[dict[str, Any]], node: str) -> dict[str, Any]:
    for name in _fields(params):
        if views and name not in views[0]:
            raise invalid(f"Tried accessing nonexisting field ({name}) on node type ({node})")
    kept = filtered(params, sorted(views, key=lambda v: int(v["id"]), reverse=True), node.lower())
    return page(request, params, [_select(v, params, node) for v in kept])


# timelines


def running_ads(store: Store, adset: MetaAdSet) -> list[MetaAd]:
    """The ad set's ACTIVE ads whose creative is not deleted (what can deliver)."""
    return [
        ad
        for ad in store.meta_ads.values()
        if ad.adset_id == adset.id
        and ad.status == "ACTIVE"
        and store.meta_creatives[ad.creative_id].status != "DELETED"
    ]


def refresh(store: Store, adset: MetaAdSet) -> None:
    """Record the ad set's current delivery setting from its campaign's data day: it
    delivers only while it, its campaign and at least one of its ads are ACTIVE."""
    campaign = store.meta_campaigns[adset.campaign_id]
    active = adset.status == "ACTIVE" and campaign.status == "ACTIVE" and bool(running_ads(store, adset))
    adset.timeline.change(campaign.horizon, active, adset.daily_budget)


def scheduled(adset: MetaAdSet, day: date) -> bool:
    """Whether `day` (UTC) is within the ad set's start_time/end_time."""
    if adset.start_time and day < adset.start_time.astimezone(UTC).date():
        return False
    if adset.end_time:
        end = adset.end_time.astimezone(UTC)
        last = end.date() - timedelta(days=1) if end.time() == time(0) else end.date()
        if day > last:
            return False
    return True


def campaign_budget_on(store: Store, campaign: MetaCampaign, day: date) -> int:
    """The daily budget (minor units) of the campaign's ad sets delivering on `day`."""
    budget = 0
    for adset in store.meta_adsets.values():
        if adset.campaign_id == campaign.id and scheduled(adset, day):
            setting = adset.timeline.at(day)
            if setting is not None and setting.active:
                budget += setting.daily_budget
    return budget


def campaign_performance(state: SandboxState, campaign: MetaCampaign, day: date) -> DayPerformance:
    override = override_for(state.store.ads_overrides, "meta", campaign.name)
    return day_performance(
        "meta",
        campaign.name,
        day,
        campaign_budget_on(state.store, campaign, day),
        seed=state.tokens.ads_seed,
        override=override,
    )


def _budget_too_low(currency: str) -> SandboxError:
    minimum = f"{SYMBOLS.get(currency, currency + ' ')}{Decimal(MIN_DAILY_BUDGET) / 100:.2f}"
    return graph_error(
        100,
        "Invalid parameter",
        subcode=1885272,
        title="Your budget is too low",
        user_msg=f"The minimum budget for this ad set is {minimum} per day. Please edit your budget "
        "to enable delivery of your ads.",
    )


def _key(request: Request) -> str | None:
    return request.headers.get("idempotency-key")


# the ad account


@router.get("/act_{account_id}")
async def get_account(account_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    _check_account(state, account_id)
    view = {
        "id": f"act_{account_id}",
        "account_id": account_id,
        "name": "mops sandbox",
        "currency": state.tokens.meta_currency,
        "timezone_name": TIMEZONE,
        "account_status": 1,
    }
    return _select(view, await graph_params(request), "AdAccount")


@router.get("/act_{account_id}/campaigns")
async def list_campaigns(account_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    _check_account(state, account_id)
    views = [campaign_view(c, account_id) for c in state.store.meta_campaigns.values()]
    return _listing(request, await graph_params(request), views, "Campaign")


@router.post("/act_{account_id}/campaigns")
async def create_campaign(account_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    _check_account(state, account_id)
    params = await graph_params(request)
    name = _str_param(params, "name")
    objective = _enum_param(params, "objective", OBJECTIVES)
    status = _enum_param(params, "status", STATUSES, "ACTIVE")
    if "special_ad_categories" not in params:
        raise invalid("The parameter special_ad_categories is required")
    categories = json_param(params, "special_ad_categories")
    if not isinstance(categories, list) or any(c not in SPECIAL_AD_CATEGORIES for c in categories):
        raise invalid(f"Param special_ad_categories must be an array of {{{', '.join(SPECIAL_AD_CATEGORIES)}}}")
    store = state.store
    campaign = MetaCampaign(store.next_id(CAMPAIGN_IDS), name, objective, status, categories, now_iso())
    store.meta_campaigns[campaign.id] = campaign
    store.record(
        "meta",
        "campaign.create",
        _key(request),
        {
            "id": campaign.id,
            "name": name,
            "objective": objective,
            "status": status,
            "special_ad_categories": categories,
        },
    )
    return {"id": campaign.id}


@router.get("/act_{account_id}/adsets")
async def list_account_adsets(account_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    _check_account(state, account_id)
    views = [adset_view(state.store, a, account_id) for a in state.store.meta_adsets.values()]
    return _listing(request, await graph_params(request), views, "AdSet")


@router.post("/act_{account_id}/adsets")
async def create_adset(account_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    _check_account(state, account_id)
    params = await graph_params(request)
    store = state.store
    name = _str_param(params, "name")
    campaign_id = str(params.get("campaign_id") or "")
    campaign = store.meta_campaigns.get(campaign_id)
    if campaign is None or campaign.status == "DELETED":
        raise graph_error(
            100,
            "Invalid parameter",
            title="Invalid campaign",
            user_msg=f"The campaign {campaign_id or '(none)'} does not exist or was deleted.",
        )
    if "daily_budget" not in params:
        raise invalid("The sandbox needs daily_budget (lifetime budgets are not supported)")
    daily_budget = _int_param(params, "daily_budget")
    if daily_budget < MIN_DAILY_BUDGET:
        raise _budget_too_low(state.tokens.meta_currency)
    billing_event = _enum_param(params, "billing_event", BILLING_EVENTS)
    optimization_goal = _enum_param(params, "optimization_goal", OPTIMIZATION_GOALS)
    targeting = json_param(params, "targeting")
    countries = ((targeting or {}).get("geo_locations") or {}).get("countries") if isinstance(targeting, dict) else None
    if (
        not isinstance(countries, list)
        or not countries
        or not all(isinstance(c, str) and len(c) == 2 for c in countries)
    ):
        raise graph_error(
            100,
            "Invalid parameter",
            title="Location targeting required",
            user_msg="Targeting must include geo_locations with at least one country code.",
        )
    _check_audience(targeting)
    status = _enum_param(params, "status", STATUSES, "ACTIVE")
    start, end = _time_param(params, "start_time"), _time_param(params, "end_time")
    if start and end and end <= start:
        raise graph_error(
            100,
            "Invalid parameter",
            title="Invalid end time",
            user_msg="The ad set's end time must be after its start time.",
        )
    adset = MetaAdSet(
        store.next_id(ADSET_IDS),
        name,
        campaign.id,
        status,
        daily_budget,
        billing_event,
        optimization_goal,
        targeting,
        start,
        end,
        now_iso(),
    )
    store.meta_adsets[adset.id] = adset
    refresh(store, adset)
    store.record(
        "meta",
        "adset.create",
        _key(request),
        {
            "id": adset.id,
            "name": name,
            "campaign_id": campaign.id,
            "status": status,
            "daily_budget": daily_budget,
            "countries": countries,
            "targeting": targeting,
            "start_time": graph_time(start) if start else None,
            "end_time": graph_time(end) if end else None,
        },
    )
    return {"id": adset.id}


def _check_audience(targeting: dict[str, Any]) -> None:
    """Ages 18..65 (age_max not below age_min); interests and custom audiences as [{"id": digits}];
    publisher_platforms of Meta's placements."""
    ages = {k: targeting[k] for k in ("age_min", "age_max") if k in targeting}
    for age, value in ages.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 18 <= value <= 65:
            raise invalid(f"Param targeting[{age}] must be an integer from 18 to 65")
    if ages.get("age_max", 65) < ages.get("age_min", 18):
        raise invalid("Param targeting[age_max] must not be below targeting[age_min]")
    for name in ("interests", "custom_audiences"):
        entries = targeting.get(name, [])
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and str(e.get("id", "")).isdigit() for e in entries
        ):
            raise invalid(f'Param targeting[{name}] must be an array of {{"id": "<numeric id>"}} objects')
    if "publisher_platforms" in targeting:
        platforms = targeting["publisher_platforms"]
        if not isinstance(platforms, list) or not platforms or any(p not in PUBLISHER_PLATFORMS for p in platforms):
            allowed = ", ".join(PUBLISHER_PLATFORMS)
            raise invalid(f"Param targeting[publisher_platforms] must be an array of {{{allowed}}}")


@router.get("/act_{account_id}/adimages")
async def list_images(account_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    """The account's images, or those with the given `hashes` (a JSON list)."""
    _check_account(state, account_id)
    params = await graph_params(request)
    hashes = json_param(params, "hashes")
    if hashes is not None and not (isinstance(hashes, list) and all(isinstance(h, str) for h in hashes)):
        raise invalid("Param hashes must be an array of image hashes")
    params.pop("hashes", None)
    images = [i for i in state.store.meta_images.values() if hashes is None or i.hash in hashes]
    views = [image_view(i, account_id) for i in images]
    for name in _fields(params):
        if views and name not in views[0]:
            raise invalid(f"Tried accessing nonexisting field ({name}) on node type (AdImage)")
    return page(request, params, [_select(v, params, "AdImage") for v in views])


@router.post("/act_{account_id}/adimages")
async def upload_image(account_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    """An image from base64 `bytes`; answers `{"images": {"bytes": {"hash", "url"}}}`."""
    _check_account(state, account_id)
    params = await graph_params(request)
    if "bytes" not in params:
        raise invalid("The parameter bytes is required (the sandbox takes images as base64 bytes, not file uploads)")
    try:
        data = base64.b64decode(str(params["bytes"]), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid("Param bytes must be base64 encoded image data") from exc
    size = _image_size(data)
    if size is None:
        raise graph_error(
            100,
            "Invalid parameter",
            subcode=1487242,
            title="Image Resize Failed",
            user_msg="The image could not be read: upload a png or jpg file.",
        )
    if len(data) > MAX_IMAGE_BYTES:
        raise graph_error(100, "Invalid parameter", title="Image too large", user_msg="Images may be up to 30 MB.")
    name = _str_param(params, "name", required=False) or "bytes"
    if len(name) > 100:
        raise invalid("Param name must be at most 100 characters long")
    digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
    store = state.store
    image = store.meta_images.get(digest)
    if image is None:  # the same bytes are the same image: uploading again makes nothing new
        image = MetaImage(digest, name, size[0], size[1], len(data), now_iso())
        store.meta_images[digest] = image
        store.record("meta", "adimage.create", _key(request), {"hash": digest, "name": name, "bytes": len(data)})
    view = image_view(image, account_id)
    return {"images": {"bytes": {"hash": image.hash, "url": view["url"]}}}


def _image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a png or jpg, None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data.startswith(b"\xff\xd8\xff"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return width, height
            i += 2 + length
        return (0, 0)  # a jpg whose frame header the sandbox does not find: still an image
    return None


@router.get("/act_{account_id}/adcreatives")
async def list_creatives(account_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    _check_account(state, account_id)
    views = [creative_view(c, account_id) for c in state.store.meta_creatives.values()]
    return _listing(request, await graph_params(request), views, "AdCreative")


@router.post("/act_{account_id}/adcreatives")
async def create_creative(account_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    _check_account(state, account_id)
    params = await graph_params(request)
    store, page_id = state.store, state.tokens.meta_page_id
    name = _str_param(params, "name", required=False)
    story_spec = json_param(params, "object_story_spec")
    story_id = params.get("object_story_id")
    if (story_spec is None) == (story_id is None):
        raise invalid("An ad creative needs exactly one of object_story_spec or object_story_id")
    if story_id is not None:
        story_id = str(story_id)
        page, _, post = story_id.partition("_")
        if not (page.isdigit() and post.isdigit()):
            raise invalid("Param object_story_id must be a post id: <page id>_<post id>")
        if page != page_id:
            raise _not_your_page(page)
    else:
        story_spec = _story_spec(store, story_spec, page_id)
    creative = MetaCreative(store.next_id(CREATIVE_IDS), "", "ACTIVE", story_spec, story_id, now_iso())
    creative.name = name or f"Creative {creative.id}"
    store.meta_creatives[creative.id] = creative
    link = (story_spec or {}).get("link_data") or {}
    store.record(
        "meta",
        "adcreative.create",
        _key(request),
        {
            "id": creative.id,
            "name": creative.name,
            "object_story_id": story_id,
            "page_id": (story_spec or {}).get("page_id"),
            "link": link.get("link"),
            "image_hash": link.get("image_hash"),
            "message": link.get("message"),
            "headline": link.get("name"),
            "description": link.get("description"),
            "call_to_action": (link.get("call_to_action") or {}).get("type"),
        },
    )
    return {"id": creative.id}


def _not_your_page(page: str) -> SandboxError:
    return graph_error(
        100,
        "Invalid parameter",
        title="Invalid page",
        user_msg=f"The page {page or '(none)'} is not a page this ad account may advertise as.",
    )


def _story_spec(store: Store, spec: Any, page_id: str) -> dict[str, Any]:
    """A link ad's object_story_spec, checked as Meta checks it (the sandbox runs link ads only)."""
    if not isinstance(spec, dict):
        raise invalid("Param object_story_spec must be a JSON encoded object")
    if str(spec.get("page_id") or "") != page_id:
        raise _not_your_page(str(spec.get("page_id") or ""))
    link_data = spec.get("link_data")
    if not isinstance(link_data, dict):
        raise invalid("The sandbox needs object_story_spec[link_data] (link ads only)")
    known = {"link", "message", "name", "description", "image_hash", "call_to_action", "caption"}
    for key in link_data:
        if key not in known:
            raise invalid(f"Param object_story_spec[link_data][{key}] is not supported by the sandbox")
    link = link_data.get("link")
    if not isinstance(link, str) or not link.startswith(("https://", "http://")):
        raise invalid("Param object_story_spec[link_data][link] must be a valid URL")
    for key in ("message", "name", "description"):
        if key in link_data and not isinstance(link_data[key], str):
            raise invalid(f"Param object_story_spec[link_data][{key}] must be a string")
    image_hash = link_data.get("image_hash")
    if image_hash is None:
        raise invalid("The sandbox needs object_story_spec[link_data][image_hash] (it does not scrape links)")
    if image_hash not in store.meta_images:
        raise graph_error(
            100,
            "Invalid parameter",
            subcode=1487242,
            title="Invalid image hash",
            user_msg=f"The image hash {image_hash} is not an image of this ad account: upload it to /adimages first.",
        )
    cta = link_data.get("call_to_action")
    if cta is not None:
        if not isinstance(cta, dict) or cta.get("type") not in CALL_TO_ACTIONS:
            allowed = ", ".join(CALL_TO_ACTIONS)
            raise invalid(f"Param object_story_spec[link_data][call_to_action][type] must be one of {{{allowed}}}")
        value = cta.get("value")
        if value is not None and not (isinstance(value, dict) and isinstance(value.get("link", ""), str)):
            raise invalid("Param object_story_spec[link_data][call_to_action][value] must be an object with a link")
    return {"page_id": page_id, "link_data": dict(link_data)}


@router.get("/act_{account_id}/ads")
async def list_account_ads(account_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    _check_account(state, account_id)
    views = [ad_view(state.store, a, account_id) for a in state.store.meta_ads.values()]
    return _listing(request, await graph_params(request), views, "Ad")


@router.post("/act_{account_id}/ads")
async def create_ad(account_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    _check_account(state, account_id)
    params = await graph_params(request)
    store = state.store
    name = _str_param(params, "name")
    adset_id = str(params.get("adset_id") or "")
    adset = store.meta_adsets.get(adset_id)
    if adset is None or effective_status(store, adset) == "DELETED":
        raise graph_error(
            100,
            "Invalid parameter",
            title="Invalid ad set",
            user_msg=f"The ad set {adset_id or '(none)'} does not exist or was deleted.",
        )
    creative_ref = json_param(params, "creative")
    creative_id = str(creative_ref.get("creative_id") or "") if isinstance(creative_ref, dict) else ""
    if not creative_id:
        raise invalid('The parameter creative is required: {"creative_id": "<id>"}')
    creative = store.meta_creatives.get(creative_id)
    if creative is None or creative.status == "DELETED":
        raise graph_error(
            100,
            "Invalid parameter",
            title="Invalid creative",
            user_msg=f"The creative {creative_id} does not exist or was deleted.",
        )
    status = _enum_param(params, "status", STATUSES, "ACTIVE")
    ad = MetaAd(store.next_id(AD_IDS), name, adset.id, adset.campaign_id, creative.id, status, now_iso())
    store.meta_ads[ad.id] = ad
    refresh(store, adset)
    store.record(
        "meta",
        "ad.create",
        _key(request),
        {
            "id": ad.id,
            "name": name,
            "adset_id": adset.id,
            "campaign_id": adset.campaign_id,
            "creative_id": creative.id,
            "status": status,
        },
    )
    return {"id": ad.id}


@router.get("/act_{account_id}/insights")
async def account_insights(account_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    """Account insights at `level=campaign`: one row per campaign (deleted ones too) and
    day with delivery (`time_increment=1`), or per campaign for the range; paged."""
    _check_account(state, account_id)
    params = await graph_params(request)
    if params.get("level", "campaign") != "campaign":
        raise invalid("The sandbox reports account insights at level campaign only")
    fields, since, until, increment = _insight_query(params)
    rows = []
    for campaign in sorted(state.store.meta_campaigns.values(), key=lambda c: int(c.id)):
        rows += _campaign_rows(state, campaign, fields, since, until, increment)
    rows.sort(key=lambda r: r[0])
    return page(request, params, [row for _, row in rows])


# objects by id


@router.get("/{object_id}/adsets")
async def list_campaign_adsets(object_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    store = state.store
    if object_id not in store.meta_campaigns:
        raise missing(object_id)
    account = state.tokens.meta_account_number
    views = [adset_view(store, a, account) for a in store.meta_adsets.values() if a.campaign_id == object_id]
    return _listing(request, await graph_params(request), views, "AdSet")


@router.get("/{object_id}/ads")
async def list_ads_of(object_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    """A campaign's or ad set's ads."""
    store = state.store
    if object_id not in store.meta_campaigns and object_id not in store.meta_adsets:
        raise missing(object_id)
    account = state.tokens.meta_account_number
    views = [ad_view(store, a, account) for a in store.meta_ads.values() if object_id in (a.campaign_id, a.adset_id)]
    return _listing(request, await graph_params(request), views, "Ad")


@router.get("/{object_id}/insights")
async def insights(object_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    store = state.store
    campaign = store.meta_campaigns.get(object_id)
    if campaign is None:
        if object_id in store.meta_adsets:
            raise invalid("The sandbox reports insights at campaign level only")
        raise missing(object_id)
    params = await graph_params(request)
    fields, since, until, increment = _insight_query(params)
    rows = _campaign_rows(state, campaign, fields, since, until, increment)
    return page(request, params, [row for _, row in rows])


def _campaign_rows(
    state: SandboxState, campaign, fields: list[str], since: date, until: date, increment: str
) -> list[tuple[date, dict]]:
    """One campaign's insight rows with their start day: one per day with delivery
    (`time_increment=1`) or one for the range, none without delivery."""
    campaign.horizon = max(campaign.horizon or until, until)
    daily = [(day, campaign_performance(state, campaign, day)) for day in days(since, until)]
    if increment == "1":
        return [(day, _insight_row(state, campaign, fields, day, day, p)) for day, p in daily if not p.empty]
    summed = total([p for _, p in daily], "meta")
    return [] if summed.empty else [(since, _insight_row(state, campaign, fields, since, until, summed))]


def _insight_query(params: dict) -> tuple[list[str], date, date, str]:
    """An insights request's fields, date range and time increment, checked as Meta checks them."""
    fields = _fields(params) or ["impressions", "spend"]
    for name in fields:
        if name not in INSIGHT_FIELDS and name not in ("date_start", "date_stop"):
            raise invalid(
                f"{name} is not valid for fields param. please check "
                "https://developers.facebook.com/docs/marketing-api/reference/ads-insights/"
            )
    since, until = _time_range(params)
    increment = str(params.get("time_increment", "all_days"))
    if increment not in ("1", "all_days"):
        raise invalid("The sandbox supports time_increment 1 or all_days")
    return fields, since, until, increment


def _time_range(params: dict[str, Any]) -> tuple[date, date]:
    time_range = json_param(params, "time_range")
    if not isinstance(time_range, dict):
        raise invalid(
            'The sandbox needs time_range={"since":"YYYY-MM-DD","until":"YYYY-MM-DD"} (it does not know what day it is)'
        )
    try:
        since, until = date.fromisoformat(str(time_range["since"])), date.fromisoformat(str(time_range["until"]))
    except (KeyError, ValueError) as exc:
        raise invalid("Param time_range must have since and until as YYYY-MM-DD") from exc
    if since > until:
        raise invalid("Param time_range: since must not be after until")
    if (until - since).days >= MAX_DAYS:
        raise invalid("Param time_range spans more than 37 months")
    return since, until


def _money(minor: int) -> str:
    return f"{Decimal(minor) / 100:.2f}"


def _insight_row(
    state: SandboxState, campaign: MetaCampaign, fields: list[str], start: date, stop: date, p: DayPerformance
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "spend": _money(p.spend),
        "impressions": str(p.impressions),
        "clicks": str(p.clicks),
        "cpc": f"{Decimal(p.spend) / 100 / p.clicks:.6f}" if p.clicks else None,
        "cpm": f"{Decimal(p.spend) * 10 / p.impressions:.6f}" if p.impressions else None,
        "ctr": f"{Decimal(p.clicks) * 100 / p.impressions:.6f}" if p.impressions else None,
        "campaign_id": campaign.id,
        "campaign_name": campaign.name,
        "account_id": state.tokens.meta_account_number,
        "account_currency": state.tokens.meta_currency,
        "actions": None,
        "action_values": None,
    }
    conversions = int(p.conversions)
    if p.clicks:  # Graph leaves out actions that did not happen
        values["actions"] = [{"action_type": "link_click", "value": str(p.clicks)}]
    if conversions:
        values["actions"] += [{"action_type": a, "value": str(conversions)} for a in CONVERSION_ACTIONS]
        values["action_values"] = [{"action_type": a, "value": _money(p.value)} for a in CONVERSION_ACTIONS]
    row = {name: values[name] for name in fields if name in values and values[name] is not None}
    row.update(date_start=start.isoformat(), date_stop=stop.isoformat())
    return row


@router.get("/{object_id}")
async def get_object(object_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    store, account = state.store, state.tokens.meta_account_number
    params = await graph_params(request)
    if object_id in store.meta_campaigns:
        return _select(campaign_view(store.meta_campaigns[object_id], account), params, "Campaign")
    if object_id in store.meta_adsets:
        return _select(adset_view(store, store.meta_adsets[object_id], account), params, "AdSet")
    if object_id in store.meta_ads:
        return _select(ad_view(store, store.meta_ads[object_id], account), params, "Ad")
    if object_id in store.meta_creatives:
        return _select(creative_view(store.meta_creatives[object_id], account), params, "AdCreative")
    if object_id in store.meta_leads:
        lead = {k: v for k, v in asdict(store.meta_leads[object_id]).items() if k != "page_id"}  # not a Lead field
        return _select(lead, params, "Lead")
    raise missing(object_id)


@router.post("/{object_id}")
async def update_object(object_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    store = state.store
    params = await graph_params(request)
    if params.get("status") == "DELETED":
        return _delete(state, object_id, request, "post")
    if object_id in store.meta_ads:
        return _update_ad(state, store.meta_ads[object_id], params, request)
    if object_id in store.meta_creatives:
        if store.meta_creatives[object_id].status == "DELETED":
            raise missing(object_id, "post")
        raise invalid("The sandbox does not update ad creatives: make a new one")
    campaign, adset = store.meta_campaigns.get(object_id), store.meta_adsets.get(object_id)
    target = campaign or adset
    if target is None or target.status == "DELETED":
        raise missing(object_id, "post")
    changes: dict[str, Any] = {}
    if "name" in params:
        changes["name"] = _str_param(params, "name")
    if "status" in params:
        changes["status"] = _enum_param(params, "status", (*STATUSES, "DELETED"))
    if "daily_budget" in params:
        if adset is None:
            raise graph_error(
                100,
                "Invalid parameter",
                title="Budget is set on the ad sets",
                user_msg="This campaign uses ad set budgets: set daily_budget on its ad sets.",
            )
        changes["daily_budget"] = _int_param(params, "daily_budget")
        if changes["daily_budget"] < MIN_DAILY_BUDGET:
            raise _budget_too_low(state.tokens.meta_currency)
    changes = {k: v for k, v in changes.items() if getattr(target, k) != v}
    for name, value in changes.items():
        setattr(target, name, value)
    if changes:
        for member in (a for a in store.meta_adsets.values() if a.id == object_id or a.campaign_id == object_id):
            refresh(store, member)
        kind = "campaign.update" if campaign else "adset.update"
        store.record(
            "meta",
            kind,
            _key(request),
            {
                "id": target.id,
                "name": target.name,
                "status": target.status,
                **({"daily_budget": adset.daily_budget} if adset else {}),
                "changes": changes,
            },
        )
    return {"success": True}


def _update_ad(state: SandboxState, ad: MetaAd, params: dict[str, Any], request: Request) -> dict:
    store = state.store
    if ad_effective_status(store, ad) == "DELETED":
        raise missing(ad.id, "post")
    changes: dict[str, Any] = {}
    if "name" in params:
        changes["name"] = _str_param(params, "name")
    if "status" in params:
        changes["status"] = _enum_param(params, "status", STATUSES)
    for key in params:
        if key not in ("name", "status"):
            raise invalid(f"The sandbox updates an ad's name and status only, not {key}")
    changes = {k: v for k, v in changes.items() if getattr(ad, k) != v}
    for name, value in changes.items():
        setattr(ad, name, value)
    if changes:
        refresh(store, store.meta_adsets[ad.adset_id])
        store.record(
            "meta",
            "ad.update",
            _key(request),
            {"id": ad.id, "name": ad.name, "adset_id": ad.adset_id, "status": ad.status, "changes": changes},
        )
    return {"success": True}


@router.delete("/{object_id}")
async def delete_object(object_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    return _delete(state, object_id, request, "delete")


def _delete_ads(store: Store, ads: list[MetaAd]) -> list[str]:
    """Mark ads deleted with their parent (Meta deletes an ad set's or campaign's ads with it)."""
    for ad in ads:
        ad.status = "DELETED"
    return [a.id for a in ads]


def _delete(state: SandboxState, object_id: str, request: Request, method: str) -> dict:
    store = state.store
    ad, creative = store.meta_ads.get(object_id), store.meta_creatives.get(object_id)
    if ad is not None:
        if ad_effective_status(store, ad) == "DELETED":
            raise missing(object_id, method)
        ad.status = "DELETED"
        refresh(store, store.meta_adsets[ad.adset_id])
        store.record(
            "meta",
            "ad.delete",
            _key(request),
            {"id": ad.id, "name": ad.name, "adset_id": ad.adset_id, "status": "DELETED"},
        )
        return {"success": True}
    if creative is not None:
        if creative.status == "DELETED":
            raise missing(object_id, method)
        users = [a.id for a in store.meta_ads.values() if a.creative_id == creative.id and a.status != "DELETED"]
        if users:
            raise graph_error(
                100,
                "Invalid parameter",
                title="Creative in use",
                user_msg=f"The creative is used by the ads {', '.join(users)}: delete them first.",
            )
        creative.status = "DELETED"
        store.record(
            "meta", "adcreative.delete", _key(request), {"id": creative.id, "name": creative.name, "status": "DELETED"}
        )
        return {"success": True}
    campaign, adset = store.meta_campaigns.get(object_id), store.meta_adsets.get(object_id)
    target = campaign or adset
    if target is None or target.status == "DELETED":
        raise missing(object_id, method)
    target.status = "DELETED"
    if campaign is not None:
        members = [a for a in store.meta_adsets.values() if a.campaign_id == object_id]
        ads = _delete_ads(
            store, [a for a in store.meta_ads.values() if a.campaign_id == object_id and a.status != "DELETED"]
        )
        for member in members:
            member.status = "DELETED"
            refresh(store, member)
        store.record(
            "meta",
            "campaign.delete",
            _key(request),
            {
                "id": campaign.id,
                "name": campaign.name,
                "status": "DELETED",
                "adsets": [a.id for a in members],
                "ads": ads,
            },
        )
    elif adset is not None:  # (the target, as it is no campaign)
        ads = _delete_ads(
            store, [a for a in store.meta_ads.values() if a.adset_id == object_id and a.status != "DELETED"]
        )
        refresh(store, adset)
        store.record(
            "meta",
            "adset.delete",
            _key(request),
            {
                "id": adset.id,
                "name": adset.name,
                "campaign_id": adset.campaign_id,
                "status": "DELETED",
                "ads": ads,
            },
        )
    return {"success": True}
