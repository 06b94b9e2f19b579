"""CRM country text becomes the ISO code the scoring and compliance rules use."""

import pytest

from activities.crm import iso_country


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("United States", "US"),
        ("Germany", "DE"),
        ("de", "DE"),
        ("GBR", "GB"),
        ("Cuba", "CU"),
        ("  Japan ", "JP"),
        ("Atlantis", "Atlantis"),
        ("", None),
        (None, None),
    ],
)
def test_iso_country(text, code):
    assert iso_country(text) == code
