"""A Google Ads campaign that can deliver in the sandbox: an enabled ad group with an ad
and a keyword (what a mops launch makes, without the workflow)."""

from __future__ import annotations

from domain.search_ads import Keyword, MatchType
from integrations.google_ads import GoogleAdsClient

HEADLINES = ["Marketing automation", "Launch in days", "Approvals built in"]
DESCRIPTIONS = ["Durable marketing workflows.", "Five ready-made workflows for your launch."]


async def make_serving(google: GoogleAdsClient, campaign: str, name: str = "Ad group") -> tuple[str, str, list[str]]:
    """Give `campaign` an ENABLED ad group, ad and keyword; (ad group, ad, keywords) resource names."""
    group = await google.create_ad_group(campaign=campaign, name=name, status="ENABLED")
    ad = await google.create_responsive_search_ad(
        ad_group=group, headlines=HEADLINES, descriptions=DESCRIPTIONS, final_url="https://www.mops.example/spring"
    )
    keywords = await google.create_keywords(group, [Keyword(text="marketing automation", match_type=MatchType.PHRASE)])
    return group, ad, keywords


# A campaign file's `search:` section for tests that launch a google_ads channel.
SEARCH_SECTION = {
    "headlines": HEADLINES,
    "descriptions": DESCRIPTIONS,
    "keywords": ["[crm software]", '"marketing automation"'],
    "negative_keywords": ["jobs"],
}
