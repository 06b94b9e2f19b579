import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from domain.campaigns import (
    META_OBJECTIVES,
    MIN_DAILY_MINOR,
    PAID,
    CampaignSpec,
    CampaignSpecError,
    ChannelKind,
    Objective,
    build_campaign,
    currency_mismatch,
    load_campaign,
    min_daily_minor,
    utm_url,
)
from domain.content import Directory, load_directory
from tests.ad_fixtures import ASSETS, META_AD, with_images

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGNS = ROOT / "campaigns"
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
KINDS = "meta_ads, google_ads, email, linkedin, landing_page"

# Two weeks in Berlin across the switch to summer time (Sunday 2027-03-28).
CAMPAIGN = {
    "id": "spring-launch",
    "name": "Spring launch",
    "objective": "leads",
    "owner": "maya",
    "start": "2027-03-22T00:00",
    "end": "2027-04-05T00:00",
    "timezone": "Europe/Berlin",
    "currency": "EUR",
    "total_budget": "4200.00",
    "audience": "eu-marketing-ops",
    "landing_url": "https://www.mops.example/spring?ref=ads#pricing",
    "channels": [
        {"kind": "meta_ads", "share": 60, "countries": ["DE", "fr"], "ad": META_AD},
        {
            "kind": "google_ads",
            "share": 40,
            "search": {
                "headlines": ["Marketing automation", "Launch in days", "Approvals built in"],
                "descriptions": ["Durable marketing workflows.", "Five ready-made workflows."],
                "keywords": ["[marketing automation]", "marketing ops"],
            },
        },
        {
            "kind": "email",
            "subject": "Spring is here",
            "list_ids": ["newsletter-eu"],
            "body": "# Hi\n\nNews.",
            "template": "campaign-email",
        },
        {"kind": "linkedin", "text": "Spring launch, out today."},
        {"kind": "landing_page", "title": "Spring launch", "body": "# Spring\n\nFive workflows."},
    ],
    "approval": [{"name": "director", "approvers": ["dana"]}],
    "reallocation": {"approval": [{"name": "director", "approvers": ["dana"]}]},
}


@pytest.fixture(scope="module")
def directory() -> Directory:
    return load_directory(ROOT / "policies" / "directory.yaml")


def campaign(**changes) -> dict:
    data = copy.deepcopy(CAMPAIGN)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def with_channel(index: int, **changes) -> list[dict]:
    channels = copy.deepcopy(CAMPAIGN["channels"])
    for key, value in changes.items():
        if value is None:
            channels[index].pop(key, None)
        else:
            channels[index][key] = value
    return channels


def refusal(data: dict, **kwargs) -> str:
    with pytest.raises(CampaignSpecError) as info:
        build_campaign(data, **kwargs, assets=ASSETS)
    message = str(info.value)
    assert "\n" not in message
    assert "Value error" not in message
    return message


# --- a valid campaign ---------------------------------------------------------------------


def test_valid_campaign(directory):
    spec = build_campaign(yaml.safe_load(yaml.safe_dump(CAMPAIGN)), directory=directory, now=NOW, assets=ASSETS)
    # Naive times are Berlin wall-clock times: winter time (+01) at the start, summer time (+02) at the end.
    assert spec.start == datetime(2027, 3, 21, 23, 0, tzinfo=UTC)
    assert spec.end == datetime(2027, 4, 4, 22, 0, tzinfo=UTC)
    assert spec.currency == "EUR" and spec.total_budget == Decimal("4200.00")
    assert spec.objective is Objective.LEADS and spec.metric() == "cpa"
    assert spec.channels[0].countries == ["DE", "FR"]
    assert [c.kind for c in spec.paid()] == [ChannelKind.META_ADS, ChannelKind.GOOGLE_ADS]
    assert spec.channel(ChannelKind.EMAIL).subject == "Spring is here"
    assert spec.monitor_every == timedelta(hours=1)
    assert spec.guardrails.spend_spike_factor == 1.5 and spec.reallocation.max_step_pct == Decimal("20")


