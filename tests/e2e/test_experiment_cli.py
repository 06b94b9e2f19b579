"""`mops journeys experiment show|promote|stop` against the dev server and the stack's
workers: an experiment a lead has entered is shown, an unknown variant is refused (exit 3),
a forced winner is recorded and a later stop refused; a step that is no experiment exits 2."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from activities.experiment_models import EnterExperimentInput, ExperimentEnter, ExperimentRef
from domain.journeys import ExperimentStep, load_journey
from mops.settings import get_settings
from starter.cli import app
from tests.e2e.conftest import Stack
from tests.e2e.test_cli import cli_env
from tests.workflows.test_journey_experiment import EXPERIMENT
from workers.experiments import ExperimentActivities


async def test_show_promote_and_stop_from_the_cli(stack: Stack, tmp_path: Path) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(stack.settings.journeys_dir, journeys)
    (journeys / "exp-test.yaml").write_text(EXPERIMENT)
    step = load_journey(journeys, "exp-test").step("subject-test")
    assert isinstance(step, ExperimentStep)
    env = {**cli_env(stack), "MOPS_JOURNEYS_DIR": str(journeys), "MOPS_DATA_DIR": str(tmp_path / "data")}

    async def cli(*args: str):
        get_settings.cache_clear()
        try:
            return await asyncio.to_thread(CliRunner().invoke, app, ["journeys", "experiment", *args], env=env)
        finally:
            get_settings.cache_clear()

    missing = await cli("show", "exp-test", "subject-test")
    assert missing.exit_code == 1, missing.output
    assert "experiment-exp-test-v1-subject-test is not running" in missing.output

    # A lead enters, as its journey's `experiments.enter` does, on the stack's workers.
    ref = ExperimentRef(journey_id="exp-test", version=1, step=step, task_queue=stack.settings.workflow_task_queue)
    await ExperimentActivities(stack.client).enter(
        EnterExperimentInput(experiment=ref, enter=ExperimentEnter(lead_id="lead-cli", proposed="a"))
    )

    shown = await cli("show", "exp-test", "subject-test", "--json")
    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.output)
    assert (view["status"], view["entered"], view["rule"]["sample"], view["rule"]["looks"]) == (
        "running",
        {"a": 1, "b": 0},
        40,
        "once",
    )

    not_a_step = await cli("show", "exp-test", "pause")
    assert not_a_step.exit_code == 2, not_a_step.output
    assert "step: journey 'exp-test' has no experiment step 'pause' (experiments: subject-test)" in not_a_step.output

    unknown = await cli("promote", "exp-test", "subject-test", "c", "--as", "maya")
    assert unknown.exit_code == 3, unknown.output
    assert "refused: variant: 'c' is not a variant of subject-test (variants: a, b)" in unknown.output

    promoted = await cli("promote", "exp-test", "subject-test", "b", "--as", "maya", "--reason", "brand call")
    assert promoted.exit_code == 0, promoted.output
    assert "winner b (promoted by maya: brand call)" in promoted.output

    human = await cli("show", "exp-test", "subject-test")
    assert human.exit_code == 0, human.output
    assert "decision: winner, winner b by maya" in human.output

    late = await cli("stop", "exp-test", "subject-test", "--as", "maya")
    assert late.exit_code == 3, late.output
    assert "refused: status: experiment is decided" in late.output
