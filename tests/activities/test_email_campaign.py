"""The campaign email: rendered from its template (campaigns/templates/, extending the
journeys' layout) into a Single Send with HTML and text; a launch refuses a campaign whose
email cannot render or breaks a blocking brand rule, with one line naming file:line."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.contracts import ErrorType
from activities.models import ListSendEmail, ListSendInput
from mops.settings import Settings
from sandbox.server import SandboxServer
from starter.service.campaigns import CampaignInputError, prepare
from tests.activities.test_email_send import ADDRESS, PREFERENCES, ROOT, activities

BODY = "# Spring launch\n\nFive **ready-made** workflows for <launches>.\n\n[See the templates](https://www.mops.example/spring)"
LANDING = "https://www.mops.example/spring?utm_source=newsletter&utm_medium=email&utm_campaign=spring"


@pytest.fixture
async def sendgrid(sandbox: SandboxServer):
    from integrations.sendgrid import SendGridClient

    client = SendGridClient(sandbox.url, sandbox.tokens.sendgrid_api_key.get_secret_value(), timeout=10)
    yield client
    await client.aclose()


async def single_send(sandbox: SandboxServer, single_send_id: str) -> dict:
    token = sandbox.tokens.sendgrid_api_key.get_secret_value()
    async with httpx.AsyncClient(base_url=sandbox.url, headers={"Authorization": f"Bearer {token}"}) as http:
        r = await http.get(f"/v3/marketing/singlesends/{single_send_id}")
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
async def newsletter(sendgrid) -> str:
    """A list with one member, made through SendGrid's API."""
    list_id = await sendgrid.create_list(f"newsletter {uuid.uuid4().hex[:8]}")
    await sendgrid.add_to_list(list_id, [f"reader.{uuid.uuid4().hex[:8]}@example.com"])
    return list_id


def list_send(email: ListSendEmail | None, list_id: str) -> ListSendInput:
    return ListSendInput(
        idempotency_key=f"k-{uuid.uuid4().hex}",
        name=f"campaign {uuid.uuid4().hex[:6]}",
        subject="Five workflows that give your team a day back",
        html="<p>as given</p>",
        list_ids=[list_id],
        suppression_group_id=4242,
        email=email,
    )


def campaign_email(template: str = "campaign-email", body: str = BODY) -> ListSendEmail:
    return ListSendEmail(
        template=template, campaign_id="spring", campaign_name="Spring launch", body_markdown=body, landing_url=LANDING
    )


async def test_campaign_email_goes_out_whole(sandbox, sendgrid, newsletter) -> None:
    result = await ActivityEnvironment().run(
        activities(sendgrid).send_to_lists, list_send(campaign_email(), newsletter)
    )
    config = (await single_send(sandbox, result.single_send_id))["email_config"]
    html, text = config["html_content"], config["plain_content"]
    assert config["generate_plain_content"] is False
    assert "<h1>Spring launch</h1>" in html and "<strong>ready-made</strong>" in html
    assert "&lt;launches&gt;" in html and "<launches>" not in html, "the Markdown body is escaped"
    assert text.startswith("Spring launch\n\nFive ready-made workflows for <launches>.")
    assert f"Spring launch: {LANDING}&utm_content=email" in text, "the campaign's own UTM tags are kept"
    # Footer: Marketing Campaigns fills in each recipient's unsubscribe link for the tag.
    assert 'href="{{{unsubscribe}}}"' in html and "Unsubscribe: {{{unsubscribe}}}" in text
    assert ADDRESS in html and ADDRESS in text and PREFERENCES in text


async def test_list_send_heartbeats_while_the_platform_jobs_run(sandbox, sendgrid, newsletter) -> None:
    # The export of the lists and the import into the per-send list are platform jobs (the
    # sandbox, as the real one, answers "pending" first): the activity heartbeats while it
    # waits, so its long timeout never hides a worker that died mid-wait.
    beats: list[tuple] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    result = await env.run(activities(sendgrid).send_to_lists, list_send(None, newsletter))
    assert result.single_send_id and len(beats) >= 2, beats


def test_the_list_send_may_outlast_a_platform_call_and_heartbeats() -> None:
    from activities.contracts import EMAIL_SEND_TO_LISTS
    from activities.policies import PLATFORM_TIMEOUT

    assert EMAIL_SEND_TO_LISTS.timeout and EMAIL_SEND_TO_LISTS.timeout > PLATFORM_TIMEOUT
    assert EMAIL_SEND_TO_LISTS.heartbeat and EMAIL_SEND_TO_LISTS.heartbeat < EMAIL_SEND_TO_LISTS.timeout


