"""Google Ads REST (`/v<N>/customers/{customer_id}/...`): campaign budgets, campaigns, ad
groups, responsive search ads, keywords, search.

`campaignBudgets:mutate`, `campaigns:mutate`, `adGroups:mutate`, `adGroupAds:mutate` and
`adGroupCriteria:mutate` take `create` / `update` (with `updateMask`) / `remove`
operations, atomically unless `partialFailure` (then the good ones are kept and the
response carries a `partialFailureError` locating the bad ones by operation index);
`validateOnly` checks without applying. Ads are responsive search ads (3-15 headlines of
at most 30 characters, 2-4 descriptions of at most 90, display paths of at most 15, at
least one final URL); criteria are keywords (at most 80 characters and 10 words, match
type EXACT, PHRASE or BROAD), `negative: true` for negatives. Removing a campaign removes
its ad groups, and removing an ad group its ads and keywords.

Delivery: a campaign delivers only on days it is ENABLED, on a live budget, with at least
one ENABLED ad group holding an ENABLED ad and an ENABLED positive keyword; other days
have no impressions and no cost. Errors are GoogleAdsFailure errors located at the operation's
field (`operations[0].create.amount_micros`). Budgets are daily amounts in micros, at
least one currency unit and a multiple of the minimum unit (10,000 micros); names are
unique among budgets and among campaigns that are not removed; a budget that is not
explicitly shared serves one campaign, and one in use cannot be removed.

`googleAds:search` answers the GAQL shapes the mops client sends, parsed by regular
expressions (anything else is a `queryError`):
`SELECT <fields> FROM campaign | campaign_budget | customer | ad_group | ad_group_ad |
ad_group_criterion [WHERE <cond> AND ...] [ORDER BY <field> [ASC|DESC], ...] [LIMIT n]`
(nested fields such as `ad_group_criterion.keyword.text`), where a condition is `=`,
`!=`, `IN`, `NOT IN` on a name, resource name, id, status or parent (`ad_group.campaign`,
`ad_group_ad.ad_group`, ...), a keyword's text, match type or negativity, or a `segments.date` range (`BETWEEN`,
`=`, `>=`, `<=`, `>`, `<`). Metrics (`metrics.cost_micros`, `impressions`, `clicks`,
`conversions`, `conversions_value`, `ctr`, `average_cpc`, `cost_per_conversion`) need a
bounded `segments.date` range and come from `sandbox.ads`; with `segments.date` selected
there is one row per campaign and day with delivery, else one per campaign. Removed
objects are left out unless the query names them (resource name, id or
status). Rows are camelCase JSON with int64 values as strings, and pages hold a fixed
number of rows (10,000, as since v17; setting `pageSize` is an error).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, TypeVar

from fastapi import APIRouter, Body, Depends, Request
from starlette.convertors import Convertor, register_url_convertor

from sandbox.ads import NOTHING, DayPerformance, day_performance, days, override_for, total
from sandbox.platforms import GOOGLE_STATUSES, SandboxError, google_ads_failure
from sandbox.state import SandboxState, get_state
from sandbox.store import GoogleAdGroup, GoogleAdGroupAd, GoogleBudget, GoogleCampaign, GoogleCriterion, Store


class AdsVersion(Convertor[str]):
    regex = r"v\d+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("ads_version", AdsVersion())
router = APIRouter(prefix="/{version:ads_version}/customers/{customer_id}")

BUDGET_IDS, CAMPAIGN_IDS = 13_000_000_000, 21_000_000_000
MIN_BUDGET_MICROS, MICROS_UNIT = 1_000_000, 10_000
MAX_OPERATIONS = 5000
TIMEZONE = "Europe/Berlin"
CHANNEL_TYPES = ("SEARCH", "DISPLAY")
BIDDING = {
    "manualCpc": "MANUAL_CPC",
    "manualCpm": "MANUAL_CPM",
    "targetSpend": "TARGET_SPEND",
    "maximizeConversions": "MAXIMIZE_CONVERSIONS",
    "maximizeConversionValue": "MAXIMIZE_CONVERSION_VALUE",
    "targetCpa": "TARGET_CPA",
    "targetRoas": "TARGET_ROAS",
}
MAX_DAYS = 3 * 366
PERMISSION_MESSAGE = (
    "User doesn't have permission to access customer. Note: If you're accessing a client customer, "
    "the manager's customer ID must be set in the 'login-customer-id' header. See "
    "https://developers.google.com/google-ads/api/docs/concepts/call-structure#cid"
)


def ads_error(status: int, errors: list[dict[str, Any]], version: str, message: str | None = None) -> SandboxError:
    return SandboxError(status, GOOGLE_STATUSES.get(status), message, {"version": version, "errors": errors})


def failure(kind: str, value: str, message: str, trigger: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"errorCode": {kind: value}, "message": message}
    if trigger is not None:
        error["trigger"] = {"stringValue": str(trigger)}
    return error


class OpError(Exception):
    """One operation failed; located at `operations[i].<operation>.<path>` in the failure."""

    def __init__(
        self, kind: str, value: str, message: str, *, path: tuple[str | tuple[str, int], ...] = (), trigger: Any = None
    ):
        super().__init__(message)
        self.error = failure(kind, value, message, trigger)
        self.path = path

    def located(self, index: int, operation: str) -> dict[str, Any]:
        elements = [
            {"fieldName": "operations", "index": index},
            {"fieldName": operation},
            *({"fieldName": p[0], "index": p[1]} if isinstance(p, tuple) else {"fieldName": p} for p in self.path),
        ]
        return {**self.error, "location": {"fieldPathElements": elements}}


def camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _check_customer(state: SandboxState, customer_id: str, version: str) -> None:
    if not customer_id.isdigit():
        raise ads_error(
            400,
            [
                failure(
                    "requestError",
                    "INVALID_CUSTOMER_ID",
                    "Customer id must be digits only, without dashes.",
                    customer_id,
                )
            ],
            version,
        )
    if customer_id != state.tokens.google_ads_customer:
        raise ads_error(403, [failure("authorizationError", "USER_PERMISSION_DENIED", PERMISSION_MESSAGE)], version)


# views


def budget_view(budget: GoogleBudget) -> dict[str, Any]:
    return {
        "resourceName": budget.resource_name,
        "id": budget.id,
        "name": budget.name,
        "amountMicros": str(budget.amount_micros),
        "status": budget.status,
        "deliveryMethod": budget.delivery_method,
        "explicitlyShared": budget.explicitly_shared,
        "period": "DAILY",
    }


def campaign_view(campaign: GoogleCampaign) -> dict[str, Any]:
    return {
        "resourceName": campaign.resource_name,
        "id": campaign.id,
        "name": campaign.name,
        "status": campaign.status,
        "campaignBudget": campaign.budget,
        "advertisingChannelType": campaign.channel_type,
        "biddingStrategyType": campaign.bidding_strategy_type,
        "startDate": campaign.start_date.isoformat() if campaign.start_date else None,
        "endDate": campaign.end_date.isoformat() if campaign.end_date else None,
    }


def customer_view(state: SandboxState) -> dict[str, Any]:
    cid = state.tokens.google_ads_customer
    return {
        "resourceName": f"customers/{cid}",
        "id": cid,
        "descriptiveName": "mops sandbox",
        "currencyCode": state.tokens.google_ads_currency,
        "timeZone": TIMEZONE,
        "manager": False,
        "testAccount": True,
    }


# timelines and delivery


def serving(store: Store, campaign: GoogleCampaign) -> bool:
    """Whether the campaign has something to show: an ENABLED ad group with an ENABLED ad
    and at least one ENABLED positive keyword (negatives only narrow where it shows)."""
    for group in store.google_ad_groups.values():
        if group.campaign != campaign.resource_name or group.status != "ENABLED":
            continue
        has_ad = any(a.ad_group == group.resource_name and a.status == "ENABLED" for a in store.google_ads.values())
        has_keyword = any(
            c.ad_group == group.resource_name and c.status == "ENABLED" and not c.negative
            for c in store.google_criteria.values()
        )
        if has_ad and has_keyword:
            return True
    return False


def refresh(store: Store, campaign: GoogleCampaign) -> None:
    """Record the campaign's current delivery setting from its data day."""
    budget = store.google_budgets.get(campaign.budget)
    active = (
        campaign.status == "ENABLED" and budget is not None and budget.status != "REMOVED" and serving(store, campaign)
    )
    campaign.timeline.change(campaign.horizon, active, budget.amount_micros // MICROS_UNIT if budget else 0)


def performance(state: SandboxState, campaign: GoogleCampaign, day: date) -> DayPerformance:
    if (campaign.start_date and day < campaign.start_date) or (campaign.end_date and day > campaign.end_date):
        return NOTHING
    setting = campaign.timeline.at(day)
    if setting is None or not setting.active:
        return NOTHING
    override = override_for(state.store.ads_overrides, "google_ads", campaign.name)
    return day_performance(
        "google_ads", campaign.name, day, setting.daily_budget, seed=state.tokens.ads_seed, override=override
    )


def metrics_view(p: DayPerformance) -> dict[str, Any]:
    cost = p.spend * MICROS_UNIT
    view: dict[str, Any] = {
        "costMicros": str(cost),
        "impressions": str(p.impressions),
        "clicks": str(p.clicks),
        "conversions": float(p.conversions),
        "conversionsValue": round(p.value / 100, 2),
    }
    if p.impressions:
        view["ctr"] = p.clicks / p.impressions
    if p.clicks:
        view["averageCpc"] = cost / p.clicks
    if p.conversions:
        view["costPerConversion"] = cost / p.conversions
    return view


# mutate


@dataclass
class Applied:
    resource_name: str
    kind: str
    summary: dict[str, Any]
    resource: dict[str, Any]


def _resource(
    value: Any, collection: str, cid: str, path: tuple[str, ...] = ("resource_name",), *, composite: bool = False
) -> str:
    """A resource name of `collection` in this customer; `composite` ids are `{ad group id}~{id}`."""
    if not isinstance(value, str) or not value:
        raise OpError("requestError", "RESOURCE_NAME_MISSING", "Resource name is missing.", path=path)
    ident = r"\d+~\d+" if composite else r"\d+"
    match = re.fullmatch(rf"customers/(\d+)/{collection}/({ident})", value)
    if match is None:
        raise OpError(
            "requestError", "RESOURCE_NAME_MALFORMED", "Resource name is malformed.", path=path, trigger=value
        )
    if match.group(1) != cid:
        raise OpError("mutateError", "RESOURCE_NOT_FOUND", "Resource was not found.", path=path, trigger=value)
    return value


def _required(value: dict[str, Any], name: str) -> Any:
    if value.get(name) in (None, ""):
        raise OpError("fieldError", "REQUIRED", "The required field was not present.", path=(snake(name),))
    return value[name]


def _micros(value: dict[str, Any], name: str = "amountMicros") -> int:
    raw = _required(value, name)
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not re.fullmatch(r"-?\d+", str(raw)):
        raise SandboxError(
            400, "INVALID_ARGUMENT", f"Invalid value at '{snake(name)}' (TYPE_INT64), {json.dumps(raw)}", {"errors": []}
        )
    amount = int(raw)
    path = (snake(name),)
    if amount < 0:
        raise OpError("campaignBudgetError", "NEGATIVE_MONEY_AMOUNT", "A money amount was negative.", path=path)
    if amount % MICROS_UNIT:
        raise OpError(
            "campaignBudgetError",
            "NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT",
            "A money amount was not a multiple of a minimum unit.",
            path=path,
            trigger=amount,
        )
    if amount < MIN_BUDGET_MICROS:
        raise OpError("rangeError", "TOO_LOW", "Too low.", path=path, trigger=amount)
    return amount


def _date(value: dict[str, Any], name: str) -> date | None:
    raw = value.get(name)
    if raw in (None, ""):
        return None
    problem = OpError(
        "dateError",
        "INVALID_STRING_DATE",
        "The string date's format should be yyyy-mm-dd.",
        path=(snake(name),),
        trigger=raw,
    )
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(raw)):
        raise problem
    try:
        return date.fromisoformat(str(raw))
    except ValueError as exc:
        raise problem from exc


