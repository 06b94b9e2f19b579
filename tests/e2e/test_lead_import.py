"""`mops lead import`: a CSV list validated row by row as single captures are, then
captured by a LeadImport workflow against the real server, workers and sandbox.

A file with good, bad and duplicate rows (the report, the leads and their fields), an
import whose worker is killed mid-batch (resumed, nothing twice), a re-import (a no-op)
and the refusals that start nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from domain.consent import Purpose
from domain.leads import LeadSource, LeadStage
from mops.settings import Settings, get_settings
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from starter.cli import app
from starter.service.lead_imports import LeadImportService, imports_store, prepare_import
from starter.service.leads import LeadNotFound, LeadService, build_capture
from tests.conftest import daytime_journeys, eventually, make_settings
from tests.e2e.conftest import Stack
from tests.e2e.test_cli import cli_env
from workers.main import running_workers
from workflows.lead_import import LeadImportWorkflow
from workflows.lead_import_models import ImportProgress

MAP = "email=E-mail,first_name=First name,company=Company,country=Country"


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    lines = ["E-mail,First name,Company,Country", *(",".join(r) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def import_env(stack: Stack) -> dict[str, str]:
    # The CLI stages where the stack's workers read: the same imports file.
    return {**cli_env(stack), "MOPS_LEAD_IMPORTS_PATH": str(stack.settings.lead_imports_file)}


def invoke(env: dict[str, str], *args: str):
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, ["lead", "import", *args], env=env)
    finally:
        get_settings.cache_clear()


async def mails_to(admin: SandboxAdmin, email: str) -> list[dict]:
    return [e for e in await admin.effects("sendgrid", "mail.send") if email in e["summary"]["to"]]


async def contacts_of(admin: SandboxAdmin, email: str) -> list[dict]:
    return [e for e in await admin.effects("hubspot", "contact.upsert") if e["summary"].get("email") == email]


async def test_import_of_good_bad_and_duplicate_rows(stack: Stack, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    ada, bob, cara = (f"{n}.{tag}@smallshop.example" for n in ("ada", "bob", "cara"))
    known = f"known.{tag}@smallshop.example"
    # A lead that already runs: its row is a touch on its journey, not a second lead.
    before = await stack.leads.capture(build_capture(stack.settings, email=known, source="web_form", consent=True))
    file = write_csv(
        tmp_path / "event.csv",
        [
            [ada, "Ada", "Lovelace Ltd", "gb"],
            ["not-an-email", "Nobody", "", ""],
            [bob, "Bob", "", "US"],
            [ada.upper(), "Ada again", "", ""],
            [cara, "Cara", "", "Germany"],
            [known, "Known", "", ""],
            [cara.replace("cara", "cara2"), "Cara2", "", "DE"],
        ],
    )
    cara2 = cara.replace("cara", "cara2")
    env = import_env(stack)
    args = [str(file), "--map", MAP, "--journey", "default-nurture", "--consent-source", "event 2026-11"]

    dry = await _run(env, *args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run, nothing imported. 7 rows: 4 to import, 3 rejected" in dry.output
    assert (await stack.leads.state(email=known)).touches == 1, "a dry run captures nothing"

    result = await _run(env, *args, "--rate", "50")
    assert result.exit_code == 0, result.output
    assert "imported: 3 new leads, 1 touches on running journeys" in result.output
    report = [json.loads(line) for line in (tmp_path / "event.csv.rejected.jsonl").read_text().splitlines()]
    assert report == [
        {"row": 2, "reason": "email: 'n***' is not a valid email address"},
        {"row": 4, "reason": "email: the same address as row 1"},
        {"row": 5, "reason": "country: country 'Germany' must be an ISO 3166-1 alpha-2 code such as DE or US"},
    ]

    for email in (ada, bob, cara2):
        st = await stack.leads.state(email=email)
        assert (st.journey_id, st.touches, st.consent) == ("default-nurture", 1, True), email
        assert st.touch_path[0].kind == f"capture:{LeadSource.IMPORT.value}"
        assert st.consents[Purpose.EMAIL_MARKETING].source == "capture:import:event 2026-11"
    with pytest.raises(LeadNotFound):
        await stack.leads.state(email=cara)  # its row was refused: no lead
    touched = await stack.leads.state(email=known)
    assert touched.lead_id == before.lead_id and touched.touches == 2

    async def fields_written():
        found = {e: await contacts_of(stack.admin, e) for e in (ada, bob, cara2)}
        return all(found.values()) and found

    contacts = await eventually(fields_written, what="the imported leads in the CRM")
    props = contacts[ada][0]["summary"]["properties"]
    assert (props["firstname"], props["company"], props["country"]) == ("Ada", "Lovelace Ltd", "GB")
    assert contacts[bob][0]["summary"]["properties"]["firstname"] == "Bob"

    # The same file again: nothing to do, and it says so.
    again = await _run(env, *args, "--rate", "50")
    assert again.exit_code == 0, again.output
    assert "already imported:" in again.output and "(nothing to do)" in again.output
    assert (await stack.leads.state(email=known)).touches == 2
    assert (await stack.leads.state(email=ada)).touches == 1


ONCE = """
id: once-only
version: 1
name: Once only
from_email: marketing@mops.example
unsubscribe_group_id: 4242
scoring: default
handoff: {sla: 1d}
reentry: never
steps:
  - {id: hello, type: send_email, template: nurture-welcome, subject: Welcome}
  - {id: done, type: goal, outcome: welcomed}
