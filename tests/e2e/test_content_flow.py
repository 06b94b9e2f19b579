"""Content from brief to published against the real dev server + sandbox: checks,
a multi-stage quorum review with every refused decision, revision loops, and a
failed channel followed by a retract that leaves every platform as it was."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.service import RPCError, RPCStatusCode
from typer.testing import CliRunner

from domain.refusals import Refused
from mops.settings import get_settings
from starter.cli import app
from starter.service.content import ContentService, prepare
from tests.conftest import eventually
from tests.e2e.conftest import Stack
from workflows.content_models import ChannelStatus, ContentStage, Revision

CLEAN_BODY = "Our launch checklist helps small teams ship campaigns on time.\n\nRead the [guide]({link})."


def new_id() -> str:
    return f"post-{uuid.uuid4().hex[:8]}"


def brief(stack: Stack, **fields) -> dict:
    data = dict(
        content_id=new_id(),
        title="The launch checklist",
        type="blog",
        channels=["cms", "linkedin"],
        body=CLEAN_BODY.format(link=f"{stack.sandbox_url}/_links/ok/guide"),
        author="maya",
    )
    data.update(fields)
    return data


async def wait_stage(svc: ContentService, content_id: str, stage: ContentStage, timeout: float = 30.0):
    async def reached():
        view = await svc.state(content_id)
        assert view.stage == stage, (view.stage, view.current_review, view.outcome)
        return view

    return await eventually(reached, timeout=timeout, what=f"content stage {stage.value}")


async def refused(coro) -> str:
    with pytest.raises(Refused) as err:
        await coro
    return str(err.value)


async def test_multi_stage_quorum_review_and_publication(stack: Stack) -> None:
    svc = ContentService(stack.client, stack.settings)
    data = brief(
        stack,
        body="Teams using the checklist launch 40% faster.\n\n"
        + CLEAN_BODY.format(link=f"{stack.sandbox_url}/_links/ok/guide"),
    )
    cid = data["content_id"]
    wf_id, created = await svc.submit(prepare(stack.settings, data))
    assert created and wf_id == f"content-{cid}"
    assert (await svc.submit(prepare(stack.settings, data))) == (wf_id, False), "submitting twice is one item"

    view = await wait_stage(svc, cid, ContentStage.IN_REVIEW)
    assert view.needs_legal and [s.name for s in view.stages] == ["brand", "legal"], "the claim adds legal review"
    assert view.current_review == "brand" and set(view.pending_approvers) == {"omar", "sofia", "lena"}

    async def listed():
        query = f"WorkflowId = '{wf_id}' AND PendingApprovers = 'sofia' AND ApprovalState = 'brand:pending'"
        return [w async for w in stack.client.list_workflows(query)]

    await eventually(listed, what="the item in 'waiting for sofia' (visibility)")

    # Every refused decision, each with its reason; none of them writes history.
    assert "own content" in await refused(svc.decide(cid, approver="maya", kind="approve"))
    assert "not an approver" in await refused(svc.decide(cid, approver="raj", kind="approve"))
    assert "revision" in await refused(svc.decide(cid, approver="omar", kind="approve", revision=2))
    await svc.decide(cid, approver="omar", kind="approve")
    assert "already decided" in await refused(svc.decide(cid, approver="omar", kind="approve"))
    res = await svc.decide(cid, approver="sofia", kind="approve", comment="Nice")
    assert res.stage == "brand" and res.outcome == "approved", "quorum 2 of 3 reached"

    async def legal():
        v = await svc.state(cid)
        return v.current_review == "legal" and v

    await eventually(legal, what="the legal stage")
    assert "not an approver" in await refused(svc.decide(cid, approver="omar", kind="approve"))
    await svc.decide(cid, approver="raj", kind="approve")
    await svc.decide(cid, approver="ines", kind="approve", comment="Source on file")

    view = await wait_stage(svc, cid, ContentStage.PUBLISHED)
    channels = {c.channel.value: c for c in view.channels}
    assert channels["cms"].status == ChannelStatus.PUBLISHED and channels["cms"].link.endswith(f"/{cid}/")
    assert channels["linkedin"].status == ChannelStatus.PUBLISHED and channels["linkedin"].ref.startswith("urn:li:")
    assert [(d.approver, d.stage) for d in view.decisions] == [
        ("omar", "brand"),
        ("sofia", "brand"),
        ("raj", "legal"),
        ("ines", "legal"),
    ]
    assert all(d.at is not None for d in view.decisions)

    posts = await stack.admin._call("GET", "/state/wordpress")
    post = next(p for p in _items(posts) if p.get("slug") == cid)
    assert post["status"] == "publish"
    history = await svc.handle(cid).fetch_history()
    accepted = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
    assert len(accepted) == 4, "refused decisions leave no history"


async def test_blocked_check_then_requested_changes_loop_back_to_the_author(stack: Stack) -> None:
    svc = ContentService(stack.client, stack.settings)
    data = brief(stack, body="Guaranteed results, or your money back.\n\n![](https://img.example/x.png)")
    cid = data["content_id"]
    await svc.submit(prepare(stack.settings, data))
    view = await wait_stage(svc, cid, ContentStage.CHANGES_REQUESTED)
    blocking = {f.rule for f in view.findings if f.severity.value == "blocking"}
    assert {"unverifiable-superlatives", "alt_text"} <= blocking, blocking

    async def told():  # the stage is set before the chat goes out: wait for it
        return [
            e
            for e in await stack.admin.effects("slack", "chat.post")
            if cid in str(e["summary"]) or "blocking finding" in e["summary"]["text"]
        ]

    await eventually(told, what="the author is told what blocks the draft")

    assert "only the author" in await refused(svc.revise(cid, Revision(author="omar", body="x")))
    clean = CLEAN_BODY.format(link=f"{stack.sandbox_url}/_links/ok/guide")
    assert await svc.revise(cid, Revision(author="maya", body=clean)) == 2
    view = await wait_stage(svc, cid, ContentStage.IN_REVIEW)
    assert view.revision == 2 and not [f for f in view.findings if f.severity.value == "blocking"]

    await svc.decide(cid, approver="omar", kind="request_changes", comment="Shorter intro please")
    await wait_stage(svc, cid, ContentStage.CHANGES_REQUESTED)
    assert await svc.revise(cid, Revision(author="maya", body=clean + "\n\nShort.")) == 3
    view = await wait_stage(svc, cid, ContentStage.IN_REVIEW)
    assert "omar" in view.pending_approvers, "a new revision needs new decisions"
    wp = next(p for p in _items(await stack.admin._call("GET", "/state/wordpress")) if p.get("slug") == cid)
    assert wp["status"] == "draft" and "Short." in str(wp.get("content", "")), "the draft follows each revision"


async def test_failed_channel_then_retract_restores_every_platform(stack: Stack) -> None:
    svc = ContentService(stack.client, stack.settings)
    data = brief(
        stack,
        channels=["cms", "linkedin", "email"],
        email_list_ids=[stack.email_list],
        approval=[{"name": "review", "approvers": ["omar"], "mode": "all"}],
    )
    cid = data["content_id"]
    linkedin_before = _items(await stack.admin._call("GET", "/state/linkedin"))
    await stack.admin.set_faults("linkedin", fail_next=5, error_status=422, path_prefix="/rest/posts")
    await svc.submit(prepare(stack.settings, data))
    await wait_stage(svc, cid, ContentStage.IN_REVIEW)
    await svc.decide(cid, approver="omar", kind="approve")

    view = await wait_stage(svc, cid, ContentStage.PARTIALLY_PUBLISHED)
    status = {c.channel.value: c.status for c in view.channels}
    assert status == {
        "cms": ChannelStatus.PUBLISHED,
        "linkedin": ChannelStatus.FAILED,
        "email": ChannelStatus.PUBLISHED,
    }
    assert "linkedin failed" in view.outcome
    await stack.admin.clear_faults()

    assert "may not retract" in await refused(svc.retract(cid, requested_by="raj", reason="no"))
    await svc.retract(cid, requested_by="maya", reason="wrong launch date")
    view = await wait_stage(svc, cid, ContentStage.RETRACTED)
    channels = {c.channel.value: c for c in view.channels}
    assert {name: c.status for name, c in channels.items()} == {
        "cms": ChannelStatus.RETRACTED,
        "linkedin": ChannelStatus.FAILED,
        "email": ChannelStatus.PUBLISHED,
    }
    assert "cannot be recalled" in channels["email"].note, "a delivered email is not claimed to be retracted"
    wp = next(p for p in _items(await stack.admin._call("GET", "/state/wordpress")) if p.get("slug") == cid)
    assert wp["status"] == "draft", "the post is back to what it was before publication"
    assert _items(await stack.admin._call("GET", "/state/linkedin")) == linkedin_before
    cancels = await stack.admin.effects("sendgrid", "singlesend.cancel")
    assert cancels, "the list send's schedule was cancelled (it had already gone out)"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": ""}, "title"),
        ({"channels": ["fax"]}, "channels"),
        ({"approval": [{"name": "review", "approvers": ["zoe"], "mode": "all"}]}, "approval"),
        ({"channels": ["linkedin"], "body": "word " * 700}, "body"),
        ({"author": "nobody"}, "author"),
    ],
)
async def test_bad_brief_is_refused_with_one_line_and_starts_nothing(stack: Stack, tmp_path, overrides, field) -> None:
    import json

    data = brief(stack, **overrides)
    path = tmp_path / "brief.json"
    path.write_text(json.dumps(data))
    env = {
        "MOPS_TEMPORAL_ADDRESS": stack.settings.temporal_address,
        "MOPS_WORKFLOW_TASK_QUEUE": stack.settings.workflow_task_queue,
    }
    get_settings.cache_clear()
    try:
        result = await asyncio.to_thread(CliRunner().invoke, app, ["content", "submit", str(path)], env=env)
    finally:
        get_settings.cache_clear()
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {field}"), lines[0]
    with pytest.raises(RPCError) as err:
        await stack.client.get_workflow_handle(f"content-{data['content_id']}").describe()
    assert err.value.status == RPCStatusCode.NOT_FOUND


def _items(state) -> list[dict]:
    """The sandbox's state listing (a list, or a mapping holding one)."""
    if isinstance(state, list):
        return state
    for value in state.values():
        if isinstance(value, list):
            return value
    return []


