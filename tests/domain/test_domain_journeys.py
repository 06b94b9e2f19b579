import copy
from datetime import time, timedelta
from pathlib import Path

import pytest
import yaml

from domain.journeys import (
    BranchStep,
    JourneyError,
    JourneySpec,
    WaitStep,
    list_journeys,
    load_journey,
    render_notify_text,
    validate_all,
)
from domain.leads import EventType

JOURNEYS = Path(__file__).resolve().parents[2] / "journeys"
DURATION_HELP = "use e.g. 3d, 12h, 30m, 1d12h"

SCORING = {
    "fit_rules": [
        {"id": "big", "when": [{"field": "employees", "op": "gte", "value": 1000}], "points": 20, "reason": "Big"}
    ],
    "engagement_points": {"click": 5},
    "half_life_days": 14,
    "mql_threshold": 50,
}
BASE = {
    "id": "bad",
    "version": 1,
    "name": "Bad journey",
    "from_email": "marketing@mops.example",
    "unsubscribe_group_id": 1,
    "scoring": SCORING,
    "handoff": {"sla": "24h"},
    "steps": [
        {"id": "hello", "type": "send_email", "template": "t-hello", "subject": "Hello"},
        {"id": "pause", "type": "wait", "duration": "2d"},
        {"id": "await", "type": "wait_for_event", "events": ["click"], "timeout": "7d"},
        {"id": "done", "type": "goal", "outcome": "ok"},
    ],
}


def write(directory: Path, data: dict, stem: str = "bad") -> Path:
    path = directory / f"{stem}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def journey_error(directory: Path, journey_id: str = "bad") -> JourneyError:
    with pytest.raises(JourneyError) as info:
        load_journey(directory, journey_id)
    message = str(info.value)
    assert "\n" not in message
    return info.value


def mutated(change) -> dict:
    data = copy.deepcopy(BASE)
    change(data)
    return data


# --- the shipped journeys -------------------------------------------------------------------


def test_shipped_journeys_validate():
    specs = {s.id: s for s in validate_all(JOURNEYS)}
    assert list(specs) == ["default-nurture", "demo"] == list_journeys(JOURNEYS)
    for spec in specs.values():
        assert len(spec.fingerprint) == 64
        assert {s.type for s in spec.steps} >= {
            "send_email",
            "wait",
            "wait_for_event",
            "branch",
            "update_crm",
            "notify",
            "goal",
        }
        assert spec.scoring.mql_threshold == 60


def test_default_nurture_settings():
    spec = load_journey(JOURNEYS, "default-nurture")
    assert spec.quiet_hours is not None and (spec.quiet_hours.start, spec.quiet_hours.end) == (time(20), time(8))
    assert spec.frequency_cap is not None and spec.frequency_cap.per == timedelta(days=7)
    assert spec.handoff.sla == timedelta(hours=24) and spec.handoff.manager_owner_id == "105"
    assert [(s.owner_id, s.weight) for s in spec.handoff.owner_slots()] == [
        ("101", 3),
        ("102", 2),
        ("103", 1),
        ("104", 1),
    ]
    assert spec.restart_step_id == spec.recycle_to != spec.first_step_id
    assert spec.requires_consent and spec.unsubscribe_group_id == 4242
    # The journey should span roughly 90 days: fixed waits, event timeouts, business days (~1.4 calendar days).
    span = timedelta(0)
    for step in spec.steps:
        if isinstance(step, WaitStep):
            span += step.duration or timedelta(days=1.4 * (step.business_days or 0))
        elif step.type == "wait_for_event":
            span += step.timeout
    assert timedelta(days=75) <= span <= timedelta(days=100)


def test_demo_is_fast():
    spec = load_journey(JOURNEYS, "demo")
    waits = [s.duration for s in spec.steps if isinstance(s, WaitStep)] + [
        s.timeout for s in spec.steps if s.type == "wait_for_event"
    ]
    assert waits and max(waits) <= timedelta(seconds=30)
    assert all(s.business_days is None and s.until_local_time is None for s in spec.steps if isinstance(s, WaitStep))
    assert spec.quiet_hours is None and spec.handoff.sla == timedelta(seconds=20)


def test_spec_round_trips_through_json():
    for spec in validate_all(JOURNEYS):
        assert JourneySpec.model_validate_json(spec.model_dump_json()) == spec


