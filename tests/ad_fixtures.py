"""A Meta channel's ad as campaign files give it, for tests that build campaigns from dicts."""

from __future__ import annotations

import shutil
from pathlib import Path

from integrations.meta_ads import MetaAdsClient

# The campaign assets directory of the repository's campaign files (the workers' in tests).
ASSETS = Path(__file__).resolve().parent.parent / "campaigns"
IMAGE = ASSETS / "images" / "spring-launch.png"

# Relative to ASSETS: campaigns built without a file pass it (build_campaign(data, assets=ASSETS)).
META_AD = {
    "message": "Five ready-made workflows for launches, approvals and budget reviews.",
    "headline": "Spring launch",
    "call_to_action": "LEARN_MORE",
    "image": "images/spring-launch.png",
}


def with_images(directory: Path) -> Path:
    """`directory` holding the ad images as campaigns/ does, so a campaign file written there
    finds META_AD's image beside it; returns `directory`."""
    shutil.copytree(ASSETS / "images", directory / "images", dirs_exist_ok=True)
    return directory


async def add_running_ad(meta: MetaAdsClient, ad_set_id: str, name: str) -> str:
    """Give an ad set an ACTIVE ad (image, link creative, ad): without one, Meta delivers nothing.
    `meta` must know the page (`page_id`)."""
    image_hash = await meta.upload_image(IMAGE.read_bytes(), name=IMAGE.name)
    creative_id = await meta.create_link_creative(
        name=f"{name} · creative",
        link="https://www.mops.example/spring",
        image_hash=image_hash,
        message=META_AD["message"],
        headline=META_AD["headline"],
        call_to_action=META_AD["call_to_action"],
    )
    return await meta.create_ad(name=f"{name} · ad", ad_set_id=ad_set_id, creative_id=creative_id, status="ACTIVE")
