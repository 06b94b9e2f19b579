"""Record an experiment step reaching its decision, for the replay test.

    .venv/bin/python -m tests.histories.record_lead_experiment [--force]

On the time-skipping server with the real workers and the sandbox: three leads in each
variant of a two-way experiment (`EXPERIMENT_JOURNEY`), the `b` leads clicking, the windows
closing, the Bayesian rule (once, at its horizon of 3 per variant: P(b best) = 0.986 >= 0.975)
promoting `b`, then one more lead routed to the winner. Writes
`journey_experiment.json` (the JourneyExperiment workflow, still running: it answers later
entrants), `lead_journey_experiment.json` (a `b` lead: the `lead-experiment-v1` marker, its
entry and its reported conversion) and `lead_journey_experiment_winner.json` (the later lead,
routed to `b`) next to this file, kept when they exist unless `--force`.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from domain.experiments import experiment_workflow_id
from domain.journeys import ExperimentStep, load_journey
from domain.leads import EventType, lead_key
from mops.temporal import DATA_CONVERTER, client_interceptors
from sandbox.server import SandboxServer
from starter.service.leads import LeadService, build_capture, build_event
from starter.stack import register_search_attributes
from tests.conftest import binary, daytime_journeys, make_settings
from tests.histories.record_lead_sync import save_data_key
from workers.main import running_workers
from workflows.experiment import JourneyExperimentWorkflow
from workflows.lead_journey import LeadJourneyWorkflow

HERE = Path(__file__).parent
EXPERIMENT_JOURNEY = """
id: experiment-e2e
version: 1
name: Experiment
from_email: marketing@mops.example
unsubscribe_group_id: 4242
scoring: default
handoff: {sla: 1d}
steps:
  - id: offer-test
    type: experiment
    variants:
      - {id: a, goto: case-a}
      - {id: b, goto: roi-b}
    metric: {event: click, within: 1d}
    decide: {sample: 3}
  - {id: case-a, type: send_email, template: nurture-case-study, subject: How others did it, next: pause}
  - {id: roi-b, type: send_email, template: nurture-roi-calculator, subject: Build the business case, next: pause}
  - {id: pause, type: wait, duration: 2d}
  - {id: done, type: goal, outcome: tested}
"""
PER_VARIANT = 3
FILES = ("journey_experiment.json", "lead_journey_experiment.json", "lead_journey_experiment_winner.json")


async def main() -> None:
    paths = [HERE / name for name in FILES]
    if all(p.exists() for p in paths) and "--force" not in sys.argv:
        print("the experiment histories exist (--force to record them again)")
        return
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=DATA_CONVERTER,
        interceptors=client_interceptors(),
    )
    try:
        await register_search_attributes(env.client)
        with tempfile.TemporaryDirectory() as tmp:
            journeys = Path(tmp) / "journeys"
            shutil.copytree(daytime_journeys(), journeys)
            (journeys / "experiment-e2e.yaml").write_text(EXPERIMENT_JOURNEY)
            step = load_journey(journeys, "experiment-e2e").step("offer-test")
            assert isinstance(step, ExperimentStep)
            async with SandboxServer() as sandbox:
                settings = make_settings(
                    sandbox.url, env.client.service_client.config.target_host, journeys_dir=journeys
                )
                secret = settings.lead_id_secret.get_secret_value()
                arms: dict[str, list[str]] = {"a": [], "b": []}
                while min(len(v) for v in arms.values()) < PER_VARIANT:
                    email = f"recorded.{uuid.uuid4().hex[:8]}@experiment.example"
                    arm = arms[step.assign("experiment-e2e", lead_key(email, secret))]
                    if len(arm) < PER_VARIANT:
                        arm.append(email)
                leads = LeadService(env.client, settings)
                experiment = env.client.get_workflow_handle_for(
                    JourneyExperimentWorkflow.run, experiment_workflow_id("experiment-e2e", 1, "offer-test")
                )

                async def capture(email: str) -> None:
                    res = await leads.capture(
                        build_capture(
                            settings, email=email, source="web_form", consent=True, journey_id="experiment-e2e"
                        )
                    )
                    save_data_key(res.lead_id)
                    while not (await leads.state(email=email)).variants:
                        await asyncio.sleep(0.2)

                async with running_workers(env.client, settings):
                    for email in arms["a"] + arms["b"]:
                        await capture(email)
                    for email in arms["b"]:
                        await leads.record_event(
                            build_event(type=EventType.CLICK, at=await env.get_current_time()), email=email
                        )
                    while (
                        sum((await experiment.query(JourneyExperimentWorkflow.state)).converted.values()) < PER_VARIANT
                    ):
                        await asyncio.sleep(0.2)
                    while (view := await experiment.query(JourneyExperimentWorkflow.state)).decision is None:
                        await env.sleep(timedelta(hours=12))
                    print("decision:", view.decision)
                    later = f"recorded.{uuid.uuid4().hex[:8]}@experiment.example"
                    await capture(later)
                    for email, path in ((arms["b"][0], paths[1]), (later, paths[2])):
                        handle = env.client.get_workflow_handle_for(
                            LeadJourneyWorkflow.run, leads.workflow_id(email=email)
                        )
                        while (state := await leads.state(email=email)).outcome is None:
                            await env.sleep(timedelta(days=1))
                        print(email, state.outcome, state.variants)
                        path.write_text((await handle.fetch_history()).to_json())
                        print(f"recorded {path.name}")
                    paths[0].write_text((await experiment.fetch_history()).to_json())
                    print(f"recorded {paths[0].name}")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
