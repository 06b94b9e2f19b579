"""Google Ads REST client (`/v18/customers/{id}/...`): campaign budgets, campaigns, ad
groups, responsive search ads, keywords, GAQL.

Every call carries an OAuth bearer token, the `developer-token` header and, when the
account is reached through a manager account, `login-customer-id`. Budgets are daily
amounts in micros of the account currency (`amount_micros=20_000_000` is 20.00), a
multiple of 10,000; budget changes set absolute values. Campaigns are Search campaigns
with manual CPC, each on its own (not explicitly shared) budget.

A campaign's ad group, ad and keywords are each made in one mutate request holding all
of that kind's operations. Keywords are sent with `partialFailure: true`; any operation
the platform refuses is raised as `PlatformRejected` naming the refused keywords (the
accepted ones stay, and a retry finds them by text and match type instead of making
them twice). Ad groups are found by name in their campaign, ads by their ad group.

Reads go through `googleAds:search` (GAQL, every page followed). String literals are
escaped, so a name with a quote cannot change the query. Removing something that is
already removed or unknown returns False, so a teardown can be retried; a budget can
only be removed once no live campaign uses it.

Errors: `code` is the first GoogleAdsFailure error as `<kind>.<VALUE>`
(`campaignBudgetError.DUPLICATE_NAME`, `quotaError.RESOURCE_EXHAUSTED`), else Google's
`status` (`UNAUTHENTICATED`, ...). RESOURCE_EXHAUSTED (429) is `RateLimited`, waiting
for the failure's `quotaErrorDetails.retryDelay`, else a `google.rpc.RetryInfo` delay,
else `Retry-After`; 5xx is `PlatformUnavailable`; other 4xx `PlatformRejected`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from datetime import date
from typing import Any

import httpx
from pydantic import BaseModel

from domain.search_ads import Keyword, MatchType
from integrations.errors import PlatformError, PlatformRejected, PlatformUnavailable, RateLimited
from integrations.http import PlatformClient, TokenSource, json_body, retry_after_header

GOOGLE_ADS_API_VERSION = "v18"
GONE_CODES = frozenset(
    {
        "mutateError.RESOURCE_NOT_FOUND",
        "campaignBudgetError.CAMPAIGN_BUDGET_REMOVED",
        "operationAccessDeniedError.OPERATION_NOT_PERMITTED_FOR_REMOVED_RESOURCE",
    }
)
BUDGET_FIELDS = (
    "campaign_budget.resource_name, campaign_budget.name, campaign_budget.amount_micros, campaign_budget.status"
)
CAMPAIGN_FIELDS = "campaign.resource_name, campaign.name, campaign.status, campaign.campaign_budget"
AD_GROUP_FIELDS = "ad_group.resource_name, ad_group.name, ad_group.status, ad_group.campaign"
AD_FIELDS = "ad_group_ad.resource_name, ad_group_ad.status, ad_group_ad.ad_group"
CRITERION_FIELDS = (
    "ad_group_criterion.resource_name, ad_group_criterion.status, ad_group_criterion.negative, "
    "ad_group_criterion.keyword.text, ad_group_criterion.keyword.match_type"
)
METRIC_FIELDS = (
    "segments.date, metrics.cost_micros, metrics.impressions, metrics.clicks, metrics.conversions, "
    "metrics.conversions_value"
)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")


class GoogleCustomer(BaseModel):
    id: str
    currency_code: str
    time_zone: str | None = None


class GoogleCampaign(BaseModel):
    resource_name: str
    name: str
    status: str
    budget: str | None = None  # the campaign budget's resource name


class GoogleBudget(BaseModel):
    resource_name: str
    name: str
    amount_micros: int
    status: str | None = None


class GoogleAdGroup(BaseModel):
    resource_name: str
    name: str
    status: str
    campaign: str  # resource name


class GoogleAd(BaseModel):
    """An ad group ad (`adGroupAds/{ad group id}~{ad id}`)."""

    resource_name: str
    status: str
    ad_group: str


class GoogleKeyword(BaseModel):
    """A keyword criterion of an ad group (`adGroupCriteria/{ad group id}~{criterion id}`)."""

    resource_name: str
    status: str
    keyword: Keyword
    negative: bool


class GoogleMetricsRow(BaseModel):
    day: date
    cost_micros: int
    impressions: int
    clicks: int
    conversions: float
    conversions_value: float


class GoogleCampaignDay(GoogleMetricsRow):
    """One campaign's metrics for one day (account-level reporting)."""

    campaign: str  # resource name
    campaign_name: str