async def test_cli_decisions_answer_with_the_validators_reason(stack: Stack) -> None:
    svc = ContentService(stack.client, stack.settings)
    data = brief(stack, approval=[{"name": "review", "approvers": ["omar", "sofia"], "mode": "any"}])
    cid = data["content_id"]
    await svc.submit(prepare(stack.settings, data))
    await wait_stage(svc, cid, ContentStage.IN_REVIEW)
    env = {"MOPS_TEMPORAL_ADDRESS": stack.settings.temporal_address}

    async def cli(*args: str):
        get_settings.cache_clear()
        try:
            return await asyncio.to_thread(CliRunner().invoke, app, ["content", *args], env=env)
        finally:
            get_settings.cache_clear()

    own = await cli("approve", cid, "--as", "maya")
    assert (
        own.exit_code == 3
        and own.output.strip() == "error: refused: approver: authors cannot decide on their own content"
    )
    no_reason = await cli("reject", cid, "--as", "omar")
    assert no_reason.exit_code == 2 and "comment" in no_reason.output
    ok = await cli("approve", cid, "--as", "sofia", "--json")
    assert ok.exit_code == 0, ok.output
    assert '"outcome": "approved"' in ok.output
    shown = await cli("show", cid, "--json")
    assert shown.exit_code == 0 and '"approver": "sofia"' in shown.output
