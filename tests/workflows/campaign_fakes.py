"""Stand-in activities for campaign workflow tests (registered under the real names).

Paid channels keep what a platform would: status and daily budget per channel, and
answer `figures` with steady daily numbers from the budget (per-channel conversions
per day and spend per budget are settable, so a test can make one channel's CPA break
a guardrail or its spend run hot). A day once reported keeps its figures: a budget
change shows from the next day not yet reported, as on the platforms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities import contracts as act
from activities.campaigns import CampaignActivities
from activities.contracts import ErrorType
from activities.models import (
    AdAccountInput,
    AdAccountResult,
    CancelListSendInput,
    CancelListSendResult,
    CreateDraftInput,
    DraftResult,
    ListSendInput,
    ListSendResult,
    NotifyInput,
    NotifyResult,
    PageMetricsInput,
    PageMetricsResult,
    PaidBudgetInput,
    PaidBudgetResult,
    PaidCreateInput,
    PaidFiguresInput,
    PaidFiguresResult,
    PaidNamedInput,
    PaidRef,
    PaidRemoveResult,
    PaidStatusInput,
    PostRef,
    PublishPostInput,
    PublishResult,
    SocialDeleteInput,
    SocialPostInput,
    SocialPostResult,
)
from domain.money import from_minor
from domain.performance import DayFigures
from mops.queues import PlatformQueues
from tests.workflows.fakes import Recorder
from workflows.budget import BudgetReallocationWorkflow
from workflows.campaign import CampaignWorkflow


@dataclass
class PaidChannel:
    status: str = "none"  # none | paused | active | removed
    budget_minor: int = 0
    conversions_per_day: float = 5.0
    spend_factor: Decimal = Decimal("0.9")  # a day's spend per daily budget
    reported: dict[date, DayFigures] = field(default_factory=dict)


@dataclass
class FakeCampaignPlatforms(Recorder):
    currency: dict[str, str] = field(default_factory=lambda: {"meta": "EUR", "google_ads": "EUR"})
    paid: dict[str, PaidChannel] = field(default_factory=lambda: {"meta": PaidChannel(), "google_ads": PaidChannel()})
    degraded_creates: int = 0  # this many `*.create` attempts answer as the health gate does for a degraded platform

    def _paid_activities(self, prefix: str) -> list:
        ch = self.paid[prefix]
        ads = {"meta": act.META, "google_ads": act.GOOGLE_ADS}[prefix]

        @activity.defn(name=ads.account.name)
        async def account(inp: AdAccountInput) -> AdAccountResult:
            self._record(ads.account.name, inp)
            return AdAccountResult(account_id=f"{prefix}-1", currency=self.currency[prefix])

        @activity.defn(name=ads.create.name)
        async def create(inp: PaidCreateInput) -> PaidRef:
            self._record(ads.create.name, inp)
            if self.degraded_creates > 0:
                self.degraded_creates -= 1
                raise ApplicationError(
                    f"{prefix} is degraded; holding",
                    type=ErrorType.PLATFORM_DEGRADED,
                    next_retry_delay=timedelta(seconds=5),
                )
            ch.status, ch.budget_minor = "paused", inp.daily_budget_minor
            return PaidRef(campaign=f"{prefix}-c1", ad_set=f"{prefix}-a1", budget=f"{prefix}-b1")

        @activity.defn(name=ads.set_status.name)
        async def set_status(inp: PaidStatusInput) -> None:
            self._record(ads.set_status.name, inp)
            ch.status = "active" if inp.active else "paused"

        @activity.defn(name=ads.set_budget.name)
        async def set_budget(inp: PaidBudgetInput) -> PaidBudgetResult:
            self._record(ads.set_budget.name, inp)
            ch.budget_minor = inp.daily_budget_minor
            return PaidBudgetResult(daily_budget_minor=ch.budget_minor)

        @activity.defn(name=ads.remove.name)
        async def remove(inp: PaidRef) -> PaidRemoveResult:
            self._record(ads.remove.name, inp)
            was, ch.status = ch.status, "removed"
            return PaidRemoveResult(removed=was != "removed")

        @activity.defn(name=ads.remove_named.name)
        async def remove_named(inp: PaidNamedInput) -> PaidRemoveResult:
            self._record(ads.remove_named.name, inp)
            was, ch.status = ch.status, "removed"
            return PaidRemoveResult(removed=was not in ("removed", "none"))

        @activity.defn(name=ads.figures.name)
        async def figures(inp: PaidFiguresInput) -> PaidFiguresResult:
            self._record(ads.figures.name, inp)
            spend = (from_minor(ch.budget_minor, inp.currency) * ch.spend_factor).quantize(Decimal("0.01"))
            days, day = [], inp.since
            while day <= inp.until:
                days.append(
                    ch.reported.setdefault(
                        day,
                        DayFigures(
                            day=day,
                            spend=spend,
                            impressions=10_000,
                            clicks=200,
                            conversions=ch.conversions_per_day,
                            revenue=spend * 3,
                        ),
                    )
                )
                day += timedelta(days=1)
            return PaidFiguresResult(days=days)

        return [account, create, set_status, set_budget, remove, remove_named, figures]

    @activity.defn(name=act.CMS_CREATE_DRAFT.name)
    async def create_draft(self, inp: CreateDraftInput) -> DraftResult:
        self._record(act.CMS_CREATE_DRAFT.name, inp)
        return DraftResult(post_id=42, link="https://site.example/?p=42")

    @activity.defn(name=act.CMS_PUBLISH.name)
    async def publish(self, inp: PublishPostInput) -> PublishResult:
        self._record(act.CMS_PUBLISH.name, inp)
        return PublishResult(status="publish", link="https://site.example/spring/")

    @activity.defn(name=act.CMS_UNPUBLISH.name)
    async def unpublish(self, inp: PostRef) -> None:
        self._record(act.CMS_UNPUBLISH.name, inp)

    @activity.defn(name=act.SOCIAL_POST.name)
    async def post(self, inp: SocialPostInput) -> SocialPostResult:
        self._record(act.SOCIAL_POST.name, inp)
        return SocialPostResult(urn="urn:li:share:1")

    @activity.defn(name=act.SOCIAL_DELETE.name)
    async def delete(self, inp: SocialDeleteInput) -> None:
        self._record(act.SOCIAL_DELETE.name, inp)

    @activity.defn(name=act.EMAIL_SEND_TO_LISTS.name)
    async def send_to_lists(self, inp: ListSendInput) -> ListSendResult:
        self._record(act.EMAIL_SEND_TO_LISTS.name, inp)
        return ListSendResult(single_send_id="ss-1")

    @activity.defn(name=act.EMAIL_CANCEL_LIST_SEND.name)
    async def cancel_list_send(self, inp: CancelListSendInput) -> CancelListSendResult:
        self._record(act.EMAIL_CANCEL_LIST_SEND.name, inp)
        return CancelListSendResult(recalled=True)

    @activity.defn(name=act.ANALYTICS_PAGE_METRICS.name)
    async def page_metrics(self, inp: PageMetricsInput) -> PageMetricsResult:
        self._record(act.ANALYTICS_PAGE_METRICS.name, inp)
        days = (inp.end_date - inp.start_date).days + 1
        return PageMetricsResult(views=300.0 * days, sessions=200.0 * days, conversions=4.0 * days)

    @activity.defn(name=act.CHAT_NOTIFY.name)
    async def notify(self, inp: NotifyInput) -> NotifyResult:
        self._record(act.CHAT_NOTIFY.name, inp)
        return NotifyResult(ts="1", channel="U1")

    def workers(self, client: Client, q: PlatformQueues) -> list[Worker]:
        return [
            Worker(
                client,
                task_queue=q.workflows,
                workflows=[CampaignWorkflow, BudgetReallocationWorkflow],
                # The real snapshot: a query of the campaign workflow on this server.
                activities=[CampaignActivities(client).snapshot],
            ),
            Worker(client, task_queue=q.meta, activities=self._paid_activities("meta")),
            Worker(client, task_queue=q.google_ads, activities=self._paid_activities("google_ads")),
            Worker(client, task_queue=q.cms, activities=[self.create_draft, self.publish, self.unpublish]),
            Worker(client, task_queue=q.social, activities=[self.post, self.delete]),
            Worker(client, task_queue=q.email, activities=[self.send_to_lists, self.cancel_list_send]),
            Worker(client, task_queue=q.chat, activities=[self.notify]),
            Worker(client, task_queue=q.analytics, activities=[self.page_metrics]),
        ]
