"""Stand-in activities for content workflow tests (registered under the real names)."""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from activities import contracts as act
from activities.models import (
    BrandCheckInput,
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
    PostRef,
    PublishPostInput,
    PublishResult,
    SocialDeleteInput,
    SocialPostInput,
    SocialPostResult,
    UpdateDraftInput,
)
from domain.brand import CheckResult
from mops.queues import PlatformQueues
from tests.workflows.fakes import Recorder
from workflows.content import ContentWorkflow


@dataclass
class FakeContentPlatforms(Recorder):
    check: CheckResult = field(
        default_factory=lambda: CheckResult(findings=[], needs_legal=False, links=[], reading_grade=8.0)
    )

    @activity.defn(name=act.CMS_CREATE_DRAFT.name)
    async def create_draft(self, inp: CreateDraftInput) -> DraftResult:
        self._record(act.CMS_CREATE_DRAFT.name, inp)
        return DraftResult(post_id=42, link="https://blog.example/?p=42")

    @activity.defn(name=act.CMS_UPDATE_DRAFT.name)
    async def update_draft(self, inp: UpdateDraftInput) -> None:
        self._record(act.CMS_UPDATE_DRAFT.name, inp)

    @activity.defn(name=act.CMS_PUBLISH.name)
    async def publish(self, inp: PublishPostInput) -> PublishResult:
        self._record(act.CMS_PUBLISH.name, inp)
        return PublishResult(status="future" if inp.publish_at else "publish", link="https://blog.example/launch/")

    @activity.defn(name=act.CMS_UNPUBLISH.name)
    async def unpublish(self, inp: PostRef) -> None:
        self._record(act.CMS_UNPUBLISH.name, inp)

    @activity.defn(name=act.SOCIAL_POST.name)
    async def post(self, inp: SocialPostInput) -> SocialPostResult:
        self._record(act.SOCIAL_POST.name, inp)
        return SocialPostResult(urn=f"urn:li:share:{next(self._ids)}")

    @activity.defn(name=act.SOCIAL_DELETE.name)
    async def delete(self, inp: SocialDeleteInput) -> None:
        self._record(act.SOCIAL_DELETE.name, inp)

    @activity.defn(name=act.EMAIL_SEND_TO_LISTS.name)
    async def send_to_lists(self, inp: ListSendInput) -> ListSendResult:
        self._record(act.EMAIL_SEND_TO_LISTS.name, inp)
        return ListSendResult(single_send_id=f"ss-{next(self._ids)}")

    @activity.defn(name=act.EMAIL_CANCEL_LIST_SEND.name)
    async def cancel_list_send(self, inp: CancelListSendInput) -> CancelListSendResult:
        self._record(act.EMAIL_CANCEL_LIST_SEND.name, inp)
        return CancelListSendResult(recalled=True)

    @activity.defn(name=act.ANALYTICS_PAGE_METRICS.name)
    async def page_metrics(self, inp: PageMetricsInput) -> PageMetricsResult:
        self._record(act.ANALYTICS_PAGE_METRICS.name, inp)
        days = (inp.end_date - inp.start_date).days
        return PageMetricsResult(views=100.0 * days, sessions=80.0 * days, conversions=float(days))

    @activity.defn(name=act.CHECKS_BRAND.name)
    async def brand(self, inp: BrandCheckInput) -> CheckResult:
        self._record(act.CHECKS_BRAND.name, inp)
        return self.check

    @activity.defn(name=act.CHAT_NOTIFY.name)
    async def notify(self, inp: NotifyInput) -> NotifyResult:
        self._record(act.CHAT_NOTIFY.name, inp)
        return NotifyResult(ts=str(next(self._ids)), channel=inp.channel or "U1")

    def workers(self, client: Client, q: PlatformQueues) -> list[Worker]:
        return [
            Worker(client, task_queue=q.workflows, workflows=[ContentWorkflow]),
            Worker(
                client,
                task_queue=q.cms,
                activities=[self.create_draft, self.update_draft, self.publish, self.unpublish],
            ),
            Worker(client, task_queue=q.social, activities=[self.post, self.delete]),
            Worker(client, task_queue=q.email, activities=[self.send_to_lists, self.cancel_list_send]),
            Worker(client, task_queue=q.analytics, activities=[self.page_metrics]),
            Worker(client, task_queue=q.checks, activities=[self.brand]),
            Worker(client, task_queue=q.chat, activities=[self.notify]),
        ]