def test_round_trips_as_json_and_revalidates_without_context():
    spec = build_campaign(campaign(), now=NOW, assets=ASSETS)
    # A spec stored in a workflow history is read back without strict keys or `now`.
    assert CampaignSpec.model_validate_json(spec.model_dump_json()) == spec
    assert CampaignSpec.model_validate(spec.model_dump()) == spec


def test_days_and_daily_budgets_across_the_dst_change():
    spec = build_campaign(campaign(), now=NOW, assets=ASSETS)
    # 2027-03-22 .. 2027-04-04 in Berlin: 14 calendar days, though the interval is 335 hours (13 days 23 h).
    assert spec.end - spec.start == timedelta(days=13, hours=23)
    assert spec.days(NOW) == 14
    assert spec.daily_budget_minor(ChannelKind.META_ADS, NOW) == 18000  # 4200 x 60% / 14 = 180.00
    assert spec.daily_budget_minor(ChannelKind.GOOGLE_ADS, NOW) == 12000  # 4200 x 40% / 14 = 120.00
    assert spec.daily_budget_minor(ChannelKind.EMAIL, NOW) == 0
    # The same instants in UTC touch 15 calendar days (2027-03-21 23:00 .. 2027-04-04 22:00).
    utc = build_campaign(
        campaign(timezone="UTC", start="2027-03-21T23:00:00Z", end="2027-04-04T22:00:00+00:00"), assets=ASSETS
    )
    assert (utc.start, utc.end) == (spec.start, spec.end)
    assert utc.days(NOW) == 15
    assert utc.daily_budget_minor(ChannelKind.META_ADS, NOW) == 16800  # 2520 / 15


def test_daily_budget_rounds_down_to_the_minor_unit():
    spec = build_campaign(
        campaign(total_budget="1000.00", start="2027-03-01T10:00", end="2027-03-04T00:00"), now=NOW, assets=ASSETS
    )
    assert spec.days(NOW) == 3
    assert spec.daily_budget_minor(ChannelKind.META_ADS, NOW) == 20000  # 600 / 3
    assert spec.daily_budget_minor(ChannelKind.GOOGLE_ADS, NOW) == 13333  # 400 / 3 = 133.333...
    jpy = build_campaign(
        campaign(currency="JPY", total_budget=100000, start="2027-03-01T10:00", end="2027-03-08T00:00"), assets=ASSETS
    )
    assert jpy.daily_budget_minor(ChannelKind.GOOGLE_ADS, NOW) == 5714  # 40000 / 7 = 5714.28 yen


def test_start_at_launch():
    spec = build_campaign(campaign(start=None), now=NOW, assets=ASSETS)
    launched = datetime(2027, 3, 1, 12, 30, tzinfo=UTC)  # 13:30 in Berlin
    assert spec.start is None
    assert spec.start_at(launched) == launched and spec.end_at() == datetime(2027, 4, 4, 22, 0, tzinfo=UTC)
    assert spec.days(launched) == 35  # 2027-03-01 .. 2027-04-04
    with pytest.raises(ValueError, match="launched_at must be timezone-aware"):
        spec.start_at(datetime(2027, 3, 1, 12, 30))


def test_a_relative_end_counts_from_the_start_or_the_launch():
    spec = build_campaign(campaign(end="14d"), assets=ASSETS)
    assert spec.end == datetime(2027, 4, 4, 22, 0, tzinfo=UTC)  # 14 local days after the local start
    at_launch = build_campaign(campaign(start=None, end="14d"), now=NOW, assets=ASSETS)
    assert at_launch.end == NOW + timedelta(days=14)
    assert refusal(campaign(start=None, end="14d")) == (
        "end: '14d' counts from the start: give a start, or build the campaign with its launch time"
    )


def test_an_aware_start_keeps_its_instant_and_a_sales_campaign_optimises_roas():
    spec = build_campaign(campaign(start="2027-03-22T00:00:00-05:00", objective="sales"), assets=ASSETS)
    assert spec.start == datetime(2027, 3, 22, 5, 0, tzinfo=UTC)
    assert spec.metric() == "roas"
    explicit = build_campaign(campaign(objective="sales", reallocation={"metric": "cpa"}), assets=ASSETS)
    assert explicit.metric() == "cpa"