"""


async def test_a_person_the_journey_will_not_take_again_is_a_refused_row_not_a_touch(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer, tmp_path: Path
) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(daytime_journeys(), journeys)
    (journeys / "once-only.yaml").write_text(ONCE)
    settings = make_settings(
        sandbox.url,
        dev_env.client.service_client.config.target_host,
        journeys_dir=journeys,
        lead_imports_path=tmp_path / "imports.db",
    )
    tag = uuid.uuid4().hex[:8]
    done_before, newcomer = f"done.{tag}@once.example", f"new.{tag}@once.example"
    leads = LeadService(dev_env.client, settings)
    async with SandboxAdmin(sandbox.url) as admin, running_workers(dev_env.client, settings):
        stack = Stack(dev_env.client, settings, leads, admin, sandbox.url)
        first = await leads.capture(
            build_capture(settings, email=done_before, source="web_form", consent=True, journey_id="once-only")
        )

        async def finished():
            st = await leads.state(email=done_before)
            return st.stage == LeadStage.COMPLETED and st

        await eventually(finished, what="the first run of the once-only journey ends")
        file = write_csv(tmp_path / "again.csv", [[done_before, "Done", "", ""], [newcomer, "New", "", ""]])
        result = await _run(
            import_env(stack),
            str(file),
            "--map",
            MAP,
            "--journey",
            "once-only",
            "--consent-source",
            "event 2026-11",
            "--rate",
            "50",
        )
        assert result.exit_code == 0, result.output
        report_file = tmp_path / "again.csv.rejected.jsonl"
        flat = " ".join(result.output.split())
        assert "imported: 1 new leads, 0 touches on running journeys, 1 refused by the journey's" in flat, flat
        report = [json.loads(line) for line in report_file.read_text().splitlines()]
        assert [r["row"] for r in report] == [1]
        assert report[0]["reason"].startswith("email: the journey does not take this person again"), report
        assert (await leads.state(email=newcomer)).journey_id == "once-only"
        again = await leads.state(email=done_before)
        assert again.lead_id == first.lead_id
        assert again.outcome is not None and again.outcome.startswith("re-entry refused"), again.outcome
        mails = await mails_to(admin, done_before)
        assert len(mails) == 1, "the refused person got nothing more"


async def test_import_resumes_after_a_worker_kill_without_duplicates(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer
) -> None:
    # One batch of 30 rows at 4 rows/s: a kill after the first rows and before the last
    # lands inside it, so its retry resumes from its last heartbeat, re-capturing at most
    # the rows the heartbeat had not reported.
    settings: Settings = make_settings(
        sandbox.url, dev_env.client.service_client.config.target_host, import_batch_rows=30
    )
    env = {
        **os.environ,
        **{
            f"MOPS_{k.upper()}": str(v)
            for k, v in settings.model_dump(mode="json").items()
            # Secrets dump masked: the worker keeps its defaults, as this process does.
            if isinstance(v, str | int | float) and "token" not in k and "key" not in k and v != "**********"
        },
    }

    def start_worker() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "starter.cli", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    tag = uuid.uuid4().hex[:8]
    emails = [f"row{i}.{tag}@smallshop.example" for i in range(1, 31)]
    data = ("email\n" + "\n".join(emails) + "\n").encode()
    prepared = prepare_import(
        settings,
        data,
        file_name="list.csv",
        column_map="email=email",
        journey_id="default-nurture",
        consent_source="webinar 2026-10",
    )
    leads = LeadService(dev_env.client, settings)
    imports = LeadImportService(dev_env.client, settings)
    worker = start_worker()
    try:
        started = await imports.start(prepared, rows_per_second=4)
        assert not started.already_imported

        async def some_captured() -> int:
            n = 0
            for email in emails:
                try:
                    await dev_env.client.get_workflow_handle(leads.workflow_id(email=email)).describe()
                except Exception:
                    break  # rows are captured in file order
                n += 1
            return n if n >= 3 else 0

        captured = await eventually(some_captured, timeout=60, interval=0.05, what="the first rows captured")
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert captured < len(emails), "the kill must land mid-import"
        worker = start_worker()
        handle: WorkflowHandle = dev_env.client.get_workflow_handle_for(LeadImportWorkflow.run, started.import_id)
        result: ImportProgress = await eventually(
            lambda: _finished(handle), timeout=120, what="the import finished on the new worker"
        )
        assert result.done and result.counts.captured == 30 and result.counts.started == 30, result
        attempts = [
            e.activity_task_started_event_attributes.attempt
            async for e in handle.fetch_history_events()
            if e.HasField("activity_task_started_event_attributes")
        ]
        assert max(attempts) >= 2, "the batch cut off by the kill was retried"
        async with SandboxAdmin(sandbox.url) as admin:

            async def all_welcomed():
                mails = {e: await mails_to(admin, e) for e in emails}
                return all(mails.values()) and mails

            mails = await eventually(all_welcomed, timeout=60, what="a welcome to every imported lead")
            for email in emails:
                st = await leads.state(email=email)
                assert st.touches == 1, f"{email}: captured {st.touches} times"
                assert [m["summary"]["custom_args"]["mops_step"] for m in mails[email]] == ["welcome"], email
                assert len(await contacts_of(admin, email)) == 1, f"{email}: one CRM contact"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)


async def test_a_long_import_continues_as_new_with_its_cursor(stack: Stack) -> None:
    settings = stack.settings.model_copy(update={"import_batch_rows": 2})
    emails = [f"long{i}.{uuid.uuid4().hex[:8]}@smallshop.example" for i in range(1, 6)]
    prepared = prepare_import(
        settings,
        ("email\n" + "\n".join(emails) + "\n").encode(),
        file_name="long.csv",
        column_map="email=email",
        journey_id="default-nurture",
        consent_source="fair 2026-09",
    )
    imports = LeadImportService(stack.client, settings)
    # A new run after every batch: the cursor and counts must cross each continue-as-new.
    inp = imports.start_input(prepared, rows_per_second=50).model_copy(update={"continue_as_new_after_batches": 1})
    assert await imports.stage(prepared)
    handle = await stack.client.start_workflow(
        LeadImportWorkflow.run, inp, id=inp.import_id, task_queue=settings.workflow_task_queue
    )
    result = await handle.result()
    assert result.counts.model_dump() == {"cursor": 5, "captured": 5, "started": 5, "touched": 0, "refused": 0}
    runs = [wf async for wf in stack.client.list_workflows(f"WorkflowId = '{inp.import_id}'")]
    assert len(runs) == 3, "rows 1-2, 3-4 and 5, one run each"
    for email in emails:
        assert (await stack.leads.state(email=email)).touches == 1
    status = await imports.status(inp.import_id)
    assert status.finished and status.rejections == []
    assert imports_store(settings).rows(inp.import_id, after=0, limit=10) == [], "staged rows dropped when done"


async def _finished(handle: WorkflowHandle) -> ImportProgress | None:
    from temporalio.client import WorkflowExecutionStatus

    if (await handle.describe()).status != WorkflowExecutionStatus.COMPLETED:
        return None
    return await handle.result()


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--map", "email=Mail"],
            "error: map: column 'Mail' is not in the file's header (E-mail, First name, Company, Country)",
        ),
        (
            ["--map", "email=E-mail,phone=Company"],
            "error: map: unknown field 'phone' (one of email, first_name, last_name, company, country, timezone, consent, landing_url)",
        ),
        (["--map", "first_name=First name"], "error: map: email is required (email=Column)"),
        (["--map", "email"], "error: map: 'email' is not field=Column"),
        (["--journey", "no-such-journey"], "error: journey: "),
        (["--file", "missing.csv"], "error: file: no such file "),
    ],
    ids=["unknown-column", "unknown-field", "no-email", "malformed-map", "unknown-journey", "missing-file"],
)
def test_bad_import_is_refused_with_one_line_and_starts_nothing(tmp_path: Path, args: list[str], line: str) -> None:
    file = write_csv(tmp_path / "list.csv", [["a@smallshop.example", "A", "", ""]])
    options = {"--map": MAP, "--journey": "default-nurture", "--file": str(file)}
    options.update(dict(zip(args[::2], args[1::2], strict=True)))
    if options["--file"] == "missing.csv":
        options["--file"] = str(tmp_path / "missing.csv")
    imports = tmp_path / "imports.db"
    env = {
        "MOPS_TEMPORAL_ADDRESS": "127.0.0.1:1",  # nothing may need the server to refuse
        "MOPS_JOURNEYS_DIR": str(Path(__file__).parents[2] / "journeys"),
        "MOPS_LEAD_IMPORTS_PATH": str(imports),
    }
    result = invoke(
        env,
        options.pop("--file"),
        *[x for kv in options.items() for x in kv],
        "--consent-source",
        "event 2026-11",
    )
    assert result.exit_code == 2, result.output
    assert result.output.strip().startswith(line) and len(result.output.strip().splitlines()) == 1, result.output
    assert not imports.exists(), "a refused import stages nothing"


async def _run(env: dict[str, str], *args: str):
    import asyncio

    return await asyncio.to_thread(invoke, env, *args)
