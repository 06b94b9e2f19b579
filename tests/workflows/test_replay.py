"""Committed histories still replay against today's workflow code.

A change that alters the command sequence of running workflows must be guarded
with workflow.patched(); this test fails when one is not. Re-record with
`python -m tests.histories.record` only for intended, guarded changes.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from domain.meta_ads import ImageRef
from mops.keystore import SqliteKeyStore, StoredKey
from mops.settings import Settings
from mops.temporal import data_converter
from workers.main import WORKFLOWS
from workflows.campaign_models import CampaignInput

HERE = Path(__file__).parent.parent / "histories"
HISTORIES = sorted(HERE.glob("*.json"))
# The per-lead data keys of the recorded leads whose payloads are encrypted, wrapped under
# the public development master key (`dev-1`): without them those histories cannot be read.
DATA_KEYS = HERE / "keys" / "data_keys.json"


@pytest.fixture(scope="module")
def converter(tmp_path_factory: pytest.TempPathFactory):
    store_path = tmp_path_factory.mktemp("replay-keys") / "keys.db"
    store = SqliteKeyStore(store_path)
    for entry in json.loads(DATA_KEYS.read_text()):
        store.add_if_absent(StoredKey(**{**entry, "wrapped": base64.b64decode(entry["wrapped"])}))
    store.close()
    return data_converter(Settings(keystore_path=store_path, codec_keys=Settings.model_fields["codec_keys"].default))


def workflow_type(path: Path) -> str:
    first = json.loads(path.read_text())["events"][0]
    return first["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]


def test_every_workflow_type_has_a_committed_history() -> None:
    """A workflow type without a recorded run is a type whose next change nobody checks
    against the runs in flight: record one (tests/histories/record*.py) with the type."""
    recorded = {workflow_type(p) for p in HISTORIES}
    # The SDK keeps a class's registered name on its (private) definition; there is no public getter.
    names = {workflow._Definition.must_from_class(w).name for w in WORKFLOWS}
    missing = sorted(names - recorded)
    assert missing == [], f"no committed history in tests/histories/ for workflow type(s): {', '.join(missing)}"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path, converter) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


async def test_campaign_histories_hold_both_shapes_of_an_ad_image(converter) -> None:
    # What the replays above cover: a campaign launched with the image as a reference, and
    # one launched by the version before, whose input holds an absolute path (read back
    # as the string it was; the worker refuses to upload it).
    async def image(name: str) -> object:
        history = WorkflowHistory.from_json(name, (HERE / f"{name}.json").read_text())
        started = history.events[0].workflow_execution_started_event_attributes
        [inp] = await converter.decode(started.input.payloads, [CampaignInput])
        [ad] = [c.ad for c in inp.spec.channels if c.ad is not None]
        return ad.image

    reference = await image("campaign_meta_image")
    assert isinstance(reference, ImageRef) and reference.path == "images/spring-launch.png"
    legacy = await image("campaign_meta_image_path")
    assert isinstance(legacy, str) and legacy.endswith("/campaigns/images/spring-launch.png")