def test_constants():
    assert sorted(PAID) == [ChannelKind.GOOGLE_ADS, ChannelKind.META_ADS]
    assert META_OBJECTIVES == {
        Objective.AWARENESS: "OUTCOME_AWARENESS",
        Objective.TRAFFIC: "OUTCOME_TRAFFIC",
        Objective.LEADS: "OUTCOME_LEADS",
        Objective.SALES: "OUTCOME_SALES",
    }
    assert MIN_DAILY_MINOR == {ChannelKind.META_ADS: 100, ChannelKind.GOOGLE_ADS: 100}
    assert min_daily_minor(ChannelKind.META_ADS, "EUR") == 100
    assert min_daily_minor(ChannelKind.META_ADS, "JPY") == 1  # 1 yen: the same nominal 1.00, scaled
    assert min_daily_minor(ChannelKind.GOOGLE_ADS, "KWD") == 1000  # 1.000 KWD
    assert min_daily_minor(ChannelKind.EMAIL, "EUR") == 0


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            campaign(channels=with_channel(2, kind="tiktok")),
            f"channels[2].kind: unknown channel 'tiktok' (expected one of: {KINDS})",
        ),
        (campaign(channels=with_channel(0, share=50)), "channels: paid channel shares sum to 90%, expected 100%"),
        (
            campaign(channels=with_channel(0, share="60.5")),
            "channels: paid channel shares sum to 100.5%, expected 100%",
        ),
        (
            campaign(channels=with_channel(2, share=10)),
            "channels[2].share: only paid channels (google_ads, meta_ads) take a share of the budget, not email",
        ),
        (
            campaign(channels=with_channel(1, share=None)),
            "channels[1].share: required for google_ads: the percent of total_budget it gets",
        ),
        (campaign(channels=with_channel(0, share=0)), "channels[0].share: Input should be greater than 0"),
        (
            campaign(end="2027-03-22T00:00"),
            "end: 2027-03-22 00:00 Europe/Berlin must be after the start (2027-03-22 00:00 Europe/Berlin)",
        ),
        (
            campaign(end="2027-03-21T09:00"),
            "end: 2027-03-21 09:00 Europe/Berlin must be after the start (2027-03-22 00:00 Europe/Berlin)",
        ),
        (
            campaign(start="2027-03-22"),
            "start: a date alone is ambiguous: write a date and time such as 2026-04-01T09:00",
        ),
        (campaign(end="soon"), "end: invalid date and time 'soon'"),
        (
            campaign(start="2027-03-28T02:30"),
            "start: 2027-03-28 02:30 does not exist in Europe/Berlin (the clocks go forward then)",
        ),
        (campaign(currency="XYZ"), "currency: unknown currency 'XYZ'"),
        (campaign(total_budget="4200.001"), "total_budget: 4200.001 has more decimals than EUR allows (2)"),
        (
            campaign(currency="JPY", total_budget="420000.5"),
            "total_budget: 420000.5 has more decimals than JPY allows (0)",
        ),
        (campaign(total_budget=0), "total_budget: Input should be greater than 0"),
        (
            campaign(
                channels=[*CAMPAIGN["channels"], {"kind": "meta_ads", "share": 10, "countries": ["DE"], "ad": META_AD}]
            ),
            "channels[5].kind: 'meta_ads' is listed twice (first at channels[0])",
        ),
        (campaign(channels=[]), "channels: List should have at least 1 item"),
        (
            campaign(owner="maya", approval=[{"name": "launch", "approvers": ["maya"]}]),
            "approval[0].approvers: 'maya' owns the campaign and cannot approve it; stage 'launch' needs another approver",
        ),
        (
            campaign(reallocation={"approval": [{"name": "budget", "approvers": ["maya"], "mode": "any"}]}),
            "reallocation.approval[0].approvers: 'maya' owns the campaign and cannot approve it; stage 'budget' needs",
        ),
        (
            campaign(approval=[{"name": "a", "approvers": ["dana"]}, {"name": "a", "approvers": ["omar"]}]),
            "approval: stage 'a' is listed twice",
        ),
        (campaign(colour="blue"), "unknown key 'colour' (allowed: id, name, objective, owner, start, end, timezone"),
        (
            campaign(channels=with_channel(0, budget=100)),
            "channels[0]: unknown key 'budget' (allowed: kind, share, countries, search, subject, list_ids, text",
        ),
        (campaign(guardrails={"max_cpc": 3}), "guardrails: unknown key 'max_cpc'"),
        (
            campaign(reallocation={"approval": [{"name": "budget", "approvers": ["dana"], "who": "x"}]}),
            "reallocation.approval[0]: unknown key 'who'",
        ),
        (
            campaign(utm={"source": {"tiktok": "tt"}}),
            f"utm.source.tiktok: unknown channel 'tiktok' (expected one of: {KINDS})",
        ),
        (campaign(timezone="Europe/Springfield"), "timezone: unknown timezone 'Europe/Springfield'"),
        (
            campaign(landing_url="www.mops.example/spring"),
            "landing_url: must be an http(s) URL such as https://example.com/spring, got 'www.mops.example/spring'",
        ),
        (campaign(landing_url="javascript:alert(1)"), "landing_url: must be an http(s) URL"),
        (campaign(landing_url="https://mops.example/a b"), "landing_url: must be an http(s) URL"),
        (campaign(id="Spring Launch"), "id: String should match pattern"),
        (campaign(name="  "), "name: must not be blank"),
        (campaign(audience=""), "audience: must not be blank"),
        (campaign(objective="fame"), "objective: Input should be 'awareness', 'traffic', 'leads' or 'sales'"),
        (campaign(monitor_every="30s"), "monitor_every: must be at least 1m"),
        (campaign(monitor_every=60), "monitor_every: invalid duration 60"),
        # per-kind fields
        (campaign(channels=with_channel(0, countries=None)), "channels[0].countries: required for meta_ads channels"),
        (
            campaign(channels=with_channel(0, countries=["DE", "XX"])),
            "channels[0].countries: unknown country 'XX' (use ISO 3166 alpha-2 codes such as DE, FR, US)",
        ),
        (
            campaign(channels=with_channel(0, countries=["uk"])),
            "channels[0].countries: unknown country 'UK' (the ISO code of the United Kingdom is 'GB')",
        ),
        (campaign(channels=with_channel(0, countries=["DE", "de"])), "channels[0].countries: 'DE' is listed twice"),
        (
            campaign(channels=with_channel(0, search=CAMPAIGN["channels"][1]["search"])),
            "channels[0].search: not used by meta_ads channels (only by google_ads)",
        ),
        (campaign(channels=with_channel(2, subject=None)), "channels[2].subject: required for email channels"),
        (campaign(channels=with_channel(2, list_ids=None)), "channels[2].list_ids: required for email channels"),
        (campaign(channels=with_channel(2, body=None)), "channels[2].body: required for email channels"),
        (campaign(channels=with_channel(2, body="  \n")), "channels[2].body: must not be blank"),
        (campaign(channels=with_channel(3, text=None)), "channels[3].text: required for linkedin channels"),
        (
            campaign(channels=with_channel(3, text="x" * 3001)),
            "channels[3].text: 3001 characters is over the limit of 3000",
        ),
        (
            campaign(channels=with_channel(3, title="Hi")),
            "channels[3].title: not used by linkedin channels (only by landing_page)",
        ),
        (campaign(channels=with_channel(4, title=None)), "channels[4].title: required for landing_page channels"),
        (campaign(channels=with_channel(4, body=None)), "channels[4].body: required for landing_page channels"),
        # KPIs, guardrails and reallocation rules
        (
            campaign(kpis={"min_ctr": 1}),
            "kpis.min_ctr: write the click-through rate as a fraction, e.g. 0.01 for 1% (got 1",
        ),
        (
            campaign(kpis={"target_cpa": "50"}, guardrails={"max_cpa": "40"}),
            "kpis.target_cpa: 50 is above guardrails.max_cpa (40)",
        ),
        (
            campaign(guardrails={"spend_spike_factor": 0.5}),
            "guardrails.spend_spike_factor: Input should be greater than or equal to 1",
        ),
        (campaign(reallocation={"cap_pct": 10}), "reallocation.cap_pct: must be above floor_pct (10%), got 10%"),
        (
            campaign(reallocation={"floor_pct": 60}),
            "reallocation.floor_pct: 60% for each of 2 paid channels is over 100%",
        ),
        (campaign(reallocation={"cap_pct": 45}), "reallocation.cap_pct: 45% for each of 2 paid channels is under 100%"),
        (campaign(reallocation={"metric": "cpc"}), "reallocation.metric: Input should be 'cpa' or 'roas'"),
        # pacing
        (campaign(pacing={"curve": "back_loaded"}), "pacing.curve: Input should be 'even' or 'front_loaded'"),
        (campaign(pacing={"max_step_pct": 0}), "pacing.max_step_pct: Input should be greater than 0"),
        (
            campaign(pacing={"max_step_pct": 10, "tolerance_pct": 10}),
            "pacing.tolerance_pct: must be below max_step_pct (10%), got 10%",
        ),
        (campaign(pacing={"target": "even"}), "pacing: unknown key 'target'"),
        (
            campaign(pacing={}, reallocation={}),
            "pacing.max_step_pct: changes of up to 20% go over reallocation.auto_apply_under_pct (5%) and need "
            "approval, but reallocation.approval names no approvers",
        ),
        (
            campaign(pacing={}, channels=campaign()["channels"][2:]),
            "pacing: the campaign has no paid channel whose budget could be paced",
        ),
    ],
)
def test_build_refusals(data, expected):
    assert refusal(data).startswith(expected)


