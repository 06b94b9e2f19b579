"""A Meta channel's `ad:` section: what a campaign file must give, refused at validate time
with one line naming the field; its image becomes a portable reference (path relative to
the campaign assets directory, SHA-256, size) and may not leave that directory."""

import copy
import hashlib
from pathlib import Path

import pytest
import yaml

from domain.campaigns import CampaignSpec, CampaignSpecError, build_campaign, load_campaign
from domain.meta_ads import ImageRef, MetaAd
from tests.ad_fixtures import ASSETS, IMAGE, META_AD, with_images
from tests.domain.test_domain_campaigns import CAMPAIGN, NOW


def with_ad(**changes) -> dict:
    data = copy.deepcopy(CAMPAIGN)
    ad = data["channels"][0]["ad"]
    for key, value in changes.items():
        if value is None:
            ad.pop(key, None)
        else:
            ad[key] = value
    return data


def reference(path: str, file: Path) -> ImageRef:
    data = file.read_bytes()
    return ImageRef(path=path, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def test_a_valid_ad_keeps_its_text_and_a_reference_to_its_image() -> None:
    spec = build_campaign(
        with_ad(call_to_action="sign_up", targeting={"age_min": 25, "interests": ["6003"]}), now=NOW, assets=ASSETS
    )
    ad = spec.channels[0].ad
    assert ad is not None and ad.call_to_action == "SIGN_UP"
    assert ad.image == reference("images/spring-launch.png", IMAGE)
    assert (ad.targeting.age_min, ad.targeting.age_max, ad.targeting.interests) == (25, 65, ["6003"])


def test_an_existing_post_needs_no_text_or_image() -> None:
    spec = build_campaign(
        with_ad(message=None, headline=None, call_to_action=None, image=None, object_story_id="1048_2001"),
        now=NOW,
        assets=ASSETS,
    )
    assert spec.channels[0].ad is not None and spec.channels[0].ad.object_story_id == "1048_2001"


def test_the_image_is_read_relative_to_the_campaign_file(tmp_path: Path) -> None:
    (tmp_path / "art").mkdir()
    (tmp_path / "art" / "hero.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 32)
    data = with_ad(image="art/hero.jpg")
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(data))
    ad = load_campaign(path, now=NOW).channels[0].ad
    assert ad is not None and ad.image == reference("art/hero.jpg", tmp_path / "art" / "hero.jpg")
    assert ad.image.size == 36 and ad.image.name == "hero.jpg"
    path.write_text(yaml.safe_dump(with_ad(image="art/missing.png")))
    with pytest.raises(CampaignSpecError) as err:
        load_campaign(path, now=NOW)
    assert str(err.value).startswith(f"{path}: channels[0].ad.image: 'art/missing.png' does not exist")


def test_a_spec_read_back_from_a_workflow_needs_no_ad() -> None:
    # Campaigns launched before ads were part of the file are in workflow histories
    # without one: reading them back (no strict context) must not fail.
    data = copy.deepcopy(CAMPAIGN)
    data["channels"][0].pop("ad")
    assert CampaignSpec.model_validate(data).channels[0].ad is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {
                **CAMPAIGN,
                "channels": [
                    {k: v for k, v in CAMPAIGN["channels"][0].items() if k != "ad"},
                    *CAMPAIGN["channels"][1:],
                ],
            },
            "channels[0].ad: required for meta_ads channels",
        ),
        (
            {
                **CAMPAIGN,
                "channels": [
                    CAMPAIGN["channels"][0],
                    {**CAMPAIGN["channels"][1], "ad": META_AD},
                    *CAMPAIGN["channels"][2:],
                ],
            },
            "channels[1].ad: not used by google_ads channels (only by meta_ads)",
        ),
        (with_ad(message=None), "channels[0].ad.message: required for an ad with an image"),
        (with_ad(headline=None), "channels[0].ad.headline: required for an ad with an image"),
        (with_ad(call_to_action=None), "channels[0].ad.call_to_action: required for an ad with an image"),
        (with_ad(headline="  "), "channels[0].ad.headline: must not be blank"),
        (
            with_ad(call_to_action="CLICK_HERE"),
            "channels[0].ad.call_to_action: unknown call to action 'CLICK_HERE' (expected one of: LEARN_MORE, SIGN_UP, DOWNLOAD,",
        ),
        (
            with_ad(image=None),
            "channels[0].ad.image: required: a png or jpg file, or object_story_id for an existing post",
        ),
        (with_ad(object_story_id="1048_2001"), "channels[0].ad.image: give image or object_story_id, not both"),
        (
            with_ad(image=None, headline=None, call_to_action=None, object_story_id="1048_2001"),
            "channels[0].ad.message: not used with object_story_id (the post runs with its own text)",
        ),
        (with_ad(image=None, object_story_id="post-1"), "channels[0].ad.object_story_id: String should match pattern"),
        (with_ad(image="hero.gif"), "channels[0].ad.image: 'hero.gif' is not a png or jpg file"),
        (
            with_ad(image=str(IMAGE.parent / "nope.png")),
            f"channels[0].ad.image: '{IMAGE.parent / 'nope.png'}' does not exist",
        ),
        (
            with_ad(image={"path": "images/spring-launch.png", "sha256": "0" * 64, "size": 1}),
            "channels[0].ad.image: give the image as the path of a png or jpg file, relative to the campaign file",
        ),
        (with_ad(titel="Spring"), "channels[0].ad: unknown key 'titel'"),
        (
            with_ad(targeting={"age_min": 17}),
            "channels[0].ad.targeting.age_min: Input should be greater than or equal to 18",
        ),
        (
            with_ad(targeting={"age_max": 70}),
            "channels[0].ad.targeting.age_max: Input should be less than or equal to 65",
        ),
        (
            with_ad(targeting={"age_min": 40, "age_max": 30}),
            "channels[0].ad.targeting.age_max: 30 is below age_min (40)",
        ),
        (
            with_ad(targeting={"interests": ["fitness"]}),
            "channels[0].ad.targeting.interests: 'fitness' is not a Meta interest id (digits only)",
        ),
        (
            with_ad(targeting={"placements": ["facebook", "tiktok"]}),
            "channels[0].ad.targeting.placements: unknown placement 'tiktok' (expected one of: facebook, instagram,",
        ),
        (
            with_ad(targeting={"custom_audiences": ["238", "238"]}),
            "channels[0].ad.targeting.custom_audiences: '238' is listed twice",
        ),
    ],
)
def test_ad_refusals_name_the_field(data: dict, message: str) -> None:
    with pytest.raises(CampaignSpecError) as err:
        build_campaign(data, now=NOW, assets=ASSETS)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_file_that_is_not_an_image_is_refused(tmp_path: Path) -> None:
    (tmp_path / "hero.png").write_text("not really a picture")
    with pytest.raises(CampaignSpecError) as err:
        build_campaign(with_ad(image="hero.png"), now=NOW, assets=tmp_path)
    assert (
        str(err.value) == "channels[0].ad.image: 'hero.png' is not a png or jpg image (its first bytes say otherwise)"
    )