def test_fingerprint_tracks_journey_and_shared_scoring(tmp_path):
    (tmp_path / "scoring").mkdir()
    (tmp_path / "scoring" / "s.yaml").write_text(yaml.safe_dump(SCORING))
    write(tmp_path, mutated(lambda d: d.update(scoring="s")))
    first = load_journey(tmp_path, "bad").fingerprint
    assert load_journey(tmp_path, "bad").fingerprint == first
    (tmp_path / "scoring" / "s.yaml").write_text(yaml.safe_dump({**SCORING, "mql_threshold": 70}))
    assert load_journey(tmp_path, "bad").fingerprint != first


def test_navigation():
    spec = load_journey(JOURNEYS, "default-nurture")
    assert spec.first_step_id == "welcome"
    assert spec.following("welcome") == "settle-in"  # list order
    assert spec.following("hot-lead-alert") == "roi-guide"  # explicit next
    assert spec.following("done") is None  # end of the list
    assert spec.step("qualify").type == "branch"
    with pytest.raises(KeyError):
        spec.step("nope")


def test_branch_choose():
    spec = load_journey(JOURNEYS, "default-nurture")
    branch = spec.step("qualify")
    assert isinstance(branch, BranchStep)
    assert branch.choose({"score": 50, "segment": "enterprise"}, []) == "hot-lead-alert"
    assert branch.choose({"score": 10, "segment": "enterprise"}, []) == "roi-guide"
    assert branch.choose({"score": 10, "segment": "smb"}, [EventType.REPLY]) == "roi-guide"
    assert branch.choose({"score": None, "segment": "smb"}, [EventType.OPEN]) == "buyers-guide"


def test_render_notify_text():
    text = "Lead in {journey}: score {score}, segment {segment}, stage {stage}"
    assert render_notify_text(text, journey="demo", score=61.5, segment="hot", stage="mql") == (
        "Lead in demo: score 61.5, segment hot, stage mql"
    )
    assert render_notify_text("{score} / {segment}", score=60.0) == "60 / n/a"


def test_unquoted_times_are_times_not_sexagesimal_numbers(tmp_path):
    text = yaml.safe_dump(BASE, sort_keys=False) + "quiet_hours: {start: 20:00, end: 08:00}\n"
    (tmp_path / "bad.yaml").write_text(text)
    spec = load_journey(tmp_path, "bad")
    assert (spec.quiet_hours.start, spec.quiet_hours.end) == (time(20), time(8))


def test_unquoted_owner_ids_are_strings(tmp_path):
    write(
        tmp_path, mutated(lambda d: d.update(handoff={"sla": "1h", "manager_owner_id": 105, "owner_weights": {101: 2}}))
    )
    handoff = load_journey(tmp_path, "bad").handoff
    assert handoff.manager_owner_id == "105" and handoff.owner_weights == {"101": 2}
    assert [(s.owner_id, s.weight) for s in handoff.owner_slots(["102", "101"])] == [("101", 2), ("102", 1)]


# --- bad journeys: one line, file path, field path ------------------------------------------


def _set_step(i, **fields):
    return lambda d: d["steps"][i].update(fields)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_set_step(1, duration="soon"), f"steps.1.duration: invalid duration 'soon': {DURATION_HELP}"),
        (_set_step(1, duration=90), f"steps.1.duration: invalid duration 90: {DURATION_HELP}"),
        (_set_step(0, next="nowhere"), "steps.0.next: no step with id 'nowhere'"),
        (_set_step(2, on_timeout="dne"), "steps.2.on_timeout: no step with id 'dne' (did you mean 'done'?)"),
        (lambda d: d.update(recycle_to="middle"), "recycle_to: no step with id 'middle'"),
        (_set_step(3, id="hello"), "steps.3.id: duplicate step id 'hello' (first used at steps.0)"),
        (
            _set_step(1, business_days=3),
            "steps.1: wait needs exactly one of duration, business_days, until_local_time (got duration, business_days)",
        ),
        (
            _set_step(1, duration=None),
            "steps.1: wait needs exactly one of duration, business_days, until_local_time (got none)",
        ),
        (_set_step(2, events=[]), "steps.2.events: List should have at least 1 item after validation, not 0"),
        (
            lambda d: d["steps"][0].update(tempate="x"),
            "steps.0: unknown key 'tempate' (allowed: id, next, type, template, subject)",
        ),
        (
            lambda d: d["steps"].insert(
                1, {"id": "ping", "type": "notify", "channel": "#x", "text": "{email} signed up"}
            ),
            "steps.1.text: text uses {email}; only {journey}, {score}, {segment}, {stage} are allowed",
        ),
        (
            lambda d: d["steps"].insert(
                1, {"id": "loop", "type": "branch", "cases": [{"event_seen": "click", "goto": "hello"}]}
            ),
            "steps: loop without a wait would never pause: hello -> loop -> hello",
        ),
        (
            lambda d: d.update(default_timezone="Mars/Olympus"),
            "default_timezone: unknown timezone 'Mars/Olympus': use an IANA name such as Europe/Berlin",
        ),
        (
            lambda d: d["scoring"]["fit_rules"][0]["when"][0].update(field="salary"),
            "scoring.fit_rules.0.when.0.field: unknown field 'salary'",
        ),
        (lambda d: d.pop("handoff"), "handoff: Field required"),
    ],
)
def test_bad_journey_reports_file_and_field(tmp_path, change, expected):
    path = write(tmp_path, mutated(change))
    assert str(journey_error(tmp_path)).startswith(f"{path}: {expected}")


