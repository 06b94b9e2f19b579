"""The Meta channel's activities over the real client and sandbox: create makes campaign,
ad set, image, creative and ad PAUSED, and a retry after a lost answer finds each by name
instead of making a second; activation and removal reach every object, in order; refs of
channels created before ads still pause and remove. The image comes from the worker's own
campaign assets directory, and only when it is the file the campaign was validated with."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.ads import MetaActivities
from activities.contracts import ErrorType
from activities.models import PaidCreateInput, PaidNamedInput, PaidRef, PaidStatusInput
from domain.fields import STRICT_KEYS
from domain.meta_ads import IMAGE_BASE, MetaAd, MetaTargeting
from integrations.meta_ads import MetaAdsClient
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from tests.ad_fixtures import ASSETS, IMAGE, META_AD, with_images

ACT = "/v21.0/act_1234567890"
LINK = "https://www.mops.example/spring?utm_source=facebook&utm_medium=paid_social&utm_content=meta_ads"
CREATES = ("campaign.create", "adset.create", "adimage.create", "adcreative.create", "ad.create")


@pytest.fixture
async def admin(sandbox: SandboxServer) -> AsyncIterator[SandboxAdmin]:
    async with SandboxAdmin(sandbox.url) as admin:
        await admin.reset()
        yield admin
        await admin.reset()


@pytest.fixture
def assets(tmp_path: Path) -> Path:
    """The worker's campaign assets directory: a copy of campaigns/ on another machine."""
    return with_images(tmp_path / "worker-campaigns")


@pytest.fixture
async def client(sandbox: SandboxServer, admin: SandboxAdmin) -> AsyncIterator[MetaAdsClient]:
    tokens = sandbox.tokens
    async with MetaAdsClient(
        sandbox.url,
        tokens.meta_token.get_secret_value(),
        ad_account_id=tokens.meta_ad_account_id,
        page_id=tokens.meta_page_id,
        timeout=5,
    ) as client:
        yield client


@pytest.fixture
def meta(client: MetaAdsClient, assets: Path) -> MetaActivities:
    return MetaActivities(client, assets)


def validated(ad: dict[str, Any]) -> MetaAd:
    """The ad as the CLI validates it from a file in campaigns/: the image as a reference."""
    return MetaAd.model_validate(ad, context={STRICT_KEYS: True, IMAGE_BASE: ASSETS})


def create_input(ad: MetaAd | None = None, **changes) -> PaidCreateInput:
    start = datetime(2026, 11, 2, tzinfo=UTC)
    fields = {
        "name": f"Spring [mops:spring-{uuid.uuid4().hex[:6]}:meta_ads]",
        "objective": "leads",
        "daily_budget_minor": 2000,
        "currency": "EUR",
        "countries": ["DE"],
        "start": start,
        "end": start + timedelta(days=14),
        "ad": ad if ad is not None else validated(META_AD),
        "final_url": LINK,
        **changes,
    }
    return PaidCreateInput(**fields)


async def run(fn, *args):
    return await ActivityEnvironment().run(fn, *args)


async def meta_state(admin: SandboxAdmin) -> dict:
    return await admin.state("meta")


async def test_create_makes_every_object_paused_with_the_ad_and_targeting(meta, admin):
    ad = validated(
        {
            **META_AD,
            "description": "Ready-made.",
            "targeting": MetaTargeting(age_min=30, custom_audiences=["2385"], placements=["instagram"]),
        }
    )
    inp = create_input(ad)
    ref = await run(meta.create, inp)
    assert ref.ad and ref.creative and ref.ad_set and ref.image_hash
    state = await meta_state(admin)
    [campaign], [adset], [creative], [made] = state["campaigns"], state["adsets"], state["creatives"], state["ads"]
    assert [o["status"] for o in (campaign, adset, made)] == ["PAUSED"] * 3
    assert (made["id"], made["adset_id"], made["creative"]["id"]) == (ref.ad, ref.ad_set, ref.creative)
    assert adset["targeting"] == {
        "geo_locations": {"countries": ["DE"]},
        "age_min": 30,
        "age_max": 65,
        "custom_audiences": [{"id": "2385"}],
        "publisher_platforms": ["instagram"],
    }
    link_data = creative["object_story_spec"]["link_data"]
    assert creative["object_story_spec"]["page_id"] == "104857600000001"
    assert link_data == {
        "link": LINK,
        "image_hash": ref.image_hash,
        "message": META_AD["message"],
        "name": META_AD["headline"],
        "description": "Ready-made.",
        "call_to_action": {"type": "LEARN_MORE", "value": {"link": LINK}},
    }
    [image] = state["images"]
    assert (image["hash"], image["name"]) == (ref.image_hash, IMAGE.name)