def _mask(op: dict[str, Any], allowed: tuple[str, ...]) -> list[str]:
    mask = op.get("updateMask")
    if not isinstance(mask, str) or not mask.strip():
        raise OpError("fieldMaskError", "FIELD_MASK_MISSING", "The field mask must be provided for update operations.")
    paths = [snake(p.strip()) for p in mask.split(",") if p.strip()]
    for path in paths:
        if path not in allowed:
            raise OpError(
                "fieldMaskError",
                "FIELD_NOT_FOUND",
                f"The field mask contained an invalid field: '{path}'.",
                trigger=path,
            )
    return paths


class _Removable(Protocol):
    status: str


R = TypeVar("R", bound=_Removable)


def _live(objects: Mapping[str, R], resource_name: str, path: tuple[str, ...] = ()) -> R:
    """The object a mutate names, refused as Google refuses one that does not exist or was removed."""
    found = objects.get(resource_name)
    if found is None:
        raise OpError("mutateError", "RESOURCE_NOT_FOUND", "Resource was not found.", path=path, trigger=resource_name)
    if found.status == "REMOVED":
        raise OpError(
            "operationAccessDeniedError",
            "OPERATION_NOT_PERMITTED_FOR_REMOVED_RESOURCE",
            "Mutate operation is not allowed for removed resources.",
            path=path,
            trigger=resource_name,
        )
    return found


def _budget(store: Store, resource_name: str, path: tuple[str, ...] = ("resource_name",)) -> GoogleBudget:
    budget = store.google_budgets.get(resource_name)
    if budget is None:
        raise OpError("mutateError", "RESOURCE_NOT_FOUND", "Resource was not found.", path=path, trigger=resource_name)
    if budget.status == "REMOVED":
        raise OpError(
            "campaignBudgetError",
            "CAMPAIGN_BUDGET_REMOVED",
            "The requested campaign budget no longer exists.",
            path=path,
            trigger=resource_name,
        )
    return budget


def _campaign(store: Store, resource_name: str) -> GoogleCampaign:
    return _live(store.google_campaigns, resource_name, ("resource_name",))


def _unique(names: list[str], name: str, kind: str, value: str, message: str) -> None:
    if name in names:
        raise OpError(kind, value, message, path=("name",), trigger=name)


