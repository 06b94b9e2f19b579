import copy
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from domain.content import (
    CHANNEL_LIMITS,
    ApprovalMode,
    ApprovalPolicies,
    ApprovalStage,
    BriefError,
    Channel,
    ContentBrief,
    ContentType,
    Directory,
    DirectoryError,
    PolicyError,
    build_brief,
    load_brief,
    load_directory,
    load_policies,
    markdown_to_html,
    markdown_to_text,
    validate_brief,
    with_legal_stage,
)

POLICIES = Path(__file__).resolve().parents[2] / "policies"

BRIEF = {
    "content_id": "spring-launch-post",
    "title": "  Spring launch: five workflows that save your team a day a week  ",
    "type": "blog",
    "audience": "marketing ops leads",
    "channels": ["cms", "linkedin"],
    "body": "# Spring launch\n\nFive **small** workflows.",
    "due": "2026-04-01",
    "publish_at": "2026-04-02T09:00:00+02:00",
    "author": "maya",
    "region": "eu",
    "tags": ["launch", "workflows"],
}


@pytest.fixture(scope="module")
def directory() -> Directory:
    return load_directory(POLICIES / "directory.yaml")


@pytest.fixture(scope="module")
def policies() -> ApprovalPolicies:
    return load_policies(POLICIES / "approval.yaml")


def brief(**changes) -> dict:
    data = copy.deepcopy(BRIEF)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def brief_error(data: dict) -> str:
    with pytest.raises(BriefError) as info:
        build_brief(data)
    message = str(info.value)
    assert "\n" not in message
    assert "Value error" not in message
    return message


def refusal(data: dict, directory: Directory, policies: ApprovalPolicies) -> str:
    with pytest.raises(BriefError) as info:
        validate_brief(build_brief(data), directory, policies)
    assert "\n" not in str(info.value)
    return str(info.value)


def stage(**changes) -> dict:
    data = {"name": "brand", "approvers": ["omar", "sofia"]}
    data.update(changes)
    return data


# --- building and validating briefs ---------------------------------------------------------


def test_valid_brief_from_yaml_shaped_dict(directory, policies):
    b = build_brief(yaml.safe_load(yaml.safe_dump(BRIEF)))
    assert b.title == "Spring launch: five workflows that save your team a day a week"
    assert b.type is ContentType.BLOG and b.channels == [Channel.CMS, Channel.LINKEDIN]
    assert b.due == date(2026, 4, 1)
    assert b.publish_at == datetime(2026, 4, 2, 7, 0, tzinfo=UTC) and b.publish_at.tzinfo is UTC
    assert b.rendered_body() == BRIEF["body"]
    stages = validate_brief(b, directory, policies)
    assert [(s.name, s.mode, s.quorum) for s in stages] == [("brand", ApprovalMode.QUORUM, 2)]
    # The effective stages are copies: changing them leaves the policy alone.
    stages[0].approvers.append("dana")
    assert policies.defaults[ContentType.BLOG][0].approvers == ["omar", "sofia", "lena"]


def test_brief_round_trips_as_json():
    b = build_brief(brief())
    assert ContentBrief.model_validate_json(b.model_dump_json()) == b