def test_budget_below_the_platform_minimum_uses_the_start_or_the_launch():
    # 10.00 EUR x 60% / 14 days = 0.428... -> 0.42 EUR a day on Meta.
    assert refusal(campaign(total_budget="10.00")) == (
        "channels[0].share: daily budget 0.42 EUR for meta_ads is below the platform minimum of 1.00 EUR"
    )
    # Starting at launch, the number of days (and so the check) needs the launch time.
    thin = campaign(total_budget="20.00", start=None, end="2027-03-31T00:00")
    spec = build_campaign(thin, assets=ASSETS)
    assert spec.start is None
    # 2027-03-01 .. 2027-03-30: 30 days; google_ads gets 20 x 40% / 30 = 0.26 EUR a day.
    assert refusal(thin, now=NOW) == (
        "channels[0].share: daily budget 0.40 EUR for meta_ads is below the platform minimum of 1.00 EUR"
    )
    assert refusal(campaign(total_budget="60.00", start=None, end="2027-03-31T00:00"), now=NOW) == (
        "channels[1].share: daily budget 0.80 EUR for google_ads is below the platform minimum of 1.00 EUR"
    )


def test_start_in_the_past_and_end_before_the_launch():
    later = datetime(2027, 3, 25, 12, 0, tzinfo=UTC)
    assert refusal(campaign(), now=later) == (
        "start: 2027-03-22 00:00 Europe/Berlin is in the past; leave start out to begin at launch"
    )
    assert build_campaign(campaign(start=None), now=later, assets=ASSETS).start is None
    assert refusal(campaign(start=None), now=datetime(2027, 4, 5, 0, 0, tzinfo=UTC)) == (
        "end: 2027-04-05 00:00 Europe/Berlin must be after the launch (2027-04-05 02:00 Europe/Berlin)"
    )
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        build_campaign(campaign(), now=datetime(2027, 3, 1), assets=ASSETS)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"owner": "zoe"}, "owner: 'zoe' is not in the directory"),
        (
            {"approval": [{"name": "director", "approvers": ["dana", "zoe"]}]},
            "approval[0].approvers: 'zoe' is not in the directory",
        ),
        (
            {"reallocation": {"approval": [{"name": "budget", "approvers": ["zoe"]}]}},
            "reallocation.approval[0].approvers: 'zoe' is not in the directory",
        ),
        # theo has no backup: his own slot in an 'all' stage could never be filled.
        (
            {"owner": "theo", "approval": [{"name": "launch", "approvers": ["dana", "theo"]}]},
            "approval[0].approvers: stage 'launch' can never be approved: the owner 'theo' cannot approve their own "
            "campaign and too few other approvers or backups are left",
        ),
        (
            {
                "owner": "omar",
                "reallocation": {
                    "approval": [{"name": "b", "approvers": ["omar", "dana"], "mode": "quorum", "quorum": 2}]
                },
            },
            None,
        ),  # dana's backup is omar himself, but omar's own backup (sofia) can make the quorum after escalation
        (
            {"owner": "lena", "approval": [{"name": "launch", "approvers": ["lena", "dana"]}]},
            None,
        ),  # lena's backup (omar) approves in her place once the stage is escalated
    ],
)
def test_directory_refusals(directory, changes, expected):
    data = campaign(**changes)
    if expected is None:
        assert build_campaign(data, directory=directory, now=NOW, assets=ASSETS)
        return
    assert refusal(data, directory=directory, now=NOW) == expected


