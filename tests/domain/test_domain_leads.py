from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from domain.leads import (
    Firmographics,
    LeadCapture,
    LeadSource,
    build_profile,
    lead_key,
    lead_workflow_id,
    normalise_email,
)

SECRET = "test-secret"


def capture(**overrides):
    data = dict(
        capture_id="cap-1",
        email="Alice@Example.com",
        source="web_form",
        captured_at="2026-03-01T09:00:00+01:00",
    )
    data.update(overrides)
    return LeadCapture.model_validate(data)


def test_normalise_email_strips_and_lowercases():
    assert normalise_email("  Alice.Smith+news@Example.CO.uk \n") == "alice.smith+news@example.co.uk"


@pytest.mark.parametrize(
    "raw",
    [
        "alice",
        "alice@",
        "@example.com",
        "alice@example",
        "alice@example.c",
        "al ice@example.com",
        "a@b@example.com",
        "",
    ],
)
def test_normalise_email_rejects_invalid(raw):
    with pytest.raises(ValueError, match="is not a valid email address"):
        normalise_email(raw)


def test_invalid_email_message_is_masked():
    with pytest.raises(ValueError) as info:
        normalise_email("secret.person@example")
    message = str(info.value)
    assert message == "'s***@example' is not a valid email address"
    assert "secret.person" not in message


def test_lead_key_is_stable_across_spellings_and_carries_no_email():
    key = lead_key("Alice@Example.com ", SECRET)
    assert key == lead_key("alice@example.com", SECRET)
    assert len(key) == 24 and all(c in "0123456789abcdef" for c in key)
    assert "alice" not in key and "example" not in key
    assert lead_workflow_id(key) == f"lead-{key}"


def test_lead_key_depends_on_secret_and_email():
    assert lead_key("alice@example.com", SECRET) != lead_key("alice@example.com", "other-secret")
    assert lead_key("alice@example.com", SECRET) != lead_key("bob@example.com", SECRET)


def test_lead_key_is_not_a_plain_hash():
    import hashlib

    plain = hashlib.sha256(b"alice@example.com").hexdigest()[:24]
    assert lead_key("alice@example.com", SECRET) != plain


def test_capture_normalises_fields():
    lead = capture(country="de", timezone="Europe/Berlin", first_name="  ")
    assert lead.email == "alice@example.com"
    assert lead.country == "DE"
    assert lead.first_name is None
    assert lead.captured_at == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert lead.captured_at.utcoffset() == timedelta(0)
    assert lead.journey_id == "default-nurture"
    assert lead.source is LeadSource.WEB_FORM
    assert LeadSource("import") is LeadSource.IMPORT


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"email": "not-an-email"}, "email", "is not a valid email address"),
        ({"country": "Germany"}, "country", "ISO 3166-1 alpha-2"),
        ({"country": "D1"}, "country", "ISO 3166-1 alpha-2"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown timezone"),
        ({"captured_at": "2026-03-01T09:00:00"}, "captured_at", "timezone"),
        ({"source": "fax"}, "source", "Input should be"),
        ({"journey_id": "Bad Journey"}, "journey_id", "pattern"),
        ({"capture_id": ""}, "capture_id", "at least 1"),
    ],
)
def test_capture_validation_errors(overrides, field, text):
    with pytest.raises(ValidationError) as info:
        capture(**overrides)
    errors = info.value.errors()
    assert [e["loc"] for e in errors] == [(field,)]
    assert text in errors[0]["msg"]


def test_capture_error_does_not_echo_full_email():
    with pytest.raises(ValidationError) as info:
        capture(email="private.person@nowhere")
    assert "private.person" not in str(info.value)


def test_build_profile_prefers_firmographics():
    lead = capture(company="Acme (typed)", country="DE")
    firmo = Firmographics(company="Acme GmbH", industry="Software", job_title="VP Marketing", employees=1200)
    profile = build_profile(lead, firmo)
    assert profile.email_domain == "example.com"
    assert profile.company == "Acme GmbH"
    assert profile.country == "DE"  # firmographics had none
    assert (profile.industry, profile.job_title, profile.employees) == ("Software", "VP Marketing", 1200)
    assert profile.source is LeadSource.WEB_FORM


def test_build_profile_without_firmographics():
    profile = build_profile(capture(company="Acme"), None)
    assert profile.company == "Acme" and profile.employees is None
