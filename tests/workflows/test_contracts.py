"""The activity contract holds: every `ActivityRef` has exactly one implementation
registered by the real workers, with the ref's input and result types, and nothing
is registered without a ref. The test stand-ins are held to the same refs, so a
renamed activity cannot leave a fake answering under the old name."""

from __future__ import annotations

import ast
import inspect
import typing
from collections import Counter
from pathlib import Path

import pytest
from temporalio import activity

import workers.main
from activities.contracts import ActivityRef, ErrorType, Nothing, all_refs
from activities.models import SuppressInput
from mops.codec import PLAINTEXT_FAILURE_TYPES
from tests.conftest import make_settings
from tests.workflows.campaign_fakes import FakeCampaignPlatforms
from tests.workflows.content_fakes import FakeContentPlatforms
from tests.workflows.fakes import FakePlatforms
from tests.workflows.test_analytics_workflows import FakeAnalytics

REFS = {ref.name: ref for ref in all_refs()}
PROJECT = Path(__file__).resolve().parents[2]


def _name(fn) -> str:
    # The SDK keeps the definition on the callable; this is how Worker(...) reads it too.
    return activity._Definition.must_from_callable(fn).name


def _mismatch(fn, ref: ActivityRef) -> str | None:
    """Why `fn`'s annotations differ from the ref's types (None when they agree)."""
    hints = typing.get_type_hints(fn)
    params = [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]
    wanted = [] if ref.input is Nothing else [ref.input]
    got = [hints.get(p.name) for p in params]
    if got != wanted:
        return f"{ref.name}: takes {got}, the ref says {wanted}"
    if hints.get("return") is not ref.result:
        return f"{ref.name}: returns {hints.get('return')}, the ref says {ref.result}"
    return None


def _check(registered: list) -> list[str]:
    problems = []
    for fn in registered:
        name = _name(fn)
        ref = REFS.get(name)
        if ref is None:
            problems.append(f"{name}: registered, but no ActivityRef in activities/contracts.py")
        elif (why := _mismatch(fn, ref)) is not None:
            problems.append(why)
    return problems


class _Recorded:
    """Stands in for temporalio.worker.Worker: keeps what build_workers registers."""

    made: list[dict] = []

    def __init__(self, client, **kwargs) -> None:
        self.made.append(kwargs)


@pytest.fixture
async def registered(time_env, monkeypatch) -> list:
    # A CDP configured, so the sync and erasure activities of its own queue are built too.
    settings = make_settings("http://127.0.0.1:9", "unused:7233", braze_base_url="http://127.0.0.1:9")
    platforms = workers.main.PlatformClients.from_settings(settings)
    monkeypatch.setattr(workers.main, "Worker", _Recorded)
    _Recorded.made = []
    try:
        workers.main.build_workers(time_env.client, settings, platforms)
    finally:
        await platforms.aclose()
    return [fn for kwargs in _Recorded.made for fn in kwargs.get("activities", [])]


async def test_every_ref_has_one_registered_implementation_with_its_types(registered) -> None:
    names = Counter(_name(fn) for fn in registered)
    assert not [n for n in REFS if n not in names], "refs nobody implements"
    assert not [n for n, k in names.items() if k > 1], "activities registered more than once"
    assert _check(registered) == []


def test_a_mismatch_is_caught() -> None:
    """The check can fail: a wrong input, result or registered name is each reported."""

    @activity.defn(name="chat.notify")
    async def wrong_input(inp: int) -> None: ...

    @activity.defn(name="email.suppress")
    async def wrong_result(inp: SuppressInput) -> int: ...

    @activity.defn(name="chat.shout")
    async def unknown() -> None: ...

    problems = _check([wrong_input, wrong_result, unknown])
    assert [p.split(":")[0] for p in problems] == ["chat.notify", "email.suppress", "chat.shout"]


def test_test_fakes_answer_under_the_refs() -> None:
    campaign = FakeCampaignPlatforms()
    fakes = [FakePlatforms(), FakeContentPlatforms(), campaign, FakeAnalytics()]
    registered = [
        fn
        for fake in fakes
        for _, fn in inspect.getmembers(fake, inspect.ismethod)
        if hasattr(fn, "__temporal_activity_definition")
    ]
    registered += campaign._paid_activities("meta") + campaign._paid_activities("google_ads")
    assert len(registered) > 30
    assert _check(registered) == []


def test_error_types_are_one_set() -> None:
    assert PLAINTEXT_FAILURE_TYPES.issubset(set(ErrorType))


def test_workflows_run_activities_only_through_their_refs() -> None:
    """`workflows.common.call` is the one way a workflow runs an activity: a bare
    `execute_activity("name", ...)` would bypass the refs and their result types."""
    offenders = []
    for path in sorted((PROJECT / "workflows").glob("*.py")):
        if path.name == "common.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("execute_activity", "start_activity"):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
