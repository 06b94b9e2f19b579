"""Stand-in activities for content workflow tests (registered under the real names)."""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

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

    @activity.defn(name="cms.create_draft")
    async def create_draft(self, inp: CreateDraftInput) -> DraftResult:
        self._record("cms.create_draft", inp)
        return DraftResult(post_id=42, link="https://blog.example/?p=42")

    @activity.defn(name="cms.update_draft")
    async def update_draft(self, inp: UpdateDraftInput) -> None:
        self._record("cms.update_draft", inp)

    @activity.defn(name="cms.publish")
    async def publish(self, inp: PublishPostInput) -> PublishResult:
        self._record("cms.publish", inp)
        return PublishResult(status="future" if inp.publish_at else "publish", link="https://blog.example/launch/")

    @activity.defn(name="cms.unpublish")
    async def unpublish(self, inp: PostRef) -> None:
        self._record("cms.unpublish", inp)

    @activity.defn(name="social.post")
    async def post(self, inp: SocialPostInput) -> SocialPostResult:
        self._record("social.post", inp)
        return SocialPostResult(urn=f"urn:li:share:{next(self._ids)}")

    @activity.defn(name="social.delete")
    async def delete(self, inp: SocialDeleteInput) -> None:
        self._record("social.delete", inp)

    @activity.defn(name="email.send_to_lists")
    async def send_to_lists(self, inp: ListSendInput) -> ListSendResult:
        self._record("email.send_to_lists", inp)
        return ListSendResult(single_send_id=f"ss-{next(self._ids)}")

    @activity.defn(name="email.cancel_list_send")
    async def cancel_list_send(self, inp: CancelListSendInput) -> CancelListSendResult:
        self._record("email.cancel_list_send", inp)
        return CancelListSendResult(recalled=True)

    @activity.defn(name="analytics.page_metrics")
    async def page_metrics(self, inp: PageMetricsInput) -> PageMetricsResult:
        self._record("analytics.page_metrics", inp)
        days = (inp.end_date - inp.start_date).days
        return PageMetricsResult(views=100.0 * days, sessions=80.0 * days, conversions=float(days))

    @activity.defn(name="checks.brand")
    async def brand(self, inp: BrandCheckInput) -> CheckResult:
        self._record("checks.brand", inp)
        return self.check

    @activity.defn(name="chat.notify")
    async def notify(self, inp: NotifyInput) -> NotifyResult:
        self._record("chat.notify", inp)
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
