"""Content workflow under the time-skipping server: reminders, escalation to backups,
expiry, scheduled publication and performance tracking over 30 days."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.approvals import Decision
from domain.content import ApprovalStage, ContentBrief, Directory, Person
from domain.decision_proofs import ProofProblem
from domain.refusals import Refusal
from mops.queues import PlatformQueues
from starter.service.updates import refused
from tests.conftest import eventually
from tests.decisions import KEYS, proven
from tests.workflows.content_fakes import FakeContentPlatforms
from workflows.content import ContentWorkflow
from workflows.content_models import ChannelStatus, ContentInput, ContentStage, RetractRequest

DIRECTORY = Directory(
    people=[
        Person(id="maya", name="Maya", email="maya@mops.example", roles=["author"]),
        Person(id="omar", name="Omar", email="omar@mops.example", roles=["brand"], backup="sofia"),
        Person(id="lena", name="Lena", email="lena@mops.example", roles=["brand"], backup="sofia"),
        Person(id="sofia", name="Sofia", email="sofia@mops.example", roles=["brand"]),
        Person(id="raj", name="Raj", email="raj@mops.example", roles=["legal"]),
    ]
)
BRAND = ApprovalStage(
    name="brand",
    approvers=["omar", "lena"],
    mode="all",
    remind_after=timedelta(days=1),
    escalate_after=timedelta(days=2),
    expire_after=timedelta(days=5),
)
LEGAL = ApprovalStage(name="legal", approvers=["raj"], mode="all")


def new_queues() -> PlatformQueues:
    s = uuid.uuid4().hex[:6]
    return PlatformQueues(
        workflows=f"wf-{s}",
        cms=f"cms-{s}",
        social=f"so-{s}",
        email=f"em-{s}",
        analytics=f"an-{s}",
        checks=f"ck-{s}",
        chat=f"chat-{s}",
    )


@asynccontextmanager
async def running(env: WorkflowEnvironment, fake: FakeContentPlatforms, q: PlatformQueues) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        for w in fake.workers(env.client, q):
            await stack.enter_async_context(w)
        yield


async def submit(
    env: WorkflowEnvironment, q: PlatformQueues, *, workflow_id: str | None = None, **brief
) -> WorkflowHandle:
    content_id = f"post-{uuid.uuid4().hex[:8]}"
    fields = dict(
        content_id=content_id,
        title="Launch week",
        type="blog",
        channels=["cms", "linkedin"],
        body="We launched.",
        author="maya",
    )
    fields.update(brief)
    inp = ContentInput(
        brief=ContentBrief(**fields),
        stages=[BRAND],
        legal_stage=LEGAL,
        directory=DIRECTORY,
        queues=q,
        decision_keys=KEYS,
    )
    wf_id = workflow_id or f"content-{content_id}"
    return await env.client.start_workflow(ContentWorkflow.run, inp, id=wf_id, task_queue=q.workflows)


async def in_review(handle: WorkflowHandle):
    async def check():
        view = await handle.query(ContentWorkflow.state)
        return view.stage == ContentStage.IN_REVIEW and view

    return await eventually(check, what="review to start")


async def test_unanswered_review_reminds_escalates_and_expires(time_env: WorkflowEnvironment) -> None:
    fake, q = FakeContentPlatforms(), new_queues()
    async with running(time_env, fake, q):
        handle = await submit(time_env, q)
        view = await handle.result()

    assert view.stage == ContentStage.EXPIRED and "brand" in view.outcome
    chats = fake.of("chat.notify")
    by_kind: dict[str, list] = {}
    for c in chats:
        by_kind.setdefault(c.arg.idempotency_key.split(":")[-2], []).append(c)
    # The review clock starts just before the first chat goes out; allow for that.
    start = by_kind["review-brand"][0].at - timedelta(seconds=1)
    assert {c.arg.user_email for c in by_kind["review-brand"]} == {"omar@mops.example", "lena@mops.example"}
    assert by_kind["remind-brand"][0].at - start >= timedelta(days=1)
    assert {c.arg.user_email for c in by_kind["escalate-brand"]} == {"sofia@mops.example"}
    assert by_kind["escalate-brand"][0].at - start >= timedelta(days=2)
    assert by_kind["expired"][0].at - start >= timedelta(days=5)
    assert by_kind["expired"][0].arg.user_email == "maya@mops.example"
    assert not fake.of("cms.publish"), "nothing is published without approval"


async def test_backup_decides_after_escalation_then_publish_and_track(time_env: WorkflowEnvironment) -> None:
    fake, q = FakeContentPlatforms(), new_queues()
    async with running(time_env, fake, q):
        handle = await submit(time_env, q)
        await in_review(handle)
        await handle.execute_update(
            ContentWorkflow.decide,
            await proven(time_env, handle, Decision(approver="omar", kind="approve", revision=1)),
        )
        await time_env.sleep(timedelta(days=2, hours=1))  # lena never answers: escalated to sofia

        async def escalated():
            return "sofia" in (await handle.query(ContentWorkflow.state)).pending_approvers

        await eventually(escalated, what="escalation to the backup")
        await handle.execute_update(
            ContentWorkflow.decide,
            await proven(time_env, handle, Decision(approver="sofia", kind="approve", revision=1)),
        )
        view = await handle.result()

    assert view.stage == ContentStage.COMPLETED and view.outcome == "published"
    assert [p.day for p in view.performance] == [1, 7, 30]
    assert view.performance[-1].views == 3000.0
    assert {c.channel.value: c.status for c in view.channels} == {
        "cms": ChannelStatus.PUBLISHED,
        "linkedin": ChannelStatus.PUBLISHED,
    }
    metrics = fake.of("analytics.page_metrics")
    assert metrics[-1].at - fake.of("social.post")[0].at >= timedelta(days=30)
    assert metrics[0].arg.page_path == "/launch/"


async def test_scheduled_publication_waits_for_its_time(time_env: WorkflowEnvironment) -> None:
    fake, q = FakeContentPlatforms(), new_queues()
    async with running(time_env, fake, q):
        publish_at = await time_env.get_current_time() + timedelta(days=3)
        handle = await submit(time_env, q, publish_at=publish_at)
        await in_review(handle)
        for who in ("omar", "lena"):
            await handle.execute_update(
                ContentWorkflow.decide,
                await proven(time_env, handle, Decision(approver=who, kind="approve", revision=1)),
            )

        async def scheduled():
            return (await handle.query(ContentWorkflow.state)).stage == ContentStage.SCHEDULED

        await eventually(scheduled, what="the scheduled stage")
        assert fake.of("cms.publish")[0].arg.publish_at == publish_at, "WordPress gets the `future` date"
        assert not fake.of("social.post"), "LinkedIn waits for the time"
        view = await handle.result()

    assert view.stage == ContentStage.COMPLETED
    assert fake.of("social.post")[0].at >= publish_at


async def test_retract_during_tracking_undoes_every_channel(time_env: WorkflowEnvironment) -> None:
    fake, q = FakeContentPlatforms(), new_queues()
    async with running(time_env, fake, q):
        handle = await submit(time_env, q, channels=["cms", "linkedin", "email"], email_list_ids=["list-1"])
        await in_review(handle)
        for who in ("omar", "lena"):
            await handle.execute_update(
                ContentWorkflow.decide,
                await proven(time_env, handle, Decision(approver=who, kind="approve", revision=1)),
            )

        async def published():
            return (await handle.query(ContentWorkflow.state)).stage == ContentStage.PUBLISHED

        await eventually(published, what="publication")
        await handle.execute_update(
            ContentWorkflow.retract, RetractRequest(requested_by="maya", reason="typo in title")
        )
        view = await handle.result()

    assert view.stage == ContentStage.RETRACTED
    assert all(c.status == ChannelStatus.RETRACTED for c in view.channels)
    assert len(fake.of("cms.unpublish")) == 1 and len(fake.of("social.delete")) == 1
    assert len(fake.of("email.cancel_list_send")) == 1


async def test_a_run_started_without_decision_keys_refuses_and_records_every_decision(
    time_env: WorkflowEnvironment,
) -> None:
    fake, q = FakeContentPlatforms(), new_queues()
    async with running(time_env, fake, q):
        content_id = f"post-{uuid.uuid4().hex[:8]}"
        brief = ContentBrief(
            content_id=content_id, title="Old run", type="blog", channels=["cms"], body="We launched.", author="maya"
        )
        inp = ContentInput(brief=brief, stages=[BRAND], legal_stage=LEGAL, directory=DIRECTORY, queues=q)
        handle = await time_env.client.start_workflow(
            ContentWorkflow.run, inp, id=f"content-{content_id}", task_queue=q.workflows
        )
        await in_review(handle)
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(
                ContentWorkflow.decide,
                await proven(time_env, handle, Decision(approver="omar", kind="approve", revision=1)),
            )
        assert refused(err.value).code == Refusal.DECISION_NOT_PROVEN
        view = await handle.query(ContentWorkflow.state)
        assert [(r.approver, r.problem) for r in view.refused_decisions] == [("omar", ProofProblem.NO_KEYS)]
        assert view.decisions == [] and "omar" in view.pending_approvers
        await handle.terminate("test done")
