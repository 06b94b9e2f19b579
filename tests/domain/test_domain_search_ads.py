"""A Google channel's `search:` section: the responsive search ad and its keywords, refused
at validate time with one line naming the field and the item."""

from __future__ import annotations

import copy

import pytest

from domain.campaigns import CampaignSpec, CampaignSpecError, build_campaign
from domain.search_ads import Keyword, MatchType, SearchAd, parse_keyword
from tests.ad_fixtures import ASSETS
from tests.domain.test_domain_campaigns import CAMPAIGN, NOW

SEARCH = CAMPAIGN["channels"][1]["search"]
HEADLINES = SEARCH["headlines"]


def with_search(**changes) -> dict:
    data = copy.deepcopy(CAMPAIGN)
    search = data["channels"][1]["search"]
    for key, value in changes.items():
        if value is None:
            search.pop(key, None)
        else:
            search[key] = value
    return data


def refusal(data: dict) -> str:
    with pytest.raises(CampaignSpecError) as caught:
        build_campaign(data, now=NOW, assets=ASSETS)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("[crm  software]", Keyword(text="crm software", match_type=MatchType.EXACT)),
        ('"crm software"', Keyword(text="crm software", match_type=MatchType.PHRASE)),
        (" crm software ", Keyword(text="crm software", match_type=MatchType.BROAD)),
    ],
)
def test_googles_notation_gives_the_match_type(text, keyword):
    assert parse_keyword(text) == keyword
    assert parse_keyword(keyword.notation()) == keyword


def test_the_section_reads_and_round_trips_through_a_stored_spec():
    spec = build_campaign(
        with_search(path1="automation", path2="spring", negative_keywords=["jobs", "[free]"]), now=NOW, assets=ASSETS
    )
    search = spec.channels[1].search
    assert isinstance(search, SearchAd)
    assert [k.match_type for k in search.keywords] == [MatchType.EXACT, MatchType.BROAD]
    assert search.negative_keywords == [parse_keyword("jobs"), parse_keyword("[free]")]
    assert CampaignSpec.model_validate_json(spec.model_dump_json()) == spec
    assert spec.model_dump(mode="json")["channels"][1]["search"]["keywords"] == [
        "[marketing automation]",
        "marketing ops",
    ]


def test_a_spec_stored_before_search_ads_still_loads():
    old = copy.deepcopy(CAMPAIGN)
    old["channels"][1] = {"kind": "google_ads", "share": 40, "keywords": ["marketing automation"]}
    spec = CampaignSpec.model_validate(
        build_campaign(copy.deepcopy(CAMPAIGN), now=NOW, assets=ASSETS).model_dump() | {"channels": old["channels"]}
    )
    assert spec.channels[1].search is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (with_search(headlines=None), "channels[1].search.headlines: Field required"),
        (
            with_search(headlines=[HEADLINES[0], "Marketing workflows for busy teams", HEADLINES[2]]),
            "channels[1].search.headlines[1]: 'Marketing workflows for busy teams' is 34 characters, "
            "over the limit of 30",
        ),
        (
            with_search(headlines=HEADLINES[:2]),
            "channels[1].search.headlines: a responsive search ad has 3 to 15 headlines, got 2",
        ),
        (
            with_search(headlines=[f"Headline {i}" for i in range(16)]),
            "channels[1].search.headlines: a responsive search ad has 3 to 15 headlines, got 16",
        ),
        (
            with_search(headlines=[*HEADLINES, "launch in days"]),
            "channels[1].search.headlines: headline 'launch in days' is listed twice",
        ),
        (
            with_search(descriptions=["Short.", "d" * 91]),
            "channels[1].search.descriptions[1]: '" + "d" * 91 + "' is 91 characters, over the limit of 90",
        ),
        (
            with_search(descriptions=["Only one."]),
            "channels[1].search.descriptions: a responsive search ad has 2 to 4 descriptions, got 1",
        ),
        (
            with_search(path1="marketing-automation"),
            "channels[1].search.path1: 'marketing-automation' is 20 characters, over the limit of 15",
        ),
        (with_search(path2="spring"), "channels[1].search.path2: needs path1"),
        (
            with_search(keywords=["{crm software}"]),
            "channels[1].search.keywords[0]: '{crm software}': unknown match type; write [exact], \"phrase\" or broad",
        ),
        (
            with_search(keywords=["[crm software"]),
            "channels[1].search.keywords[0]: '[crm software': unknown match type",
        ),
        (
            with_search(keywords=["crm", "+crm +software"]),
            "channels[1].search.keywords[1]: '+crm +software': unknown match type (broad match modifier",
        ),
        (
            with_search(keywords=["[Marketing  ops]", "[marketing ops]"]),
            "channels[1].search.keywords: '[marketing ops]' is listed twice",
        ),
        (
            with_search(keywords=["k" * 81]),
            "channels[1].search.keywords[0]: 'kkkkkkkkkkkkkkkkkkkk'... is 81 characters, over the limit of 80",
        ),
        (
            with_search(keywords=[" ".join(["word"] * 11)]),
            "channels[1].search.keywords[0]: 'word word word word '... has 11 words, over the limit of 10",
        ),
        (with_search(keywords=[]), "channels[1].search.keywords: at least one keyword is needed"),
        (
            with_search(negative_keywords=["jobs", "marketing ops"]),
            "channels[1].search.negative_keywords[1]: 'marketing ops' is also a keyword",
        ),
        (with_search(colour="blue"), "channels[1].search: unknown key 'colour'"),
    ],
)
def test_refusals_name_the_field_and_the_item(data, expected):
    assert refusal(data).startswith(expected), refusal(data)


def test_a_google_channel_in_a_file_needs_its_search_ad_and_the_old_keywords_key_is_gone():
    data = copy.deepcopy(CAMPAIGN)
    del data["channels"][1]["search"]
    assert refusal(data) == (
        "channels[1].search: required for google_ads channels (the ad's headlines and descriptions, its keywords)"
    )
    data["channels"][1]["keywords"] = ["crm"]
    assert refusal(data).startswith("channels[1]: unknown key 'keywords' (allowed: kind, share, countries, search")
