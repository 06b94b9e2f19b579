"""`mops journeys test`: the real CLI process runs a whole journey for one test contact on
the time-skipping server and a sandbox of its own, and prints what the contact received.

Each run is the installed `mops` command in a process of its own, with only the settings a
user must give (the email footer); the journeys, templates and policies are the project's.
The contact is captured on a Monday at 10:00 in its zone whatever the wall clock says, so the
offsets asserted here hold on any day at any hour.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from domain.journeys import SendEmailStep, load_journey
from domain.leads import EventType
from starter.journey_trial import TrialInputError, capture_time, parse_events
from tests.conftest import ROOT

MOPS = Path(sys.executable).parent / "mops"
RUN_TIMEOUT_S = 150.0  # a whole journey takes seconds alone; other suites share the 2 cores (pytest stops at 180)
JOURNEY = load_journey(ROOT / "journeys", "default-nurture")


def subject(step_id: str) -> str:
    step = JOURNEY.step(step_id)
    assert isinstance(step, SendEmailStep)
    return step.subject


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    def index(self, pattern: str) -> int:
        """The first line matching `pattern` (a regex); fails naming it."""
        found = [i for i, line in enumerate(self.lines) if re.search(pattern, line)]
        assert found, f"no line matches {pattern!r} in:\n{self.out}\n{self.err}"
        return found[0]


async def mops(tmp_path: Path, *args: str, footer: bool = True, **settings: str) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOPS_")}  # no developer settings
    env["MOPS_DATA_DIR"] = str(tmp_path / "data")
    env.update(settings)
    if footer:
        env["MOPS_MAIL_SENDER_POSTAL"] = "mops test, 1 Sandbox Street, 10115 Berlin, Germany"
        env["MOPS_MAIL_PREFERENCES_URL"] = "https://www.mops.example/email-preferences"
    proc = await asyncio.create_subprocess_exec(
        str(MOPS),
        *args,
        cwd=ROOT,  # journeys/, policies/ and campaigns/ as a checkout has them
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


# ------------------------------------------------------------------ whole runs


async def test_default_journey_prints_each_email_wait_and_the_end(tmp_path: Path) -> None:
    run = await mops(
        tmp_path, "journeys", "test", "default-nurture", "--email", "someone@example.com", "--first-name", "Ada"
    )
    assert run.code == 0, run.err
    assert "nothing reached a real platform" in run.out
    assert "time zone UTC (the journey's default_timezone)" in run.out

    welcome = run.index(rf"^\+0d Mon 10:00\s+email\s+welcome: “{re.escape(subject('welcome'))}”")
    assert run.lines[welcome + 1].strip() == "│ Hi Ada,", "the email's first line, personalised"
    assert any("https://www.mops.example/start?" in line for line in run.lines[welcome : welcome + 8])
    wait = run.index(r"^\+0d Mon 10:00\s+wait\s+settle-in: wait 2d$")
    assert run.lines[wait + 1].strip() == "until +2d Wed 10:00"
    case_study = run.index(rf"^\+3d Thu 09:30\s+email\s+case-study: “{re.escape(subject('case-study'))}”")
    assert welcome < wait < case_study
    assert run.lines[case_study + 1].strip() == "│ Hi Ada,"
    # No click: the wait for one times out and the branch takes the default path.
    assert run.index(r"await-click: wait for click \(at most 7d\): timed out → qualify") > case_study
    run.index(r"branch\s+qualify → buyers-guide \(default\)")
    assert "demo-offer" not in run.out
    run.index(r"\s+end\s+journey completed, outcome nurture_complete$")
    assert run.index(r"^stage completed, score \d+, segment \S+, emails sent 7$") == len(run.lines) - 1


async def test_clicks_move_the_score_and_the_path(tmp_path: Path) -> None:
    run = await mops(
        tmp_path,
        "journeys",
        "test",
        "default-nurture",
        "--email",
        "someone@example.com",
        "--events",
        "click@2d,click@4d",
        "--json",
    )
    assert run.code == 0, run.err
    result: dict[str, Any] = json.loads(run.out)
    assert result["simulated"] is True and "nothing reached a real platform" in result["platforms"]
    entries = result["entries"]
    first, second = (e for e in entries if e["kind"] == "event")
    # The first click, on the welcome's link: points, but it comes before the wait for a click.
    assert first["offset"] == "+2d Wed 10:00" and first["score_after"] > first["score_before"]
    assert "https://www.mops.example/start?" in first["details"][0]
    # The second, on the case study's link, during the wait for a click: the demo offer.
    assert second["offset"] == "+4d Fri 10:00" and second["score_after"] > second["score_before"]
    assert "/customers/northwind?" in second["details"][0]
    await_click = next(e for e in entries if e["step_id"] == "await-click")
    assert await_click["text"].endswith("click seen → demo-offer"), await_click
    demo = next(e for e in entries if e["kind"] == "email" and e["step_id"] == "demo-offer")
    assert demo["email"]["subject"] == subject("demo-offer")
    assert demo["email"]["first_lines"][0] == "Hi there,", "no first name given: the template's fallback"
    assert entries.index(second) < entries.index(demo)
    assert result["end"]["kind"] == "completed"


async def test_an_mql_stops_at_the_hand_off_to_sales(tmp_path: Path) -> None:
    run = await mops(
        tmp_path, "journeys", "test", "default-nurture", "--email", "ada@acme.example", "--events", "form@1d,reply@2d"
    )
    assert run.code == 0, run.err
    form = run.index(r"^\+1d Tue 10:00\s+event\s+form \(--events form@1d\): score \d+ → \d+$")
    assert run.index(r"stage\s+stage → mql$") > form
    assert run.index(r"stage\s+stage → sales_assigned$") > form
    end = run.index(r"\s+end\s+MQL handed to sales: owner \S+, deal \S+; it now waits for the owner's decision")
    assert "the test stops here" in run.lines[end]
    assert any("not sent: reply@2d" in line for line in run.lines[end:])
    assert any(re.search(r"chat to \S+: New MQL for you", line) for line in run.lines[end:])


async def test_an_email_that_cannot_go_out_fails_the_test_and_says_why(tmp_path: Path) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(ROOT / "journeys", journeys)
    template = journeys / "templates" / "nurture-case-study.txt"
    template.write_text(template.read_text().replace('first_name | default("there")', "frist_name"))
    run = await mops(
        tmp_path,
        "journeys",
        "test",
        "default-nurture",
        "--email",
        "someone@example.com",
        MOPS_JOURNEYS_DIR=str(journeys),
    )
    assert run.code == 1, run.out + run.err
    run.index(r"email\s+welcome: ")
    note = run.index(r"^\+3d Thu 09:30\s+note\s+step case-study: email parked, not sent \(.*'frist_name' is undefined")
    end = run.index(r"\s+end\s+email step case-study parked, nothing sent in its place")
    assert note < end and "case-study: “" not in run.out, "nothing went out in its place"
    # The activity's failure is one line on stderr, not a traceback.
    assert "Traceback" not in run.err and "warning: activity email.send (attempt 1) failed: EmailUnsendable" in run.err


# ------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["nope", "--email", "a@b.example"], "journey: "),
        (["default-nurture", "--email", "not-an-email"], "email: "),
        (["default-nurture", "--email", "a@b.example", "--events", "clack@2d"], "events: 'clack@2d': type"),
        (["default-nurture", "--email", "a@b.example", "--events", "click@soon"], "events: 'click@soon': invalid"),
        (["default-nurture", "--email", "a@b.example", "--events", "click"], "events: 'click': write TYPE@OFFSET"),
        (["default-nurture", "--email", "a@b.example", "--events", "click@100d"], "events: 'click@100d' is at or"),
        (["default-nurture", "--email", "a@b.example", "--tz", "Mars/Olympus"], "tz: "),
        (["default-nurture", "--email", "a@b.example", "--horizon", "0d"], "horizon: "),
        (["default-nurture", "--email", "a@b.example", "--country", "Germany"], "country: "),
    ],
)
async def test_bad_input_is_one_line_naming_the_field(tmp_path: Path, args: list[str], field: str) -> None:
    run = await mops(tmp_path, "journeys", "test", *args)
    assert run.code == 2, run.out + run.err
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}"), run.err
    assert run.out == "", "nothing ran: no timeline, not even its header"


async def test_without_the_email_footer_it_refuses_like_the_workers(tmp_path: Path) -> None:
    run = await mops(tmp_path, "journeys", "test", "default-nurture", "--email", "a@b.example", footer=False)
    assert run.code == 2 and run.err.startswith("error: MOPS_MAIL_SENDER_POSTAL: required"), run.err
    assert run.out == ""


# ------------------------------------------------------------ without a server


def test_events_are_parsed_in_time_order() -> None:
    events = parse_events("reply@5d, open@1h,click@2d")
    assert [(e.type, e.offset.total_seconds()) for e in events] == [
        (EventType.OPEN, 3600),
        (EventType.CLICK, 2 * 86400),
        (EventType.REPLY, 5 * 86400),
    ]
    assert parse_events(None) == parse_events(" ") == []
    with pytest.raises(TrialInputError, match=r"^events: '@2d': write TYPE@OFFSET"):
        parse_events("click@1d,@2d")


@pytest.mark.parametrize("now", ["2026-12-07T09:59:00+00:00", "2026-12-07T10:00:00+00:00", "2026-12-12T23:00:00+00:00"])
def test_the_contact_is_captured_on_a_monday_at_ten_local_after_now(now: str) -> None:
    at = datetime.fromisoformat(now).astimezone(UTC)
    captured = capture_time(at, JOURNEY, "America/New_York")
    local = captured.astimezone(captured.tzinfo)
    assert captured > at and (local.weekday(), local.hour, local.minute) == (0, 10, 0)
    assert (captured - at).days < 8
    assert local.date() not in JOURNEY.holidays
