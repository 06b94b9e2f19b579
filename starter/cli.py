"""The `mops` command line.

Bad input gets one line on stderr and exit code 2, an unreachable server exit 1,
never a traceback; nothing is started when input is refused. `--json` prints
machine-readable output for scripts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from domain.journeys import JourneyError, validate_all
from domain.leads import EventType, LeadSource
from starter.cli_auth import auth_app
from starter.cli_common import (
    CliError,
    EmailOpt,
    JsonOpt,
    LeadOpt,
    emit,
    fail,
    out,
    run_async,
    settings,
    temporal_client,
    upgrade_database,
    worker_config,
    worker_settings,
)
from starter.cli_experiments import register as register_experiments
from starter.cli_migrate import register as register_migrate
from starter.cli_privacy import register as register_privacy
from starter.cli_reports import report_app
from starter.cli_simulate import register as register_simulate
from starter.service.campaigns import CampaignService
from starter.service.content import ContentInputError, ContentService, read_brief_file
from starter.service.content import prepare as prepare_content
from starter.service.leads import LeadService, build_capture, build_event
from workflows.lead_models import SalesDecision, SalesDecisionKind

app = typer.Typer(
    help="mops: durable marketing-operations workflows on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
lead_app = typer.Typer(help="Capture leads and drive their journeys.", no_args_is_help=True)
journeys_app = typer.Typer(help="Nurture journeys (YAML under journeys/).", no_args_is_help=True)
content_app = typer.Typer(
    help="Content from brief to published: checks, approvals, distribution.", no_args_is_help=True
)
app.add_typer(lead_app, name="lead")
app.add_typer(content_app, name="content")
app.add_typer(journeys_app, name="journeys")
campaign_app = typer.Typer(help="Multi-channel campaigns: launch, monitor, stop.", no_args_is_help=True)
budget_app = typer.Typer(help="Budget reallocation between a campaign's paid channels.", no_args_is_help=True)
app.add_typer(campaign_app, name="campaign")
app.add_typer(budget_app, name="budget")


async def lead_service() -> LeadService:
    return LeadService(await temporal_client(), settings())


async def content_service() -> ContentService:
    return ContentService(await temporal_client(), settings())


async def campaign_service() -> CampaignService:
    return CampaignService(await temporal_client(), settings())


TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds --wait-for waits at most.", min=0)]


async def _wait_for(read, wanted, stage_of, terminal, what: str, timeout: float):
    """Read until `stage_of(view) == wanted`; refused with exit 1 when it ends elsewhere or
    the time is up. Work in the workflows goes on between two commands (checks, publishing),
    so a script waits for the stage it needs instead of sleeping."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        view = await read()
        stage = stage_of(view)
        if stage == wanted:
            return view
        if stage in terminal:
            raise CliError(f"{what} ended {stage.value}, not {wanted.value}", 1)
        if loop.time() >= deadline:
            raise CliError(f"{what} is {stage.value}, not {wanted.value}, after {timeout:g}s", 1)
        await asyncio.sleep(0.2)


def _stage(enum, value: str | None, field: str):
    """A --wait-for value as `enum`, refused (exit 2, naming the field) before anything connects."""
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        raise CliError(f"{field}: one of {', '.join(e.value for e in enum)}", 2) from None


# ---------------------------------------------------------------------- leads


