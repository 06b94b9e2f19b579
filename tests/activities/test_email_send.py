"""`email.send` against the sandbox over real HTTP: every email of every shipped journey
arrives whole (text and HTML, personalised, footer and List-Unsubscribe agreeing), and a
message that cannot render or breaks a blocking brand rule fails non-retryable with
nothing sent."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.contracts import ErrorType
from activities.email import EmailActivities
from activities.email_once import EmailOnce
from activities.models import EmailLead, SendEmailInput
from activities.policies import PLATFORM_TIMEOUT
from domain.brand import load_brand_rules
from domain.journeys import SendEmailStep, validate_all
from domain.unsubscribe import unsubscribe_url
from integrations.sendgrid import SendGridClient
from mops.contact_ledger import ContactLedger, SqliteContactLedger
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer

ROOT = Path(__file__).resolve().parents[2]
ADDRESS = "mops GmbH, Example Street 1, 10115 Berlin, Germany"
PREFERENCES = "https://www.mops.example/email-preferences"
SECRET = "test-unsubscribe-secret"
STEPS = [(j, s) for j in validate_all(ROOT / "journeys") for s in j.steps if isinstance(s, SendEmailStep)]


def link(lead_id: str) -> str:
    return unsubscribe_url("https://gw.example", SECRET, lead_id)


@pytest.fixture
async def sendgrid(sandbox: SandboxServer):
    client = SendGridClient(sandbox.url, sandbox.tokens.sendgrid_api_key.get_secret_value(), timeout=10)
    yield client
    await client.aclose()


@pytest.fixture
async def admin(sandbox: SandboxServer):
    async with SandboxAdmin(sandbox.url) as admin:
        yield admin


LEAD_ID_SECRET = "test-lead-id-secret"


def activities(
    sendgrid: SendGridClient,
    templates: Path = ROOT / "journeys" / "templates",
    ledger: ContactLedger | None = None,
) -> EmailActivities:
    return EmailActivities(
        sendgrid,
        templates,
        unsubscribe_link=lambda lead_id: link(lead_id),
        postal_address=ADDRESS,
        preferences_url=PREFERENCES,
        campaign_templates_dir=ROOT / "campaigns" / "templates",
        brand_rules=load_brand_rules(ROOT / "policies" / "brand.yaml"),
        ledger=ledger or SqliteContactLedger(Path(tempfile.mkdtemp(prefix="mops-ledger-")) / "contacts.db"),
        lead_id_secret=LEAD_ID_SECRET,
        once=EmailOnce(sendgrid, settle=timedelta(seconds=5)),
    )


def email_env(**info) -> ActivityEnvironment:
    """An activity environment with the email activity's real start-to-close timeout
    (the SDK's test default of one second would be the attempt's deadline)."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, start_to_close_timeout=PLATFORM_TIMEOUT, **info)
    return env


def send_input(journey_id: str, step: SendEmailStep, **lead) -> SendEmailInput:
    email = f"ada.{uuid.uuid4().hex[:10]}@analytical.example"
    return SendEmailInput(
        idempotency_key=f"k-{uuid.uuid4().hex}",
        to_email=email,
        from_email="marketing@mops.example",
        subject=step.subject,
        template=step.template,
        unsubscribe_group_id=4242,
        journey_id=journey_id,
        step_id=step.id,
        lead_id=uuid.uuid4().hex[:24],
        lead=EmailLead(**lead) if lead else None,
    )


async def received(admin: SandboxAdmin, email: str) -> list[dict]:
    return [e["summary"] for e in await admin.effects("sendgrid", "mail.send") if email in e["summary"]["to"]]


