"""Data-protection commands.

    mops lead erase <email> [--as who] [--reason ...] [--yes]     right to erasure (crypto-shredding)
    mops lead erasures [--email ...]                             the erasure log (no personal data)
    mops consent show|grant|withdraw --email ... [--purpose ...]  consent per purpose, everywhere
    mops sync show --email ...                                    the lead's contact record and its sync state
    mops sync reconcile [--no-repair]                             mismatch rate before / after repair
    mops sync accuracy [--last N]                                 the latest checks' accuracy vs the objective
    mops compliance check [--no-repair] | schedule --every 1h     consent across platforms, alerts
    mops codec-server                                             /encode and /decode for the Web UI and CLI
    mops codec keygen | rewrap                                    master keys: a new one; re-wrap data keys

Bad input is one line and exit code 2; nothing is started.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from domain.consent import Purpose
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
)
from starter.service.leads import LeadInputError

consent_app = typer.Typer(
    help="Consent per purpose (email_marketing, ad_audiences, profiling), on every platform.", no_args_is_help=True
)
sync_app = typer.Typer(help="Contact fields kept consistent between CRM, email platform and CDP.", no_args_is_help=True)
compliance_app = typer.Typer(help="Compliance monitoring: consent compared across platforms.", no_args_is_help=True)
codec_app = typer.Typer(help="Payload encryption keys.", no_args_is_help=True)

PurposeOpt = Annotated[str, typer.Option("--purpose", help=", ".join(p.value for p in Purpose))]


def _purpose(value: str) -> Purpose:
    try:
        return Purpose(value)
    except ValueError:
        raise LeadInputError(f"purpose: one of {', '.join(p.value for p in Purpose)}") from None


def _check_lead(email: str | None, lead: str | None) -> None:
    """Bad identity is refused before anything connects."""
    from domain.leads import normalise_email
    from domain.privacy import bare_lead_id

    try:
        if email:
            try:
                normalise_email(email)
            except ValueError as err:
                raise ValueError(f"email: {err}") from None
        elif lead:
            bare_lead_id(lead)
        else:
            raise ValueError("lead: give an email or a lead id")
    except ValueError as err:
        raise LeadInputError(str(err)) from None


async def _privacy():
    from starter.service.privacy import PrivacyService

    return PrivacyService(await temporal_client(), settings())


# ------------------------------------------------------------------------ leads


@run_async("mops lead erase")
async def lead_erase(
    email: Annotated[str, typer.Argument(help="The lead's email address.")],
    as_: Annotated[str, typer.Option("--as", help="Who asks (recorded in the erasure log).")] = "cli",
    reason: Annotated[str, typer.Option(help="Why (e.g. the request's ticket id); no personal data.")] = "",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Right to erasure: end the journey, delete the lead on every platform, destroy its key."""
    from domain.leads import normalise_email

    try:
        normalise_email(email)
    except ValueError as err:
        raise LeadInputError(f"email: {err}") from None
    if not yes and not typer.confirm("Erase this lead everywhere? Its history can never be read again", default=False):
        raise CliError("not erased", 1)
    svc = await _privacy()
    try:
        record = await svc.erase(email, requested_by=as_, reason=reason)
    finally:
        await svc.aclose()
    data = {
        "erasure_id": record.erasure_id,
        "lead_id": record.lead_id,
        "steps": record.steps,
        "destroyed_key_ids": record.destroyed_key_ids,
        "completed_at": record.completed_at,
    }
    emit(
        data,
        as_json,
        lambda: out.print(
            f"erased lead [bold]{record.lead_id}[/] ({record.erasure_id}): "
            + ", ".join(f"{k} {v}" for k, v in sorted(record.steps.items()))
            + f"; {len(record.destroyed_key_ids)} data key(s) destroyed",
            highlight=False,
        ),
    )


@run_async("mops lead erasures")
async def lead_erasures(email: EmailOpt = None, lead: LeadOpt = None, as_json: JsonOpt = False) -> None:
    """The erasure log: who asked, when, what each platform answered, which keys were destroyed."""
    from starter.service.privacy import PrivacyService

    svc = PrivacyService(None, settings())  # the log is local: no Temporal needed
    try:
        lead_id = svc.lead_id(email=email, lead_id=lead) if (email or lead) else None
        records = svc.erasures(lead_id)
    finally:
        await svc.aclose()
    rows = [r.__dict__ for r in records]
    emit(
        rows,
        as_json,
        lambda: (
            [
                out.print(
                    f"{r.completed_at}  {r.erasure_id}  lead {r.lead_id}  by {r.requested_by}  "
                    + ", ".join(f"{k} {v}" for k, v in sorted(r.steps.items())),
                    highlight=False,
                )
                for r in records
            ]
            or out.print("no erasures recorded")
        ),
    )


