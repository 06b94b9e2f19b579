"""Experiments inside journeys.

    mops journeys experiment show JOURNEY STEP [--version N] [--json]   the rule, figures, decision
    mops journeys experiment stop JOURNEY STEP --as who [--reason ...]  end it without a winner
    mops journeys experiment promote JOURNEY STEP VARIANT --as who      force the winner

An unknown step is one line and exit 2; a refused stop or promote (an unknown variant, an
experiment already over) exits 3; an experiment no lead has reached exits 1.
"""

from __future__ import annotations

from typing import Annotated

import typer

from starter.cli_common import JsonOpt, emit, out, run_async, settings, temporal_client
from starter.service.experiments import ExperimentService

experiment_app = typer.Typer(help="A/B tests inside journeys: read, stop, promote.", no_args_is_help=True)

JourneyArg = Annotated[str, typer.Argument(help="The journey id.")]
StepArg = Annotated[str, typer.Argument(help="The experiment step's id.")]
VersionOpt = Annotated[
    int | None, typer.Option("--version", help="The journey version (default: the one new leads get).", min=1)
]
AsOpt = Annotated[str, typer.Option("--as", help="Who decides (recorded with the decision).")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (recorded with the decision).")]


async def _service() -> ExperimentService:
    return ExperimentService(await temporal_client(), settings())


@experiment_app.command("show")
@run_async("mops journeys experiment show")
async def experiment_show(journey: JourneyArg, step: StepArg, version: VersionOpt = None, as_json: JsonOpt = False):
    """The rule, each variant's figures now, and the decision once there is one."""
    from starter.render import experiment_panel

    view = await (await _service()).show(journey, step, version)
    emit(view, as_json, lambda: out.print(experiment_panel(view, settings().workflow_url(view.workflow_id))))


@experiment_app.command("stop")
@run_async("mops journeys experiment stop")
async def experiment_stop(
    journey: JourneyArg, step: StepArg, as_: AsOpt, reason: ReasonOpt = "", version: VersionOpt = None
) -> None:
    """End the experiment without a winner: entrants keep being split evenly, no longer counted."""
    decision = await (await _service()).stop(journey, step, by=as_, reason=reason, version=version)
    out.print(f"experiment {step} of {journey}: {decision.reason}")


@experiment_app.command("promote")
@run_async("mops journeys experiment promote")
async def experiment_promote(
    journey: JourneyArg,
    step: StepArg,
    variant: Annotated[str, typer.Argument(help="The variant every new entrant gets from now on.")],
    as_: AsOpt,
    reason: ReasonOpt = "",
    version: VersionOpt = None,
) -> None:
    """Force the winner: every new entrant goes to VARIANT from now on."""
    decision = await (await _service()).promote(journey, step, variant, by=as_, reason=reason, version=version)
    out.print(f"experiment {step} of {journey}: winner {decision.winner} ({decision.reason})")


def register(journeys_app: typer.Typer) -> None:
    """Add `mops journeys experiment` (called once by starter/cli.py)."""
    journeys_app.add_typer(experiment_app, name="experiment")