def gaql_string(value: str) -> str:
    """A GAQL string literal: single-quoted, with backslashes and quotes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class GoogleAdsClient(PlatformClient):
    platform = "google_ads"

    def __init__(
        self,
        base_url: str,
        token: str | TokenSource,
        *,
        customer_id: str,
        developer_token: str,
        login_customer_id: str | None = None,
        api_version: str = GOOGLE_ADS_API_VERSION,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`customer_id` (and `login_customer_id`, the manager account) as digits; dashes are dropped."""
        super().__init__(base_url, token, timeout=timeout, transport=transport)
        self.customer_id = customer_id.replace("-", "")
        self._prefix = f"/{api_version}/customers/{self.customer_id}"
        self._http.headers["developer-token"] = developer_token
        if login_customer_id:
            self._http.headers["login-customer-id"] = login_customer_id.replace("-", "")

    # reads

    async def search(self, query: str) -> list[dict[str, Any]]:
        """Every row of a GAQL query (camelCase JSON, int64 values as strings), all pages."""
        rows: list[dict[str, Any]] = []
        payload: dict[str, Any] = {"query": query}
        while True:
            body = await self._json("POST", f"{self._prefix}/googleAds:search", json=payload)
            rows.extend(body.get("results") or [])
            token = body.get("nextPageToken")
            if not token:
                return rows
            payload = {"query": query, "pageToken": token}

    async def customer(self) -> GoogleCustomer:
        """The account's id, currency and time zone."""
        rows = await self.search("SELECT customer.id, customer.currency_code, customer.time_zone FROM customer")
        if not rows:
            raise PlatformRejected(self.platform, 404, "NOT_FOUND", f"customer {self.customer_id} not found")
        customer = rows[0].get("customer", {})
        return GoogleCustomer(
            id=str(customer.get("id", self.customer_id)),
            currency_code=customer["currencyCode"],
            time_zone=customer.get("timeZone"),
        )

    # budgets

    async def find_budget(self, name: str) -> GoogleBudget | None:
        """The budget with exactly this name that is not removed, if any."""
        rows = await self.search(
            f"SELECT {BUDGET_FIELDS} FROM campaign_budget WHERE campaign_budget.name = "
            f"{gaql_string(name)} AND campaign_budget.status != 'REMOVED'"
        )
        budgets = [_budget(row) for row in rows]
        return next((b for b in budgets if b.name == name and b.status != "REMOVED"), None)

    async def create_budget(self, *, name: str, amount_micros: int) -> str:
        """Create a daily, standard-delivery budget for one campaign; return its resource name."""
        create = {
            "name": name,
            "amountMicros": str(amount_micros),
            "deliveryMethod": "STANDARD",
            "explicitlyShared": False,
        }
        return await self._mutate("campaignBudgets", {"create": create})

    async def get_budget(self, resource_name: str) -> GoogleBudget:
        rows = await self.search(
            f"SELECT {BUDGET_FIELDS} FROM campaign_budget WHERE "
            f"campaign_budget.resource_name = {gaql_string(resource_name)}"
        )
        if not rows:
            raise PlatformRejected(self.platform, 404, "NOT_FOUND", f"campaign budget {resource_name} not found")
        return _budget(rows[0])

    async def set_budget(self, resource_name: str, amount_micros: int) -> None:
        """Set the budget's daily amount (absolute, micros)."""
        update = {"resourceName": resource_name, "amountMicros": str(amount_micros)}
        await self._mutate("campaignBudgets", {"update": update, "updateMask": "amountMicros"})

    async def remove_budget(self, resource_name: str) -> bool:
        """Remove the budget; False when it was already removed or does not exist."""
        return await self._remove("campaignBudgets", resource_name)

    # campaigns

    async def find_campaign(self, name: str) -> GoogleCampaign | None:
        """The campaign with exactly this name that is not removed, if any."""
        rows = await self.search(
            f"SELECT {CAMPAIGN_FIELDS} FROM campaign WHERE campaign.name = {gaql_string(name)} "
            "AND campaign.status != 'REMOVED'"
        )
        campaigns = [_campaign(row) for row in rows]
        return next((c for c in campaigns if c.name == name and c.status != "REMOVED"), None)

    async def create_campaign(
        self,
        *,
        name: str,
        budget: str,
        status: str = "PAUSED",
        start_date: date | None = None,
        end_date: date | None = None,
    ) -> str:
        """Create a Search campaign (manual CPC, Google Search only) on `budget`; return its resource name."""
        create: dict[str, Any] = {
            "name": name,
            "status": status,
            "advertisingChannelType": "SEARCH",
            "campaignBudget": budget,
            "manualCpc": {},
            "networkSettings": {
                "targetGoogleSearch": True,
                "targetSearchNetwork": False,
                "targetContentNetwork": False,
            },
        }
        if start_date is not None:
            create["startDate"] = start_date.isoformat()
        if end_date is not None:
            create["endDate"] = end_date.isoformat()
        return await self._mutate("campaigns", {"create": create})

    async def get_campaign(self, resource_name: str) -> GoogleCampaign:
        rows = await self.search(
            f"SELECT {CAMPAIGN_FIELDS} FROM campaign WHERE campaign.resource_name = {gaql_string(resource_name)}"
        )
        if not rows:
            raise PlatformRejected(self.platform, 404, "NOT_FOUND", f"campaign {resource_name} not found")
        return _campaign(rows[0])

    async def set_status(self, resource_name: str, status: str) -> None:
        """Set a campaign's status: ENABLED or PAUSED."""
        await self._mutate(
            "campaigns", {"update": {"resourceName": resource_name, "status": status}, "updateMask": "status"}
        )

    async def remove_campaign(self, resource_name: str) -> bool:
        """Remove the campaign; False when it was already removed or does not exist."""
        return await self._remove("campaigns", resource_name)

    async def metrics(self, campaign: str, *, since: date, until: date) -> list[GoogleMetricsRow]:
        """Daily metrics of the campaign (by resource name); days without delivery have no row."""
        rows = await self.search(
            f"SELECT {METRIC_FIELDS} FROM campaign WHERE campaign.resource_name = {gaql_string(campaign)} "
            f"AND segments.date BETWEEN '{since.isoformat()}' AND '{until.isoformat()}' ORDER BY segments.date"
        )
        result = []
        for row in rows:
            metrics = row.get("metrics", {})
            result.append(
                GoogleMetricsRow(
                    day=date.fromisoformat(row["segments"]["date"]),
                    cost_micros=int(metrics.get("costMicros") or 0),
                    impressions=int(metrics.get("impressions") or 0),
                    clicks=int(metrics.get("clicks") or 0),
                    conversions=float(metrics.get("conversions") or 0.0),
                    conversions_value=float(metrics.get("conversionsValue") or 0.0),
                )
            )
        return result

    async def campaign_days(self, *, since: date, until: date) -> list[GoogleCampaignDay]:
        """Daily metrics of every campaign of the account, removed ones included (reporting)."""
        rows = await self.search(
            f"SELECT campaign.resource_name, campaign.name, {METRIC_FIELDS} FROM campaign "
            "WHERE campaign.status IN ('ENABLED', 'PAUSED', 'REMOVED') "
            f"AND segments.date BETWEEN '{since.isoformat()}' AND '{until.isoformat()}' "
            "ORDER BY segments.date, campaign.resource_name"
        )
        result = []
        for row in rows:
            metrics, campaign = row.get("metrics", {}), row.get("campaign", {})
            result.append(
                GoogleCampaignDay(
                    campaign=str(campaign.get("resourceName") or ""),
                    campaign_name=str(campaign.get("name") or ""),
                    day=date.fromisoformat(row["segments"]["date"]),
                    cost_micros=int(metrics.get("costMicros") or 0),
                    impressions=int(metrics.get("impressions") or 0),
                    clicks=int(metrics.get("clicks") or 0),
                    conversions=float(metrics.get("conversions") or 0.0),
                    conversions_value=float(metrics.get("conversionsValue") or 0.0),
                )
            )
        return result

    # ad groups

    async def find_ad_group(self, campaign: str, name: str) -> GoogleAdGroup | None:
        """The campaign's ad group with exactly this name that is not removed, if any."""
        rows = await self.search(
            f"SELECT {AD_GROUP_FIELDS} FROM ad_group WHERE ad_group.campaign = {gaql_string(campaign)} "
            f"AND ad_group.name = {gaql_string(name)} AND ad_group.status != 'REMOVED'"
        )
        groups = [_ad_group(row) for row in rows]
        return next((g for g in groups if g.name == name and g.status != "REMOVED"), None)

    async def create_ad_group(self, *, campaign: str, name: str, status: str) -> str:
        """Create a standard Search ad group in `campaign`; return its resource name."""
        create = {"name": name, "campaign": campaign, "status": status, "type": "SEARCH_STANDARD"}
        return await self._mutate("adGroups", {"create": create})

    async def set_ad_group_status(self, resource_name: str, status: str) -> None:
        await self._mutate(
            "adGroups", {"update": {"resourceName": resource_name, "status": status}, "updateMask": "status"}
        )

    async def remove_ad_group(self, resource_name: str) -> bool:
        """Remove the ad group (its ads and keywords go with it); False when already gone."""
        return await self._remove("adGroups", resource_name)

    # ads

    async def ads(self, ad_group: str) -> list[GoogleAd]:
        """The ad group's ads that are not removed."""
        rows = await self.search(
            f"SELECT {AD_FIELDS} FROM ad_group_ad WHERE ad_group_ad.ad_group = {gaql_string(ad_group)} "
            "AND ad_group_ad.status != 'REMOVED'"
        )
        return [_ad(row) for row in rows if row.get("adGroupAd", {}).get("status") != "REMOVED"]

    async def create_responsive_search_ad(
        self,
        *,
        ad_group: str,
        headlines: list[str],
        descriptions: list[str],
        final_url: str,
        path1: str | None = None,
        path2: str | None = None,
        status: str = "ENABLED",
    ) -> str:
        """Create a responsive search ad (AdTextAssets, one final URL); return the ad group ad's resource name."""
        rsa: dict[str, Any] = {
            "headlines": [{"text": h} for h in headlines],
            "descriptions": [{"text": d} for d in descriptions],
        }
        if path1 is not None:
            rsa["path1"] = path1
        if path2 is not None:
            rsa["path2"] = path2
        create = {
            "adGroup": ad_group,
            "status": status,
            "ad": {"finalUrls": [final_url], "responsiveSearchAd": rsa},
        }
        return await self._mutate("adGroupAds", {"create": create})

    async def set_ad_status(self, resource_name: str, status: str) -> None:
        await self._mutate(
            "adGroupAds", {"update": {"resourceName": resource_name, "status": status}, "updateMask": "status"}
        )

    async def remove_ad(self, resource_name: str) -> bool:
        return await self._remove("adGroupAds", resource_name)

    # keywords

    async def keywords(self, ad_group: str) -> list[GoogleKeyword]:
        """The ad group's keyword criteria (negatives too) that are not removed."""
        rows = await self.search(
            f"SELECT {CRITERION_FIELDS} FROM ad_group_criterion WHERE ad_group_criterion.ad_group = "
            f"{gaql_string(ad_group)} AND ad_group_criterion.status != 'REMOVED'"
        )
        return [_keyword(row) for row in rows if row.get("adGroupCriterion", {}).get("status") != "REMOVED"]

    async def create_keywords(
        self, ad_group: str, keywords: Sequence[Keyword], negatives: Sequence[Keyword] = ()
    ) -> list[str]:
        """Add keywords and negative keywords to the ad group in one request (partial failure
        on); return their resource names. Raises PlatformRejected naming every refused one."""
        ops: list[dict[str, Any]] = []
        labels: list[str] = []
        for keyword, negative in [*((k, False) for k in keywords), *((k, True) for k in negatives)]:
            create: dict[str, Any] = {
                "adGroup": ad_group,
                "keyword": {"text": keyword.text, "matchType": keyword.match_type.value},
            }
            if negative:
                create["negative"] = True
            else:
                create["status"] = "ENABLED"
            ops.append({"create": create})
            labels.append(("negative " if negative else "") + keyword.notation())
        if not ops:
            return []
        body = await self._mutate_many("adGroupCriteria", ops, partial=True)
        self._raise_partial_failure("adGroupCriteria", body, labels)
        return [str(r["resourceName"]) for r in body["results"]]

    async def remove_keywords(self, resource_names: list[str]) -> int:
        """Remove the criteria in one request; how many were still there to remove."""
        if not resource_names:
            return 0
        body = await self._mutate_many("adGroupCriteria", [{"remove": rn} for rn in resource_names], partial=True)
        gone = {i for i, code, _ in _partial_errors(body) if code in GONE_CODES}
        self._raise_partial_failure("adGroupCriteria", body, resource_names, ignore=gone)
        return len(resource_names) - len(gone)

    # plumbing

    async def _mutate(self, collection: str, operation: dict[str, Any]) -> str:
        body = await self._mutate_many(collection, [operation])
        return str(body["results"][0]["resourceName"])

    async def _mutate_many(
        self, collection: str, operations: list[dict[str, Any]], *, partial: bool = False
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"operations": operations}
        if partial:
            payload["partialFailure"] = True
        body = await self._json("POST", f"{self._prefix}/{collection}:mutate", json=payload)
        return body if isinstance(body, dict) else {}

    def _raise_partial_failure(
        self, collection: str, body: dict[str, Any], labels: list[str], *, ignore: AbstractSet[int] = frozenset()
    ) -> None:
        """A `partialFailureError` is a refusal (apart from the `ignore`d operations): never dropped quietly."""
        failure = body.get("partialFailureError")
        if not failure:
            return
        found = _partial_errors(body)
        if not found:  # a failure we cannot read is still a failure
            message = str(failure.get("message") if isinstance(failure, dict) else failure)
            raise PlatformRejected(self.platform, 400, "PARTIAL_FAILURE", f"{collection}: {message}")
        errors = [e for e in found if e[0] not in ignore]
        if not errors:
            return
        named = "; ".join(
            f"operations[{i}] {labels[i] if 0 <= i < len(labels) else '?'}: {code} ({message})"
            for i, code, message in errors
        )
        raise PlatformRejected(
            self.platform, 400, errors[0][1], f"{len(errors)} of {len(labels)} {collection} refused: {named}"
        )

    async def _remove(self, collection: str, resource_name: str) -> bool:
        try:
            await self._mutate(collection, {"remove": resource_name})
        except PlatformRejected as err:
            if err.code in GONE_CODES:
                return False
            raise
        return True

    def _token_refused(self, response: httpx.Response) -> bool:
        """A 401 about the OAuth token; one about the developer token is not cured by a refresh."""
        return response.status_code == 401 and "DEVELOPER_TOKEN" not in response.text

    def _error(self, response: httpx.Response) -> PlatformError:
        """Read Google's error and its GoogleAdsFailure (first error's code, quota delay)."""
        status = response.status_code
        body = json_body(response)
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        google_status = str(error.get("status") or f"HTTP_{status}")
        message = str(error.get("message") or response.reason_phrase or "error")
        details = error.get("details")
        details = details if isinstance(details, list) else []
        failures = [
            e
            for d in details
            if isinstance(d, dict) and str(d.get("@type", "")).endswith("GoogleAdsFailure")
            for e in (d.get("errors") or [])
            if isinstance(e, dict)
        ]
        code = google_status
        if failures:
            error_code = failures[0].get("errorCode")
            if isinstance(error_code, dict) and error_code:
                kind, value = next(iter(error_code.items()))
                code = f"{kind}.{value}"
            message = str(failures[0].get("message") or message)
        if status == 429 or google_status == "RESOURCE_EXHAUSTED":
            retry_after = _quota_delay(failures)
            if retry_after is None:
                retry_after = _retry_info(details)
            if retry_after is None:
                retry_after = retry_after_header(response.headers)
            return RateLimited(self.platform, status, code, message, retry_after=retry_after)
        if status >= 500:
            return PlatformUnavailable(
                self.platform, status, code, message, retry_after=retry_after_header(response.headers)
            )
        return PlatformRejected(self.platform, status, code, message)


