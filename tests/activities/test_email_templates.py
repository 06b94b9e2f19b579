"""The email templates as files: every shipped email renders whole (HTML and text),
personalised, with its footer; broken templates and brand findings are refused with one
line naming the file and line; `mops journeys validate` checks all of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activities.email_templates import (
    EmailTemplates,
    MessageFacts,
    TemplateProblem,
    check_journey_emails,
    tag_link,
)
from domain.brand import load_brand_rules
from domain.journeys import SendEmailStep, validate_all
from mops.settings import get_settings
from starter.cli import app

ROOT = Path(__file__).resolve().parents[2]
JOURNEYS = ROOT / "journeys"
RULES = load_brand_rules(ROOT / "policies" / "brand.yaml")
ADDRESS = "mops GmbH, Example Street 1, 10115 Berlin, Germany"
PREFERENCES = "https://www.mops.example/email-preferences"
UNSUBSCRIBE = "https://gw.example/v1/unsubscribe/tok.en"


def templates(directory: Path = JOURNEYS / "templates") -> EmailTemplates:
    return EmailTemplates(directory, postal_address=ADDRESS, preferences_url=PREFERENCES)


def facts(step_id: str = "welcome", subject: str = "Hello", **lead) -> MessageFacts:
    return MessageFacts(
        journey_id="default-nurture", step_id=step_id, subject=subject, unsubscribe_url=UNSUBSCRIBE, lead=lead
    )


def email_steps() -> list[tuple[str, SendEmailStep]]:
    return [(j.id, s) for j in validate_all(JOURNEYS) for s in j.steps if isinstance(s, SendEmailStep)]


@pytest.fixture(autouse=True)
def fresh_cli_settings():
    yield
    get_settings.cache_clear()  # never leave another test the settings of a temporary directory


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A copy of the project's journeys and templates to break."""
    shutil.copytree(JOURNEYS, tmp_path / "journeys")
    return tmp_path / "journeys"


@pytest.mark.parametrize(("journey", "step"), email_steps(), ids=lambda v: getattr(v, "id", v))
def test_every_shipped_email_renders_whole_and_passes_the_brand_rules(journey: str, step: SendEmailStep) -> None:
    t = templates()
    known = t.render(step.template, facts(step.id, step.subject, first_name="Ada", company="Analytical Engines"))
    unknown = t.render(step.template, facts(step.id, step.subject))
    for m in (known, unknown):
        assert m.subject == step.subject and len(m.preheader) > 20
        # Footer: one-click unsubscribe, preference centre, postal address, in both parts.
        assert f'href="{UNSUBSCRIBE}"' in m.html and f"Unsubscribe: {UNSUBSCRIBE}" in m.text
        assert f'href="{PREFERENCES}"' in m.html and PREFERENCES in m.text
        assert ADDRESS in m.html and ADDRESS in m.text
        assert m.html.lstrip().startswith("<!doctype html>") and "<" not in m.text.replace("<b>", "")
        assert "utm_medium=email" in m.text and f"utm_content={step.id}" in m.text
        assert len(m.text.split()) > 60, "a real message, not a two-line stand-in"
        assert not [f for f in t.brand_findings(RULES, m) if f.severity == "blocking"]
    assert "Hi Ada," in known.text and "<p>Hi Ada,</p>" in known.html
    assert "Hi there," in unknown.text and "Hi there," in unknown.html


def test_personalisation_is_escaped_in_html_and_blocks_follow_segment_and_score() -> None:
    t = templates()
    m = t.render("nurture-case-study", facts("case-study", first_name="<b>Ada</b>", segment="enterprise"))
    assert "Hi &lt;b&gt;Ada&lt;/b&gt;," in m.html and "<b>Ada</b>" not in m.html
    assert "Hi <b>Ada</b>," in m.text, "the text part is plain text: nothing to escape"
    assert "regional approvals" in m.text
    assert "regional approvals" not in t.render("nurture-case-study", facts("case-study", segment="smb")).text
    hot = t.render("nurture-product-update", facts("product-update", score_band="hot"))
    cold = t.render("nurture-product-update", facts("product-update", score_band="cold"))
    assert "just reply" in hot.text and "just reply" not in cold.text
    owned = t.render("nurture-welcome", facts(owner={"name": "Sam Seller", "email": "sam@mops.example"}))
    assert (
        "Sam Seller" in owned.text and "Maya, on behalf of the mops team" in t.render("nurture-welcome", facts()).text
    )


