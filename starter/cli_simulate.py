"""`mops journeys simulate`: a new published version tried on real leads' recorded paths
(starter/journey_simulate.py). An unknown journey or version, or an old version with no leads,
is one line and a non-zero exit, and starts nothing."""

from __future__ import annotations

from typing import Annotated

import typer

from starter.cli_common import CliError, JsonOpt, emit, out, run_async, temporal_client, worker_settings


@run_async("mops journeys simulate")
async def journeys_simulate(
    journey: Annotated[str, typer.Argument(help="The journey id.")],
    version: Annotated[str, typer.Option("--version", help="The published version to simulate (2 or v2).")],
    against: Annotated[str, typer.Option("--against", help="The published version whose leads' paths are replayed.")],
    leads: Annotated[int, typer.Option("--leads", help="How many leads of --against (by workflow id).", min=1)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Replay up to N real leads of AGAINST (their capture, their events at the same offsets)
    through VERSION on the time-skipping server against a sandbox (nothing reaches a real
    platform), and compare per email step, goal and end what AGAINST really did."""
    from starter.journey_simulate import prepare, print_report, recorded_leads, simulate
    from starter.journey_trial import TrialError
    from starter.service.journeys import parse_version

    s = worker_settings()  # the workers run the simulated journey: they need the email footer
    plan = prepare(s, journey, version_=parse_version(version, "version"), against=parse_version(against, "against"))
    recorded = await recorded_leads(await temporal_client(), plan, limit=leads)
    try:
        report = await simulate(s, plan, recorded)
    except TrialError as e:
        raise CliError(str(e), 1) from None
    emit(report, as_json, lambda: print_report(out, report))


def register(journeys_app: typer.Typer) -> None:
    """Add `journeys simulate` to the CLI (called once by starter/cli.py)."""
    journeys_app.command("simulate")(journeys_simulate)
