"""The campaign part of `mops demo`: launch `campaigns/demo.yaml` on five channels, run
one budget reallocation (approved by the marketing director), then stop the campaign
so it writes its final report.

The demo campaign is launched as if it had started three days ago, so the sandbox ad
platforms have three complete days of figures for the reallocation to judge by. Each
run uses a fresh campaign id (`demo-spring-<time>`). Its email goes to a SendGrid list the
demo makes (or finds) by name, `DEMO_LIST`, holding a few demo readers: a list send reaches
the members of real lists, and the file's list id names none on a fresh account.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import yaml
from rich.console import Console

from domain.campaigns import CampaignSpecError, build_campaign
from domain.content import load_directory
from integrations.sendgrid import SendGridClient
from mops.approval_keys import verify_keys
from mops.queues import platform_queues
from mops.settings import Settings
from starter.service.campaigns import CampaignInputError, CampaignService, check_emails
from workflows.campaign_models import (
    TERMINAL_BUDGET,
    BudgetStatus,
    BudgetView,
    CampaignInput,
    CampaignStatus,
    CampaignView,
)

DEMO_FILE = "demo.yaml"
APPROVER = "dana"
DEMO_LIST = "mops demo newsletter"
DEMO_READERS = [f"reader{n}@demo-readers.example" for n in range(1, 4)]


async def demo_list(settings: Settings) -> str:
    """The id of the demo's newsletter list, made with its readers if it does not exist."""
    async with SendGridClient(settings.sendgrid_base_url, settings.sendgrid_api_key.get_secret_value()) as sendgrid:
        list_id = await sendgrid.find_list(DEMO_LIST)
        if list_id is None:
            list_id = await sendgrid.create_list(DEMO_LIST)
            await sendgrid.add_to_list(list_id, DEMO_READERS)
        return list_id


class CampaignDemoError(RuntimeError):
    pass


@dataclass
class CampaignDemo:
    launched: CampaignView
    budget: BudgetView
    budget_workflow_id: str
    final: CampaignView


def demo_campaign_input(settings: Settings, campaigns_dir, now: datetime, list_id: str | None = None) -> CampaignInput:
    data = yaml.safe_load((campaigns_dir / DEMO_FILE).read_text())
    if list_id is not None:
        for channel in data.get("channels") or []:
            if channel.get("kind") == "email":
                channel["list_ids"] = [list_id]
    data["id"] = f"demo-spring-{now:%Y%m%d%H%M%S}"
    data["start"] = (now - timedelta(days=3)).replace(microsecond=0).isoformat()
    directory = load_directory(settings.policies_dir / "directory.yaml")
    try:
        spec = build_campaign(data, directory=directory, path=str(campaigns_dir / DEMO_FILE))
    except CampaignSpecError as err:
        raise CampaignDemoError(str(err)) from None
    try:
        check_emails(settings, campaigns_dir / DEMO_FILE, spec)
    except CampaignInputError as err:
        raise CampaignDemoError(str(err)) from None
    return CampaignInput(
        spec=spec,
        directory=directory,
        decision_keys=verify_keys(settings),
        queues=platform_queues(settings),
        gateway_url=settings.unsubscribe_base_url(),
    )


async def _until(check, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.25)
    raise CampaignDemoError(f"campaign demo: timed out waiting for {what}")


async def run_campaign_demo(svc: CampaignService, settings: Settings, console: Console, campaigns_dir) -> CampaignDemo:
    inp = demo_campaign_input(settings, campaigns_dir, datetime.now(UTC), await demo_list(settings))
    cid = inp.spec.id
    preflight = await svc.launch(inp)
    if not preflight.ok:
        raise CampaignDemoError("campaign refused at preflight: " + "; ".join(preflight.problems))
    console.print(f"  launched campaign '{cid}' → campaign-{cid}")

    async def live():
        v = await svc.state(cid)
        if v.status in (CampaignStatus.FAILED, CampaignStatus.COMPLETED):
            raise CampaignDemoError(f"campaign {cid} ended {v.status.value}: {v.outcome}")
        return v.status == CampaignStatus.LIVE and v.pacing is not None and v

    launched = await _until(live, "the campaign to go live")
    handle = await svc.reallocate(cid, requested_by=None, run_id=f"{datetime.now(UTC):%H%M%S}")

    async def proposed():
        v = await svc.budget_state(handle.id)
        return v.status not in (BudgetStatus.COLLECTING, BudgetStatus.APPLYING) and v

    budget = await _until(proposed, "the budget proposal")
    if budget.status == BudgetStatus.AWAITING_APPROVAL:
        await svc.budget_decide(handle.id, approver=APPROVER, kind="approve", comment="CPA on Google is clearly better")
        console.print(f"  budget move approved by {APPROVER}")

        async def ended():
            v = await svc.budget_state(handle.id)
            return v.status in TERMINAL_BUDGET and v

        budget = await _until(ended, "the budget change to apply")
    await svc.stop(cid, requested_by=inp.spec.owner, reason="demo over")

    async def completed():
        v = await svc.state(cid)
        return v.status == CampaignStatus.COMPLETED and v

    final = await _until(completed, "the campaign's final report")
    return CampaignDemo(launched=launched, budget=budget, budget_workflow_id=handle.id, final=final)