def test_subject_is_a_template_too() -> None:
    m = templates().render(
        "nurture-welcome", facts(subject="{{ first_name | default('Hello') }}, welcome", first_name="Ada")
    )
    assert m.subject == "Ada, welcome" and "<title>Ada, welcome</title>" in m.html


def test_links_carry_the_campaign_utm_parameters() -> None:
    utm = {"source": "mops", "medium": "email", "campaign": "default-nurture", "content": "welcome"}
    assert tag_link("https://www.mops.example/start?ref=x", utm) == (
        "https://www.mops.example/start?ref=x&utm_source=mops&utm_medium=email&utm_campaign=default-nurture&utm_content=welcome"
    )
    assert "utm_source=partner" in tag_link("https://x.example/?utm_source=partner", utm), "a link's own UTM wins"
    m = templates().render(
        "nurture-welcome", MessageFacts("demo", "welcome", "Hi", UNSUBSCRIBE, {}, utm_campaign="spring")
    )
    assert "utm_campaign=spring" in m.text


def test_missing_template_is_refused_naming_the_step_and_file(broken: Path) -> None:
    (broken / "templates" / "nurture-welcome.txt").unlink()
    with pytest.raises(TemplateProblem) as err:
        templates(broken / "templates").check("nurture-welcome", "Hi", "default-nurture.yaml: steps.0.template")
    assert str(err.value) == (
        f"default-nurture.yaml: steps.0.template: template {broken / 'templates' / 'nurture-welcome.txt'} "
        "does not exist (every email needs .html and .txt)"
    )
    with pytest.raises(TemplateProblem, match=r"nurture-welcome.txt: template does not exist"):
        templates(broken / "templates").render("nurture-welcome", facts())


def test_syntax_error_and_undefined_names_are_refused_with_file_and_line(broken: Path) -> None:
    t = templates(broken / "templates")
    html = broken / "templates" / "nurture-checkin.html"
    html.write_text(html.read_text().replace("{% endif %}", "", 1))
    with pytest.raises(TemplateProblem) as err:
        t.check("nurture-checkin", "Hi", "here")
    assert str(err.value).startswith(f"{html}:") and "syntax error" in str(err.value) and "\n" not in str(err.value)

    text = broken / "templates" / "nurture-demo-offer.txt"
    lines = text.read_text().splitlines()
    line = next(i for i, x in enumerate(lines, 1) if "first_name" in x)
    text.write_text(text.read_text().replace('first_name | default("there")', "frist_name", 1))
    with pytest.raises(TemplateProblem) as err:
        t.check("nurture-demo-offer", "Hi", "here")
    assert str(err.value).startswith(f"{text}:{line}: 'frist_name' is undefined")

    # A known lead field without a fallback: fine for Ada, refused because it breaks for a lead we know less about.
    text.write_text(text.read_text().replace("frist_name", "first_name", 1))
    assert "Hi Ada," in t.render("nurture-demo-offer", facts(first_name="Ada")).text
    with pytest.raises(TemplateProblem) as err:
        t.check("nurture-demo-offer", "Hi", "here")
    assert str(err.value).startswith(f"{text}:{line}: 'first_name' is undefined (give it a fallback")
    with pytest.raises(TemplateProblem, match=rf"^{text}:{line}: 'first_name' is undefined"):
        t.render("nurture-demo-offer", facts())


def test_brand_findings_on_a_journey_email(broken: Path) -> None:
    t = templates(broken / "templates")
    spec = {j.id: j for j in validate_all(broken)}["default-nurture"]
    assert check_journey_emails(spec, broken / "default-nurture.yaml", t, RULES) == []

    text = broken / "templates" / "nurture-buyers-guide.txt"
    text.write_text(
        text.read_text().replace("Use it with any vendor", "It is cheap. Click here to use it with any vendor")
    )
    warnings = check_journey_emails(spec, broken / "default-nurture.yaml", t, RULES)
    assert [w.split(": brand warning: ")[1].split(":")[0] for w in warnings] == ["cheap", "click-here"]
    assert all(w.startswith(f"{broken / 'default-nurture.yaml'}: steps.") for w in warnings)

    text.write_text(text.read_text().replace("It is cheap.", "Guaranteed results."))
    with pytest.raises(TemplateProblem) as err:
        check_journey_emails(spec, broken / "default-nurture.yaml", t, RULES)
    step = next(i for i, s in enumerate(spec.steps) if s.id == "buyers-guide")
    assert str(err.value).startswith(
        f"{broken / 'default-nurture.yaml'}: steps.{step}.template: template nurture-buyers-guide: "
        "brand: unverifiable-superlatives: 'guaranteed results' is not allowed"
    )

    # The footer's opt-out sentence is what the EU rule asks of every email.
    layout = broken / "templates" / "_layout.txt"
    layout.write_text(layout.read_text().replace(" You can unsubscribe at any time.", ""))
    text.write_text(text.read_text().replace("Guaranteed results.", ""))
    with pytest.raises(TemplateProblem, match="brand: eu-unsubscribe: required text is missing"):
        check_journey_emails(spec, broken / "default-nurture.yaml", t, RULES)