@pytest.mark.parametrize(("journey", "step"), STEPS, ids=[f"{j.id}:{s.id}" for j, s in STEPS])
async def test_every_journey_email_arrives_whole(sendgrid, admin, journey, step) -> None:
    inp = send_input(journey.id, step, first_name="Ada", company="Analytical Engines", segment="enterprise", score=50)
    result = await email_env().run(activities(sendgrid).send, inp)
    assert result.sent and result.message_id and result.warnings == []

    [mail] = await received(admin, inp.to_email)
    assert mail["subject"] == step.subject and mail["from"] == "marketing@mops.example"
    assert mail["content_types"] == ["text/plain", "text/html"]
    text, html = (part["value"] for part in mail["content"])
    assert text.startswith("Hi Ada,\n") and "<p>Hi Ada,</p>" in html
    assert len(text.split()) > 60 and "</html>" in html
    unsubscribe = link(inp.lead_id)
    assert mail["headers"] == {
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert f"Unsubscribe: {unsubscribe}" in text and f'href="{unsubscribe}"' in html
    assert PREFERENCES in text and ADDRESS in text and ADDRESS in html
    assert f"utm_campaign={journey.id}&utm_content={step.id}" in text
    assert mail["custom_args"]["mops_lead_id"] == inp.lead_id and mail["asm_group_id"] == 4242


async def test_an_input_recorded_before_templates_renders_with_its_first_name(sendgrid, admin) -> None:
    journey, step = STEPS[0]
    inp = send_input(journey.id, step).model_copy(update={"first_name": "Grace"})
    await email_env().run(activities(sendgrid).send, inp)
    [mail] = await received(admin, inp.to_email)
    assert mail["content"][0]["value"].startswith("Hi Grace,")


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "journeys" / "templates", tmp_path / "templates")
    return tmp_path / "templates"


async def unsendable(sendgrid, admin, templates: Path, inp: SendEmailInput) -> ApplicationError:
    with pytest.raises(ApplicationError) as err:
        await email_env().run(activities(sendgrid, templates).send, inp)
    assert err.value.type == ErrorType.EMAIL_UNSENDABLE and err.value.non_retryable
    assert await received(admin, inp.to_email) == [], "nothing goes out in its place"
    assert inp.to_email not in str(err.value) and inp.to_email not in str(err.value.details)
    return err.value


async def test_missing_template_and_undefined_name_are_unsendable(sendgrid, admin, broken) -> None:
    journey, step = STEPS[0]
    (broken / f"{step.template}.html").unlink()
    err = await unsendable(sendgrid, admin, broken, send_input(journey.id, step, first_name="Ada"))
    assert err.details[0] == f"{broken / (step.template + '.html')}: template does not exist"

    shutil.copy(ROOT / "journeys" / "templates" / f"{step.template}.html", broken)
    text = broken / f"{step.template}.txt"
    text.write_text(text.read_text().replace('first_name | default("there")', "first_name", 1))
    err = await unsendable(sendgrid, admin, broken, send_input(journey.id, step, company="Initech"))
    assert err.details[0].startswith(f"{text}:3: 'first_name' is undefined")


async def test_brand_rules_run_on_the_rendered_message(sendgrid, admin, broken) -> None:
    journey, step = STEPS[0]
    text = broken / f"{step.template}.txt"
    text.write_text(text.read_text().replace("Over the next weeks", "Our cheap plan is here. Over the next weeks", 1))
    inp = send_input(journey.id, step, first_name="Ada")
    result = await email_env().run(activities(sendgrid, broken).send, inp)
    assert result.sent and result.warnings == [
        "brand warning: cheap: 'cheap' is not allowed: say \"affordable\" or state the price"
    ]

    # Personal data can break a rule too: the rendered message is what is checked.
    inp = send_input(journey.id, step, first_name="Ada", company="CompeteCloud")
    err = await unsendable(sendgrid, admin, broken, inp)
    assert err.details[0].startswith("brand blocking: competitor-names: 'CompeteCloud' is not allowed")


async def test_a_suppressed_address_gets_nothing_and_the_journey_hears_so(sendgrid, admin) -> None:
    # The lookup runs alongside the send: the platform drops the message (as SendGrid
    # does for an address in the message's unsubscribe group), the result says suppressed.
    journey, step = STEPS[0]
    inp = send_input(journey.id, step, first_name="Ada")
    await sendgrid.add_suppression(4242, inp.to_email)
    result = await email_env().run(activities(sendgrid).send, inp)
    assert result.suppressed and not result.sent and result.message_id is None
    assert [m["dropped"] for m in await received(admin, inp.to_email)] == [[inp.to_email]], "nothing delivered"


async def test_a_failed_lookup_after_the_send_keeps_the_one_email(sendgrid, admin) -> None:
    # The send went out: failing the activity would send it again on retry.
    journey, step = STEPS[0]
    inp = send_input(journey.id, step, first_name="Ada")
    await admin.set_faults("sendgrid", fail_next=2, error_status=500, path_prefix="/v3/asm")
    try:
        result = await email_env().run(activities(sendgrid).send, inp)
    finally:
        await admin.clear_faults()
    assert result.sent and not result.suppressed
    assert any("suppression lookup failed" in w for w in result.warnings), result.warnings
    [mail] = await received(admin, inp.to_email)
    assert mail["dropped"] == []
