"""A Meta channel's `ad:` section: what a campaign file must give, refused at validate time
with one line naming the field."""

import copy
from pathlib import Path

import pytest
import yaml

from domain.campaigns import CampaignSpec, CampaignSpecError, build_campaign, load_campaign
from tests.ad_fixtures import IMAGE, META_AD
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


def test_a_valid_ad_keeps_its_text_and_an_absolute_image() -> None:
    spec = build_campaign(with_ad(call_to_action="sign_up", targeting={"age_min": 25, "interests": ["6003"]}), now=NOW)
    ad = spec.channels[0].ad
    assert ad is not None and ad.image == str(IMAGE) and ad.call_to_action == "SIGN_UP"
    assert (ad.targeting.age_min, ad.targeting.age_max, ad.targeting.interests) == (25, 65, ["6003"])


def test_an_existing_post_needs_no_text_or_image() -> None:
    spec = build_campaign(
        with_ad(message=None, headline=None, call_to_action=None, image=None, object_story_id="1048_2001"), now=NOW
    )
    assert spec.channels[0].ad is not None and spec.channels[0].ad.object_story_id == "1048_2001"


def test_the_image_is_read_relative_to_the_campaign_file(tmp_path: Path) -> None:
    (tmp_path / "art").mkdir()
    (tmp_path / "art" / "hero.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 32)
    data = with_ad(image="art/hero.jpg")
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(data))
    ad = load_campaign(path, now=NOW).channels[0].ad
    assert ad is not None and ad.image == str(tmp_path / "art" / "hero.jpg")
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
            with_ad(image="images/spring-launch.png"),
            "channels[0].ad.image: 'images/spring-launch.png' is relative, but the campaign came from no file",
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
        build_campaign(data, now=NOW)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_file_that_is_not_an_image_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "hero.png"
    fake.write_text("not really a picture")
    with pytest.raises(CampaignSpecError) as err:
        build_campaign(with_ad(image=str(fake)), now=NOW)
    assert str(err.value) == f"channels[0].ad.image: '{fake}' is not a png or jpg image (its first bytes say otherwise)"
