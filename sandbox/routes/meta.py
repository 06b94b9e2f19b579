"""Meta Marketing API (Graph API `/v<N>.0/...`): the ad account, campaigns, ad sets, insights.

`/act_<id>` is the ad account (read it; its `/campaigns` and `/adsets` edges list and
create); `/<object id>` is a campaign or ad set (read with `?fields=`, update with POST,
DELETE), with `/adsets` and `/insights` edges. Parameters arrive as JSON, form fields
or query parameters, as the Graph API takes them (objects and lists as JSON text in a
form). Only the configured ad account answers; others get the (#200) permission error.

Lists are newest first and page with `limit` and the `after` cursor. Deleted objects
stay readable by id (status DELETED) but are left out of lists unless the request
filters on `effective_status`; deleting or updating one again is the 100/33 "does not
exist" error, like any unknown id. Deleting a campaign deletes its ad sets. An ACTIVE
ad set under a PAUSED campaign has the effective status CAMPAIGN_PAUSED.

Insights are campaign-level and come from `sandbox.ads`: the campaign delivers on a day
when one of its ad sets is scheduled (start_time/end_time, UTC days) and both it and
the campaign were ACTIVE per the ad set's timeline; spend follows the sum of those ad
sets' daily budgets. `time_range` is required (the sandbox does not know what day it
is); `time_increment=1` gives one row per day with delivery, else one row for the range.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal, overload
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from starlette.convertors import Convertor, register_url_convertor

from sandbox.ads import DayPerformance, day_performance, days, override_for, total
from sandbox.platforms import SandboxError
from sandbox.state import SandboxState, get_state
from sandbox.store import MetaAdSet, MetaCampaign, Store, now_iso


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
_FILTER_FIELDS = ("id", "name", "effective_status", "configured_status", "campaign_id", "objective")


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


def refresh(store: Store, adset: MetaAdSet) -> None:
    """Record the ad set's current delivery setting from its campaign's data day."""
    campaign = store.meta_campaigns[adset.campaign_id]
    active = adset.status == "ACTIVE" and campaign.status == "ACTIVE"
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
            "start_time": graph_time(start) if start else None,
            "end_time": graph_time(end) if end else None,
        },
    )
    return {"id": adset.id}


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
    raise missing(object_id)


@router.post("/{object_id}")
async def update_object(object_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    store = state.store
    params = await graph_params(request)
    if params.get("status") == "DELETED":
        return _delete(state, object_id, request, "post")
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


@router.delete("/{object_id}")
async def delete_object(object_id: str, request: Request, state: SandboxState = Depends(get_state)) -> dict:
    return _delete(state, object_id, request, "delete")


def _delete(state: SandboxState, object_id: str, request: Request, method: str) -> dict:
    store = state.store
    campaign, adset = store.meta_campaigns.get(object_id), store.meta_adsets.get(object_id)
    target = campaign or adset
    if target is None or target.status == "DELETED":
        raise missing(object_id, method)
    target.status = "DELETED"
    if campaign is not None:
        members = [a for a in store.meta_adsets.values() if a.campaign_id == object_id]
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
            },
        )
    elif adset is not None:  # (the target, as it is no campaign)
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
            },
        )
    return {"success": True}
