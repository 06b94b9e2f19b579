from pathlib import Path

import pytest
import yaml

from domain.brand import (
    BrandRules,
    BrandRulesError,
    CheckResult,
    Finding,
    Severity,
    check_content,
    extract_links,
    link_findings,
    load_brand_rules,
    reading_grade,
    syllables,
)
from domain.content import Channel, ContentType

POLICIES = Path(__file__).resolve().parents[2] / "policies"

RULES = BrandRules.model_validate(
    {
        "banned": [
            {
                "id": "hype",
                "terms": ["guaranteed results", "best in the world"],
                "severity": "blocking",
                "reason": "unverifiable",
            },
            {"id": "cheap", "terms": ["cheap"], "severity": "warning", "reason": "say affordable", "types": ["social"]},
            {
                "id": "eu-only",
                "terms": ["free trial"],
                "severity": "warning",
                "reason": "eu wording",
                "regions": ["eu"],
            },
        ],
        "required": [
            {
                "id": "unsubscribe",
                "text": "You can unsubscribe at any time",
                "severity": "blocking",
                "reason": "opt-out",
                "types": ["email"],
                "regions": ["eu"],
                "channels": ["email"],
            },
        ],
        "claims": [
            {"id": "figures", "patterns": [r"\b\d+% (more|faster|cheaper|increase)"], "reason": "needs a source"},
            {"id": "rank", "patterns": [r"#1\b"], "reason": "needs a source"},
        ],
        "max_reading_grade": {"social": 8},
        "require_alt_text": True,
        "channel_limits": {"linkedin": 100},
    }
)

SIMPLE = "We ship fast. You get more done. Try it now."
COMPLEX = (
    "Organisations implementing comprehensive orchestration methodologies consistently experience "
    "considerable operational improvements, particularly regarding interdepartmental communication "
    "and administrative responsibilities across heterogeneous infrastructure."
)


def check(
    body: str = SIMPLE,
    *,
    title: str = "Hello",
    type: ContentType = ContentType.BLOG,
    region: str = "us",
    channels: list[Channel] | None = None,
    rules: BrandRules = RULES,
) -> CheckResult:
    return check_content(
        rules, title=title, body_markdown=body, type=type, region=region, channels=channels or [Channel.CMS]
    )


def rules_of(result: CheckResult) -> list[tuple[str, Severity]]:
    return [(f.rule, f.severity) for f in result.findings]


def test_clean_content_has_no_findings():
    result = check()
    assert result.findings == [] and not result.blocking and not result.needs_legal


def test_banned_term_is_case_insensitive_and_names_the_term():
    result = check("Our approach gives GUARANTEED   results for you.")
    [finding] = result.findings
    assert (finding.rule, finding.severity) == ("hype", Severity.BLOCKING)
    assert finding.message == "'guaranteed results' is not allowed: unverifiable"
    assert "GUARANTEED results" in finding.excerpt
    assert result.blocking


def test_banned_term_in_the_title_counts():
    assert rules_of(check(title="The best in the world")) == [("hype", Severity.BLOCKING)]


@pytest.mark.parametrize("text", ["Cheapskate pricing.", "Nothing cheaper.", "Stop being cheap_ly.", "cheap-ish"])
def test_banned_terms_match_whole_words_only(text):
    result = check(text, type=ContentType.SOCIAL)
    expected = ["cheap"] if text == "cheap-ish" else []
    assert [f.rule for f in result.findings if f.rule != "reading_grade"] == expected


def test_banned_term_type_scoping():
    assert rules_of(check("So cheap!", type=ContentType.SOCIAL)) == [("cheap", Severity.WARNING)]
    assert rules_of(check("So cheap!", type=ContentType.BLOG)) == []


def test_region_scoping_and_global_content_gets_every_region():
    assert rules_of(check("Start a free trial.", region="eu")) == [("eu-only", Severity.WARNING)]
    assert rules_of(check("Start a free trial.", region="us")) == []
    assert rules_of(check("Start a free trial.", region="global")) == [("eu-only", Severity.WARNING)]


def test_terms_in_urls_are_not_visible_text():
    assert (
        check("See [our pricing](https://x.example/guaranteed-results/cheap).", type=ContentType.SOCIAL).findings == []
    )