def test_an_image_of_a_campaign_from_no_file_is_refused() -> None:
    # No file, no assets directory: nothing a worker elsewhere could find the image by.
    with pytest.raises(CampaignSpecError) as err:
        build_campaign(with_ad(), now=NOW)
    assert str(err.value) == (
        "channels[0].ad.image: 'images/spring-launch.png': the campaign came from no file, "
        "so there is no campaign assets directory to find it in"
    )


def test_an_absolute_or_roundabout_path_inside_the_assets_directory_is_stored_relative() -> None:
    for image in (str(IMAGE), "images/../images/./spring-launch.png"):
        ad = build_campaign(with_ad(image=image), now=NOW, assets=ASSETS).channels[0].ad
        assert ad is not None and ad.image == reference("images/spring-launch.png", IMAGE), image


@pytest.mark.parametrize("image", ["../outside.png", "art/../../outside.png", "{outside}"])
def test_an_image_outside_the_assets_directory_is_refused(tmp_path: Path, image: str) -> None:
    # The file exists: it is refused for where it is, not for being missing.
    campaigns = with_images(tmp_path / "campaigns")
    (tmp_path / "outside.png").write_bytes(IMAGE.read_bytes())
    image = image.format(outside=tmp_path / "outside.png")
    path = campaigns / "campaign.yaml"
    path.write_text(yaml.safe_dump(with_ad(image=image)))
    with pytest.raises(CampaignSpecError) as err:
        load_campaign(path, now=NOW)
    assert str(err.value) == (
        f"{path}: channels[0].ad.image: {image!r} is outside the campaign assets directory {campaigns} "
        "(keep the image in or under it)"
    )


def test_the_reference_is_what_a_workflow_reads_back() -> None:
    spec = build_campaign(with_ad(), now=NOW, assets=ASSETS)
    again = CampaignSpec.model_validate(spec.model_dump(mode="json"))  # as a workflow input decodes
    assert again.channels[0].ad == spec.channels[0].ad
    assert isinstance(again.channels[0].ad.image, ImageRef)
    # A campaign launched before references holds the absolute path the loader made: it
    # still reads back (its history replays), as the plain string it was.
    legacy = spec.model_dump(mode="json")
    legacy["channels"][0]["ad"]["image"] = str(IMAGE)
    assert CampaignSpec.model_validate(legacy).channels[0].ad.image == str(IMAGE)


@pytest.mark.parametrize("path", ["../etc/passwd.png", "/srv/art/hero.png", "images\\..\\..\\x.png", ""])
def test_a_reference_never_names_a_file_outside_the_directory(path: str) -> None:
    # Not even one read back from a workflow input: the worker joins it to its directory.
    with pytest.raises(ValueError, match="not a path inside the campaign assets directory"):
        MetaAd.model_validate(
            {**META_AD, "image": {"path": path, "sha256": "0" * 64, "size": 1}},
        )