# ---------------------------------------------------------------------- consent


@consent_app.command("show")
@run_async("mops consent show")
async def consent_show(email: EmailOpt = None, lead: LeadOpt = None, as_json: JsonOpt = False) -> None:
    """Consent per purpose as the lead's contact record holds it (source and time)."""
    _check_lead(email, lead)
    svc = await _privacy()
    try:
        view = await svc.contact(svc.lead_id(email=email, lead_id=lead))
    finally:
        await svc.aclose()
    records = {p.value: r.model_dump(mode="json") for p, r in view.consent.records.items()}
    emit(
        {"lead_id": view.lead_id, "consent": records},
        as_json,
        lambda: (
            [
                out.print(
                    f"{p:<16} {'granted' if r['granted'] else 'withdrawn'}  ({r['source']}, {r['at']})", highlight=False
                )
                for p, r in sorted(records.items())
            ]
            or out.print("no consent recorded")
        ),
    )


def _consent_command(granted: bool):
    async def command(
        purpose: PurposeOpt,
        email: EmailOpt = None,
        lead: LeadOpt = None,
        source: Annotated[str, typer.Option(help="Where it came from.")] = "cli",
        as_json: JsonOpt = False,
    ) -> None:
        chosen = _purpose(purpose)
        _check_lead(email, lead)
        svc = await _privacy()
        try:
            if granted:
                res = await svc.grant(email=email, lead_id=lead, purpose=chosen, source=source)
            else:
                res = await svc.opt_out(email=email, lead_id=lead, source=source, purposes=[chosen])
        finally:
            await svc.aclose()
        emit(
            res.as_dict(),
            as_json,
            lambda: out.print(
                f"{chosen.value} {'granted' if granted else 'withdrawn'} for lead [bold]{res.lead_id}[/] "
                f"(email platform: {res.email_gate})"
            ),
        )

    return command


consent_app.command("grant", help="Record consent for one purpose on every platform.")(
    run_async("mops consent grant")(_consent_command(True))
)
consent_app.command("withdraw", help="Withdraw consent for one purpose on every platform.")(
    run_async("mops consent withdraw")(_consent_command(False))
)


# ------------------------------------------------------------------------- sync


@sync_app.command("show")
@run_async("mops sync show")
async def sync_show(email: EmailOpt = None, lead: LeadOpt = None, as_json: JsonOpt = False) -> None:
    """The lead's contact record: each owned field with its source and time, and what is pending."""
    _check_lead(email, lead)
    svc = await _privacy()
    try:
        view = await svc.contact(svc.lead_id(email=email, lead_id=lead))
    finally:
        await svc.aclose()
    emit(
        view,
        as_json,
        lambda: (
            [
                out.print(
                    f"{name:<11} {f.value or '-'}  ({f.source}, {f.at.isoformat(timespec='seconds')})", highlight=False
                )
                for name, f in sorted(view.fields.items())
            ],
            out.print(f"version {view.version}; pending: {', '.join(view.pending) or 'none'}"),
        ),
    )


def _report_lines(workflow_id: str, r) -> None:
    out.print(f"[bold]{workflow_id}[/]: {r.contacts} contacts, {r.compared} comparisons")
    out.print(f"  before: {r.mismatches_before} mismatches ({r.rate_before:.3%})", highlight=False)
    for where, n in r.by_platform.items():
        out.print(f"    {where}: {n}", highlight=False)
    if r.mismatches_after is not None:
        out.print(
            f"  after:  {r.mismatches_after} mismatches ({(r.rate_after or 0):.3%})"
            f"; {r.repaired_leads} contacts repaired, {r.adopted_withdrawals} opt-outs adopted",
            highlight=False,
        )
    accuracy = "n/a (nothing compared)" if r.accuracy is None else f"{r.accuracy:.2%}"
    verdict = "met" if r.met else "NOT met"
    out.print(f"  accuracy: {accuracy}, objective {r.objective:.1%}: {verdict}", highlight=False)
    if r.alerted:
        out.print(f"  alert sent to the {'compliance' if r.mode == 'compliance' else 'alerts'} channel")


async def _reconcile(kind: str, repair: bool, as_json: bool) -> None:
    """Run a reconciliation (`data` or `compliance`) and print its report."""
    svc = await _privacy()
    try:
        wf_id, report = await svc.reconcile(kind, repair=repair)
    finally:
        await svc.aclose()
    emit({"workflow_id": wf_id, **report.model_dump(mode="json")}, as_json, lambda: _report_lines(wf_id, report))