def test_required_text_with_type_region_and_channel_scoping():
    email, eu = ContentType.EMAIL, "eu"
    missing = check("Hello there.", type=email, region=eu, channels=[Channel.EMAIL])
    assert rules_of(missing) == [("unsubscribe", Severity.BLOCKING)]
    assert "You can unsubscribe at any time" in missing.findings[0].message
    present = check("Hello.\n\n*You can  unsubscribe at any time.*", type=email, region=eu, channels=[Channel.EMAIL])
    assert present.findings == []
    assert check("Hello.", type=email, region="us", channels=[Channel.EMAIL]).findings == []
    assert check("Hello.", type=email, region=eu, channels=[Channel.CMS]).findings == []
    assert check("Hello.", type=ContentType.BLOG, region=eu, channels=[Channel.EMAIL]).findings == []


def test_claims_are_warnings_that_need_legal():
    result = check("Teams ship 40% faster with us. We are #1 in our field.")
    assert rules_of(result) == [("figures", Severity.WARNING), ("rank", Severity.WARNING)]
    assert result.needs_legal and not result.blocking
    assert "40% faster" in result.findings[0].excerpt


def test_no_claims_no_legal():
    assert not check("Teams ship faster with us.").needs_legal


def test_image_without_alt_text_is_blocking():
    result = check("Look: ![](https://cdn.example/a.png) and ![A chart](https://cdn.example/b.png) ![  ](/c.png)")
    assert rules_of(result) == [("alt_text", Severity.BLOCKING), ("alt_text", Severity.BLOCKING)]
    assert "https://cdn.example/a.png" in result.findings[0].message and "/c.png" in result.findings[1].message
    relaxed = RULES.model_copy(update={"require_alt_text": False})
    assert check("Look: ![](https://cdn.example/a.png)", rules=relaxed).findings == []


def test_reading_grade_over_the_maximum_is_a_warning():
    assert rules_of(check(COMPLEX, type=ContentType.SOCIAL)) == [("reading_grade", Severity.WARNING)]
    assert check(COMPLEX, type=ContentType.BLOG).findings == []  # no maximum for blogs in these rules
    assert check(SIMPLE, type=ContentType.SOCIAL).findings == []


def test_reading_grade_is_monotonic_and_sane():
    simple, complex_ = reading_grade(SIMPLE), reading_grade(COMPLEX)
    assert 0 <= simple < 4 < 15 < complex_
    assert reading_grade("") == 0.0 == reading_grade("!!! ...")
    # Longer sentences of the same words raise the grade.
    assert reading_grade("The cat sat on the mat and the dog sat on the rug.") > reading_grade(
        "The cat sat. The dog sat."
    )
    assert reading_grade(SIMPLE) == check(SIMPLE).reading_grade


@pytest.mark.parametrize(
    ("word", "count"),
    [
        ("cat", 1),
        ("table", 2),
        ("make", 1),
        ("the", 1),
        ("orchestration", 4),
        ("you're", 1),
        ("2026", 1),
        ("rhythm", 1),
    ],
)
def test_syllable_heuristic(word, count):
    assert syllables(word) == count


def test_channel_limit_override_is_blocking():
    body = "word " * 30
    result = check(body, channels=[Channel.CMS, Channel.LINKEDIN])
    assert rules_of(result) == [("channel_limit", Severity.BLOCKING)]
    assert result.findings[0].message == "body: 150 characters is over the linkedin limit of 100"


def test_links_are_extracted_in_order_without_repeats():
    body = (
        "Read [the guide](https://mops.example/guide). Then https://mops.example/docs?x=1, "
        "and [again](https://mops.example/guide) ![alt](http://cdn.mops.example/i.png) [rel](/pricing) "
        "<https://mops.example/auto>. mailto:team@mops.example"
    )
    expected = [
        "https://mops.example/guide",
        "https://mops.example/docs?x=1",
        "http://cdn.mops.example/i.png",
        "https://mops.example/auto",
    ]
    assert extract_links(body) == expected
    assert check(body).links == expected


def test_findings_order_is_deterministic():
    body = "We are #1, 40% faster and cheap. Guaranteed results! ![](https://cdn.example/x.png)"
    first = check(body, type=ContentType.SOCIAL, region="eu", channels=[Channel.LINKEDIN])
    again = check(body, type=ContentType.SOCIAL, region="eu", channels=[Channel.LINKEDIN])
    assert first == again
    assert [f.rule for f in first.findings] == ["hype", "cheap", "figures", "rank", "alt_text"]