def _budget_op(state: SandboxState, cid: str, verb: str, op: dict[str, Any]) -> Applied:
    store = state.store
    value = op[verb]
    live_names = [b.name for b in store.google_budgets.values() if b.status != "REMOVED"]
    if verb == "create":
        name = _required(value, "name")
        amount = _micros(value)
        delivery = value.get("deliveryMethod", "STANDARD")
        if delivery not in ("STANDARD", "ACCELERATED"):
            raise OpError(
                "requestError",
                "INVALID_ENUM_VALUE",
                "The enum value is not permitted.",
                path=("delivery_method",),
                trigger=delivery,
            )
        if value.get("period", "DAILY") != "DAILY":
            raise OpError(
                "campaignBudgetError",
                "CAMPAIGN_BUDGET_PERIOD_NOT_AVAILABLE",
                "The sandbox serves DAILY budgets only.",
                path=("period",),
            )
        _unique(
            live_names,
            name,
            "campaignBudgetError",
            "DUPLICATE_NAME",
            "A campaign budget with this name already exists.",
        )
        budget_id = store.next_id(BUDGET_IDS)
        budget = GoogleBudget(
            budget_id,
            f"customers/{cid}/campaignBudgets/{budget_id}",
            name,
            amount,
            delivery,
            bool(value.get("explicitlyShared", True)),
        )
        store.google_budgets[budget.resource_name] = budget
        return Applied(
            budget.resource_name,
            "budget.create",
            {
                "resourceName": budget.resource_name,
                "name": name,
                "amountMicros": amount,
                "deliveryMethod": delivery,
                "explicitlyShared": budget.explicitly_shared,
            },
            budget_view(budget),
        )
    if verb == "update":
        budget = _budget(store, _resource(value.get("resourceName"), "campaignBudgets", cid))
        changes: dict[str, Any] = {}
        for path in _mask(op, ("amount_micros", "name")):
            if path == "amount_micros":
                changes["amount_micros"] = _micros(value)
            else:
                name = _required(value, "name")
                if name != budget.name:
                    _unique(
                        live_names,
                        name,
                        "campaignBudgetError",
                        "DUPLICATE_NAME",
                        "A campaign budget with this name already exists.",
                    )
                changes["name"] = name
        changes = {k: v for k, v in changes.items() if getattr(budget, k) != v}
        for key, new in changes.items():
            setattr(budget, key, new)
        for campaign in store.google_campaigns.values():
            if campaign.budget == budget.resource_name:
                refresh(store, campaign)
        return Applied(
            budget.resource_name,
            "budget.update",
            {
                "resourceName": budget.resource_name,
                "name": budget.name,
                "amountMicros": budget.amount_micros,
                "changes": {camel(k): v for k, v in changes.items()},
            },
            budget_view(budget),
        )
    budget = _budget(store, _resource(value, "campaignBudgets", cid, ()), ())
    if any(c.budget == budget.resource_name and c.status != "REMOVED" for c in store.google_campaigns.values()):
        raise OpError(
            "campaignBudgetError",
            "CAMPAIGN_BUDGET_IN_USE",
            "The campaign budget is associated with at "
            "least one campaign, and so the campaign budget cannot be removed.",
            trigger=value,
        )
    budget.status = "REMOVED"
    return Applied(
        budget.resource_name,
        "budget.remove",
        {
            "resourceName": budget.resource_name,
            "name": budget.name,
            "amountMicros": budget.amount_micros,
            "status": "REMOVED",
        },
        budget_view(budget),
    )


def _budget_for_campaign(store: Store, value: dict[str, Any], cid: str, campaign_rn: str | None) -> GoogleBudget:
    path = ("campaign_budget",)
    budget = _budget(store, _resource(_required(value, "campaignBudget"), "campaignBudgets", cid, path), path)
    users = [
        c
        for c in store.google_campaigns.values()
        if c.budget == budget.resource_name and c.status != "REMOVED" and c.resource_name != campaign_rn
    ]
    if users and not budget.explicitly_shared:
        raise OpError(
            "campaignBudgetError",
            "CANNOT_USE_IMPLICITLY_SHARED_CAMPAIGN_BUDGET_WITH_MULTIPLE_CAMPAIGNS",
            "Only explicitly shared campaign budgets can be used with multiple campaigns.",
            path=path,
            trigger=budget.resource_name,
        )
    return budget


def _status(value: dict[str, Any], default: str | None = None) -> str:
    status = value.get("status", default)
    if status not in ("ENABLED", "PAUSED"):
        raise OpError(
            "fieldError",
            "INVALID_VALUE",
            "The field's value is invalid (ENABLED or PAUSED; a campaign is removed with a remove operation).",
            path=("status",),
            trigger=status,
        )
    return status


def _campaign_op(state: SandboxState, cid: str, verb: str, op: dict[str, Any]) -> Applied:
    store = state.store
    value = op[verb]
    live_names = [c.name for c in store.google_campaigns.values() if c.status != "REMOVED"]
    if verb == "create":
        name = _required(value, "name")
        status = _status(value, "ENABLED")
        channel = _required(value, "advertisingChannelType")
        if channel not in CHANNEL_TYPES:
            raise OpError(
                "requestError",
                "INVALID_ENUM_VALUE",
                "The sandbox serves SEARCH and DISPLAY campaigns.",
                path=("advertising_channel_type",),
                trigger=channel,
            )
        bidding = next((BIDDING[k] for k in BIDDING if k in value), None)
        if bidding is None:
            raise OpError(
                "fieldError", "REQUIRED", "The required field was not present.", path=("campaign_bidding_strategy",)
            )
        start, end = _date(value, "startDate"), _date(value, "endDate")
        if start and end and start > end:
            raise OpError(
                "dateRangeError",
                "START_DATE_AFTER_END_DATE",
                "The start date was after the end date.",
                path=("end_date",),
            )
        _unique(
            live_names,
            name,
            "campaignError",
            "DUPLICATE_CAMPAIGN_NAME",
            "Trying to modify name of campaign to one already assigned to another campaign.",
        )
        budget = _budget_for_campaign(store, value, cid, None)
        campaign_id = store.next_id(CAMPAIGN_IDS)
        campaign = GoogleCampaign(
            campaign_id,
            f"customers/{cid}/campaigns/{campaign_id}",
            name,
            status,
            budget.resource_name,
            channel,
            bidding,
            start,
            end,
        )
        store.google_campaigns[campaign.resource_name] = campaign
        refresh(store, campaign)
        return Applied(
            campaign.resource_name,
            "campaign.create",
            {
                "resourceName": campaign.resource_name,
                "name": name,
                "status": status,
                "advertisingChannelType": channel,
                "campaignBudget": budget.resource_name,
                "amountMicros": budget.amount_micros,
                "startDate": start.isoformat() if start else None,
                "endDate": end.isoformat() if end else None,
            },
            campaign_view(campaign),
        )
    if verb == "update":
        campaign = _campaign(store, _resource(value.get("resourceName"), "campaigns", cid))
        changes: dict[str, Any] = {}
        for path in _mask(op, ("status", "name", "campaign_budget", "end_date")):
            if path == "status":
                changes["status"] = _status(value)
            elif path == "name":
                name = _required(value, "name")
                if name != campaign.name:
                    _unique(
                        live_names,
                        name,
                        "campaignError",
                        "DUPLICATE_CAMPAIGN_NAME",
                        "Trying to modify name of campaign to one already assigned to another campaign.",
                    )
                changes["name"] = name
            elif path == "campaign_budget":
                changes["budget"] = _budget_for_campaign(store, value, cid, campaign.resource_name).resource_name
            else:
                changes["end_date"] = _date(value, "endDate")
        changes = {k: v for k, v in changes.items() if getattr(campaign, k) != v}
        for key, new in changes.items():
            setattr(campaign, key, new)
        refresh(store, campaign)
        shown = {
            ("campaignBudget" if k == "budget" else camel(k)): (v.isoformat() if isinstance(v, date) else v)
            for k, v in changes.items()
        }
        return Applied(
            campaign.resource_name,
            "campaign.update",
            {
                "resourceName": campaign.resource_name,
                "name": campaign.name,
                "status": campaign.status,
                "changes": shown,
            },
            campaign_view(campaign),
        )
    campaign = _campaign(store, _resource(value, "campaigns", cid, ()))
    campaign.status = "REMOVED"
    # What the campaign holds goes with it.
    for group in store.google_ad_groups.values():
        if group.campaign == campaign.resource_name:
            _remove_group_contents(store, group)
    refresh(store, campaign)
    return Applied(
        campaign.resource_name,
        "campaign.remove",
        {
            "resourceName": campaign.resource_name,
            "name": campaign.name,
            "status": "REMOVED",
            "campaignBudget": campaign.budget,
        },
        campaign_view(campaign),
    )