@pytest.mark.parametrize(
    "path", [f"{ACT}/campaigns", f"{ACT}/adsets", f"{ACT}/adimages", f"{ACT}/adcreatives", f"{ACT}/ads"]
)
async def test_a_retry_after_a_lost_answer_duplicates_nothing(meta, admin, path):
    inp = create_input()
    await admin.set_faults("meta", fail_next=1, error_status=500, fail_after_apply=True, path=path)
    with pytest.raises(ApplicationError) as lost:
        await run(meta.create, inp)
    assert lost.value.type == ErrorType.PLATFORM_UNAVAILABLE  # retried by the workflow's policy
    ref = await run(meta.create, inp)
    assert [e["kind"] for e in await admin.effects("meta") if e["kind"].endswith(".create")] == list(CREATES)
    assert ref == await run(meta.create, inp)  # and again: the same five objects


async def test_status_turns_every_object_on_and_off(meta, admin):
    ref = await run(meta.create, create_input())
    await run(meta.set_status, PaidStatusInput(ref=ref, active=True))
    [ad] = (await meta_state(admin))["ads"]
    assert (ad["status"], ad["effective_status"]) == ("ACTIVE", "ACTIVE")
    updates = [(e["kind"], e["summary"]["id"]) for e in await admin.effects("meta") if e["kind"].endswith(".update")]
    assert updates == [("ad.update", ref.ad), ("adset.update", ref.ad_set), ("campaign.update", ref.campaign)]
    await run(meta.set_status, PaidStatusInput(ref=ref, active=False))
    state = await meta_state(admin)
    assert [o["status"] for o in state["campaigns"] + state["adsets"] + state["ads"]] == ["PAUSED"] * 3


async def test_remove_deletes_ad_creative_ad_set_campaign_in_that_order(meta, admin):
    ref = await run(meta.create, create_input())
    assert (await run(meta.remove, ref)).removed
    deletes = [(e["kind"], e["summary"]["id"]) for e in await admin.effects("meta") if e["kind"].endswith(".delete")]
    assert deletes == [
        ("ad.delete", ref.ad),
        ("adcreative.delete", ref.creative),
        ("adset.delete", ref.ad_set),
        ("campaign.delete", ref.campaign),
    ]
    assert not (await run(meta.remove, ref)).removed  # already gone: a retried rollback is fine


async def test_a_half_made_create_is_removed_by_name(meta, admin):
    inp = create_input()
    await admin.set_faults("meta", fail_next=1, error_status=400, path=f"{ACT}/ads")
    with pytest.raises(ApplicationError) as refused:
        await run(meta.create, inp)
    assert refused.value.non_retryable
    assert (await run(meta.remove_named, PaidNamedInput(name=inp.name))).removed
    state = await meta_state(admin)
    assert [o["status"] for o in state["campaigns"] + state["adsets"] + state["creatives"]] == ["DELETED"] * 3
    assert state["ads"] == []
    assert not (await run(meta.remove_named, PaidNamedInput(name=inp.name))).removed


async def test_a_channel_without_an_ad_is_refused_before_anything_is_made(meta, admin):
    inp = create_input().model_copy(update={"ad": None, "final_url": None})
    with pytest.raises(ApplicationError) as refused:
        await run(meta.create, inp)
    assert refused.value.non_retryable and "no ad" in str(refused.value)
    state = await meta_state(admin)
    assert state["campaigns"] == state["adsets"] == state["creatives"] == state["ads"] == []