def _budget(row: dict[str, Any]) -> GoogleBudget:
    budget = row.get("campaignBudget", {})
    return GoogleBudget(
        resource_name=budget["resourceName"],
        name=budget.get("name", ""),
        amount_micros=int(budget.get("amountMicros") or 0),
        status=budget.get("status"),
    )


def _campaign(row: dict[str, Any]) -> GoogleCampaign:
    campaign = row.get("campaign", {})
    return GoogleCampaign(
        resource_name=campaign["resourceName"],
        name=campaign.get("name", ""),
        status=campaign.get("status", "UNKNOWN"),
        budget=campaign.get("campaignBudget"),
    )


def _ad_group(row: dict[str, Any]) -> GoogleAdGroup:
    group = row.get("adGroup", {})
    return GoogleAdGroup(
        resource_name=group["resourceName"],
        name=group.get("name", ""),
        status=group.get("status", "UNKNOWN"),
        campaign=group.get("campaign", ""),
    )


def _ad(row: dict[str, Any]) -> GoogleAd:
    ad = row.get("adGroupAd", {})
    return GoogleAd(
        resource_name=ad["resourceName"], status=ad.get("status", "UNKNOWN"), ad_group=ad.get("adGroup", "")
    )


def _keyword(row: dict[str, Any]) -> GoogleKeyword:
    criterion = row.get("adGroupCriterion", {})
    keyword = criterion.get("keyword") or {}
    return GoogleKeyword(
        resource_name=criterion["resourceName"],
        status=criterion.get("status", "UNKNOWN"),
        keyword=Keyword(text=keyword.get("text", ""), match_type=MatchType(keyword.get("matchType", "BROAD"))),
        negative=bool(criterion.get("negative", False)),
    )