def test_load_campaign_errors_name_the_file(tmp_path):
    path = with_images(tmp_path) / "bad.yaml"
    path.write_text(yaml.safe_dump(campaign(channels=with_channel(2, kind="tiktok"))), encoding="utf-8")
    with pytest.raises(CampaignSpecError) as info:
        load_campaign(path)
    assert str(info.value) == f"{path}: channels[2].kind: unknown channel 'tiktok' (expected one of: {KINDS})"
    assert info.value.field == "channels[2].kind"
    with pytest.raises(CampaignSpecError, match=r"missing\.yaml: no such file$"):
        load_campaign(tmp_path / "missing.yaml")
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(CampaignSpecError, match="expected a mapping of campaign fields at the top level"):
        load_campaign(path)
    assert str(CampaignSpecError("", "currency", "unknown currency 'XYZ'")) == "currency: unknown currency 'XYZ'"
    assert refusal(["not", "a", "mapping"]) == "a campaign is a mapping of fields"  # type: ignore[arg-type]


def test_yaml_floats_and_unquoted_times_are_read_as_written(tmp_path):
    path = with_images(tmp_path) / "c.yaml"
    text = yaml.safe_dump(campaign()).replace("total_budget: '4200.00'", "total_budget: 4200.10")
    path.write_text(text.replace("'2027-03-22T00:00'", "2027-03-22T00:00"), encoding="utf-8")
    spec = load_campaign(path, now=NOW)
    assert spec.total_budget == Decimal("4200.1")
    assert spec.start == datetime(2027, 3, 21, 23, 0, tzinfo=UTC)


