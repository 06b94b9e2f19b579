"""What a new user sees from the CLI, without a stack: output to a pipe is not folded, a
refused field shows its pattern as it is, `mops gateway keygen --help` is keygen's help."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from rich.panel import Panel

from domain.leads import JOURNEY_ID_PATTERN
from starter.render import make_console


def mops(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.run([sys.executable, "-m", "starter.cli", *args], capture_output=True, text=True, env=env)


def test_output_to_a_pipe_is_not_folded_at_80_columns() -> None:
    link = "http://127.0.0.1:8233/namespaces/default/workflows/" + "lead-" + "a" * 150
    buf = io.StringIO()
    console = make_console(file=buf)
    console.print(f"Web UI: {link}")
    console.print(Panel("short", expand=False))
    lines = buf.getvalue().splitlines()
    assert lines[0] == f"Web UI: {link}"
    assert max(len(line) for line in lines[1:]) < 20, "panels are sized to their content, not the pipe width"


def test_a_refused_journey_id_shows_its_pattern_with_the_brackets() -> None:
    res = mops("lead", "capture", "--email", "x@acme.example", "--source", "webinar", "--journey", "Bad!")
    assert res.returncode == 2
    assert res.stderr.strip() == f"error: journey_id: String should match pattern '{JOURNEY_ID_PATTERN}'"


def test_gateway_keygen_help_is_keygens() -> None:
    res = mops("gateway", "keygen", "--help")
    assert res.returncode == 0
    assert "usage: mops gateway keygen" in res.stdout and "--approver" in res.stdout and "--key-only" in res.stdout
    top = mops("gateway", "--help")
    assert top.returncode == 0 and "keygen" in top.stdout and "serve" in top.stdout