def test_unknown_step_type(tmp_path):
    path = write(tmp_path, mutated(_set_step(0, type="sms")))
    message = str(journey_error(tmp_path))
    assert message.startswith(
        f"{path}: steps.0: Input tag 'sms' found using 'type' does not match any of the expected tags:"
    )
    assert "'send_email'" in message and "'wait_for_event'" in message


def test_id_must_match_file_stem(tmp_path):
    path = write(tmp_path, BASE, stem="other")
    assert str(journey_error(tmp_path, "other")) == f"{path}: id: 'bad' must match the file name 'other.yaml'"


def test_unknown_scoring_name_lists_available(tmp_path):
    (tmp_path / "scoring").mkdir()
    (tmp_path / "scoring" / "default.yaml").write_text(yaml.safe_dump(SCORING))
    path = write(tmp_path, mutated(lambda d: d.update(scoring="enterprise")))
    assert str(journey_error(tmp_path)) == f"{path}: scoring: unknown scoring model 'enterprise' (available: default)"


def test_invalid_scoring_file_names_that_file(tmp_path):
    (tmp_path / "scoring").mkdir()
    scoring_path = tmp_path / "scoring" / "default.yaml"
    scoring_path.write_text(yaml.safe_dump({**SCORING, "half_life_days": 0}))
    write(tmp_path, mutated(lambda d: d.update(scoring="default")))
    assert str(journey_error(tmp_path)) == f"{scoring_path}: half_life_days: Input should be greater than 0"


def test_missing_journey_lists_available(tmp_path):
    write(tmp_path, BASE)
    assert str(journey_error(tmp_path, "ghost")) == f"{tmp_path / 'ghost.yaml'}: no journey 'ghost' (available: bad)"
    assert "available: bad" in str(journey_error(tmp_path, "../bad"))  # ids are names, not paths


def test_yaml_syntax_error_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("id: bad\nsteps: [\n  - id: x\n")
    message = str(journey_error(tmp_path))
    assert message.startswith(f"{path}: line ") and "invalid YAML" in message


def test_top_level_must_be_mapping(tmp_path):
    (tmp_path / "bad.yaml").write_text("- just\n- a list\n")
    assert "expected a mapping" in str(journey_error(tmp_path))


def test_validate_all_raises_first_error(tmp_path):
    write(tmp_path, BASE, stem="bad")
    write(tmp_path, mutated(lambda d: d.update(id="good")), stem="good")
    assert [s.id for s in validate_all(tmp_path)] == ["bad", "good"]
    write(tmp_path, mutated(_set_step(1, duration="soon")), stem="bad")
    with pytest.raises(JourneyError, match="steps.1.duration"):
        validate_all(tmp_path)


def test_a_shared_scoring_file_with_a_bad_band_width_names_the_file_and_field(tmp_path):
    (tmp_path / "scoring").mkdir()
    (tmp_path / "scoring" / "s.yaml").write_text(yaml.safe_dump({**SCORING, "band_width": 0}))
    write(tmp_path, mutated(lambda d: d.update(scoring="s")))
    message = str(journey_error(tmp_path))
    assert "s.yaml" in message and "band_width" in message and "greater than 0" in message