@lead_app.command("capture")
@run_async("mops lead capture")
async def lead_capture(
    email: Annotated[str, typer.Option(help="Email address (normalised; never used as an id).")],
    source: Annotated[str, typer.Option(help="Where the lead came from: " + ", ".join(s.value for s in LeadSource))],
    first_name: Annotated[str | None, typer.Option()] = None,
    last_name: Annotated[str | None, typer.Option()] = None,
    company: Annotated[str | None, typer.Option()] = None,
    country: Annotated[str | None, typer.Option(help="ISO 3166-1 alpha-2, e.g. DE")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone, e.g. Europe/Berlin")] = None,
    consent: Annotated[bool, typer.Option("--consent/--no-consent", help="Marketing consent given.")] = False,
    journey: Annotated[str | None, typer.Option(help="Journey id (default from MOPS_DEFAULT_JOURNEY).")] = None,
    landing_url: Annotated[
        str | None,
        typer.Option(
            help="The link the lead arrived by; its utm_* parameters are recorded for attribution, its ad "
            "click ids (gclid, wbraid, gbraid, fbclid) for conversion uploads."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Capture a lead: starts its journey, or records a touch if it already runs."""
    svc_settings = settings()
    # Validate before connecting: bad input starts nothing and needs no server.
    capture = build_capture(
        svc_settings,
        email=email,
        source=source,
        first_name=first_name,
        last_name=last_name,
        company=company,
        country=country,
        timezone=timezone,
        consent=consent,
        journey_id=journey,
        landing_url=landing_url,
    )
    result = await (await lead_service()).capture(capture)
    emit(
        result,
        as_json,
        lambda: out.print(
            f"{'started' if result.created else 'touch recorded on'} [bold]{result.workflow_id}[/] "
            f"(stage {result.stage.value}, touches {result.touches})\n"
            f"Web UI: {svc_settings.workflow_url(result.workflow_id)}"
        ),
    )


@lead_app.command("event")
@run_async("mops lead event")
async def lead_event(
    type: Annotated[str, typer.Option("--type", help=", ".join(t.value for t in EventType))],
    email: EmailOpt = None,
    lead: LeadOpt = None,
    event_id: Annotated[str | None, typer.Option("--id", help="Event id for deduplication.")] = None,
    detail: Annotated[str | None, typer.Option(help="e.g. the link or page")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record an engagement event (open, click, visit, form, reply, ...)."""
    event = build_event(type=type, event_id=event_id, detail=detail)
    svc = await lead_service()
    wf_id = svc.workflow_id(email=email, lead_id=lead)
    await svc.record_event(event, lead_id=wf_id)
    emit(
        {"workflow_id": wf_id, "event_id": event.event_id},
        as_json,
        lambda: out.print(f"{event.type.value} recorded on [bold]{wf_id}[/]"),
    )


@lead_app.command("unsubscribe")
@run_async("mops lead unsubscribe")
async def lead_unsubscribe(email: EmailOpt = None, lead: LeadOpt = None, as_json: JsonOpt = False) -> None:
    """Opt the lead out: the journey stops at once and every platform is told."""
    from starter.service.privacy import PrivacyService

    svc = await lead_service()
    wf_id = svc.workflow_id(email=email, lead_id=lead)
    privacy = PrivacyService(await temporal_client(), settings())
    try:  # email suppression first (the send gate), then CRM, ad audience, CDP
        await privacy.opt_out(email=email, lead_id=None if email else wf_id, source="cli")
    finally:
        await privacy.aclose()
    emit(
        {"workflow_id": wf_id, "unsubscribed": True},
        as_json,
        lambda: out.print(f"unsubscribe sent to [bold]{wf_id}[/]"),
    )


@lead_app.command("decide")
@run_async("mops lead decide")
async def lead_decide(
    owner: Annotated[str, typer.Option(help="The deciding sales owner's CRM id.")],
    accept: Annotated[bool, typer.Option("--accept/--reject", help="Accept (convert) or reject (recycle).")],
    email: EmailOpt = None,
    lead: LeadOpt = None,
    reason: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record sales' decision on a handed-off lead (as a CRM webhook would). Refused, with
    exit code 3 and the reason, unless you are the lead's assigned owner and it waits for sales."""
    svc = await lead_service()
    wf_id = svc.workflow_id(email=email, lead_id=lead)
    decision = SalesDecision(
        decision=SalesDecisionKind.ACCEPTED if accept else SalesDecisionKind.REJECTED, owner_id=owner, reason=reason
    )
    result = await svc.sales_decision(decision, lead_id=wf_id)
    emit(
        {"workflow_id": wf_id, "decision": result.decision.value, "owner_id": result.owner_id},
        as_json,
        lambda: out.print(f"{result.decision.value} by owner {result.owner_id} recorded for [bold]{wf_id}[/]"),
    )


@lead_app.command("show")
@run_async("mops lead show")
async def lead_show(
    email: EmailOpt = None,
    lead: LeadOpt = None,
    wait_for: Annotated[
        str | None, typer.Option("--wait-for", help="Wait until the lead reaches this stage, e.g. sales_assigned.")
    ] = None,
    timeout: TimeoutOpt = 60.0,
    as_json: JsonOpt = False,
) -> None:
    """Show a lead's stage, score with reasons, owner and next step, and the conversions
    sent to the ad platforms (its stages' and its won deals')."""
    from domain.leads import LeadStage
    from starter.render import lead_panel

    wanted = _stage(LeadStage, wait_for, "wait_for")
    svc = await lead_service()
    wf_id = svc.workflow_id(email=email, lead_id=lead)
    if wanted is None:
        state = await svc.state(lead_id=wf_id)
    else:
        ended = {LeadStage.UNSUBSCRIBED, LeadStage.DISQUALIFIED, LeadStage.COMPLETED}
        read = functools.partial(svc.state, lead_id=wf_id)
        state = await _wait_for(read, wanted, lambda v: v.stage, ended, f"lead {wf_id}", timeout)
    deals = await svc.deal_conversions(lead_id=wf_id)  # won deals sent after the journey, from the store
    emit(
        {**state.model_dump(mode="json"), "deal_conversions": [d.model_dump(mode="json") for d in deals]},
        as_json,
        lambda: out.print(lead_panel(state, settings().workflow_url(wf_id), deals)),
    )


@lead_app.command("import")
@run_async("mops lead import")
async def lead_import(
    file: Annotated[Path, typer.Argument(help="The CSV file (UTF-8, a header row).")],
    column_map: Annotated[
        str,
        typer.Option(
            "--map",
            help="Which column fills each capture field: email=Email,first_name=First,... (fields: "
            "email, first_name, last_name, company, country, timezone, consent, landing_url).",
        ),
    ],
    journey: Annotated[str, typer.Option(help="The journey every row's lead starts.")],
    consent_source: Annotated[
        str | None,
        typer.Option(
            "--consent-source",
            help="Where this list's marketing consent was given (e.g. 'event 2026-11'): every row consents.",
        ),
    ] = None,
    rate: Annotated[
        float | None, typer.Option(help="Captures per second (default MOPS_IMPORT_ROWS_PER_SECOND).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and write the report; import nothing.")] = False,
    report: Annotated[
        Path | None, typer.Option(help="Where the rejected rows go (JSON Lines; default FILE.rejected.jsonl).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Show progress until the import is done.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Import a list of leads: every row validated as a single capture is (one report line
    per rejected row), then captured at a set rate by a resumable LeadImport workflow. The
    same file into the same journey again does nothing."""
    from starter.service.lead_imports import (
        LeadImportService,
        prepare_import,
        read_import_file,
        report_path,
        write_report,
    )

    svc_settings = settings()
    prepared = prepare_import(
        svc_settings,
        read_import_file(file),
        file_name=file.name,
        column_map=column_map,
        journey_id=journey,
        consent_source=consent_source,
    )
    report = report or report_path(file)
    write_report(report, prepared.rejections)
    counts = {
        "import_id": prepared.import_id,
        "rows": prepared.rows_read,
        "accepted": prepared.accepted,
        "rejected": len(prepared.rejections),
        "report": str(report),
    }
    summary = (
        f"{prepared.rows_read} rows: {prepared.accepted} to import, {len(prepared.rejections)} rejected "
        f"(report: {report})"
    )
    if dry_run:
        emit({**counts, "dry_run": True}, as_json, lambda: out.print(f"dry run, nothing imported. {summary}"))
        return
    svc = LeadImportService(await temporal_client(), svc_settings)
    started = await svc.start(prepared, rows_per_second=rate)
    if started.already_imported:
        emit(
            {**counts, "already_imported": True},
            as_json,
            lambda: out.print(f"already imported: [bold]{started.import_id}[/] (nothing to do). {summary}"),
        )
        return
    if not as_json:
        out.print(f"importing [bold]{started.import_id}[/] at {started.rows_per_second:g} rows/s. {summary}")
        out.print(f"Web UI: {svc_settings.workflow_url(started.import_id)}")
    if not wait:
        emit({**counts, "already_imported": False}, as_json, lambda: None)
        return
    status = await _import_progress(svc, started.import_id, started.accepted, show=not as_json)
    c = status.progress.counts
    refused = ""
    if c.refused:
        # Rows the journey turned away while capturing join the validation's in the report.
        write_report(report, status.rejections)
        refused = f", {c.refused} refused by the journey's re-entry policy (report: {report})"
    emit(
        {**counts, "already_imported": False, **c.model_dump()},
        as_json,
        lambda: out.print(f"imported: {c.started} new leads, {c.touched} touches on running journeys{refused}"),
    )


async def _import_progress(svc, import_id: str, total: int, *, show: bool):
    """Poll the import until it is done, with a progress bar on a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("capturing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=out, disable=not show, transient=False) as bar:
        task = bar.add_task("import", total=total)
        while True:
            status = await svc.status(import_id)
            bar.update(task, completed=status.progress.counts.captured)
            if status.finished:
                return status
            await asyncio.sleep(0.5)


# -------------------------------------------------------------------- content

ContentIdArg = Annotated[str, typer.Argument(help="The content id (as in the brief).")]
AsOpt = Annotated[str, typer.Option("--as", help="Your person id in the directory (policies/directory.yaml).")]


@content_app.command("submit")
@run_async("mops content submit")
async def content_submit(
    brief_file: Annotated[Path | None, typer.Argument(help="Brief as YAML or JSON; flags override its fields.")] = None,
    content_id: Annotated[str | None, typer.Option("--id")] = None,
    title: Annotated[str | None, typer.Option()] = None,
    type: Annotated[str | None, typer.Option("--type", help="blog, email, social, landing_page")] = None,
    channel: Annotated[list[str] | None, typer.Option(help="cms, linkedin, email (repeat)")] = None,
    body: Annotated[str | None, typer.Option(help="Markdown body")] = None,
    body_file: Annotated[Path | None, typer.Option(help="Markdown body from a file")] = None,
    author: Annotated[str | None, typer.Option()] = None,
    approver: Annotated[list[str] | None, typer.Option(help="Approvers of a single review stage (repeat)")] = None,
    audience: Annotated[str | None, typer.Option()] = None,
    region: Annotated[str | None, typer.Option()] = None,
    due: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    publish_at: Annotated[str | None, typer.Option(help="ISO time with zone, e.g. 2026-12-01T09:00:00+01:00")] = None,
    email_list: Annotated[list[str] | None, typer.Option(help="SendGrid list id (repeat)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a brief: the draft goes to the CMS, checks run, approvers are asked."""
    data = read_brief_file(brief_file) if brief_file else {}
    if body_file is not None:
        try:
            body = body_file.read_text()
        except OSError as e:
            raise ContentInputError(f"body_file: cannot read {body_file}: {e.strerror}") from None
    flags = {
        "content_id": content_id,
        "title": title,
        "type": type,
        "channels": channel or None,
        "body": body,
        "author": author,
        "audience": audience,
        "region": region,
        "due": due,
        "publish_at": publish_at,
        "email_list_ids": email_list or None,
    }
    data.update({k: v for k, v in flags.items() if v is not None})
    if approver:
        data["approval"] = [{"name": "review", "approvers": approver, "mode": "all"}]
    inp = prepare_content(settings(), data)  # validated before connecting: bad briefs start nothing
    svc = await content_service()
    wf_id, created = await svc.submit(inp)
    emit(
        {"workflow_id": wf_id, "created": created, "stages": [s.model_dump(mode="json") for s in inp.stages]},
        as_json,
        lambda: out.print(
            f"{'submitted' if created else 'already running:'} [bold]{wf_id}[/] · approval: "
            + " → ".join(f"{s.name} ({s.mode.value}: {', '.join(s.approvers)})" for s in inp.stages)
            + f"\nWeb UI: {settings().workflow_url(wf_id)}"
        ),
    )


def _decision_command(kind: str):
    async def command(
        content_id: ContentIdArg,
        as_: AsOpt,
        comment: Annotated[str | None, typer.Option()] = None,
        revision: Annotated[int | None, typer.Option(help="Defaults to the current revision.")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        svc = await content_service()
        res = await svc.decide(content_id, approver=as_, kind=kind, comment=comment, revision=revision)
        emit(
            res,
            as_json,
            lambda: out.print(
                f"{kind.replace('_', ' ')} recorded on revision {res.revision} in {res.stage}; "
                f"stage is now {res.outcome}"
            ),
        )

    return command


for _name, _kind, _help in (
    ("approve", "approve", "Approve the current revision."),
    ("reject", "reject", "Reject (give --comment with the reason)."),
    ("request-changes", "request_changes", "Ask the author for changes (--comment)."),
):
    content_app.command(_name, help=_help)(run_async(f"mops content {_name}")(_decision_command(_kind)))


@content_app.command("revise")
@run_async("mops content revise")
async def content_revise(
    content_id: ContentIdArg,
    as_: AsOpt,
    body_file: Annotated[Path | None, typer.Option(help="New Markdown body")] = None,
    title: Annotated[str | None, typer.Option()] = None,
    note: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a new revision after changes were requested; checks and review run again."""
    from workflows.content_models import Revision

    body = None
    if body_file is not None:
        try:
            body = body_file.read_text()
        except OSError as e:
            raise ContentInputError(f"body_file: cannot read {body_file}: {e.strerror}") from None
    svc = await content_service()
    revision = await svc.revise(content_id, Revision(author=as_, body=body, title=title, note=note))
    emit({"revision": revision}, as_json, lambda: out.print(f"revision {revision} submitted"))


@content_app.command("retract")
@run_async("mops content retract")
async def content_retract(
    content_id: ContentIdArg,
    as_: AsOpt,
    reason: Annotated[str, typer.Option(help="Why it comes down.")],
    as_json: JsonOpt = False,
) -> None:
    """Unpublish everywhere it went out (idempotent)."""
    svc = await content_service()
    await svc.retract(content_id, requested_by=as_, reason=reason)
    emit({"retract": "requested"}, as_json, lambda: out.print("retract requested"))


@content_app.command("show")
@run_async("mops content show")
async def content_show(
    content_id: ContentIdArg,
    wait_for: Annotated[
        str | None, typer.Option("--wait-for", help="Wait until the item reaches this stage, e.g. in_review.")
    ] = None,
    timeout: TimeoutOpt = 60.0,
    as_json: JsonOpt = False,
) -> None:
    """Stage, findings, each decision, per-channel outcome and links."""
    from starter.render import content_panel
    from workflows.content_models import TERMINAL_CONTENT, ContentStage

    wanted = _stage(ContentStage, wait_for, "wait_for")
    svc = await content_service()
    if wanted is None:
        view = await svc.state(content_id)
    else:
        read = functools.partial(svc.state, content_id)
        view = await _wait_for(read, wanted, lambda v: v.stage, TERMINAL_CONTENT, f"content {content_id}", timeout)
    emit(view, as_json, lambda: out.print(content_panel(view, settings().workflow_url(f"content-{content_id}"))))


# ------------------------------------------------------------------- journeys


@journeys_app.command("validate")
def journeys_validate(as_json: JsonOpt = False) -> None:
    """Validate every journey file and the emails it sends (templates render for a lead we
    know nothing about, brand rules hold); the first problem is printed as file: field: reason
    or file:line: reason, brand warnings after the journey's line."""
    from activities.email_templates import TemplateProblem, check_journey_emails, validation_templates
    from domain.brand import BrandRulesError, load_brand_rules
    from starter.service.journeys import file_status

    s = settings()
    templates = validation_templates(s.email_templates_path, s.mail_sender_postal, s.mail_preferences_url)
    try:
        specs = validate_all(s.journeys_dir)
        rules = load_brand_rules(s.policies_dir / "brand.yaml")
        warnings = {j.id: check_journey_emails(j, s.journeys_dir / f"{j.id}.yaml", templates, rules) for j in specs}
    except (JourneyError, BrandRulesError, TemplateProblem) as e:
        fail(str(e))

    status = {j.id: file_status(s, j) for j in specs}

    def human() -> None:
        for j in specs:
            out.print(
                f"ok  {j.id} v{j.version} ({len(j.steps)} steps) · {status[j.id].describe()}",
                highlight=False,
                soft_wrap=True,
            )
            for line in warnings[j.id]:
                out.print(f"    warning: {line}", highlight=False, markup=False, soft_wrap=True)

    emit(
        [
            {
                "id": j.id,
                "version": j.version,
                "steps": len(j.steps),
                "warnings": warnings[j.id],
                "published": status[j.id].published,
                "edited_since_published": status[j.id].edited,
            }
            for j in specs
        ],
        as_json,
        human,
    )


def _version_row(v) -> dict:
    return {
        "journey": v.journey_id,
        "version": v.version,
        "fingerprint": v.fingerprint,
        "published_at": v.published_at.isoformat(timespec="seconds"),
        "published_by": v.published_by,
        "note": v.note,
    }


@journeys_app.command("publish")
def journeys_publish(
    file: Annotated[Path, typer.Argument(help="The journey file, e.g. journeys/demo.yaml.")],
    by: Annotated[str, typer.Option("--as", help="Who publishes (recorded with the version).")],
    note: Annotated[str, typer.Option("--note", help="What changed and why (recorded with the version).")],
    as_json: JsonOpt = False,
) -> None:
    """Publish a journey file as an immutable version: new captures pin it from now on,
    running leads keep theirs. The same content again answers the version it already has."""
    from starter.service.journeys import publish

    with _service_errors():
        done = publish(settings(), file, by=by, note=note)
    v = done.version
    emit(
        {**_version_row(v), "new": done.new},
        as_json,
        lambda: out.print(
            f"published {v.journey_id} v{v.version} ({v.fingerprint[:12]})"
            if done.new
            else f"unchanged: {v.journey_id} v{v.version} is already this content ({v.fingerprint[:12]})",
            highlight=False,
        ),
    )


@journeys_app.command("list")
def journeys_list(
    journey: Annotated[str | None, typer.Argument(help="One journey id (default: all).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The published versions: number, fingerprint, who, when and the change note."""
    from starter.service.journeys import history

    rows = [_version_row(v) for v in history(settings(), journey)]

    def human() -> None:
        if not rows:
            out.print("no published versions" + (f" of {journey}" if journey else ""), highlight=False)
        for r in rows:
            out.print(
                f"{r['journey']} v{r['version']}  {r['fingerprint'][:12]}  {r['published_at']}  "
                f"{r['published_by']}: {r['note']}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )

    emit(rows, as_json, human)


@journeys_app.command("show")
def journeys_show(
    journey: Annotated[str, typer.Argument(help="The journey id.")],
    version: Annotated[str, typer.Argument(help="The published version (3 or v3).")],
    as_json: JsonOpt = False,
) -> None:
    """A published version's source, as it was published."""
    from starter.service.journeys import parse_version
    from starter.service.journeys import version as get_version

    with _service_errors():
        v = get_version(settings(), journey, parse_version(version, "version"))
    emit({**_version_row(v), "source": v.source}, as_json, lambda: sys.stdout.write(v.source))


@journeys_app.command("diff")
def journeys_diff(
    journey: Annotated[str, typer.Argument(help="The journey id.")],
    old: Annotated[str, typer.Argument(help="The older version.")],
    new: Annotated[str, typer.Argument(help="The newer version.")],
) -> None:
    """A unified diff between two published versions."""
    from starter.service.journeys import diff, parse_version

    with _service_errors():
        text = diff(settings(), journey, parse_version(old, "old"), parse_version(new, "new"))
    sys.stdout.write(text or f"{journey} {old} and {new} have the same source\n")


@journeys_app.command("stats")
def journeys_stats(
    journey: Annotated[str, typer.Argument(help="The journey id.")],
    version: Annotated[str | None, typer.Option("--version", help="One version (3 or v3); default: every one.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Per step and variant: leads entered, left there, met a goal there, converted, and the
    emails, opens, clicks and replies of that step, as the last analytics collection read them."""
    from starter.render import journey_stats_table
    from starter.service.journey_stats import journey_stats
    from starter.service.journeys import parse_version

    with _service_errors():
        view = journey_stats(settings(), journey, parse_version(version, "version") if version else None)

    def human() -> None:
        if not view.steps:
            out.print(f"no collected leads of {journey}; run `mops report collect` first", highlight=False)
        else:
            out.print(journey_stats_table(view))

    emit(view, as_json, human)


@contextlib.contextmanager
def _service_errors():
    """The services' refusals as one line and their exit code (for the synchronous commands)."""
    from starter.service.errors import failure

    try:
        yield
    except Exception as e:
        answer = failure(e)
        if answer is None:
            raise
        fail(answer.message, answer.exit_code)


@journeys_app.command("preview")
def journeys_preview(
    journey: Annotated[str, typer.Argument(help="The journey id (as its file name).")],
    step: Annotated[str, typer.Option("--step", help="The id of the email step.")],
    lead: Annotated[Path | None, typer.Option("--lead", help="YAML of lead fields; none: an unknown lead.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Where the .html and .txt go.")] = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """Render one journey email for a sample lead: write its HTML and text, print the
    subject, preheader and brand findings."""
    from starter.email_preview import PreviewError, preview

    try:
        p = preview(settings(), journey, step, lead, out_dir)
    except PreviewError as e:
        fail(str(e))

    def human() -> None:
        out.print(f"subject:   {p.message.subject}", highlight=False, markup=False, soft_wrap=True)
        out.print(f"preheader: {p.message.preheader}", highlight=False, markup=False, soft_wrap=True)
        out.print(f"wrote {p.html_file} and {p.text_file}", highlight=False, markup=False, soft_wrap=True)
        for f in p.findings:
            out.print(f"{f.severity.value}: {f.rule}: {f.message}", highlight=False, markup=False, soft_wrap=True)
        if not p.findings:
            out.print("no brand findings")

    data = {
        "subject": p.message.subject,
        "preheader": p.message.preheader,
        "html_file": str(p.html_file),
        "text_file": str(p.text_file),
        "findings": [f.model_dump(mode="json") for f in p.findings],
    }
    emit(data, as_json, human)


@journeys_app.command("test")
def journeys_test(
    journey: Annotated[str, typer.Argument(help="The journey id (as its file name).")],
    email: Annotated[str, typer.Option("--email", help="The test contact's email address.")],
    events: Annotated[
        str | None,
        typer.Option(
            "--events",
            help="What the contact does and when after capture, e.g. click@2d,reply@5d "
            "(" + ", ".join(t.value for t in EventType) + "); a click names the last email's first link.",
        ),
    ] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="The contact's IANA time zone; default the journey's.")] = None,
    horizon: Annotated[str, typer.Option(help="Stop after this long if the journey has not ended.")] = "90d",
    first_name: Annotated[str | None, typer.Option()] = None,
    last_name: Annotated[str | None, typer.Option()] = None,
    company: Annotated[str | None, typer.Option()] = None,
    country: Annotated[str | None, typer.Option(help="ISO 3166-1 alpha-2, e.g. DE")] = None,
    source: Annotated[
        str, typer.Option(help="Where the contact came from: " + ", ".join(s.value for s in LeadSource))
    ] = "web_form",
    as_json: JsonOpt = False,
) -> None:
    """Test a journey with a contact: the whole journey on the time-skipping Temporal server
    against a sandbox started for the run (nothing reaches a real platform), in seconds;
    prints each email, wait, branch, stage change and the end. Exits 1 when an email step
    parks (its message cannot go out as it is), after printing the timeline."""
    from starter.journey_trial import TrialError, TrialInputError, prepare, print_timeline, run_trial

    s = worker_settings()  # the emails carry the footer the workers require
    try:
        plan = prepare(
            s,
            journey_id=journey,
            email=email,
            events=events,
            timezone=tz,
            horizon=horizon,
            first_name=first_name,
            last_name=last_name,
            company=company,
            country=country,
            source=source,
        )
    except TrialInputError as e:
        fail(str(e))
    try:
        result = asyncio.run(run_trial(s, plan))
    except TrialError as e:
        fail(str(e), 1)
    emit(result, as_json, lambda: print_timeline(out, result))
    if result.end.kind == "parked":  # an email that cannot go out fails the test, after showing why
        raise typer.Exit(1)


# ---------------------------------------------------------------------- stack


# ------------------------------------------------------------------ campaigns

CampaignIdArg = Annotated[str, typer.Argument(help="The campaign id (as in its file).")]


@campaign_app.command("launch")
@run_async("mops campaign launch")
async def campaign_launch(
    campaign_file: Annotated[Path, typer.Argument(help="Campaign YAML (see campaigns/example.yaml).")],
    as_json: JsonOpt = False,
) -> None:
    """Validate the file, start the campaign and wait for its preflight (ad account currencies)."""
    from datetime import UTC, datetime

    from starter.service.campaigns import campaign_workflow_id, prepare

    inp = prepare(settings(), campaign_file, now=datetime.now(UTC))  # bad files start nothing
    svc = await campaign_service()
    result = await svc.launch(inp)
    wf_id = campaign_workflow_id(inp.spec.id)
    if not result.ok:
        raise CliError("refused at preflight: " + "; ".join(result.problems), 2)
    emit(
        {"workflow_id": wf_id, **result.model_dump(mode="json")},
        as_json,
        lambda: out.print(
            f"launched [bold]{wf_id}[/] · status {result.status.value}\nWeb UI: {settings().workflow_url(wf_id)}"
        ),
    )


@campaign_app.command("show")
@run_async("mops campaign show")
async def campaign_show(
    campaign_id: CampaignIdArg,
    wait_for: Annotated[
        str | None, typer.Option("--wait-for", help="Wait until the campaign reaches this status, e.g. scheduled.")
    ] = None,
    timeout: TimeoutOpt = 60.0,
    as_json: JsonOpt = False,
) -> None:
    """Per-channel state and figures, pacing, KPIs, alerts, budget changes."""
    from starter.render import campaign_panel
    from workflows.campaign_models import TERMINAL_CAMPAIGN, CampaignStatus

    wanted = _stage(CampaignStatus, wait_for, "wait_for")
    svc = await campaign_service()
    if wanted is None:
        view = await svc.state(campaign_id)
    else:
        read = functools.partial(svc.state, campaign_id)
        view = await _wait_for(read, wanted, lambda v: v.status, TERMINAL_CAMPAIGN, f"campaign {campaign_id}", timeout)
    emit(view, as_json, lambda: out.print(campaign_panel(view, settings().workflow_url(f"campaign-{campaign_id}"))))


@campaign_app.command("stop")
@run_async("mops campaign stop")
async def campaign_stop(
    campaign_id: CampaignIdArg, as_: AsOpt, reason: Annotated[str, typer.Option()] = "stopped by request"
) -> None:
    """End the campaign now: every ad is paused and the final report written."""
    await (await campaign_service()).stop(campaign_id, requested_by=as_, reason=reason)
    out.print(f"stop requested for campaign-{campaign_id}")


def _campaign_decision(kind: str):
    async def command(
        campaign_id: CampaignIdArg,
        as_: AsOpt,
        comment: Annotated[str | None, typer.Option()] = None,
        as_json: JsonOpt = False,
    ) -> None:
        res = await (await campaign_service()).decide(campaign_id, approver=as_, kind=kind, comment=comment)
        emit(res, as_json, lambda: out.print(f"{kind} recorded in {res.stage}; stage is now {res.outcome}"))

    return command


def _budget_decision(kind: str):
    async def command(
        workflow_id: Annotated[str, typer.Argument(help="The reallocation's workflow id.")],
        as_: AsOpt,
        comment: Annotated[str | None, typer.Option()] = None,
        as_json: JsonOpt = False,
    ) -> None:
        res = await (await campaign_service()).budget_decide(workflow_id, approver=as_, kind=kind, comment=comment)
        emit(res, as_json, lambda: out.print(f"{kind} recorded in {res.stage}; stage is now {res.outcome}"))

    return command


for _name, _kind, _help in (("approve", "approve", "Approve."), ("reject", "reject", "Reject (--comment).")):
    campaign_app.command(_name, help=f"{_help} A campaign waiting for launch approval.")(
        run_async(f"mops campaign {_name}")(_campaign_decision(_kind))
    )
    budget_app.command(_name, help=f"{_help} A budget proposal waiting for approval.")(
        run_async(f"mops budget {_name}")(_budget_decision(_kind))
    )


@budget_app.command("run")
@run_async("mops budget run")
async def budget_run(
    campaign_id: CampaignIdArg,
    as_: Annotated[str | None, typer.Option("--as")] = None,
    wait: Annotated[bool, typer.Option(help="Wait for the outcome (not for approvals).")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Propose (and apply, or ask for approval) a reallocation now."""
    import uuid

    from starter.render import budget_panel
    from workflows.campaign_models import BudgetStatus

    svc = await campaign_service()
    handle = await svc.reallocate(campaign_id, requested_by=as_, run_id=uuid.uuid4().hex[:8])
    view = await svc.budget_state(handle.id)
    if wait:
        for _ in range(600):  # until it ends or waits for people (<= 60 s)
            view = await svc.budget_state(handle.id)
            if view.status not in (BudgetStatus.COLLECTING, BudgetStatus.APPLYING):
                break
            await asyncio.sleep(0.1)
    emit(view, as_json, lambda: out.print(budget_panel(view, handle.id, settings().workflow_url(handle.id))))


@budget_app.command("show")
@run_async("mops budget show")
async def budget_show(
    workflow_id: Annotated[str, typer.Argument(help="The reallocation's workflow id.")], as_json: JsonOpt = False
) -> None:
    from starter.render import budget_panel

    view = await (await campaign_service()).budget_state(workflow_id)
    emit(view, as_json, lambda: out.print(budget_panel(view, workflow_id, settings().workflow_url(workflow_id))))


@budget_app.command("schedule")
@run_async("mops budget schedule")
async def budget_schedule(
    campaign_id: CampaignIdArg, every: Annotated[str, typer.Option(help="Interval, e.g. 1d, 12h.")] = "1d"
) -> None:
    """Create (or update) a Temporal Schedule that runs a reallocation every interval."""
    from domain.fields import parse_duration

    try:
        interval = parse_duration(every)
    except ValueError as e:
        raise CliError(f"every: {e}", 2) from None
    schedule_id = await (await campaign_service()).schedule(campaign_id, every=interval)
    out.print(f"schedule [bold]{schedule_id}[/] runs a reallocation every {every} (overlap: skip)")


@app.command()
@run_async("mops health")
async def health(
    report: Annotated[
        bool,
        typer.Option(
            "--report",
            help="p50/p95 latency, error and throttle rates, with suggestions; the 30-day availability and "
            "error budget of each platform, the gateway and the workers.",
        ),
    ] = False,
    window: Annotated[str, typer.Option(help="Report window, e.g. 1h, 30m.")] = "1h",
    check: Annotated[bool, typer.Option("--check", help="Run a check now first.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Integration health: each platform's state and recent incidents (or the report)."""
    from domain.fields import parse_duration
    from starter.render import availability_table, health_panel, health_report_table
    from starter.service.health import HealthNotRunning, check_now, health_availability, health_report, health_state

    try:
        span = parse_duration(window)
    except ValueError as e:
        raise CliError(f"window: {e}", 2) from None
    client, s = await temporal_client(), settings()
    try:
        if check:
            await check_now(client, s)
        if report:
            rows = await health_report(client, s, span)
            availability = await health_availability(client, s, 30)

            def lines() -> None:
                out.print(health_report_table(rows, window))
                out.print(availability_table(availability, 30))

            emit(
                {
                    "window": window,
                    "platforms": [r.model_dump(mode="json") for r in rows],
                    "availability": [a.model_dump(mode="json") for a in availability],
                },
                as_json,
                lines,
            )
            return
        view = await health_state(client, s)
    except HealthNotRunning as e:
        raise CliError(str(e), 1) from None
    emit(view, as_json, lambda: out.print(health_panel(view)))


@app.command()
@run_async("mops replay")
async def replay(
    workflow_id: Annotated[str | None, typer.Argument(help="The workflow id of the run to replay.")] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="One run of it (default: the latest).")] = None,
    query: Annotated[
        str | None,
        typer.Option(
            "--query", help="Replay the runs a visibility query selects, e.g. \"ExecutionStatus = 'Running'\"."
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many runs with --query.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Replay live runs from the server against this code: run it before a deploy.

    Exit 0 when every run replays as recorded; 1 with the first non-deterministic
    command of each run that does not (deploying would break those runs)."""
    from rich.markup import escape
    from temporalio.service import RPCError, RPCStatusCode

    from starter.replay import replay_matching, replay_one

    if (workflow_id is None) == (query is None):
        raise CliError("replay: give a WORKFLOW_ID or --query, not both or neither", 2)
    if run_id is not None and workflow_id is None:
        raise CliError("run_id: --run-id goes with a WORKFLOW_ID", 2)
    client = await temporal_client()
    try:
        if workflow_id is not None:
            outcomes = [await replay_one(client, workflow_id, run_id)]
        else:
            assert query is not None
            outcomes = await replay_matching(client, query, limit)
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise CliError(f"workflow_id: no workflow {workflow_id!r} on the server", 1) from None
        if e.status == RPCStatusCode.INVALID_ARGUMENT:
            raise CliError(f"query: {e.message}", 2) from None
        raise
    broken = [o for o in outcomes if not o.ok]

    def human() -> None:
        for o in outcomes:
            verdict = "replays" if o.ok else f"[bold red]does not replay[/]: {escape(o.failure or '')}"
            out.print(f"{o.workflow_type} {escape(o.workflow_id)} ({o.events} events): {verdict}", soft_wrap=True)
        out.print(f"{len(outcomes) - len(broken)} of {len(outcomes)} run(s) replay against this code")

    emit(
        {"runs": [o.__dict__ | {"ok": o.ok} for o in outcomes], "broken": len(broken)},
        as_json,
        human,
    )
    if broken:
        raise typer.Exit(1)


@app.command()
def up() -> None:
    """Run the embedded stack in the foreground until Ctrl-C: Temporal dev server
    (SQLite under .mops/, Web UI), the sandbox platforms, the workers and the gateway."""
    from gateway.security import KeyFileError
    from mops.settings import SettingsError
    from starter.stack import StackError, embedded_settings, embedded_stack
    from workers import tuning
    from workers.main import configure_logging, serve

    s = embedded_settings(worker_settings())
    if s.health_gateway_url is None:  # the gateway this process serves is measured with the platforms
        s = s.model_copy(update={"health_gateway_url": f"http://{s.gateway_host}:{s.gateway_port}"})
    config = worker_config(s)  # this process runs the workers: it runs on their event loop
    upgrade_database(s)

    async def main() -> None:
        from gateway.app import create_app
        from gateway.server import GatewayServer
        from gateway.settings import gateway_settings
        from mops.temporal import connect

        gs = gateway_settings(s)
        async with embedded_stack(s, codec_server=True):  # codec server for the Web UI
            app = create_app(gs, await connect(s))
            async with GatewayServer(app, host=gs.gateway_host, port=gs.gateway_port):
                out.print(
                    f"[green]mops is up[/]  Temporal {s.temporal_address} · Web UI {s.web_ui_url} · "
                    f"gateway http://{gs.gateway_host}:{gs.gateway_port}/docs · "
                    f"sandbox http://{s.sandbox_host}:{s.sandbox_port} · logs in {s.data_dir}/"
                )
                out.print("Ctrl-C stops everything; state is kept for the next `mops up`.")
                await serve(s, config)

    configure_logging()  # the workers' configuration line (and mops' other log lines) on stderr
    try:
        tuning.run(main(), config)
    except (StackError, KeyFileError) as e:
        fail(str(e), 1)
    except SettingsError as e:
        fail(str(e))
    except KeyboardInterrupt:
        pass
    out.print("mops stopped.")


@app.command()
def worker(
    print_config: Annotated[
        bool,
        typer.Option(
            "--print-config", help="Print the configuration the workers would run (JSON) and exit, without connecting."
        ),
    ] = False,
) -> None:
    """Run only the workers (against MOPS_TEMPORAL_ADDRESS) until SIGTERM/Ctrl-C, with the
    configuration of workers/tuning.py (logged at start; MOPS_WORKER_TUNING=false: SDK defaults)."""
    from mops.settings import SettingsError
    from workers import tuning
    from workers.main import configure_logging, serve

    if print_config:
        s = settings()
        sys.stdout.write(json.dumps(worker_config(s).describe(s), indent=2) + "\n")
        return
    s = worker_settings()
    config = worker_config(s)
    upgrade_database(s)
    configure_logging()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            tuning.run(serve(s, config), config)
    except SettingsError as e:
        fail(str(e))


# --help is not typer's here: it belongs to the gateway's own parser, so that
# `mops gateway keygen --help` shows keygen's options rather than this command's.
@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)
def gateway(ctx: typer.Context) -> None:
    """Run only the HTTP gateway (REST /v1, webhooks); `mops gateway keygen --help` mints keys."""
    from gateway.__main__ import main as gateway_main

    raise typer.Exit(gateway_main(list(ctx.args), prog="mops gateway"))


@app.command()
def sandbox(
    host: Annotated[str | None, typer.Option()] = None, port: Annotated[int | None, typer.Option()] = None
) -> None:
    """Run only the sandbox platform APIs."""
    from sandbox.__main__ import main as sandbox_main

    s = settings()
    sandbox_main(["--host", host or s.sandbox_host, "--port", str(port or s.sandbox_port)])


@app.command()
def demo(as_json: JsonOpt = False) -> None:
    """Start the embedded stack (unless running), run the lead scenario, print the result."""
    from mops.settings import SettingsError
    from starter.demo import DemoError, run_demo
    from starter.stack import StackError
    from workers import tuning

    s = worker_settings()
    config = worker_config(s)  # the demo's workers run in this process, on their event loop
    try:
        tuning.run(run_demo(s, as_json=as_json), config)
    except (StackError, DemoError) as e:
        fail(str(e), 1)
    except SettingsError as e:
        fail(str(e))


db_app = typer.Typer(help="The shared PostgreSQL database (MOPS_DATABASE_URL): its schema.", no_args_is_help=True)


def _database_url() -> str:
    url = settings().database_url
    if url is None:
        fail("MOPS_DATABASE_URL: not set (the state is in the local SQLite files; nothing to upgrade)")
    return url.get_secret_value()


@db_app.command("upgrade")
def db_upgrade(as_json: JsonOpt = False) -> None:
    """Apply the migrations the database lacks (a no-op when it is current); gateways run it on start."""
    from mops.database import DatabaseUnavailable, current_version, upgrade

    url = _database_url()
    try:
        applied = upgrade(url)
        version = current_version(url)
    except DatabaseUnavailable as e:
        fail(str(e))
    names = [f"{m.version:04d}_{m.name}" for m in applied]
    human = f"schema at version {version}: " + (f"applied {', '.join(names)}" if names else "already current")
    emit({"version": version, "applied": names}, as_json, lambda: out.print(human, highlight=False))


@db_app.command("status")
def db_status(as_json: JsonOpt = False) -> None:
    """The schema version the database is at and the one this mops needs (exit 1 when behind)."""
    from mops.database import DatabaseUnavailable, current_version, migrations

    url = _database_url()
    try:
        version = current_version(url)
    except DatabaseUnavailable as e:
        fail(str(e))
    needed = len(migrations())
    human = f"schema at version {version}, this mops needs {needed}" + (
        "" if version == needed else ": run `mops db upgrade`"
    )
    emit({"version": version, "needed": needed}, as_json, lambda: out.print(human, highlight=False))
    if version != needed:
        raise typer.Exit(1)


app.add_typer(db_app, name="db")
app.add_typer(report_app, name="report")
app.add_typer(auth_app, name="auth")
register_privacy(app, lead_app)
register_migrate(journeys_app)
register_simulate(journeys_app)
register_experiments(journeys_app)


if __name__ == "__main__":
    app()
