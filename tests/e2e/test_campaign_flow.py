"""Campaigns against the real dev server + sandbox over HTTP: a launch live on five
channels, a launch where the k-th channel fails (for every k) leaving every platform as
it was, an ad image the workers hold with other bytes refused without an upload, a
currency mismatch refused at preflight, a rate limit that waits the
platform's advertised delay, and budget reallocation: above the threshold it waits for
approval, applies and verifies; a failing apply rolls every change back."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType

from domain.campaigns import ChannelKind, build_campaign
from domain.content import load_directory
from domain.refusals import Refusal, Refused
from integrations.meta_ads import MetaAdsClient
from mops.approval_keys import verify_keys
from mops.queues import platform_queues
from starter.service.campaigns import CampaignService, campaign_workflow_id
from tests.ad_fixtures import ASSETS, META_AD, with_images
from tests.conftest import eventually
from tests.e2e.conftest import Stack
from tests.google_search import SEARCH_SECTION
from workflows.campaign_models import BudgetStatus, CampaignInput, CampaignStatus, PartState

LIVE_STATUSES = {"meta": {"ACTIVE"}, "google_ads": {"ENABLED"}}


def spec_data(stack: Stack, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    data: dict[str, Any] = {
        "id": f"spring-{uuid.uuid4().hex[:8]}",
        "name": "Spring launch",
        "objective": "leads",
        "owner": "maya",
        "start": None,
        "end": (now + timedelta(days=20)).isoformat(),
        "timezone": "UTC",
        "currency": "EUR",
        "total_budget": "6000.00",
        "audience": "smb-eu",
        "landing_url": f"{stack.sandbox_url}/_links/ok/spring",
        "monitor_every": "1h",
        "channels": [
            {"kind": "landing_page", "title": "Spring", "body": "Spring is here."},
            {"kind": "meta_ads", "share": 60, "countries": ["DE"], "ad": META_AD},
            {"kind": "google_ads", "share": 40, "search": SEARCH_SECTION},
            {"kind": "linkedin", "text": "Spring is here."},
            {
                "kind": "email",
                "subject": "Spring",
                "body": "Spring is here.",
                "list_ids": [stack.email_list],
                "template": "campaign-email",
            },
        ],
    }
    data.update(overrides)
    return data


def campaign_input(stack: Stack, **overrides: Any) -> CampaignInput:
    directory = load_directory(stack.settings.policies_dir / "directory.yaml")
    spec = build_campaign(spec_data(stack, **overrides), directory=directory, assets=ASSETS)
    return CampaignInput(
        spec=spec,
        directory=directory,
        queues=platform_queues(stack.settings),
        decision_keys=verify_keys(stack.settings),
    )


async def status_is(svc: CampaignService, campaign_id: str, *statuses: CampaignStatus, timeout: float = 60):
    async def check():
        view = await svc.state(campaign_id)
        assert view.status in statuses, (view.status, view.outcome, view.problems)
        return view

    return await eventually(check, timeout=timeout, what=f"campaign {' or '.join(s.value for s in statuses)}")


async def platform_objects(stack: Stack) -> dict[str, list[dict]]:
    meta, google = await stack.admin.state("meta"), await stack.admin.state("google_ads")
    wp, li = await stack.admin.state("wordpress"), await stack.admin.state("linkedin")
    return {
        "meta": meta["campaigns"] + meta["adsets"],
        "meta_ads": meta["ads"],
        "meta_creatives": meta["creatives"],
        "google_ads": google["campaigns"],
        "google_budgets": google["budgets"],
        "google_ad_groups": google["ad_groups"],
        "google_ads_ads": google["ads"],
        "google_criteria": google["criteria"],
        "posts": wp["posts"],
        "linkedin": li["posts"],
    }


def mine(objects: list[dict], campaign_id: str) -> list[dict]:
    return [o for o in objects if f"mops:{campaign_id}:" in str(o.get("name", ""))]


def google_held(objects: dict[str, list[dict]], campaign_id: str) -> tuple[list[dict], list[dict], list[dict]]:
    """The campaign's Google ad groups, and the ads and keywords in them."""
    groups = mine(objects["google_ad_groups"], campaign_id)
    names = {g["resourceName"] for g in groups}
    ads = [a for a in objects["google_ads_ads"] if a["adGroup"] in names]
    return groups, ads, [c for c in objects["google_criteria"] if c["adGroup"] in names]