def test_explicit_approval_replaces_the_defaults(directory, policies):
    b = build_brief(brief(approval=[stage(mode="any", remind_after="4h", escalate_after="1d", expire_after="2d")]))
    [only] = validate_brief(b, directory, policies)
    assert (only.mode, only.remind_after, only.expire_after) == (
        ApprovalMode.ANY,
        timedelta(hours=4),
        timedelta(days=2),
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"title": None}, "title: Field required"),
        ({"title": "   "}, "title: must not be blank"),
        ({"title": "x" * 201}, "title: 201 characters is over the limit of 200"),
        ({"channels": ["cms", "tiktok"]}, "channels.1: Input should be 'cms', 'linkedin' or 'email'"),
        ({"channels": []}, "channels: List should have at least 1 item"),
        ({"channels": ["cms", "cms"]}, "channels: 'cms' is listed twice"),
        ({"type": "podcast"}, "type: Input should be 'blog', 'email', 'social' or 'landing_page'"),
        ({"content_id": "Spring Launch"}, "content_id: String should match pattern"),
        ({"template": "Hi {name}", "variables": {"name": "x"}}, "template: give either body or template, not both"),
        ({"body": None}, "template: a body or a template is required"),
        (
            {"body": None, "template": "Hi {first_name}, see {offer}", "variables": {"first_name": "Ana"}},
            "variables: no value for template variable 'offer'",
        ),
        (
            {"body": None, "template": "Hi {user.__class__}"},
            "template: placeholder {user.__class__} is not a plain {name}",
        ),
        ({"body": None, "template": "Hi {name"}, "template: not a valid template"),
        ({"variables": {"name": "x"}}, "variables: variables are only used with a template"),
        ({"publish_at": "2026-04-02T09:00:00"}, "publish_at: Input should have timezone info"),
        ({"approval": [stage(mode="quorum")]}, "approval.0.quorum: required when mode is 'quorum'"),
        (
            {"approval": [stage(mode="quorum", quorum=3)]},
            "approval.0.quorum: must be between 1 and the number of approvers (2), got 3",
        ),
        ({"approval": [stage(quorum=1)]}, "approval.0.quorum: quorum is only used with mode 'quorum'"),
        ({"approval": [stage(approvers=[])]}, "approval.0.approvers: List should have at least 1 item"),
        ({"approval": [stage(approvers=["omar", "omar"])]}, "approval.0.approvers: 'omar' is listed twice"),
        (
            {"approval": [stage(escalate_after="12h", remind_after="1d")]},
            "approval.0.escalate_after: must be longer than remind_after (1d), got 12h",
        ),
        (
            {"approval": [stage(expire_after="2d")]},
            "approval.0.expire_after: must be longer than escalate_after (2d), got 2d",
        ),
        ({"approval": [stage(remind_after="soon")]}, "approval.0.remind_after: invalid duration 'soon'"),
        ({"approval": [stage(), stage()]}, "approval: stage 'brand' is listed twice"),
        ({"colour": "blue"}, "unknown key 'colour'"),
    ],
)
def test_build_brief_refusals(changes, expected):
    assert brief_error(brief(**changes)).startswith(expected)


def test_template_fills_placeholders_and_keeps_literal_braces():
    b = build_brief(
        brief(
            body=None, template="Hi {first_name}, {{not a placeholder}} {first_name}!", variables={"first_name": "Ana"}
        )
    )
    assert b.rendered_body() == "Hi Ana, {not a placeholder} Ana!"


def test_rendered_body_raises_brief_error_for_an_unvalidated_brief():
    b = build_brief(brief(body=None, template="Hi {name}", variables={"name": "x"})).model_copy(
        update={"variables": {}}
    )
    with pytest.raises(BriefError, match="^variables: no value for template variable 'name'$"):
        b.rendered_body()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"author": "zoe"}, "author: 'zoe' is not in the directory"),
        ({"approval": [stage(approvers=["omar", "zoe"])]}, "approval.0.approvers: 'zoe' is not in the directory"),
        ({"body": "word " * 700}, "body: 3500 characters is over the linkedin limit of 3000"),
        ({"channels": ["cms", "email"]}, "email_list_ids: the email channel needs at least one list id"),
        # An approver who is the author and has no backup: the stage could never finish.
        (
            {"author": "theo", "approval": [stage(approvers=["omar", "theo"])]},
            "approval.0.approvers: stage 'brand' can never be approved: the author 'theo' cannot decide",
        ),
        (
            {"author": "lena", "approval": [stage(approvers=["lena", "omar"], mode="quorum", quorum=2)]},
            None,
        ),  # lena's backup (omar) is already an approver: only omar (and his backup sofia) are left
    ],
)
def test_validate_brief_refusals(directory, policies, changes, expected):
    data = brief(**changes)
    if expected is None:
        assert validate_brief(build_brief(data), directory, policies)
        return
    assert refusal(data, directory, policies).startswith(expected)