def _partial_errors(body: dict[str, Any]) -> list[tuple[int, str, str]]:
    """(operation index, `<kind>.<VALUE>`, message) of each error in a `partialFailureError`."""
    failure = body.get("partialFailureError")
    details = failure.get("details") if isinstance(failure, dict) else None
    found = []
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, dict) or not str(detail.get("@type", "")).endswith("GoogleAdsFailure"):
            continue
        for error in detail.get("errors") or []:
            elements = (error.get("location") or {}).get("fieldPathElements") or [{}]
            index = elements[0].get("index", -1) if elements[0].get("fieldName") == "operations" else -1
            kind, value = next(iter((error.get("errorCode") or {"unknown": "UNKNOWN"}).items()))
            found.append((int(index), f"{kind}.{value}", str(error.get("message") or "")))
    return found


def _seconds(value: Any) -> float | None:
    match = _DURATION.match(str(value or ""))
    return float(match.group(1)) if match else None


def _quota_delay(failures: list[dict[str, Any]]) -> float | None:
    """The `retryDelay` of the first quota error's `quotaErrorDetails`."""
    for failure in failures:
        details = failure.get("details")
        quota = details.get("quotaErrorDetails") if isinstance(details, dict) else None
        if isinstance(quota, dict) and (delay := _seconds(quota.get("retryDelay"))) is not None:
            return delay
    return None


def _retry_info(details: list[Any]) -> float | None:
    for detail in details:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            return _seconds(detail.get("retryDelay"))
    return None