async def test_launch_goes_live_on_every_channel_with_consistent_utms(stack: Stack) -> None:
    svc = CampaignService(stack.client, stack.settings)
    inp = campaign_input(stack)
    cid = inp.spec.id
    result = await svc.launch(inp)
    assert result.ok and result.problems == []
    assert (await svc.launch(inp)).ok, "launching twice finds the running campaign"
    view = await status_is(svc, cid, CampaignStatus.LIVE)

    parts = {p.channel: p for p in view.parts}
    assert all(p.state in (PartState.LIVE, PartState.SENT) for p in view.parts), view.parts
    objects = await platform_objects(stack)
    meta = mine(objects["meta"], cid)
    assert meta and all(o["status"] == "ACTIVE" for o in meta), meta
    adset = next(o for o in meta if o.get("campaign_id"))
    # 60 % of 6000.00 EUR over the 20-21 calendar days the campaign touches, in cents.
    assert int(adset["daily_budget"]) == parts[ChannelKind.META_ADS].daily_budget_minor in (360000 // 21, 360000 // 20)
    # The Meta channel runs one ad, live because ad, ad set and campaign all are, with a
    # creative linking to the channel's UTM-tagged landing URL.
    [ad], [creative] = mine(objects["meta_ads"], cid), mine(objects["meta_creatives"], cid)
    assert (ad["status"], ad["effective_status"], ad["creative"]["id"]) == ("ACTIVE", "ACTIVE", creative["id"])
    assert creative["object_story_spec"]["link_data"]["link"] == parts[ChannelKind.META_ADS].link
    assert creative["image_hash"] in [i["hash"] for i in (await stack.admin.state("meta"))["images"]]
    await spends_only_while_its_ad_runs(stack, parts[ChannelKind.META_ADS].ref.campaign, ad["id"])
    google = mine(objects["google_ads"], cid)
    assert [o["status"] for o in google] == ["ENABLED"]
    # The search ad is live with its campaign: ad group and ad enabled, leading to the tagged link.
    groups, ads, criteria = google_held(objects, cid)
    assert [g["status"] for g in groups] == ["ENABLED"] and [a["status"] for a in ads] == ["ENABLED"]
    [ad] = ads
    assert ad["ad"]["finalUrls"] == [parts[ChannelKind.GOOGLE_ADS].link]
    assert [h["text"] for h in ad["ad"]["responsiveSearchAd"]["headlines"]] == SEARCH_SECTION["headlines"]
    assert sorted((c["keyword"]["text"], c["keyword"]["matchType"], c["negative"]) for c in criteria) == [
        ("crm software", "EXACT", False),
        ("jobs", "BROAD", True),
        ("marketing automation", "PHRASE", False),
    ]
    # Every channel links to the landing page with the same utm_campaign and its own source/medium.
    for kind in (ChannelKind.META_ADS, ChannelKind.GOOGLE_ADS, ChannelKind.LINKEDIN, ChannelKind.EMAIL):
        assert f"utm_campaign={cid}" in parts[kind].link and f"utm_content={kind.value}" in parts[kind].link
    sent = await stack.admin.effects("sendgrid", "singlesend.create")
    assert any(f"mops:{cid}:email" in str(e["summary"]) for e in sent)
    # The Web UI can find it by the campaign's search attributes.
    wf = await stack.client.get_workflow_handle(campaign_workflow_id(cid)).describe()
    attrs = {k.name: v for k, v in wf.typed_search_attributes}
    assert attrs["CampaignId"] == cid and attrs["CampaignStatus"] == "live"
    assert set(attrs["Channels"]) == {k.value for k in ChannelKind}

    await svc.stop(cid, requested_by="maya", reason="test over")
    view = await status_is(svc, cid, CampaignStatus.COMPLETED)
    assert view.landing is not None and view.landing.views > 0, "landing page traffic from GA4"
    assert {r.channel for r in view.report} == set(ChannelKind) and view.outcome.startswith("stopped by maya")
    objects = await platform_objects(stack)
    assert all(o["status"] == "PAUSED" for o in mine(objects["meta"], cid) if not o.get("campaign_id"))
    assert [o["status"] for o in mine(objects["meta_ads"], cid)] == ["PAUSED"]
    assert [o["status"] for o in mine(objects["google_ads"], cid)] == ["PAUSED"]
    assert [g["status"] for g in google_held(objects, cid)[0]] == ["PAUSED"]


async def spends_only_while_its_ad_runs(stack: Stack, campaign_id: str, ad_id: str) -> None:
    """The live Meta campaign spends; with its ad paused (campaign and ad set still on) the
    days after the reported ones show nothing. Then the ad goes back on."""
    s = stack.settings
    async with MetaAdsClient(
        s.meta_base_url, s.meta_token.get_secret_value(), ad_account_id=s.meta_ad_account_id
    ) as meta:
        # Report up to a day well inside the schedule, so the pause takes effect the day after it.
        reported = datetime.now(UTC).date() + timedelta(days=5)
        running = await meta.insights(campaign_id, since=reported - timedelta(days=1), until=reported)
        assert running and all(r.spend > 0 and r.impressions > 0 for r in running)
        await meta.set_status(ad_id, "PAUSED")
        after = reported + timedelta(days=1)
        assert await meta.insights(campaign_id, since=after, until=after + timedelta(days=2)) == []
        await meta.set_status(ad_id, "ACTIVE")


META_OBJECTS = "/v21.0/act_1234567890"
ALL_META = (1, 1, 1, 1)
FAIL_AT = [  # the k-th channel's create or go-live call refused by its platform, and the
    # Meta campaigns, ad sets, creatives and ads made by then (all deleted by the rollback)
    ("landing_page", "landing_page", "wordpress", {"path_prefix": "/wp-json/wp/v2/posts"}, (0, 0, 0, 0)),
    ("meta_ads:adset", "meta_ads", "meta", {"path_prefix": f"{META_OBJECTS}/adsets"}, (1, 0, 0, 0)),
    ("meta_ads:creative", "meta_ads", "meta", {"path_prefix": f"{META_OBJECTS}/adcreatives"}, (1, 1, 0, 0)),
    ("meta_ads:ad", "meta_ads", "meta", {"path": f"{META_OBJECTS}/ads"}, (1, 1, 1, 0)),
    (
        "google_ads:budget",
        "google_ads",
        "google_ads",
        {"path_prefix": "/v18/customers/1234567890/campaignBudgets:mutate"},
        ALL_META,
    ),
    # the last Google step: budget, campaign, ad group and ad are made and must go again
    (
        "google_ads:criteria",
        "google_ads",
        "google_ads",
        {"path_prefix": "/v18/customers/1234567890/adGroupCriteria:mutate"},
        ALL_META,
    ),
    ("linkedin", "linkedin", "linkedin", {"path_prefix": "/rest/posts"}, ALL_META),
    ("email", "email", "sendgrid", {"path_prefix": "/v3/marketing/singlesends"}, ALL_META),
]


@pytest.mark.parametrize(
    ("channel", "platform", "where", "meta_made"), [f[1:] for f in FAIL_AT], ids=[f[0] for f in FAIL_AT]
)
async def test_a_failing_channel_rolls_back_every_channel(
    stack: Stack, channel: str, platform: str, where: dict[str, str], meta_made: tuple[int, int, int, int]
) -> None:
    svc = CampaignService(stack.client, stack.settings)
    inp = campaign_input(stack)
    cid = inp.spec.id
    await stack.admin.set_faults(platform, fail_next=1, error_status=400, **where)
    assert (await svc.launch(inp)).ok
    view = await status_is(svc, cid, CampaignStatus.FAILED)

    failed = {p.channel.value: p for p in view.parts}
    assert failed[channel].state == PartState.FAILED and failed[channel].error
    assert f"launch failed at {channel}" in view.outcome
    objects = await platform_objects(stack)
    meta = mine(objects["meta"] + objects["meta_ads"] + objects["meta_creatives"], cid)
    assert all(o["status"] == "DELETED" for o in meta), meta
    campaigns = [o for o in mine(objects["meta"], cid) if "campaign_id" not in o]
    counts = (len(campaigns), len(mine(objects["meta"], cid)) - len(campaigns))
    counts += (len(mine(objects["meta_creatives"], cid)), len(mine(objects["meta_ads"], cid)))
    assert counts == meta_made, meta
    assert all(
        o["status"] == "REMOVED" for o in mine(objects["google_ads"], cid) + mine(objects["google_budgets"], cid)
    )
    groups, ads, criteria = google_held(objects, cid)
    assert all(o["status"] == "REMOVED" for o in groups + ads + criteria), (groups, ads, criteria)
    if "adGroupCriteria" in where.get("path_prefix", ""):
        assert len(groups) == len(ads) == 1, "the failure came after the ad group and ad were made"
    assert not [p for p in objects["posts"] if p.get("slug") == cid and p.get("status") == "publish"]
    assert not [
        p
        for p in objects["linkedin"]
        if cid in p.get("commentary", "") and p.get("lifecycleState", p.get("lifecycle_state")) == "PUBLISHED"
    ]
    sends = [e for e in await stack.admin.effects("sendgrid", "singlesend.schedule") if cid in str(e["summary"])]
    assert sends == [], "the email is the last step: nothing may have been sent"
    report = {r.channel.value: r.state for r in view.report}
    assert set(report) == {k.value for k in ChannelKind}


async def test_an_image_the_workers_hold_otherwise_fails_the_launch_and_uploads_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    # The machine that validates the file has another spring-launch.png than the workers'
    # assets directory (the repository's campaigns/): same path, other bytes.
    laptop = with_images(tmp_path / "laptop-campaigns")
    image = laptop / "images" / "spring-launch.png"
    image.write_bytes(image.read_bytes() + b"\0")  # still a png to Meta
    directory = load_directory(stack.settings.policies_dir / "directory.yaml")
    spec = build_campaign(spec_data(stack), directory=directory, assets=laptop)
    inp = CampaignInput(
        spec=spec,
        directory=directory,
        queues=platform_queues(stack.settings),
        decision_keys=verify_keys(stack.settings),
    )
    svc = CampaignService(stack.client, stack.settings)
    assert (await svc.launch(inp)).ok
    view = await status_is(svc, spec.id, CampaignStatus.FAILED)

    meta = next(p for p in view.parts if p.channel == ChannelKind.META_ADS)
    assert (meta.state, meta.error) == (PartState.FAILED, "IMAGE_CHANGED")  # the refusal's code, as for any platform
    # The activity's failure (Web UI, through the codec server) names the file and the problem.
    history = await svc.handle(spec.id).fetch_history()
    failed = [
        e.activity_task_failed_event_attributes.failure
        for e in history.events
        if e.HasField("activity_task_failed_event_attributes")
    ]
    [refusal] = [str(await stack.client.data_converter.decode_failure(f)) for f in failed]
    assert f"{ASSETS}/images/spring-launch.png is not the file the campaign was validated with" in refusal, refusal
    uploaded = {i["hash"] for i in (await stack.admin.state("meta"))["images"]}
    assert hashlib.md5(image.read_bytes(), usedforsecurity=False).hexdigest() not in uploaded
    assert mine((await platform_objects(stack))["meta"], spec.id) == [], "refused before anything was made"


async def test_currency_mismatch_is_refused_at_preflight_and_creates_nothing(stack: Stack) -> None:
    svc = CampaignService(stack.client, stack.settings)
    inp = campaign_input(stack, currency="USD")
    result = await svc.launch(inp)
    assert not result.ok and result.status == CampaignStatus.FAILED
    assert result.problems == [
        "currency: campaign is in USD but the meta_ads account bills in EUR",
        "currency: campaign is in USD but the google_ads account bills in EUR",
    ]
    objects = await platform_objects(stack)
    assert mine(objects["meta"], inp.spec.id) == mine(objects["google_ads"], inp.spec.id) == []


async def test_rate_limited_launch_waits_the_advertised_delay(stack: Stack) -> None:
    svc = CampaignService(stack.client, stack.settings)
    inp = campaign_input(stack)
    await stack.admin.set_faults(
        "google_ads", rate_limit_next=1, retry_after_s=2, path_prefix="/v18/customers/1234567890/campaignBudgets:mutate"
    )
    assert (await svc.launch(inp)).ok
    await status_is(svc, inp.spec.id, CampaignStatus.LIVE)

    history = await stack.client.get_workflow_handle(campaign_workflow_id(inp.spec.id)).fetch_history()
    scheduled, started = {}, {}
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[e.event_id] = (
                e.activity_task_scheduled_event_attributes.activity_type.name,
                e.event_time.ToDatetime(),
            )
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            a = e.activity_task_started_event_attributes
            started[a.scheduled_event_id] = (a.attempt, e.event_time.ToDatetime())
    create = next(i for i, (name, _) in scheduled.items() if name == "google_ads.create")
    attempt, at = started[create]
    assert attempt == 2, "one 429, then success"
    assert at - scheduled[create][1] >= timedelta(seconds=2), "the retry waited the advertised 2 s"


async def live_campaign(stack: Stack, svc: CampaignService, *, auto_apply_under_pct: str = "1"):
    """A campaign that started 10 days ago (so there are complete days to judge by)."""
    now = datetime.now(UTC).replace(microsecond=0)
    approval = [{"name": "director", "approvers": ["dana"], "mode": "all"}]
    inp = campaign_input(
        stack,
        start=(now - timedelta(days=10)).isoformat(),
        reallocation={
            "approval": approval,
            "auto_apply_under_pct": auto_apply_under_pct,
            "min_conversions": 1,
            "min_clicks": 10,
            "min_spend": "10",
        },
    )
    assert (await svc.launch(inp)).ok
    await status_is(svc, inp.spec.id, CampaignStatus.LIVE)
    # Google converts far more cheaply than Meta: the rules move budget towards Google.
    await stack.admin.set_ads_performance("meta", inp.spec.id, conversion_factor=0.2)
    return inp


async def budget_status(svc: CampaignService, wf_id: str, *statuses: BudgetStatus):
    async def check():
        view = await svc.budget_state(wf_id)
        assert view.status in statuses, (view.status, view.outcome)
        return view

    return await eventually(check, timeout=60, what=f"budget {' or '.join(s.value for s in statuses)}")


async def test_reallocation_above_threshold_waits_for_approval_applies_and_verifies(stack: Stack) -> None:
    svc = CampaignService(stack.client, stack.settings)
    inp = await live_campaign(stack, svc)
    cid = inp.spec.id
    handle = await svc.reallocate(cid, requested_by=None, run_id="t1")
    view = await budget_status(svc, handle.id, BudgetStatus.AWAITING_APPROVAL)
    p = view.proposal
    assert p.action == "approval" and p.metric == "cpa"
    assert sum(p.proposed.values()) == sum(p.current.values())
    assert p.proposed[ChannelKind.GOOGLE_ADS] > p.current[ChannelKind.GOOGLE_ADS]
    assert view.pending_approvers == ["dana"]

    with pytest.raises(Refused, match="not an approver") as err:
        await svc.budget_decide(handle.id, approver="omar", kind="approve")
    assert err.value.code == Refusal.NOT_AN_APPROVER
    await svc.budget_decide(handle.id, approver="dana", kind="approve")
    view = await budget_status(svc, handle.id, BudgetStatus.APPLIED)
    assert all(c.verified == c.after for c in view.changes)

    objects = await platform_objects(stack)
    adset = next(o for o in mine(objects["meta"], cid) if o.get("campaign_id"))
    assert int(adset["daily_budget"]) == p.proposed[ChannelKind.META_ADS]
    budget = mine(objects["google_budgets"], cid)[0]
    assert int(budget["amountMicros"]) == p.proposed[ChannelKind.GOOGLE_ADS] * 10_000

    async def recorded():
        c = await svc.state(cid)
        return c.budget_changes and c

    campaign = await eventually(recorded, what="the campaign to record the change")
    assert campaign.budget_changes[0].after == {k: v for k, v in p.proposed.items() if v != p.current[k]}
    assert campaign.budget_changes[0].decided_by == ["dana"]


async def test_a_failing_apply_rolls_every_change_back(stack: Stack) -> None:
    svc = CampaignService(stack.client, stack.settings)
    inp = await live_campaign(stack, svc, auto_apply_under_pct="100")
    cid = inp.spec.id
    before = (await svc.state(cid)).parts
    await stack.admin.set_faults(
        "google_ads", fail_next=1, error_status=400, path_prefix="/v18/customers/1234567890/campaignBudgets:mutate"
    )
    handle = await svc.reallocate(cid, requested_by=None, run_id="t2")
    view = await budget_status(svc, handle.id, BudgetStatus.ROLLED_BACK)
    assert view.proposal.action == "auto"
    meta = next(c for c in view.changes if c.channel == ChannelKind.META_ADS)
    assert meta.verified == meta.after and meta.rolled_back
    objects = await platform_objects(stack)
    adset = next(o for o in mine(objects["meta"], cid) if o.get("campaign_id"))
    old = {p.channel: p.daily_budget_minor for p in before}
    assert int(adset["daily_budget"]) == old[ChannelKind.META_ADS]
    budget = mine(objects["google_budgets"], cid)[0]
    assert int(budget["amountMicros"]) == old[ChannelKind.GOOGLE_ADS] * 10_000
    assert (await svc.state(cid)).budget_changes == []


async def test_campaign_links_record_touches_on_the_lead_for_attribution(stack: Stack) -> None:
    """A lead arriving by the Meta ad's link, then clicking the campaign email's link:
    both touches are on the lead's path with the campaign and channel (utm_content)."""
    from domain.leads import Utm
    from starter.service.leads import build_capture, build_event

    svc = CampaignService(stack.client, stack.settings)
    inp = campaign_input(stack)
    assert (await svc.launch(inp)).ok
    view = await status_is(svc, inp.spec.id, CampaignStatus.LIVE)
    links = {p.channel: p.link for p in view.parts}
    email = f"touch-{uuid.uuid4().hex[:6]}@acme.example"
    capture = build_capture(
        stack.settings, email=email, source="web_form", consent=True, utm=Utm.from_url(links[ChannelKind.META_ADS])
    )
    await stack.leads.capture(capture)
    await stack.leads.record_event(build_event(type="click", detail=links[ChannelKind.EMAIL]), email=email)

    async def two_touches():
        s = await stack.leads.state(email=email)
        return len(s.touch_path) == 2 and s

    state = await eventually(two_touches, what="both touches on the lead")
    assert [(t.kind, t.utm.campaign, t.utm.content) for t in state.touch_path] == [
        ("capture:web_form", inp.spec.id, "meta_ads"),
        ("click", inp.spec.id, "email"),
    ]
    assert email not in state.model_dump_json(), "the path holds no personal data"