# --- UTM tagging and currency -----------------------------------------------------------------


def test_utm_url_keeps_other_parameters_and_the_fragment():
    spec = build_campaign(campaign(), assets=ASSETS)
    assert utm_url(spec.landing_url, spec, ChannelKind.META_ADS) == (
        "https://www.mops.example/spring?ref=ads&utm_source=facebook&utm_medium=paid_social"
        "&utm_campaign=spring-launch&utm_content=meta_ads#pricing"
    )
    # Existing utm tags of the four are replaced, others (utm_term) and odd encodings kept as written.
    url = "https://mops.example/p?utm_source=old&q=a%20b&utm_term=ops&utm_content=x&flag"
    assert utm_url(url, spec, ChannelKind.GOOGLE_ADS) == (
        "https://mops.example/p?q=a%20b&utm_term=ops&flag"
        "&utm_source=google&utm_medium=cpc&utm_campaign=spring-launch&utm_content=google_ads"
    )
    assert utm_url("https://mops.example", spec, ChannelKind.EMAIL) == (
        "https://mops.example?utm_source=newsletter&utm_medium=email&utm_campaign=spring-launch&utm_content=email"
    )


def test_utm_values_given_replace_the_default_of_their_channel_only():
    spec = build_campaign(
        campaign(utm={"campaign": "spring 2027", "source": {"email": "crm"}, "medium": {"linkedin": "organic"}}),
        assets=ASSETS,
    )
    assert spec.utm.source[ChannelKind.EMAIL] == "crm" and spec.utm.source[ChannelKind.META_ADS] == "facebook"
    assert utm_url("https://x.example/", spec, ChannelKind.LINKEDIN) == (
        "https://x.example/?utm_source=linkedin&utm_medium=organic&utm_campaign=spring+2027&utm_content=linkedin"
    )
    assert utm_url("https://x.example/", spec, ChannelKind.EMAIL).startswith(
        "https://x.example/?utm_source=crm&utm_medium=email"
    )
    assert refusal(campaign(utm={"medium": {"email": " "}})) == "utm.medium.email: must not be blank"


