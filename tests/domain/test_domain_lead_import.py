"""List imports' pure rules: the column map, consent cells, the ids from the file hash."""

from __future__ import annotations

import pytest

from domain.lead_import import ImportMapError, consent_value, import_capture_id, import_id, parse_column_map

HEADER = ["Email", "First", "Opt-in"]


def test_a_map_names_fields_by_columns_of_the_header() -> None:
    assert parse_column_map(" email = Email , first_name=First,consent=Opt-in", HEADER) == {
        "email": "Email",
        "first_name": "First",
        "consent": "Opt-in",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("first_name=First", "map: email is required (email=Column)"),
        ("email=Email,email=First", "map: field 'email' is mapped twice"),
        ("email=Email,,first_name=First", "map: '' is not field=Column"),
        ("email:Email", "map: 'email:Email' is not field=Column"),
        ("email=Email,source=First", "map: unknown field 'source'"),
        ("email=Mail", "map: column 'Mail' is not in the file's header (Email, First, Opt-in)"),
    ],
)
def test_a_bad_map_is_refused_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(ImportMapError) as err:
        parse_column_map(text, HEADER)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(("cell", "given"), [("Yes", True), ("x", True), ("1", True), ("no", False), (" ", False)])
def test_consent_cells(cell: str, given: bool) -> None:
    assert consent_value(cell) is given


def test_a_consent_cell_that_is_neither_is_refused() -> None:
    with pytest.raises(ValueError, match="consent: 'maybe' is not yes or no"):
        consent_value("maybe")


def test_ids_follow_the_file_content_and_the_journey() -> None:
    sha = "ab" * 32
    assert import_id(sha, "demo") == "import-demo-" + "ab" * 16
    assert import_id(sha, "demo") != import_id("cd" * 32, "demo") != import_id(sha, "default-nurture")
    assert import_capture_id(sha, 7) == "import-" + "ab" * 16 + "-7"