@sync_app.command("reconcile")
@run_async("mops sync reconcile")
async def sync_reconcile(
    repair: Annotated[bool, typer.Option("--repair/--no-repair")] = True, as_json: JsonOpt = False
) -> None:
    """Compare every contact record with the platforms; repair and measure again."""
    await _reconcile("data", repair, as_json)


@sync_app.command("accuracy")
@run_async("mops sync accuracy")
async def sync_accuracy(
    last: Annotated[int, typer.Option(min=1, max=500, help="How many of the latest runs.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """The latest compliance checks and data reconciliations (the Schedules the workers make, and
    runs by hand): the cross-platform accuracy of each against the objective."""
    svc = await _privacy()
    try:
        runs = await svc.accuracy_runs(last=last)
    finally:
        await svc.aclose()

    def lines() -> None:
        if not runs:
            out.print("no finished compliance check or data reconciliation yet")
            return
        table = Table("finished", "check", "contacts", "compared", "mismatches", "accuracy", "objective", "")
        for r in runs:
            table.add_row(
                r.closed_at.strftime("%Y-%m-%d %H:%M") if r.closed_at else "-",
                r.mode,
                str(r.contacts),
                str(r.compared),
                str(r.mismatches),
                "n/a" if r.accuracy is None else f"{r.accuracy:.2%}",
                f"{r.objective:.1%}",
                "met" if r.met else "[red]NOT met[/]",
            )
        out.print(table)

    emit({"runs": [r.model_dump(mode="json") for r in runs]}, as_json, lines)


# ------------------------------------------------------------------- compliance


@compliance_app.command("check")
@run_async("mops compliance check")
async def compliance_check(
    repair: Annotated[bool, typer.Option("--repair/--no-repair")] = True, as_json: JsonOpt = False
) -> None:
    """Compare consent across platforms now; alert on mismatches; enforce opt-outs."""
    await _reconcile("compliance", repair, as_json)


@compliance_app.command("schedule")
@run_async("mops compliance schedule")
async def compliance_schedule(every: Annotated[str, typer.Option(help="Interval, e.g. 1h, 1d.")] = "1h") -> None:
    """Create (or update) the Temporal Schedule that runs the compliance check."""
    from domain.fields import parse_duration

    try:
        interval = parse_duration(every)
    except ValueError as e:
        raise CliError(f"every: {e}", 2) from None
    svc = await _privacy()
    try:
        schedule_id = await svc.schedule_compliance(interval)
    finally:
        await svc.aclose()
    out.print(f"schedule [bold]{schedule_id}[/] runs the compliance check every {every}")


# ------------------------------------------------------------------------ codec


def codec_server(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Serve /encode and /decode for the Temporal CLI (bearer token) and the Web UI (its origin, on
    loopback; its users' access tokens, on a network address). The UI is never given a secret."""
    from mops.codec_server import CodecServerConfigError, check_listener, serve

    s = settings()
    updates = {k: v for k, v in (("codec_server_host", host), ("codec_server_port", port)) if v}
    s = s.model_copy(update=updates)
    try:
        check_listener(s)
    except CodecServerConfigError as err:
        fail(str(err))
    serve(s)


@codec_app.command("keygen")
def codec_keygen(
    key_id: Annotated[str | None, typer.Option("--id", help="Key id (default: k<date>-<hex>).")] = None,
) -> None:
    """Print a new `id:base64` master key: put it first in MOPS_CODEC_KEYS, keep the old ones after it."""
    from mops.master_keys import new_master_key

    out.print(new_master_key(key_id), highlight=False, soft_wrap=True)


@codec_app.command("rewrap")
def codec_rewrap(as_json: JsonOpt = False) -> None:
    """Re-wrap every per-lead data key under the newest master key (after a rotation)."""
    from mops.codec import KeyUnavailable, shared_keyring

    s = settings()
    ring = shared_keyring(s)
    try:
        changed = ring.rewrap()
    except KeyUnavailable as err:
        fail(str(err), 1)
    emit(
        {"rewrapped": changed, "master_key": ring.newest_master_id},
        as_json,
        lambda: out.print(f"{changed} data key(s) re-wrapped under {ring.newest_master_id}"),
    )


def register(app: typer.Typer, lead_app: typer.Typer) -> None:
    """Add the data-protection commands to the `mops` CLI (called once by starter/cli.py)."""
    lead_app.command("erase")(lead_erase)
    lead_app.command("erasures")(lead_erasures)
    app.add_typer(consent_app, name="consent")
    app.add_typer(sync_app, name="sync")
    app.add_typer(compliance_app, name="compliance")
    app.add_typer(codec_app, name="codec")
    app.command("codec-server")(codec_server)