GOOGLE_COLLECTIONS = ("google_budgets", "google_campaigns", "google_ad_groups", "google_ads", "google_criteria")


def _snapshot(store: Store) -> dict[str, Any]:
    return {name: copy.deepcopy(getattr(store, name)) for name in GOOGLE_COLLECTIONS}


def _restore(store: Store, saved: dict[str, Any]) -> None:
    for name, value in saved.items():
        setattr(store, name, value)


def _mutate(
    state: SandboxState,
    request: Request,
    version: str,
    cid: str,
    body: dict[str, Any],
    resource: str,
    apply: Callable[[SandboxState, str, str, dict[str, Any]], Applied],
) -> dict[str, Any]:
    """Run the operations atomically (or keep the good ones with partialFailure); record effects."""
    _check_customer(state, cid, version)
    operations = body.get("operations")
    if not isinstance(operations, list) or not operations:
        raise ads_error(
            400, [failure("requestError", "OPERATION_REQUIRED", "At least one operation is required.")], version
        )
    if len(operations) > MAX_OPERATIONS:
        raise ads_error(
            400,
            [
                failure(
                    "requestError",
                    "TOO_MANY_MUTATE_OPERATIONS",
                    f"Too many mutate operations (the limit is {MAX_OPERATIONS}).",
                )
            ],
            version,
        )
    partial, validate_only = bool(body.get("partialFailure")), bool(body.get("validateOnly"))
    store = state.store
    saved = _snapshot(store)
    applied: list[Applied | None] = []
    errors: list[dict[str, Any]] = []
    try:
        for index, op in enumerate(operations):
            verbs = [v for v in ("create", "update", "remove") if isinstance(op, dict) and v in op]
            if len(verbs) != 1:
                errors.append(
                    OpError(
                        "requestError",
                        "OPERATION_REQUIRED",
                        "Each operation needs exactly one of create, update or remove.",
                    ).located(index, "operation")
                )
                applied.append(None)
                continue
            try:
                if verbs[0] != "remove" and not isinstance(op[verbs[0]], dict):
                    raise OpError("requestError", "OPERATION_REQUIRED", f"{verbs[0]} must be an object.")
                applied.append(apply(state, cid, verbs[0], op))
            except OpError as err:
                errors.append(err.located(index, verbs[0]))
                applied.append(None)
    except SandboxError:
        _restore(store, saved)
        raise
    if validate_only or (errors and not partial):
        _restore(store, saved)
    if errors and not partial:
        raise ads_error(400, errors, version)
    if validate_only:
        return {}
    key = request.headers.get("idempotency-key")
    for done in applied:
        if done is not None:
            store.record("google_ads", done.kind, key, done.summary)
    mutable = body.get("responseContentType") == "MUTABLE_RESOURCE"
    results = [
        {} if done is None else {"resourceName": done.resource_name, **({resource: done.resource} if mutable else {})}
        for done in applied
    ]
    answer: dict[str, Any] = {"results": results}
    if errors:
        first = errors[0]
        answer["partialFailureError"] = {
            "code": 3,
            "message": f"Multiple errors in 'details'. First error: {first['message']}",
            "details": [google_ads_failure(errors, version)],
        }
    return answer


@router.post("/campaignBudgets:mutate")
async def mutate_budgets(
    version: str, customer_id: str, request: Request, body: dict = Body(...), state: SandboxState = Depends(get_state)
) -> dict:
    return _mutate(state, request, version, customer_id, body, "campaignBudget", _budget_op)


@router.post("/campaigns:mutate")
async def mutate_campaigns(
    version: str, customer_id: str, request: Request, body: dict = Body(...), state: SandboxState = Depends(get_state)
) -> dict:
    return _mutate(state, request, version, customer_id, body, "campaign", _campaign_op)


# ad groups, responsive search ads, keywords

AD_GROUP_IDS, AD_IDS, CRITERION_IDS = 15_000_000_000, 70_000_000_000, 40_000_000_000
HEADLINE_LIMIT, DESCRIPTION_LIMIT, PATH_LIMIT = 30, 90, 15
KEYWORD_LIMIT, KEYWORD_WORDS = 80, 10
HEADLINE_COUNT, DESCRIPTION_COUNT = (3, 15), (2, 4)
MATCH_TYPES = ("EXACT", "PHRASE", "BROAD")
PINNED = {
    "headlines": ("HEADLINE_1", "HEADLINE_2", "HEADLINE_3"),
    "descriptions": ("DESCRIPTION_1", "DESCRIPTION_2"),
}
AD_GROUP_TYPES = {"SEARCH": "SEARCH_STANDARD", "DISPLAY": "DISPLAY_STANDARD"}


def ad_group_view(group: GoogleAdGroup) -> dict[str, Any]:
    return {
        "resourceName": group.resource_name,
        "id": group.id,
        "name": group.name,
        "campaign": group.campaign,
        "status": group.status,
        "type": group.type,
    }


def ad_group_ad_view(ad: GoogleAdGroupAd) -> dict[str, Any]:
    rsa: dict[str, Any] = {"headlines": ad.headlines, "descriptions": ad.descriptions}
    if ad.path1 is not None:
        rsa["path1"] = ad.path1
    if ad.path2 is not None:
        rsa["path2"] = ad.path2
    return {
        "resourceName": ad.resource_name,
        "status": ad.status,
        "adGroup": ad.ad_group,
        "ad": {
            "resourceName": f"{ad.resource_name.split('/adGroupAds/')[0]}/ads/{ad.ad_id}",
            "id": ad.ad_id,
            "type": "RESPONSIVE_SEARCH_AD",
            "finalUrls": ad.final_urls,
            "responsiveSearchAd": rsa,
        },
    }


def criterion_view(criterion: GoogleCriterion) -> dict[str, Any]:
    return {
        "resourceName": criterion.resource_name,
        "criterionId": criterion.criterion_id,
        "adGroup": criterion.ad_group,
        "status": criterion.status,
        "negative": criterion.negative,
        "type": "KEYWORD",
        "keyword": {"text": criterion.text, "matchType": criterion.match_type},
    }


def _remove_group_contents(store: Store, group: GoogleAdGroup) -> None:
    group.status = "REMOVED"
    for ad in store.google_ads.values():
        if ad.ad_group == group.resource_name:
            ad.status = "REMOVED"
    for criterion in store.google_criteria.values():
        if criterion.ad_group == group.resource_name:
            criterion.status = "REMOVED"


def _live_campaign(store: Store, value: dict[str, Any], cid: str) -> GoogleCampaign:
    path = ("campaign",)
    return _live(store.google_campaigns, _resource(_required(value, "campaign"), "campaigns", cid, path), path)


def _live_ad_group(store: Store, resource_name: str, path: tuple[str, ...]) -> GoogleAdGroup:
    return _live(store.google_ad_groups, resource_name, path)


def _parent_ad_group(store: Store, value: dict[str, Any], cid: str) -> GoogleAdGroup:
    path = ("ad_group",)
    return _live_ad_group(store, _resource(_required(value, "adGroup"), "adGroups", cid, path), path)


def _refresh_group(store: Store, group: GoogleAdGroup) -> None:
    campaign = store.google_campaigns.get(group.campaign)
    if campaign is not None:
        refresh(store, campaign)


