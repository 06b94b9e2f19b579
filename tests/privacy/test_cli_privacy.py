"""The data-protection commands refuse bad input with one line (exit 2) and start nothing;
key generation and the erasure log need no server."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mops.keystore import ErasureRecord, SqliteKeyStore, utc_now
from mops.master_keys import parse_master_keys
from mops.settings import get_settings
from starter.cli import app

UNREACHABLE = {"MOPS_TEMPORAL_ADDRESS": "127.0.0.1:9"}  # nothing listens: a command that connects would fail


@pytest.fixture
def run(tmp_path: Path):
    def invoke(*args: str):
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(app, list(args), env={**UNREACHABLE, "MOPS_DATA_DIR": str(tmp_path)})
        finally:
            get_settings.cache_clear()

    return invoke


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lead", "erase", "not-an-email", "--yes"], "email:"),
        (["consent", "withdraw", "--purpose", "telepathy", "--email", "a@b.example"], "purpose:"),
        (["consent", "grant", "--purpose", "profiling"], "lead: give an email or a lead id"),
        (["compliance", "schedule", "--every", "sometimes"], "every:"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run, args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_erase_asks_first(run) -> None:
    result = CliRunner().invoke(app, ["lead", "erase", "a@b.example"], input="n\n", env=UNREACHABLE)
    assert result.exit_code == 1 and "not erased" in result.output


def test_keygen_prints_a_usable_key(run) -> None:
    result = run("codec", "keygen", "--id", "k2027")
    assert result.exit_code == 0
    assert list(parse_master_keys(result.output.strip())) == ["k2027"]


def test_erasure_log_is_read_locally(run, tmp_path: Path) -> None:
    SqliteKeyStore(tmp_path / "keys.db").destroy_lead(
        "d" * 24, ErasureRecord("er-cli", "d" * 24, utc_now(), "dpo", steps={"erase:crm": "deleted"})
    )
    result = run("lead", "erasures", "--json")
    assert result.exit_code == 0, result.output
    assert '"erasure_id": "er-cli"' in result.output and '"erase:crm": "deleted"' in result.output