def test_link_findings():
    findings = link_findings(
        [
            ("https://ok.example", True, 200),
            ("https://gone.example/x", False, 404),
            ("https://down.example", False, 0),
        ]
    )
    assert findings == [
        Finding(rule="links", severity=Severity.BLOCKING, message="broken link https://gone.example/x (HTTP 404)"),
        Finding(rule="links", severity=Severity.BLOCKING, message="broken link https://down.example (no response)"),
    ]
    assert link_findings([]) == []


def test_check_result_blocking_is_recomputed_and_serialised():
    result = check("Fine text.")
    assert not result.blocking
    worse = result.model_copy(update={"findings": link_findings([("https://x.example", False, 500)])})
    assert worse.blocking
    data = worse.model_dump(mode="json")
    assert data["blocking"] is True
    assert CheckResult.model_validate(data) == worse


# --- shipped rules and the loader ------------------------------------------------------------


def test_shipped_brand_rules():
    rules = load_brand_rules(POLICIES / "brand.yaml")
    assert rules.require_alt_text and rules.limit(Channel.LINKEDIN) == 3000
    assert rules.max_reading_grade == {
        ContentType.BLOG: 12,
        ContentType.SOCIAL: 10,
        ContentType.EMAIL: 10,
        ContentType.LANDING_PAGE: 11,
    }
    result = check_content(
        rules,
        title="Why Rival SaaS is not the best in the world",
        body_markdown="Customers see an ROI of 300% and ship 25% faster. It's cheap. We guarantee it.",
        type=ContentType.BLOG,
        region="us",
        channels=[Channel.CMS],
    )
    assert [f.rule for f in result.findings] == [
        "unverifiable-superlatives",
        "competitor-names",
        "cheap",
        "performance-figures",
        "guarantees",
        "roi",
    ]
    assert result.needs_legal and result.blocking
    eu_email = check_content(
        rules, title="News", body_markdown="Hello.", type=ContentType.EMAIL, region="eu", channels=[Channel.EMAIL]
    )
    assert [f.rule for f in eu_email.findings] == ["eu-unsubscribe"]


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "brand.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_bad_regex_is_a_one_line_error(tmp_path):
    data = {
        "claims": [
            {"id": "ok", "patterns": ["fine"], "reason": "r"},
            {"id": "bad", "patterns": ["(unclosed", "fine"], "reason": "r"},
        ]
    }
    path = write(tmp_path, data)
    with pytest.raises(BrandRulesError) as info:
        load_brand_rules(path)
    message = str(info.value)
    assert message.startswith(f"{path}: claims.1.patterns.0: invalid regular expression '(unclosed'")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"banned": [{"id": "x", "terms": [], "severity": "blocking", "reason": "r"}]},
            "banned.0.terms: List should have at least 1 item",
        ),
        (
            {"banned": [{"id": "x", "terms": ["a"], "severity": "fatal", "reason": "r"}]},
            "banned.0.severity: Input should be 'blocking' or 'warning'",
        ),
        (
            {"banned": [{"id": "x", "terms": ["a"], "severity": "warning", "reason": "r", "types": ["tweet"]}]},
            "banned.0.types.0: Input should be",
        ),
        (
            {"required": [{"id": "x", "text": " ", "severity": "warning", "reason": "r"}]},
            "required.0.text: must not be blank",
        ),
        (
            {
                "banned": [{"id": "x", "terms": ["a"], "severity": "warning", "reason": "r"}],
                "claims": [{"id": "x", "patterns": ["b"], "reason": "r"}],
            },
            "claims.0.id: duplicate rule id 'x' (first used at banned.0)",
        ),
        ({"channel_limits": {"fax": 10}}, "channel_limits.fax.[key]: Input should be"),
        ({"max_reading_grade": {"blog": 0}}, "max_reading_grade.blog: Input should be greater than 0"),
        (
            {"banned": [{"id": "x", "term": ["a"], "severity": "warning", "reason": "r"}]},
            "banned.0: unknown key 'term'",
        ),
        ("claims: [", "line 1, column"),
    ],
)
def test_brand_rule_file_errors(tmp_path, data, expected):
    path = write(tmp_path, data)
    with pytest.raises(BrandRulesError) as info:
        load_brand_rules(path)
    assert str(info.value).startswith(f"{path}: {expected}")
    assert "\n" not in str(info.value)