def _ad_group_op(state: SandboxState, cid: str, verb: str, op: dict[str, Any]) -> Applied:
    store = state.store
    value = op[verb]
    if verb == "create":
        name = _required(value, "name")
        campaign = _live_campaign(store, value, cid)
        status = _status(value, "ENABLED")
        expected = AD_GROUP_TYPES[campaign.channel_type]
        group_type = value.get("type", expected)
        if group_type != expected:
            raise OpError(
                "adGroupError",
                "AD_GROUP_TYPE_NOT_VALID_FOR_ADVERTISING_CHANNEL_TYPE",
                "The ad group type is not compatible with the campaign channel type.",
                path=("type",),
                trigger=group_type,
            )
        siblings = [
            g.name
            for g in store.google_ad_groups.values()
            if g.campaign == campaign.resource_name and g.status != "REMOVED"
        ]
        _unique(siblings, name, "adGroupError", "DUPLICATE_ADGROUP_NAME", "AdGroup with the same name already exists.")
        group_id = store.next_id(AD_GROUP_IDS)
        group = GoogleAdGroup(
            group_id, f"customers/{cid}/adGroups/{group_id}", name, campaign.resource_name, status, group_type
        )
        store.google_ad_groups[group.resource_name] = group
        refresh(store, campaign)
        summary = {"resourceName": group.resource_name, "name": name, "campaign": campaign.resource_name}
        return Applied(group.resource_name, "ad_group.create", {**summary, "status": status}, ad_group_view(group))
    if verb == "update":
        group = _live_ad_group(store, _resource(value.get("resourceName"), "adGroups", cid), ("resource_name",))
        changes: dict[str, Any] = {}
        for path in _mask(op, ("status", "name")):
            changes[path] = _status(value) if path == "status" else _required(value, "name")
        changes = {k: v for k, v in changes.items() if getattr(group, k) != v}
        for key, new in changes.items():
            setattr(group, key, new)
        _refresh_group(store, group)
        summary = {"resourceName": group.resource_name, "name": group.name, "status": group.status}
        return Applied(group.resource_name, "ad_group.update", {**summary, "changes": changes}, ad_group_view(group))
    group = _live_ad_group(store, _resource(value, "adGroups", cid, ()), ())
    _remove_group_contents(store, group)
    _refresh_group(store, group)
    summary = {"resourceName": group.resource_name, "name": group.name, "status": "REMOVED"}
    return Applied(group.resource_name, "ad_group.remove", summary, ad_group_view(group))