def test_author_as_approver_is_fine_when_others_can_approve(directory, policies):
    # lena writes a landing page: the default brand stage needs all of omar, sofia, lena;
    # after escalation lena's backup (omar) approves in her place.
    b = build_brief(brief(author="lena", type="landing_page"))
    assert [s.name for s in validate_brief(b, directory, policies)] == ["brand"]


def test_email_brief_with_lists_gets_brand_then_director(directory, policies):
    b = build_brief(brief(type="email", channels=["email"], email_list_ids=["newsletter-eu"]))
    assert [s.name for s in validate_brief(b, directory, policies)] == ["brand", "director"]


def test_template_body_is_measured_after_rendering(directory, policies):
    b = build_brief(brief(body=None, template="{text}", variables={"text": "y" * 3001}))
    with pytest.raises(BriefError, match="^body: 3001 characters is over the linkedin limit of 3000$"):
        validate_brief(b, directory, policies)
    assert CHANNEL_LIMITS == {Channel.LINKEDIN: 3000, Channel.EMAIL: 100_000, Channel.CMS: 200_000}


def test_with_legal_stage_adds_it_once(policies):
    brand = ApprovalStage(name="brand", approvers=["omar"])
    assert [s.name for s in with_legal_stage([brand], policies)] == ["brand", "legal"]
    legal = ApprovalStage(name="legal", approvers=["raj"])
    assert with_legal_stage([brand, legal], policies) == [brand, legal]


# --- directory and policies ----------------------------------------------------------------


def test_shipped_directory_and_policies(directory, policies):
    assert {p.id for p in directory.with_role("brand")} == {"omar", "sofia", "lena"}
    assert [p.id for p in directory.with_role("legal")] == ["raj", "ines"]
    assert directory.get("omar").backup == "sofia" and directory.get("nobody") is None
    reviewers = [p for p in directory.people if set(p.roles) & {"brand", "legal", "director"}]
    assert all(p.backup for p in reviewers)
    assert all(p.email.endswith("@mops.example") for p in directory.people)
    assert set(policies.defaults) == set(ContentType)
    assert policies.legal_stage.approvers == ["raj", "ines"] and policies.legal_stage.mode == ApprovalMode.ALL
    every = [s for stages in policies.defaults.values() for s in stages] + [policies.legal_stage]
    assert all(directory.get(a) for s in every for a in s.approvers)
    for s in every:
        assert s.remind_after < s.escalate_after < s.expire_after


def write(tmp_path: Path, data, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


PEOPLE = [
    {"id": "omar", "name": "Omar", "email": "omar@mops.example", "roles": ["brand"], "backup": "sofia"},
    {"id": "sofia", "name": "Sofia", "email": "sofia@mops.example", "roles": ["brand"]},
]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda p: p.append(dict(p[0])), "people.2.id: duplicate person id 'omar' (first used at people.0)"),
        (lambda p: p[0].update(backup="zoe"), "people.0.backup: 'zoe' is not in the directory"),
        (lambda p: p[1].update(backup="sofia"), "people.1.backup: 'sofia' cannot be their own backup"),
        (lambda p: p[1].update(email="sofia at mops"), "people.1.email: 's***' is not a valid email address"),
        (lambda p: p[1].update(id="Sofia"), "people.1.id: String should match pattern"),
        (lambda p: p[1].update(team="brand"), "people.1: unknown key 'team'"),
    ],
)
def test_directory_file_errors(tmp_path, change, expected):
    people = copy.deepcopy(PEOPLE)
    change(people)
    path = write(tmp_path, {"people": people})
    with pytest.raises(DirectoryError) as info:
        load_directory(path)
    assert str(info.value).startswith(f"{path}: {expected}")
    assert "\n" not in str(info.value)


def test_directory_file_not_yaml_or_missing(tmp_path):
    with pytest.raises(DirectoryError, match=r"bad.yaml: line 1, column \d+: invalid YAML"):
        load_directory(write(tmp_path, "people: [unclosed"))
    with pytest.raises(DirectoryError, match="missing.yaml: no such file$"):
        load_directory(tmp_path / "missing.yaml")
    with pytest.raises(DirectoryError, match="expected a mapping"):
        load_directory(write(tmp_path, "- just a list"))


