"""`mops journeys migrate`: move a journey's leads in flight from one published version to
another (starter/service/journey_migrations.py, workflows/journey_migration.py).

A bad plan (an unknown version, a step either side of `--map` does not have, a `--where` the
server cannot read) is one line and exit 2, and starts nothing.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from domain.journey_migration import DryRun, MigrationReport
from starter.cli_common import JsonOpt, emit, out, run_async, settings, temporal_client


@run_async("mops journeys migrate")
async def journeys_migrate(
    journey: Annotated[str, typer.Argument(help="The journey id.")],
    from_version: Annotated[str, typer.Option("--from", help="The published version the leads run (1 or v1).")],
    to_version: Annotated[str, typer.Option("--to", help="The published version to move them to.")],
    maps: Annotated[
        list[str],
        typer.Option("--map", help="old_step=new_step, once per step to move; leads at other steps stay."),
    ],
    where: Annotated[
        str | None, typer.Option("--where", help="An extra visibility filter, e.g. \"LeadStage = 'nurturing'\".")
    ] = None,
    timers: Annotated[
        str, typer.Option("--timers", help="keep: a waiting lead keeps its deadline; restart: the wait starts anew.")
    ] = "restart",
    rate: Annotated[float, typer.Option("--rate", help="Leads asked per second.", min=0.01)] = 20.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count who would move where; move nobody.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Move the leads running FROM onto TO at the mapped steps. Each lead checks the move
    itself and refuses when its step is not mapped, its email is being sent, or it runs
    another version. Running the same command again attaches to the same migration."""
    from starter.service.journey_migrations import JourneyMigrationService, prepare
    from starter.service.journeys import parse_version

    s = settings()
    prepared = prepare(
        s,
        journey,
        from_version=parse_version(from_version, "from"),
        to_version=parse_version(to_version, "to"),
        maps=maps,
        where=where,
        timers=timers,
    )
    svc = JourneyMigrationService(await temporal_client(), s)
    if dry_run:
        counts = await svc.dry_run(prepared)
        data = {**counts.model_dump(mode="json"), "moving": counts.moving, "refusing": counts.refusing}
        emit(data, as_json, lambda: _print_dry_run(counts))
        return
    if not as_json:
        out.print(f"migrating [bold]{prepared.plan.migration_id}[/] at {rate:g} leads/s")
        out.print(f"Web UI: {s.workflow_url(prepared.plan.migration_id)}")
    run = await svc.run(prepared, leads_per_second=rate)
    emit({**run.report.model_dump(mode="json"), "attached": run.attached}, as_json, lambda: _print_report(run))


def _print_dry_run(counts: DryRun) -> None:
    table = Table("#", "step", "leads", "goes to", title="dry run: nobody moved")
    for r in counts.steps:
        table.add_row(str(r.position), r.step, str(r.leads), r.to_step or "[yellow]stays (not mapped: refused)[/]")
    out.print(table)
    out.print(f"would move {counts.moving}, would refuse {counts.refusing}", highlight=False)


def _print_report(run) -> None:
    r: MigrationReport = run.report
    if run.attached:
        out.print("already started with this plan: its report (nothing run again)")
    table = Table("moved", "from → to", title=f"{r.journey_id} v{r.from_version} → v{r.to_version}")
    for edge, n in sorted(r.moves.items()):
        table.add_row(str(n), edge.replace("->", " → "))
    out.print(table)
    for lead in r.not_moved:
        out.print(f"{lead.outcome.value}: {lead.lead_id}: {lead.reason} ({lead.detail})", markup=False, soft_wrap=True)
    out.print(f"moved {r.moved}, refused {r.refused}, skipped {r.skipped}", highlight=False)


def register(journeys_app: typer.Typer) -> None:
    """Add `journeys migrate` to the CLI (called once by starter/cli.py)."""
    journeys_app.command("migrate")(journeys_migrate)
