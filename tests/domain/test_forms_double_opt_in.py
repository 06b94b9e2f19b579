"""The double opt-in's rules, pure: the setting validated with the form's others, and the
emailed link checked against a clock passed in (no wall clock)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from domain.forms import FormRefused, FormsError, FormSpec, confirm_link, load_forms, verify_confirm_link

FORM = {
    "id": "news",
    "title": "News",
    "journey": "default-nurture",
    "fields": [{"name": "email", "label": "Email", "maps": "email", "required": True}],
    "consent": {"text": "Yes", "version": "v1", "required": True},
    "double_opt_in": {"within_hours": 24},
}
UNTIL = 1_900_000_000


def test_the_link_holds_until_its_expiry_and_no_longer() -> None:
    query = confirm_link("s3cret", "news", "ab" * 12, UNTIL)
    assert verify_confirm_link("s3cret", "news", query, now=UNTIL - 1) == "ab" * 12
    for now in (UNTIL, UNTIL + 86400):
        with pytest.raises(FormRefused) as refused:
            verify_confirm_link("s3cret", "news", query, now=now)
        assert refused.value.status == 410 and str(refused.value).startswith("link: expired")


@pytest.mark.parametrize(
    ("secret", "form", "change", "status", "reason"),
    [
        ("other", "news", {}, 400, "link: not issued by this gateway for this form"),
        ("s3cret", "other-form", {}, 400, "link: not issued by this gateway for this form"),
        ("s3cret", "news", {"k": "cd" * 12}, 400, "link: not issued"),
        ("s3cret", "news", {"until": str(UNTIL + 3600)}, 400, "link: not issued"),  # extended by hand
        ("s3cret", "news", {"sig": ""}, 400, "link: incomplete"),
    ],
)
def test_a_link_forged_or_altered_is_refused(secret: str, form: str, change: dict, status: int, reason: str) -> None:
    query = {**confirm_link(secret, form, "ab" * 12, UNTIL), **change}
    with pytest.raises(FormRefused) as refused:
        verify_confirm_link("s3cret", "news", query, now=UNTIL - 60)
    assert refused.value.status == status and str(refused.value).startswith(reason)


def test_the_consent_source_says_double_opt_in() -> None:
    spec = FormSpec.model_validate(FORM)
    assert spec.consent_source(ticked=True) == "form news, text v1, double opt-in confirmed"
    assert spec.consent_source(ticked=False) is None
    plain = FormSpec.model_validate({**FORM, "double_opt_in": None})
    assert plain.consent_source(ticked=True) == "form news, text v1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"consent": None}, "double_opt_in: needs a consent text with required: true"),
        ({"consent": {"text": "Yes", "version": "v1"}}, "double_opt_in: needs a consent text with required: true"),
        ({"double_opt_in": {"within_hours": 0}}, "within_hours"),
        ({"double_opt_in": {"within_hours": 24, "extra": 1}}, "extra"),
    ],
)
def test_the_setting_is_validated_with_the_form(tmp_path: Path, change: dict, message: str) -> None:
    path = tmp_path / "forms.yaml"
    path.write_text(yaml.safe_dump({"forms": [{**FORM, **change}]}))
    with pytest.raises(FormsError) as err:
        load_forms(path)
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_a_form_whose_consent_source_would_not_fit_the_record_is_refused() -> None:
    with pytest.raises(ValueError, match="too long for a consent record"):
        FormSpec.model_validate(
            {**FORM, "id": "f" * 60, "consent": {"text": "Yes", "version": "v" * 40, "required": True}}
        )