def test_policy_file_errors(tmp_path):
    data = yaml.safe_load((POLICIES / "approval.yaml").read_text())
    del data["defaults"]["social"]
    with pytest.raises(PolicyError, match="defaults: no stages for content type 'social'"):
        load_policies(write(tmp_path, data))
    data = yaml.safe_load((POLICIES / "approval.yaml").read_text())
    data["legal_stage"]["name"] = "compliance"
    with pytest.raises(PolicyError, match="legal_stage.name: must be 'legal', got 'compliance'"):
        load_policies(write(tmp_path, data))
    data = yaml.safe_load((POLICIES / "approval.yaml").read_text())
    data["defaults"]["email"][1]["name"] = "brand"
    with pytest.raises(
        PolicyError, match=r"defaults.email.1.name: duplicate stage 'brand' \(first used at defaults.email.0\)"
    ):
        load_policies(write(tmp_path, data))
    data = yaml.safe_load((POLICIES / "approval.yaml").read_text())
    data["defaults"]["blog"][0]["quorum"] = 4
    with pytest.raises(
        PolicyError, match=r"defaults.blog.0.quorum: must be between 1 and the number of approvers \(3\)"
    ):
        load_policies(write(tmp_path, data))


def test_load_brief_from_file(tmp_path):
    assert load_brief(write(tmp_path, brief(), "brief.yaml")).content_id == "spring-launch-post"
    path = write(tmp_path, brief(author="Maya!"), "brief.yaml")
    with pytest.raises(BriefError, match=r"brief.yaml: author: String should match pattern"):
        load_brief(path)


# --- Markdown ------------------------------------------------------------------------------


def test_markdown_to_html_converts_the_brief_subset():
    md = (
        "# Title\n## Sub\n### Small\n\n"
        "A paragraph with **bold**, *italic* and a [link](https://mops.example/a?b=1&c=2).\n"
        "Second line.\n\n"
        "- one\n- **two**\n* three\n\n"
        "![A chart](https://cdn.mops.example/chart.png)"
    )
    assert markdown_to_html(md) == (
        "<h1>Title</h1>\n<h2>Sub</h2>\n<h3>Small</h3>\n"
        "<p>A paragraph with <strong>bold</strong>, <em>italic</em> and a "
        '<a href="https://mops.example/a?b=1&amp;c=2">link</a>.\nSecond line.</p>\n'
        "<ul>\n<li>one</li>\n<li><strong>two</strong></li>\n<li>three</li>\n</ul>\n"
        '<p><img src="https://cdn.mops.example/chart.png" alt="A chart"></p>'
    )


def test_markdown_to_html_escapes_text_and_refuses_unsafe_urls():
    html = markdown_to_html(
        '<script>alert(1)</script> & "q"\n\n'
        "[x](javascript:alert(1)) [y](JavaScript:void) ![z](data:image/png;base64,AA) "
        '[ok](/pricing) [q](https://a.example/"onmouseover=x)'
    )
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in html
    assert 'href="javascript' not in html.lower() and 'src="data:' not in html
    assert " y z " in html  # refused link/image: only their text stays
    assert '<a href="/pricing">ok</a>' in html
    assert 'href="https://a.example/&quot;onmouseover=x"' in html


def test_markdown_to_html_leaves_unsupported_syntax_as_text():
    assert markdown_to_html("#### four\n\n2 * 3 * 4\n\n#hashtag") == (
        "<p>#### four</p>\n<p>2 * 3 * 4</p>\n<p>#hashtag</p>"
    )


def test_markdown_to_text_keeps_visible_text_only():
    md = "# Hi\n\nSee **the [docs](https://x.example/d)** and ![a chart](https://x.example/c.png).\n\n- one\n- two"
    assert markdown_to_text(md) == "Hi\n\nSee the docs and a chart.\n\none\ntwo"