async def test_a_ref_from_before_ads_still_pauses_and_removes(meta, admin):
    ref = await run(meta.create, create_input())
    old = PaidRef(campaign=ref.campaign, ad_set=ref.ad_set)  # as a workflow from before ads holds it
    await run(meta.set_status, PaidStatusInput(ref=old, active=True))
    assert (await run(meta.remove, old)).removed
    state = await meta_state(admin)
    assert [o["status"] for o in state["campaigns"] + state["adsets"]] == ["DELETED"] * 2


async def test_an_existing_post_runs_without_an_image(meta, admin):
    ad = MetaAd.model_validate({"object_story_id": "104857600000001_42"})
    ref = await run(meta.create, create_input(ad))
    assert ref.image_hash is None and ref.ad
    [creative] = (await meta_state(admin))["creatives"]
    assert creative["object_story_id"] == "104857600000001_42"


async def test_the_image_uploaded_is_the_file_in_the_workers_assets_directory(meta, admin):
    ref = await run(meta.create, create_input())
    data = IMAGE.read_bytes()
    # Meta names an image by the md5 of the bytes it got: those of the file validated.
    assert ref.image_hash == hashlib.md5(data, usedforsecurity=False).hexdigest()
    [upload] = [e["summary"] for e in await admin.effects("meta") if e["kind"] == "adimage.create"]
    assert upload == {"hash": ref.image_hash, "name": "spring-launch.png", "bytes": len(data)}


def other_bytes_same_size(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0xFF])  # still a png by its header: Meta would take it


@pytest.mark.parametrize("change", [other_bytes_same_size, lambda data: data + b"\0"], ids=["same-size", "grown"])
async def test_an_image_changed_on_the_worker_is_refused_and_nothing_is_made(meta, admin, assets, change):
    on_worker = assets / "images" / "spring-launch.png"
    on_worker.write_bytes(change(on_worker.read_bytes()))
    with pytest.raises(ApplicationError) as refused:
        await run(meta.create, create_input())
    assert refused.value.non_retryable and refused.value.type == ErrorType.PLATFORM_REJECTED
    assert "IMAGE_CHANGED" in str(refused.value) and str(on_worker) in str(refused.value)
    assert "not the file the campaign was validated with" in str(refused.value)
    state = await meta_state(admin)
    assert state["images"] == state["campaigns"] == state["adsets"] == state["creatives"] == []


async def test_an_image_missing_on_the_worker_is_refused_and_nothing_is_made(meta, admin, assets):
    (assets / "images" / "spring-launch.png").unlink()
    with pytest.raises(ApplicationError) as refused:
        await run(meta.create, create_input())
    assert refused.value.non_retryable and "IMAGE_MISSING" in str(refused.value)
    assert f"images/spring-launch.png: not in the campaign assets directory {assets}" in str(refused.value)
    state = await meta_state(admin)
    assert state["images"] == state["campaigns"] == []


async def test_a_worker_without_an_assets_directory_refuses_an_image_naming_the_setting(client, admin):
    with pytest.raises(ApplicationError) as refused:
        await run(MetaActivities(client, None).create, create_input())
    assert refused.value.non_retryable and "MOPS_CAMPAIGN_ASSETS is not set" in str(refused.value)
    assert (await meta_state(admin))["campaigns"] == []
    # An ad running an existing post needs no image, and no directory.
    post = MetaAd.model_validate({"object_story_id": "104857600000001_42"})
    assert (await run(MetaActivities(client, None).create, create_input(post))).ad


async def test_an_image_path_from_before_references_is_refused_not_uploaded(meta, admin):
    # A campaign launched by an earlier version holds an absolute path and no hash: the
    # file there may be another one, so it is not uploaded.
    ad = MetaAd.model_validate({**META_AD, "image": str(IMAGE)})
    with pytest.raises(ApplicationError) as refused:
        await run(meta.create, create_input(ad))
    assert refused.value.non_retryable and "IMAGE_UNVERIFIABLE" in str(refused.value)
    assert str(IMAGE) in str(refused.value) and "launch its file again" in str(refused.value)
    state = await meta_state(admin)
    assert state["images"] == state["campaigns"] == []