async def test_list_send_without_a_template_goes_as_given(sandbox, sendgrid, newsletter) -> None:
    result = await ActivityEnvironment().run(activities(sendgrid).send_to_lists, list_send(None, newsletter))
    config = (await single_send(sandbox, result.single_send_id))["email_config"]
    assert config["html_content"] == "<p>as given</p>" and config["plain_content"] is None


async def test_unsendable_campaign_email_fails_non_retryable(sendgrid, newsletter) -> None:
    for email, says in [
        (campaign_email(template="no-such-template"), "no-such-template.html: template does not exist"),
        (campaign_email(body="# Hi\n\nGuaranteed results for everyone."), "brand blocking: unverifiable-superlatives"),
    ]:
        with pytest.raises(ApplicationError) as err:
            await ActivityEnvironment().run(activities(sendgrid).send_to_lists, list_send(email, newsletter))
        assert err.value.type == ErrorType.EMAIL_UNSENDABLE and err.value.non_retryable and says in err.value.details[0]


@pytest.fixture
def campaigns(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "campaigns", tmp_path / "campaigns")
    return tmp_path / "campaigns"


def launch(campaigns: Path, name: str = "example.yaml"):
    settings = Settings(campaigns_dir=campaigns, policies_dir=ROOT / "policies", journeys_dir=ROOT / "journeys")
    return prepare(settings, campaigns / name, now=datetime(2027, 3, 1, tzinfo=UTC))


def test_shipped_campaigns_pass(campaigns: Path) -> None:
    assert launch(campaigns).spec.channel("email").template == "campaign-email"
    assert launch(campaigns, "demo.yaml").spec.channel("email").template == "campaign-email"


def test_launch_refuses_an_email_that_cannot_render(campaigns: Path) -> None:
    example = campaigns / "example.yaml"
    source = example.read_text()
    line = source.splitlines().index("  - kind: email")
    index = sum(1 for x in source.splitlines()[:line] if x.startswith("  - kind:"))
    where = f"{example}: channels.{index}.template"

    example.write_text(source.replace("    template: campaign-email", "    template: campaign-mail", 1))
    with pytest.raises(CampaignInputError) as err:
        launch(campaigns)
    assert str(err.value) == (
        f"{where}: template {campaigns / 'templates' / 'campaign-mail.txt'} does not exist (every email needs .html and .txt)"
    )

    example.write_text(source.replace("    template: campaign-email          #", "    #", 1))
    with pytest.raises(CampaignInputError, match=r": required: the email's template"):
        launch(campaigns)

    example.write_text(source)
    text = campaigns / "templates" / "campaign-email.txt"
    lines = text.read_text().splitlines()
    n = next(i for i, x in enumerate(lines, 1) if "campaign_name" in x)
    text.write_text(text.read_text().replace("{{ campaign_name }}", "{{ campaign_title }}"))
    with pytest.raises(CampaignInputError) as err:
        launch(campaigns)
    assert str(err.value).startswith(f"{text}:{n}: 'campaign_title' is undefined") and "\n" not in str(err.value)


def test_launch_refuses_a_blocking_brand_finding(campaigns: Path) -> None:
    example = campaigns / "example.yaml"
    example.write_text(
        example.read_text().replace("Five **ready-made** workflows", "Guaranteed results: five workflows", 1)
    )
    with pytest.raises(
        CampaignInputError, match=r"channels\.\d\.template: template campaign-email: brand: unverifiable-superlatives"
    ):
        launch(campaigns)


async def test_content_list_email_goes_out_whole(sandbox, sendgrid, newsletter) -> None:
    email = ListSendEmail(
        template="content-email",
        campaign_id="post-1",
        campaign_name="Five launch mistakes",
        body_markdown="Avoid **these**.",
    )
    result = await ActivityEnvironment().run(activities(sendgrid).send_to_lists, list_send(email, newsletter))
    config = (await single_send(sandbox, result.single_send_id))["email_config"]
    assert config["plain_content"].startswith("Five launch mistakes\n\nAvoid these.\n\nThe mops team\n\n--\n")
    assert "Read it on our site" not in config["plain_content"], "no post, no link"
    assert "<strong>these</strong>" in config["html_content"] and ADDRESS in config["html_content"]
    with_post = email.model_copy(update={"landing_url": "https://blog.mops.example/p/1"})
    result = await ActivityEnvironment().run(activities(sendgrid).send_to_lists, list_send(with_post, newsletter))
    config = (await single_send(sandbox, result.single_send_id))["email_config"]
    assert (
        "Read it on our site: https://blog.mops.example/p/1?utm_source=mops&utm_medium=email&utm_campaign=post-1"
        in config["plain_content"]
    )
