"""Published journey versions: publishing the same content twice gives one version, changed
content needs a higher number, a capture after a publish pins it while a running lead keeps
its own, and `validate` says when a file was edited without being published."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import uuid
from pathlib import Path

from typer.testing import CliRunner

from mops.settings import get_settings
from starter.cli import app
from starter.service.leads import build_capture
from tests.e2e.conftest import Stack


def edit(path: Path, *, version: int, name: str) -> None:
    text = re.sub(r"^version: .*$", f"version: {version}", path.read_text(), flags=re.M)
    path.write_text(re.sub(r"^name: .*$", f"name: {name}", text, flags=re.M))


async def mops(stack: Stack, journeys: Path, *args: str):
    env = {
        "MOPS_JOURNEYS_DIR": str(journeys),
        "MOPS_JOURNEY_VERSIONS_PATH": str(stack.settings.journey_versions_file),
        "MOPS_MAIL_SENDER_POSTAL": stack.settings.mail_sender_postal or "",
        "MOPS_MAIL_PREFERENCES_URL": stack.settings.mail_preferences_url or "",
    }
    get_settings.cache_clear()
    try:
        return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    finally:
        get_settings.cache_clear()


def one_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


async def test_publish_pin_and_report_edits(stack: Stack, tmp_path: Path) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(stack.settings.journeys_dir, journeys)
    demo = journeys / "demo.yaml"
    s = stack.settings

    # A lead captured before anything is published runs the file's version.
    early = await stack.leads.capture(
        build_capture(
            s, email=f"early.{uuid.uuid4().hex[:6]}@acme.example", source="web_form", consent=True, journey_id="demo"
        )
    )
    assert (await stack.leads.state(lead_id=early.workflow_id)).journey_version == 1

    first = await mops(stack, journeys, "journeys", "publish", str(demo), "--as", "maya", "--note", "first", "--json")
    again = await mops(stack, journeys, "journeys", "publish", str(demo), "--as", "maya", "--note", "same", "--json")
    assert first.exit_code == again.exit_code == 0, first.output + again.output
    v1, same = json.loads(first.output), json.loads(again.output)
    assert (v1["version"], v1["new"]) == (1, True) and (same["version"], same["new"]) == (1, False)
    assert same["fingerprint"] == v1["fingerprint"] and same["note"] == "first"  # nothing new was stored

    # Changed content under the same number is refused and stores nothing.
    edit(demo, version=1, name="Demo nurture, second cut")
    refused = await mops(stack, journeys, "journeys", "publish", str(demo), "--as", "maya", "--note", "oops")
    assert refused.exit_code == 2
    assert one_line(refused).startswith("error: version: 1 is not above the latest published version 1")

    validated = await mops(stack, journeys, "journeys", "validate", "--json")
    assert validated.exit_code == 0, validated.output
    demo_row = next(r for r in json.loads(validated.output) if r["id"] == "demo")
    assert demo_row["published"] == 1 and demo_row["edited_since_published"] is True
    text = await mops(stack, journeys, "journeys", "validate")
    assert "demo v1 (16 steps) · edited since published v1: captures use v1" in text.output

    # The edit reaches new leads only once published (the file would otherwise say v1's name).
    edit(demo, version=2, name="Demo nurture, second cut")
    second = await mops(stack, journeys, "journeys", "publish", str(demo), "--as", "sofia", "--note", "new name")
    assert second.exit_code == 0 and one_line(second).startswith("published demo v2 ("), second.output
    edit(demo, version=3, name="Never published")  # an unpublished edit: captures keep v2

    late = await stack.leads.capture(
        build_capture(
            s, email=f"late.{uuid.uuid4().hex[:6]}@acme.example", source="web_form", consent=True, journey_id="demo"
        )
    )
    assert (await stack.leads.state(lead_id=late.workflow_id)).journey_version == 2
    assert (await stack.leads.state(lead_id=early.workflow_id)).journey_version == 1

    listed = await mops(stack, journeys, "journeys", "list", "demo", "--json")
    rows = json.loads(listed.output)
    assert [(r["version"], r["published_by"], r["note"]) for r in rows] == [
        (1, "maya", "first"),
        (2, "sofia", "new name"),
    ]

    diff = await mops(stack, journeys, "journeys", "diff", "demo", "v1", "v2")
    assert diff.exit_code == 0
    assert "\n-version: 1\n" in diff.output and "\n+version: 2\n" in diff.output
    assert "\n+name: Demo nurture, second cut\n" in diff.output
    shown = await mops(stack, journeys, "journeys", "show", "demo", "2")
    assert shown.exit_code == 0 and "name: Demo nurture, second cut" in shown.output
    assert "Never published" not in shown.output

    missing = await mops(stack, journeys, "journeys", "show", "demo", "7")
    assert (
        missing.exit_code == 1 and one_line(missing) == "error: version: demo has no published v7 (published: v1, v2)"
    )
    bad = await mops(stack, journeys, "journeys", "diff", "demo", "one", "2")
    assert bad.exit_code == 2 and one_line(bad).startswith("error: old: 'one' is not a version")
    nofile = await mops(stack, journeys, "journeys", "publish", str(journeys / "nope.yaml"), "--as", "x", "--note", "y")
    assert nofile.exit_code == 2 and one_line(nofile).startswith("error: file:")