def test_currency_mismatch():
    spec = build_campaign(campaign(currency="usd"), assets=ASSETS)
    assert spec.currency == "USD"
    assert currency_mismatch(spec, "meta_ads", "usd") is None
    assert (
        currency_mismatch(spec, "meta_ads", "EUR")
        == "currency: campaign is in USD but the meta_ads account bills in EUR"
    )


# --- the campaign files ---------------------------------------------------------------------------


def test_example_campaign_loads(directory):
    spec = load_campaign(CAMPAIGNS / "example.yaml", directory=directory, now=datetime(2026, 12, 1, tzinfo=UTC))
    assert {c.kind for c in spec.channels} == set(ChannelKind)
    assert sum(c.share for c in spec.paid()) == 100
    assert spec.approval and spec.reallocation.approval and spec.owner not in spec.approval[-1].approvers
    assert spec.start < spec.end and spec.days(spec.start) >= 1
    assert spec.pacing is not None and spec.pacing.curve == "even"
    for channel in spec.paid():
        assert spec.daily_budget_minor(channel.kind, spec.start) >= MIN_DAILY_MINOR[channel.kind]


def test_demo_campaign_loads(directory):
    launched = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    spec = load_campaign(CAMPAIGNS / "demo.yaml", directory=directory, now=launched)
    assert spec.start is None and spec.end == launched + timedelta(days=14)
    assert (spec.currency, spec.total_budget) == ("EUR", Decimal("4200.00"))
    assert {c.kind: c.share for c in spec.paid()} == {ChannelKind.META_ADS: 60, ChannelKind.GOOGLE_ADS: 40}
    assert {c.kind for c in spec.channels} == set(ChannelKind)
    assert spec.approval == []
    assert [s.approvers for s in spec.reallocation.approval] == [["dana"]]
    assert directory.get(spec.owner) is not None and spec.owner != "dana"
    # 14 days from 11:00 Berlin touch 15 calendar days: 4200 x 60% / 15 = 168.00 a day.
    assert spec.days(launched) == 15
    assert spec.daily_budget_minor(ChannelKind.META_ADS, launched) == 16800
    assert CampaignSpec.model_validate_json(spec.model_dump_json()) == spec


def test_pacing_is_optional_and_defaults_to_an_even_plan():
    assert build_campaign(campaign(), assets=ASSETS).pacing is None
    pacing = build_campaign(campaign(pacing={}), assets=ASSETS).pacing
    assert pacing is not None and pacing.curve == "even"
    assert (pacing.max_step_pct, pacing.tolerance_pct) == (Decimal("20"), Decimal("5"))
    # Without approvers, pacing takes only changes that apply on their own.
    small = build_campaign(
        campaign(pacing={"max_step_pct": 5, "tolerance_pct": 2}, reallocation={}), assets=ASSETS
    ).pacing
    assert small is not None and small.max_step_pct == Decimal("5")