def _text_assets(rsa: dict[str, Any], field: str, limit: int, count: tuple[int, int]) -> list[dict[str, Any]]:
    where = ("ad", "responsive_search_ad")
    assets = rsa.get(field) or []
    if not isinstance(assets, list) or len(assets) < count[0]:
        raise OpError("collectionSizeError", "TOO_FEW", f"Too few {field} (at least {count[0]}).", path=(*where, field))
    if len(assets) > count[1]:
        raise OpError(
            "collectionSizeError", "TOO_MANY", f"Too many {field} (at most {count[1]}).", path=(*where, field)
        )
    cleaned = []
    for i, asset in enumerate(assets):
        at = (*where, (field, i))
        text = asset.get("text") if isinstance(asset, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise OpError("fieldError", "REQUIRED", "The required field was not present.", path=(*at, "text"))
        if len(text) > limit:
            raise OpError("stringLengthError", "TOO_LONG", "Too long.", path=(*at, "text"), trigger=text)
        pinned = asset.get("pinnedField")
        if pinned is not None and pinned not in PINNED[field]:
            raise OpError(
                "requestError",
                "INVALID_ENUM_VALUE",
                "The enum value is not permitted.",
                path=(*at, "pinned_field"),
                trigger=pinned,
            )
        cleaned.append({"text": text, **({"pinnedField": pinned} if pinned else {})})
    return cleaned


def _display_path(rsa: dict[str, Any], name: str) -> str | None:
    value = rsa.get(name)
    if value in (None, ""):
        return None
    if len(str(value)) > PATH_LIMIT:
        raise OpError(
            "stringLengthError", "TOO_LONG", "Too long.", path=("ad", "responsive_search_ad", name), trigger=value
        )
    return str(value)


def _ad_op(state: SandboxState, cid: str, verb: str, op: dict[str, Any]) -> Applied:
    store = state.store
    value = op[verb]
    if verb == "create":
        group = _parent_ad_group(store, value, cid)
        status = _status(value, "ENABLED")
        ad = value.get("ad")
        if not isinstance(ad, dict):
            raise OpError("fieldError", "REQUIRED", "The required field was not present.", path=("ad",))
        rsa = ad.get("responsiveSearchAd")
        if not isinstance(rsa, dict):
            raise OpError(
                "fieldError",
                "REQUIRED",
                "The sandbox serves responsive search ads only.",
                path=("ad", "responsive_search_ad"),
            )
        headlines = _text_assets(rsa, "headlines", HEADLINE_LIMIT, HEADLINE_COUNT)
        descriptions = _text_assets(rsa, "descriptions", DESCRIPTION_LIMIT, DESCRIPTION_COUNT)
        path1, path2 = _display_path(rsa, "path1"), _display_path(rsa, "path2")
        if path2 is not None and path1 is None:
            raise OpError(
                "adError",
                "CANNOT_SET_FIELD",
                "path2 can only be set together with path1.",
                path=("ad", "responsive_search_ad", "path2"),
            )
        urls = ad.get("finalUrls")
        if not isinstance(urls, list) or not urls:
            raise OpError("fieldError", "REQUIRED", "The required field was not present.", path=("ad", "final_urls"))
        for i, url in enumerate(urls):
            if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
                raise OpError(
                    "urlFieldError", "INVALID_URL", "The url is invalid.", path=("ad", ("final_urls", i)), trigger=url
                )
        ad_id = store.next_id(AD_IDS)
        created = GoogleAdGroupAd(
            ad_id,
            f"customers/{cid}/adGroupAds/{group.id}~{ad_id}",
            group.resource_name,
            status,
            headlines,
            descriptions,
            path1,
            path2,
            list(urls),
        )
        store.google_ads[created.resource_name] = created
        _refresh_group(store, group)
        summary = {
            "resourceName": created.resource_name,
            "adGroup": group.resource_name,
            "status": status,
            "headlines": [h["text"] for h in headlines],
            "descriptions": [d["text"] for d in descriptions],
            "finalUrls": created.final_urls,
        }
        return Applied(created.resource_name, "ad_group_ad.create", summary, ad_group_ad_view(created))
    resource_name = _resource(
        value.get("resourceName") if verb == "update" else value, "adGroupAds", cid, composite=True
    )
    found = _live(store.google_ads, resource_name)
    if verb == "update":
        _mask(op, ("status",))  # an ad's text cannot change: Google makes a new ad instead
        found.status = _status(value)
        kind = "ad_group_ad.update"
    else:
        found.status = "REMOVED"
        kind = "ad_group_ad.remove"
    parent = store.google_ad_groups.get(found.ad_group)
    if parent is not None:
        _refresh_group(store, parent)
    summary = {"resourceName": found.resource_name, "adGroup": found.ad_group, "status": found.status}
    return Applied(found.resource_name, kind, summary, ad_group_ad_view(found))


def _criterion_op(state: SandboxState, cid: str, verb: str, op: dict[str, Any]) -> Applied:
    store = state.store
    value = op[verb]
    if verb == "create":
        group = _parent_ad_group(store, value, cid)
        keyword = value.get("keyword")
        if not isinstance(keyword, dict):
            raise OpError("fieldError", "REQUIRED", "The sandbox serves keyword criteria only.", path=("keyword",))
        text = keyword.get("text")
        if not isinstance(text, str) or not text.strip():
            raise OpError("fieldError", "REQUIRED", "The required field was not present.", path=("keyword", "text"))
        if len(text) > KEYWORD_LIMIT:
            raise OpError(
                "criterionError",
                "KEYWORD_TEXT_TOO_LONG",
                "Keyword text is too long.",
                path=("keyword", "text"),
                trigger=text,
            )
        if len(text.split()) > KEYWORD_WORDS:
            raise OpError(
                "criterionError",
                "KEYWORD_HAS_TOO_MANY_WORDS",
                "Keyword has too many words.",
                path=("keyword", "text"),
                trigger=text,
            )
        match_type = keyword.get("matchType")
        if match_type not in MATCH_TYPES:
            raise OpError(
                "requestError",
                "INVALID_ENUM_VALUE",
                "The enum value is not permitted.",
                path=("keyword", "match_type"),
                trigger=match_type,
            )
        negative = value.get("negative", False)
        if not isinstance(negative, bool):
            raise OpError("fieldError", "INVALID_VALUE", "The field's value is invalid.", path=("negative",))
        status = _status(value, "ENABLED")
        criterion_id = store.next_id(CRITERION_IDS)
        created = GoogleCriterion(
            criterion_id,
            f"customers/{cid}/adGroupCriteria/{group.id}~{criterion_id}",
            group.resource_name,
            status,
            text,
            match_type,
            negative,
        )
        store.google_criteria[created.resource_name] = created
        _refresh_group(store, group)
        summary = {
            "resourceName": created.resource_name,
            "adGroup": group.resource_name,
            "text": text,
            "matchType": match_type,
            "negative": negative,
        }
        return Applied(created.resource_name, "criterion.create", summary, criterion_view(created))
    resource_name = _resource(
        value.get("resourceName") if verb == "update" else value, "adGroupCriteria", cid, composite=True
    )
    found = _live(store.google_criteria, resource_name)
    if verb == "update":
        _mask(op, ("status",))
        found.status = _status(value)
        kind = "criterion.update"
    else:
        found.status = "REMOVED"
        kind = "criterion.remove"
    parent = store.google_ad_groups.get(found.ad_group)
    if parent is not None:
        _refresh_group(store, parent)
    summary = {"resourceName": found.resource_name, "text": found.text, "status": found.status}
    return Applied(found.resource_name, kind, summary, criterion_view(found))


@router.post("/adGroups:mutate")
async def mutate_ad_groups(
    version: str, customer_id: str, request: Request, body: dict = Body(...), state: SandboxState = Depends(get_state)
) -> dict:
    return _mutate(state, request, version, customer_id, body, "adGroup", _ad_group_op)


@router.post("/adGroupAds:mutate")
async def mutate_ad_group_ads(
    version: str, customer_id: str, request: Request, body: dict = Body(...), state: SandboxState = Depends(get_state)
) -> dict:
    return _mutate(state, request, version, customer_id, body, "adGroupAd", _ad_op)


@router.post("/adGroupCriteria:mutate")
async def mutate_ad_group_criteria(
    version: str, customer_id: str, request: Request, body: dict = Body(...), state: SandboxState = Depends(get_state)
) -> dict:
    return _mutate(state, request, version, customer_id, body, "adGroupCriterion", _criterion_op)


# GAQL search

BUDGET_FIELDS = (
    "resource_name",
    "id",
    "name",
    "amount_micros",
    "status",
    "delivery_method",
    "explicitly_shared",
    "period",
)
CAMPAIGN_FIELDS = (
    "resource_name",
    "id",
    "name",
    "status",
    "campaign_budget",
    "advertising_channel_type",
    "bidding_strategy_type",
    "start_date",
    "end_date",
)
CUSTOMER_FIELDS = ("resource_name", "id", "descriptive_name", "currency_code", "time_zone", "manager", "test_account")
METRIC_FIELDS = (
    "cost_micros",
    "impressions",
    "clicks",
    "conversions",
    "conversions_value",
    "ctr",
    "average_cpc",
    "cost_per_conversion",
)
AD_GROUP_FIELDS = ("resource_name", "id", "name", "campaign", "status", "type")
AD_GROUP_AD_FIELDS = (
    "resource_name",
    "status",
    "ad_group",
    "ad.resource_name",
    "ad.id",
    "ad.type",
    "ad.final_urls",
    "ad.responsive_search_ad.headlines",
    "ad.responsive_search_ad.descriptions",
    "ad.responsive_search_ad.path1",
    "ad.responsive_search_ad.path2",
)
CRITERION_FIELDS = (
    "resource_name",
    "criterion_id",
    "ad_group",
    "status",
    "negative",
    "type",
    "keyword.text",
    "keyword.match_type",
)
KNOWN_FIELDS: dict[str, tuple[str, ...]] = {
    "ad_group": AD_GROUP_FIELDS,
    "ad_group_ad": AD_GROUP_AD_FIELDS,
    "ad_group_criterion": CRITERION_FIELDS,
    "campaign": CAMPAIGN_FIELDS,
    "campaign_budget": BUDGET_FIELDS,
    "customer": CUSTOMER_FIELDS,
    "metrics": METRIC_FIELDS,
    "segments": ("date",),
}
# resource -> the fields of each prefix that a query FROM it may select
SELECTABLE: dict[str, dict[str, tuple[str, ...]]] = {
    "campaign": {
        "campaign": CAMPAIGN_FIELDS,
        "campaign_budget": BUDGET_FIELDS,
        "customer": CUSTOMER_FIELDS,
        "metrics": METRIC_FIELDS,
        "segments": ("date",),
    },
    "campaign_budget": {"campaign_budget": BUDGET_FIELDS, "customer": CUSTOMER_FIELDS},
    "customer": {"customer": CUSTOMER_FIELDS},
    "ad_group": {"ad_group": AD_GROUP_FIELDS, "campaign": CAMPAIGN_FIELDS, "customer": CUSTOMER_FIELDS},
    "ad_group_ad": {
        "ad_group_ad": AD_GROUP_AD_FIELDS,
        "ad_group": AD_GROUP_FIELDS,
        "campaign": CAMPAIGN_FIELDS,
        "customer": CUSTOMER_FIELDS,
    },
    "ad_group_criterion": {
        "ad_group_criterion": CRITERION_FIELDS,
        "ad_group": AD_GROUP_FIELDS,
        "campaign": CAMPAIGN_FIELDS,
        "customer": CUSTOMER_FIELDS,
    },
}
FILTERABLE = {
    "campaign": ("campaign.name", "campaign.resource_name", "campaign.id", "campaign.status", "segments.date"),
    "campaign_budget": (
        "campaign_budget.name",
        "campaign_budget.resource_name",
        "campaign_budget.id",
        "campaign_budget.status",
    ),
    "customer": (),
    "ad_group": ("ad_group.name", "ad_group.resource_name", "ad_group.id", "ad_group.status", "ad_group.campaign"),
    "ad_group_ad": ("ad_group_ad.resource_name", "ad_group_ad.status", "ad_group_ad.ad_group"),
    "ad_group_criterion": (
        "ad_group_criterion.resource_name",
        "ad_group_criterion.status",
        "ad_group_criterion.ad_group",
        "ad_group_criterion.negative",
        "ad_group_criterion.keyword.text",
        "ad_group_criterion.keyword.match_type",
    ),
}
_LITERAL = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", re.S)
_QUERY = re.compile(
    r"^\s*SELECT\s+(?P<select>.+?)\s+FROM\s+(?P<resource>\w+)(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.I | re.S,
)
_CONDITION = re.compile(
    r"^(?P<field>[a-z_0-9]+(?:\.[a-z_0-9]+)+)\s*(?P<op>!=|>=|<=|=|>|<|NOT\s+IN\b|IN\b|BETWEEN\b)\s*"
    r"(?P<value>.+)$",
    re.I | re.S,
)
_FIELD = re.compile(r"^[a-z_0-9]+(?:\.[a-z_0-9]+)+$")
_BETWEEN = re.compile(r"\bBETWEEN\s+(\S+)\s+AND\s+(\S+)", re.I)
_AND_SPLIT = re.compile(r"\s+AND\s+", re.I)


@dataclass
class Query:
    select: list[str]
    resource: str
    conditions: list[tuple[str, str, Any]]  # (field, operator, value: str | list[str])
    order: list[tuple[str, bool]]  # (field, descending)
    limit: int | None


def query_error(value: str, message: str, version: str, trigger: Any = None) -> SandboxError:
    return ads_error(400, [failure("queryError", value, message, trigger)], version)


def parse_gaql(text: str, version: str) -> Query:
    """The sandbox's GAQL subset (see the module docstring); string literals may escape quotes."""
    literals: list[str] = []

    def stash(match: re.Match) -> str:
        raw = match.group(1) if match.group(1) is not None else match.group(2)
        literals.append(re.sub(r"\\(.)", r"\1", raw))
        return f"\x00{len(literals) - 1}\x00"

    masked = _LITERAL.sub(stash, text)
    if re.search(r"['\"]", masked):
        raise query_error("STRING_NOT_TERMINATED", "Query contains unterminated string.", version)
    match = _QUERY.match(masked)
    if match is None:
        if not re.match(r"^\s*SELECT\b", masked, re.I):
            raise query_error("EXPECTED_SELECT", "Expected SELECT clause.", version)
        if not re.search(r"\bFROM\b", masked, re.I):
            raise query_error("EXPECTED_FROM", "Expected FROM clause.", version)
        raise query_error("QUERY_ERROR", "Error in query: the sandbox could not parse it.", version, text)

    def value(token: str) -> str:
        token = token.strip()
        found = re.fullmatch(r"\x00(\d+)\x00", token)
        return literals[int(found.group(1))] if found else token

    select = [f.strip() for f in match.group("select").split(",")]
    for field in select:
        if not _FIELD.match(field):
            raise query_error("BAD_FIELD_NAME", f"Field name is invalid: '{field}'.", version, field)
    conditions: list[tuple[str, str, Any]] = []
    if match.group("where"):
        where = _BETWEEN.sub(lambda m: f"BETWEEN {m.group(1)} \x01 {m.group(2)}", match.group("where"))
        for part in _AND_SPLIT.split(where.strip()):
            found = _CONDITION.match(part.strip())
            if found is None:
                raise query_error(
                    "BAD_OPERATOR",
                    "Invalid condition (the sandbox supports =, !=, IN, NOT IN and BETWEEN).",
                    version,
                    part.replace("\x01", "AND"),
                )
            op = re.sub(r"\s+", " ", found.group("op").upper())
            raw = found.group("value").strip()
            if op in ("IN", "NOT IN"):
                if not (raw.startswith("(") and raw.endswith(")")):
                    raise query_error("EXPECTED_LIST", "Expected a list of values in parentheses.", version)
                parsed: Any = [value(v) for v in raw[1:-1].split(",") if v.strip()]
            elif op == "BETWEEN":
                bounds = raw.split("\x01")
                if len(bounds) != 2:
                    raise query_error("EXPECTED_AND", "Expected AND between values with BETWEEN operator.", version)
                parsed = [value(b) for b in bounds]
            else:
                parsed = value(raw)
            conditions.append((found.group("field").lower(), op, parsed))
    order = []
    for item in (match.group("order") or "").split(","):
        words = item.split()
        if not words:
            continue
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if len(words) > 2 or not _FIELD.match(words[0]) or direction not in ("ASC", "DESC"):
            raise query_error("QUERY_ERROR", f"Invalid ORDER BY item: '{item.strip()}'.", version)
        order.append((words[0], direction == "DESC"))
    limit = int(match.group("limit")) if match.group("limit") else None
    return Query(select, match.group("resource").lower(), conditions, order, limit)


def _check_fields(query: Query, version: str) -> None:
    allowed = SELECTABLE.get(query.resource)
    if allowed is None:
        raise query_error(
            "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE",
            f"Invalid resource type '{query.resource}' in FROM clause (the sandbox serves {', '.join(SELECTABLE)}).",
            version,
            query.resource,
        )
    for field in [*query.select, *(f for f, _ in query.order)]:
        prefix, attr = field.split(".", 1)
        if attr not in KNOWN_FIELDS.get(prefix, ()):
            raise query_error("UNRECOGNIZED_FIELD", f"Unrecognized field in the query: '{field}'.", version, field)
        if attr not in allowed.get(prefix, ()):
            raise query_error(
                "PROHIBITED_FIELD_IN_SELECT_CLAUSE",
                f"The field '{field}' cannot be selected with FROM {query.resource} in the sandbox.",
                version,
                field,
            )
    for field, op, _ in query.conditions:
        if field not in FILTERABLE[query.resource]:
            raise query_error(
                "QUERY_ERROR", f"The sandbox does not filter on '{field}' with FROM {query.resource}.", version, field
            )
        allowed_ops = (
            ("BETWEEN", "=", ">=", "<=", ">", "<") if field == "segments.date" else ("=", "!=", "IN", "NOT IN")
        )
        if op not in allowed_ops:
            raise query_error("OPERATOR_FIELD_MISMATCH", f"Operator {op} cannot be used with '{field}'.", version, op)


def _date_range(query: Query, version: str) -> tuple[date, date] | None:
    """The bounded `segments.date` range of the WHERE clause, if it has one."""
    low: date | None = None
    high: date | None = None
    conditions = [(op, value) for field, op, value in query.conditions if field == "segments.date"]
    if not conditions:
        return None
    for op, value in conditions:
        try:
            values = [date.fromisoformat(v) for v in (value if isinstance(value, list) else [value])]
        except ValueError as exc:
            raise query_error(
                "INVALID_DATE_FORMAT", "Invalid date format (expected YYYY-MM-DD).", version, value
            ) from exc
        if op == "BETWEEN":
            low, high = max(low or values[0], values[0]), min(high or values[1], values[1])
        elif op == "=":
            low, high = max(low or values[0], values[0]), min(high or values[0], values[0])
        elif op in (">=", ">"):
            start = values[0] if op == ">=" else date.fromordinal(values[0].toordinal() + 1)
            low = max(low or start, start)
        else:
            stop = values[0] if op == "<=" else date.fromordinal(values[0].toordinal() - 1)
            high = min(high or stop, stop)
    if low is None or high is None:
        raise query_error(
            "EXPECTED_FILTERS_ON_DATE_RANGE", "Filters on segments.date must give a finite range.", version
        )
    if low > high:
        raise query_error("DATE_RANGE_TOO_NARROW", "Filters on date have a start date after end date.", version)
    if (high - low).days >= MAX_DAYS:
        raise query_error("QUERY_ERROR", f"The sandbox answers date ranges of up to {MAX_DAYS} days.", version)
    return low, high


def _get(view: dict[str, Any], attr: str) -> Any:
    """The value at a (possibly nested) field path such as `keyword.match_type`, or None."""
    value: Any = view
    for part in attr.split("."):
        value = value.get(camel(part)) if isinstance(value, dict) else None
    return value


def _put(row: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        row = row.setdefault(part, {})
    row[path[-1]] = value


def _literal(value: Any) -> str:
    """How GAQL writes a stored value: booleans as TRUE / FALSE."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value)


def _matches(view: dict[str, Any], prefix: str, query: Query) -> bool:
    for field, op, value in query.conditions:
        res, attr = field.split(".", 1)
        if res != prefix:
            continue
        actual = _literal(_get(view, attr))
        if isinstance(_get(view, attr), bool):
            value = [v.upper() for v in value] if isinstance(value, list) else str(value).upper()
        if op == "=" and actual != value or op == "!=" and actual == value:
            return False
        if op == "IN" and actual not in value or op == "NOT IN" and actual in value:
            return False
    return True


def _names_removed(query: Query, prefix: str) -> bool:
    """Whether the query asks for objects by resource name, id or status (then REMOVED ones count)."""
    return any(
        field in (f"{prefix}.resource_name", f"{prefix}.id", f"{prefix}.status") and op in ("=", "IN")
        for field, op, _ in query.conditions
    )


def _row(query: Query, sources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    main = camel(query.resource)
    row: dict[str, Any] = {main: {"resourceName": sources[query.resource]["resourceName"]}}
    for field in query.select:
        prefix, attr = field.split(".", 1)
        value = _get(sources[prefix], attr)
        if value is not None:
            _put(row, [camel(p) for p in field.split(".")], value)
    return row


def _children(state: SandboxState, query: Query) -> list[dict[str, Any]] | None:
    """Rows of FROM ad_group, ad_group_ad or ad_group_criterion (None for other resources)."""
    store = state.store
    customer = customer_view(state)

    def parents(ad_group_rn: str | None, campaign_rn: str | None) -> dict[str, dict[str, Any]]:
        group = store.google_ad_groups.get(ad_group_rn or "")
        campaign = store.google_campaigns.get(campaign_rn or (group.campaign if group else ""))
        return {
            "ad_group": ad_group_view(group) if group else {},
            "campaign": campaign_view(campaign) if campaign else {},
            "customer": customer,
        }

    def by_id(rn: str) -> int:
        return int(rn.rsplit("/", 1)[1].split("~")[-1])

    if query.resource == "ad_group":
        views = [ad_group_view(g) for g in store.google_ad_groups.values()]
        sources = [{**parents(None, v["campaign"]), "ad_group": v} for v in views]
    elif query.resource == "ad_group_ad":
        views = [ad_group_ad_view(a) for a in store.google_ads.values()]
        sources = [{**parents(v["adGroup"], None), "ad_group_ad": v} for v in views]
    elif query.resource == "ad_group_criterion":
        views = [criterion_view(c) for c in store.google_criteria.values()]
        sources = [{**parents(v["adGroup"], None), "ad_group_criterion": v} for v in views]
    else:
        return None
    show_removed = _names_removed(query, query.resource)
    return [
        _row(query, source)
        for view, source in sorted(zip(views, sources, strict=True), key=lambda vs: by_id(vs[0]["resourceName"]))
        if (show_removed or view["status"] != "REMOVED") and _matches(view, query.resource, query)
    ]


def run_query(state: SandboxState, query: Query, version: str) -> list[dict[str, Any]]:
    _check_fields(query, version)
    store = state.store
    customer = customer_view(state)
    wants_metrics = any(f.startswith(("metrics.", "segments.")) for f in query.select)
    span = _date_range(query, version)
    if wants_metrics and span is None:
        raise query_error(
            "EXPECTED_FILTERS_ON_DATE_RANGE",
            "Metrics and segments need a finite segments.date range "
            "in the WHERE clause (the sandbox does not know what day it is).",
            version,
        )
    if query.resource == "customer":
        return [_row(query, {"customer": customer})]
    children = _children(state, query)
    if children is not None:
        return children
    if query.resource == "campaign_budget":
        show_removed = _names_removed(query, "campaign_budget")
        budgets = [budget_view(b) for b in sorted(store.google_budgets.values(), key=lambda b: int(b.id))]
        return [
            _row(query, {"campaign_budget": v, "customer": customer})
            for v in budgets
            if (show_removed or v["status"] != "REMOVED") and _matches(v, "campaign_budget", query)
        ]
    show_removed = _names_removed(query, "campaign")
    rows = []
    for campaign in sorted(store.google_campaigns.values(), key=lambda c: int(c.id)):
        view = campaign_view(campaign)
        if not (show_removed or campaign.status != "REMOVED") or not _matches(view, "campaign", query):
            continue
        budget = store.google_budgets.get(campaign.budget)
        sources = {"campaign": view, "campaign_budget": budget_view(budget) if budget else {}, "customer": customer}
        if not wants_metrics or span is None:  # (metrics came with a span: checked above)
            rows.append(_row(query, sources))
            continue
        since, until = span
        campaign.horizon = max(campaign.horizon or until, until)
        daily = [(day, performance(state, campaign, day)) for day in days(since, until)]
        if "segments.date" in query.select:
            rows += [
                _row(query, {**sources, "metrics": metrics_view(p), "segments": {"date": day.isoformat()}})
                for day, p in daily
                if not p.empty
            ]
        else:
            summed = total([p for _, p in daily], "google_ads")
            if not summed.empty:
                rows.append(_row(query, {**sources, "metrics": metrics_view(summed)}))
    return rows


def _sort(rows: list[dict[str, Any]], order: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    def key(field: str):
        def get(row: dict[str, Any]) -> tuple:
            value = _get(row, field)
            if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
                return (0, int(value), "")
            if isinstance(value, int | float):
                return (0, value, "")
            return (1, 0, "" if value is None else str(value))

        return get

    for field, descending in reversed(order):
        rows.sort(key=key(field), reverse=descending)
    return rows


def _page_token(query_text: str, offset: int) -> str:
    digest = hashlib.sha256(query_text.encode()).hexdigest()[:16]
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "q": digest}).encode()).decode().rstrip("=")


def _page_offset(token: str, query_text: str, version: str) -> int:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset, digest = int(decoded["o"]), decoded["q"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ads_error(
            400, [failure("requestError", "INVALID_PAGE_TOKEN", "Page token is invalid.")], version
        ) from exc
    if digest != hashlib.sha256(query_text.encode()).hexdigest()[:16]:
        raise ads_error(400, [failure("requestError", "INVALID_PAGE_TOKEN", "Page token is invalid.")], version)
    return offset


@router.post("/googleAds:search")
async def search(
    version: str, customer_id: str, body: dict = Body(...), state: SandboxState = Depends(get_state)
) -> dict:
    _check_customer(state, customer_id, version)
    text = body.get("query")
    if not isinstance(text, str) or not text.strip():
        raise query_error("UNEXPECTED_END_OF_QUERY", "Query is incomplete and cannot be parsed.", version)
    size = state.tokens.google_ads_page_size
    if body.get("pageSize") not in (None, 0, "0"):
        raise ads_error(
            400,
            [
                failure(
                    "requestError",
                    "PAGE_SIZE_NOT_SUPPORTED",
                    "Setting the page size is not "
                    f"supported. Search Responses will have fixed page size of '{size}' rows.",
                )
            ],
            version,
        )
    query = parse_gaql(text, version)
    rows = _sort(run_query(state, query, version), query.order)
    if query.limit is not None:
        rows = rows[: query.limit]
    offset = _page_offset(body["pageToken"], text, version) if body.get("pageToken") else 0
    chunk = rows[offset : offset + size]
    answer: dict[str, Any] = {}
    if chunk:  # proto3 JSON leaves out an empty list
        answer["results"] = chunk
    if offset + size < len(rows):
        answer["nextPageToken"] = _page_token(text, offset + size)
    answer["fieldMask"] = ",".join(".".join(camel(p) for p in f.split(".")) for f in query.select)
    answer["queryResourceConsumption"] = str(len(rows) * 10 + 50)
    return answer