def cli(journeys: Path, *args: str):
    get_settings.cache_clear()  # the CLI reads its settings once per process
    env = {"MOPS_JOURNEYS_DIR": str(journeys), "MOPS_POLICIES_DIR": str(ROOT / "policies")}
    return CliRunner().invoke(app, ["journeys", "validate", *args], env=env)


def test_journeys_validate_checks_the_emails(broken: Path) -> None:
    ok = cli(broken)
    assert ok.exit_code == 0, ok.output
    assert "ok  default-nurture v1" in ok.output and "ok  demo v1" in ok.output

    (broken / "templates" / "nurture-roi-calculator.html").unlink()
    missing = cli(broken)
    assert missing.exit_code == 2
    assert (
        "default-nurture.yaml: steps." in missing.output
        and "nurture-roi-calculator.html does not exist" in missing.output
    )

    shutil.copy(JOURNEYS / "templates" / "nurture-roi-calculator.html", broken / "templates")
    text = broken / "templates" / "nurture-welcome.txt"
    text.write_text(text.read_text().replace("{{ link(", "{{ lnk(", 1))
    undefined = cli(broken)
    assert undefined.exit_code == 2 and f"{text}:" in undefined.output and "'lnk' is undefined" in undefined.output
    assert len(undefined.output.strip().splitlines()) == 1, undefined.output


def preview(journeys: Path, tmp: Path, *args: str):
    get_settings.cache_clear()
    env = {"MOPS_JOURNEYS_DIR": str(journeys), "MOPS_POLICIES_DIR": str(ROOT / "policies")}
    return CliRunner().invoke(app, ["journeys", "preview", *args, "--out", str(tmp / "out")], env=env)


def test_journeys_preview_writes_the_message_and_prints_its_findings(broken: Path, tmp_path: Path) -> None:
    lead = tmp_path / "ada.yaml"
    lead.write_text("first_name: Ada\ncompany: Analytical Engines\nscore: 60\nsegment: enterprise\n")
    r = preview(broken, tmp_path, "default-nurture", "--step", "product-update", "--lead", str(lead))
    assert r.exit_code == 0, r.output
    assert "subject:   What's new this quarter" in r.output and "preheader: Budget moves with approval" in r.output
    text = (tmp_path / "out" / "default-nurture-product-update.txt").read_text()
    html = (tmp_path / "out" / "default-nurture-product-update.html").read_text()
    assert text.startswith("Hi Ada,") and "just reply" in text, "the hot score band's block"
    assert "<p>Hi Ada,</p>" in html and "no brand findings" in r.output

    guide = broken / "templates" / "nurture-buyers-guide.txt"
    guide.write_text(guide.read_text().replace("Use it with any vendor", "Click here to use it with any vendor"))
    r = preview(broken, tmp_path, "default-nurture", "--step", "buyers-guide")
    assert r.exit_code == 0 and "warning: click-here:" in r.output
    assert (tmp_path / "out" / "default-nurture-buyers-guide.txt").read_text().startswith("Hi there,")

    r = preview(broken, tmp_path, "default-nurture", "--step", "qualify")
    assert r.exit_code == 2 and "step: default-nurture has no email step 'qualify'" in r.output
    lead.write_text("frist_name: Ada\n")
    r = preview(broken, tmp_path, "demo", "--step", "welcome", "--lead", str(lead))
    assert r.exit_code == 2 and f"{lead}: frist_name: not a lead field" in r.output


def test_workers_refuse_to_start_without_the_footer_settings() -> None:
    get_settings.cache_clear()
    unset = {"MOPS_MAIL_SENDER_POSTAL": None, "MOPS_MAIL_PREFERENCES_URL": None}
    r = CliRunner().invoke(app, ["worker"], env=unset)
    assert r.exit_code == 2 and "MOPS_MAIL_SENDER_POSTAL: required" in r.output
    get_settings.cache_clear()
    r = CliRunner().invoke(app, ["worker"], env={**unset, "MOPS_MAIL_SENDER_POSTAL": ADDRESS})
    assert r.exit_code == 2 and "MOPS_MAIL_PREFERENCES_URL: required" in r.output
    assert len(r.output.strip().splitlines()) == 1
