"""Lead-ad forms: the file is checked with one line per problem, a form maps its answers to a
capture, and consent is what the form's checkbox or question says, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.lead_ads import LeadAdFormsError, LeadAdRefused, load_lead_ad_forms
from tests.conftest import ROOT

FORM = """
forms:
  - platform: meta
    form_id: "1234567890"
    journey: default-nurture
    fields: {email: work_email, first_name: first_name, country: country}
    consent: {question: may_we_email, accepted: ["Yes"]}
"""


def forms(tmp_path: Path, text: str):
    path = tmp_path / "lead-ad-forms.yaml"
    path.write_text(text)
    return load_lead_ad_forms(path)


def test_the_shipped_file_loads() -> None:
    assert load_lead_ad_forms(ROOT / "policies" / "lead-ad-forms.yaml").forms


def test_answers_become_capture_fields_and_consent_is_only_a_yes(tmp_path: Path) -> None:
    form = forms(tmp_path, FORM).find("meta", "1234567890")
    fields = form.capture_fields({"work_email": [" ada@acme.example "], "may_we_email": ["yes"], "country": []}, {})
    assert fields == {"email": "ada@acme.example", "consent": True, "journey_id": "default-nurture"}
    assert form.capture_fields({"work_email": ["ada@acme.example"], "may_we_email": ["No"]}, {})["consent"] is False
    with pytest.raises(LeadAdRefused, match="no answer to its email question 'work_email'"):
        form.capture_fields({"first_name": ["Ada"]}, {})
    with pytest.raises(LeadAdRefused, match="form 42424242: not a meta lead form listed"):
        forms(tmp_path, FORM).find("meta", "42424242")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("country: country}", "country: country, phone: phone}"), "forms.0.fields: 'phone' is not a capture field"),
        (("email: work_email, ", ""), "forms.0.fields: email is required"),
        (('{question: may_we_email, accepted: ["Yes"]}', "{question: may_we_email}"), "accepted: the answers"),
        (('{question: may_we_email, accepted: ["Yes"]}', "{}"), "give either checkbox or question"),
        (("journey: default-nurture", "journey: Default Nurture"), "forms.0.journey: String should match pattern"),
    ],
)
def test_a_bad_forms_file_is_one_line_naming_the_field(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    with pytest.raises(LeadAdFormsError) as err:
        forms(tmp_path, FORM.replace(*change))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_form_listed_twice_is_refused(tmp_path: Path) -> None:
    twice = FORM + FORM.split("forms:\n", 1)[1]
    with pytest.raises(LeadAdFormsError, match="forms.1.form_id: 1234567890 is listed twice for meta"):
        forms(tmp_path, twice)
