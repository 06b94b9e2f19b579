"""`mops campaign` and `mops budget` as a user runs them: bad files are one line and
start nothing; launch, show, stop; a reallocation Schedule that starts runs."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from pathlib import Path

import pytest
import yaml
from temporalio.client import ScheduleOverlapPolicy
from typer.testing import CliRunner

from mops.settings import get_settings
from starter.cli import app
from tests.ad_fixtures import META_AD
from tests.conftest import eventually
from tests.e2e.conftest import Stack
from tests.google_search import SEARCH_SECTION

DEMO = Path(__file__).parents[2] / "campaigns" / "demo.yaml"


def cli_env(stack: Stack) -> dict[str, str]:
    s = stack.settings
    env = {"MOPS_TEMPORAL_ADDRESS": s.temporal_address}
    for name in ("workflow", "crm", "email", "chat", "cms", "social", "analytics", "checks", "meta", "google_ads"):
        env[f"MOPS_{name.upper()}_TASK_QUEUE"] = getattr(s, f"{name}_task_queue")
    return env


async def run_cli(stack: Stack, *args: str):
    get_settings.cache_clear()
    try:
        return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=cli_env(stack))
    finally:
        get_settings.cache_clear()


def campaign_file(tmp_path: Path, list_id: str | None = None, **changes) -> tuple[Path, str]:
    data = yaml.safe_load(DEMO.read_text())
    for channel in data["channels"]:
        if channel["kind"] == "email" and list_id is not None:
            channel["list_ids"] = [list_id]
    data["id"] = f"cli-{uuid.uuid4().hex[:8]}"
    data.update(changes)
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(data))
    if not (tmp_path / "images").exists():  # the ad's image, beside the file as in campaigns/
        shutil.copytree(DEMO.parent / "images", tmp_path / "images")
    return path, data["id"]


async def campaign_count(stack: Stack) -> int:
    return (await stack.client.count_workflows("WorkflowType = 'Campaign'")).count


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"channels": [{"kind": "tiktok", "share": 100}]}, "channels[0].kind: unknown channel 'tiktok'"),
        (
            {
                "channels": [
                    {"kind": "meta_ads", "share": 60, "countries": ["DE"], "ad": META_AD},
                    {"kind": "google_ads", "share": 30, "search": SEARCH_SECTION},
                ]
            },
            "channels: paid channel shares sum to 90%",
        ),
        (
            {
                "channels": [
                    {
                        "kind": "meta_ads",
                        "share": 60,
                        "countries": ["DE"],
                        "ad": {**META_AD, "image": "images/nope.png"},
                    },
                    {"kind": "google_ads", "share": 40},
                ]
            },
            "channels[0].ad.image: 'images/nope.png' does not exist",
        ),
        (
            {
                "channels": [
                    {"kind": "meta_ads", "share": 60, "countries": ["DE"], "ad": {**META_AD, "image": "../hero.png"}},
                    {"kind": "google_ads", "share": 40},
                ]
            },
            "channels[0].ad.image: '../hero.png' is outside the campaign assets directory",
        ),
        ({"total_budget": "10.00"}, "below the platform minimum"),
        ({"currency": "EURO"}, "currency:"),
        ({"end": "2020-01-01T00:00:00Z"}, "end:"),
    ],
)
async def test_a_bad_campaign_file_is_one_line_and_starts_nothing(
    stack: Stack, tmp_path: Path, changes: dict, message: str
) -> None:
    path, _ = campaign_file(tmp_path, **changes)
    before = await campaign_count(stack)
    result = await run_cli(stack, "campaign", "launch", str(path))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    assert await campaign_count(stack) == before


async def test_launch_show_stop_and_a_budget_schedule(stack: Stack, tmp_path: Path) -> None:
    path, cid = campaign_file(tmp_path, stack.email_list)
    result = await run_cli(stack, "campaign", "launch", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["workflow_id"] == f"campaign-{cid}"

    async def live():
        r = await run_cli(stack, "campaign", "show", cid, "--json")
        return r.exit_code == 0 and json.loads(r.output)["status"] == "live" and json.loads(r.output)

    view = await eventually(live, what="the campaign live")
    assert {p["channel"]: p["state"] for p in view["parts"]}["email"] == "sent"
    shown = await run_cli(stack, "campaign", "show", cid)
    assert "meta_ads" in shown.output and "live" in shown.output

    result = await run_cli(stack, "budget", "schedule", cid, "--every", "1d")
    assert result.exit_code == 0, result.output
    schedule = stack.client.get_schedule_handle(f"budget-{cid}")
    desc = await schedule.describe()
    assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert desc.schedule.spec.intervals[0].every.days == 1
    assert (await run_cli(stack, "budget", "schedule", cid, "--every", "12h")).exit_code == 0, "updates in place"
    assert (await schedule.describe()).schedule.spec.intervals[0].every.total_seconds() == 12 * 3600
    await schedule.trigger()

    async def ran():
        runs = [
            wf
            async for wf in stack.client.list_workflows(f"WorkflowType = 'BudgetReallocation' AND CampaignId = '{cid}'")
        ]
        return runs and runs[0].status is not None and runs

    runs = await eventually(ran, what="the scheduled reallocation run")
    assert runs[0].id.startswith(f"budget-{cid}")
    await schedule.delete()

    result = await run_cli(stack, "campaign", "stop", cid, "--as", "ines")
    assert result.exit_code == 3 and "may not stop" in result.output
    result = await run_cli(stack, "campaign", "stop", cid, "--as", "maya", "--reason", "done")
    assert result.exit_code == 0, result.output

    async def completed():
        r = await run_cli(stack, "campaign", "show", cid, "--json")
        return json.loads(r.output)["status"] == "completed"

    await eventually(completed, what="the campaign completed")
    result = await run_cli(stack, "campaign", "show", "no-such-campaign")
    assert result.exit_code == 1 and "no campaign 'no-such-campaign'" in result.output
