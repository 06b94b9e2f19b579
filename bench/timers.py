"""Timer accuracy: N nurture timers due within the same minute, per configuration.

Each journey waits on a `wait: until_local_time` step (like default-nurture's 09:30 slot),
then sends one email. The N journeys are spread evenly over the 60 seconds of one minute
(60 journeys `bench-timer-sNN`, due at second NN). Lateness is measured two ways:

- **fired** (a sample of --history-sample journeys): the `TimerFired` event's time − due;
  the workflow task that handled it (`WorkflowTaskCompleted` after it) − due.
- **acted** (every journey): the journey's email received by the sandbox − due.

    .venv/bin/python bench/timers.py --timers 10000

The journeys are opened already waiting (see open_journeys.py `--via import`), before the
minute starts; opening that overruns the minute invalidates the run (it says so).
Target: 10,000 timers due in the same minute fire with p99 lateness < 2 s.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lib  # noqa: E402
import open_journeys  # noqa: E402

TARGET = "10,000 nurture timers due in the same minute fire with p99 lateness < 2 s"


async def start_waiting(client, settings, n: int, journey_of, tag: str, concurrency: int = 200) -> dict:
    """Start `n` journeys already at their first step (the timer), journey per index."""
    from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

    from domain.journeys import load_journey
    from domain.leads import LeadStage, capture_touch, lead_workflow_id
    from mops.queues import platform_queues
    from starter.service.leads import LeadService, build_capture
    from workflows.lead_journey import LeadJourneyWorkflow
    from workflows.lead_models import LeadJourneyInput, LeadJourneyState
    from workflows.search_attributes import JOURNEY_ID, LEAD_STAGE

    specs: dict[str, object] = {}
    leads = LeadService(client, settings)
    q = platform_queues(settings)
    sem = asyncio.Semaphore(concurrency)
    ids: dict[str, str] = {}  # lead id -> journey id
    errors: list[str] = []
    now = dt.datetime.now(dt.UTC)

    async def one(i: int) -> None:
        jid = journey_of(i)
        spec = specs.get(jid) or specs.setdefault(jid, load_journey(settings.journeys_dir, jid))
        cap = build_capture(
            settings,
            email=lib.lead_email(tag, i),
            source="webinar",
            consent=True,
            timezone="UTC",
            journey_id=jid,
            captured_at=now,
        )
        key = leads.lead_id(cap.email)
        state = LeadJourneyState(
            lead_id=key,
            capture=cap,
            stage=LeadStage.NURTURING,
            journey=spec,
            contact_id=f"bench-{i}",
            consent=True,
            cursor=spec.first_step_id,
            capture_ids=[cap.capture_id],
            touch_path=[capture_touch(cap)],
        )
        async with sem:
            try:
                await client.start_workflow(
                    LeadJourneyWorkflow.run,
                    LeadJourneyInput(lead_id=key, capture=cap, queues=q, state=state),
                    id=lead_workflow_id(key),
                    task_queue=settings.workflow_task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    search_attributes=TypedSearchAttributes(
                        [SearchAttributePair(LEAD_STAGE, "nurturing"), SearchAttributePair(JOURNEY_ID, jid)]
                    ),
                )
                ids[key] = jid
            except Exception as err:  # noqa: BLE001
                errors.append(f"{type(err).__name__}: {str(err)[:160]}")

    t0 = time.monotonic()
    for lo in range(0, n, 2000):
        await asyncio.gather(*(one(i) for i in range(lo, min(n, lo + 2000))))
        print(f"  started {len(ids)}/{n}", file=sys.stderr, flush=True)
    while await open_journeys.backlog(client, settings.workflow_task_queue) > 0:
        await asyncio.sleep(1.0)
    return {"ids": ids, "seconds": time.monotonic() - t0, "errors": errors}


async def fired_lateness(client, lead_ids: list[str], due: dict[str, float]) -> tuple[list[float], list[float]]:
    """TimerFired − due and the next WorkflowTaskCompleted − due, from histories."""
    from temporalio.api.enums.v1 import EventType

    fired, handled = [], []
    sem = asyncio.Semaphore(20)

    async def one(lead: str) -> None:
        async with sem:
            hist = await client.get_workflow_handle(f"lead-{lead}").fetch_history()
        t_fire = None
        for e in hist.events:
            if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED and t_fire is None:
                t_fire = e.event_time.ToDatetime(tzinfo=dt.UTC).timestamp()
                fired.append((t_fire - due[lead]) * 1000)
            elif t_fire is not None and e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                handled.append((e.event_time.ToDatetime(tzinfo=dt.UTC).timestamp() - due[lead]) * 1000)
                return

    await asyncio.gather(*(one(lead) for lead in lead_ids))
    return fired, handled


async def measure(config: lib.Config, args) -> dict:
    from mops.temporal import connect

    tag = uuid.uuid4().hex[:8]
    # The minute is chosen once the opening rate is known: journeys are generated then.
    async with lib.running(config, data_root=args.data_dir) as stack:
        client = await connect(stack.settings)
        probe = await start_waiting(client, stack.settings, args.probe, lambda i: "bench-loop", tag + "p")
        rate = len(probe["ids"]) / probe["seconds"]
        need = args.timers / max(rate, 1.0) * args.margin + 20
        first = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=need)
        minute = first.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        jdir = stack.settings.journeys_dir
        for sec in range(60):
            at = (minute + dt.timedelta(seconds=sec)).time()
            (jdir / f"bench-timer-s{sec:02d}.yaml").write_text(lib.timer_journey(f"bench-timer-s{sec:02d}", at))
        print(
            f"[{config.label}] opening rate {rate:.0f}/s: {args.timers} timers due in the minute from "
            f"{minute.isoformat(timespec='seconds')} ...",
            file=sys.stderr,
            flush=True,
        )
        res = await start_waiting(client, stack.settings, args.timers, lambda i: f"bench-timer-s{i % 60:02d}", tag)
        opened_at = time.time()
        valid = opened_at < minute.timestamp()
        due = {lead: minute.timestamp() + int(jid[-2:]) for lead, jid in res["ids"].items()}
        meter = lib.CpuMeter(stack.pids()).start()
        # Wait for the minute, then for every email (or the limit).
        sb = lib.Sandbox(stack.settings)
        await asyncio.sleep(max(0.0, minute.timestamp() + 60 - time.time()))
        deadline = time.time() + args.limit
        nudges: list[tuple[str, float]] = []  # (lead id, arrival) of each nudge email
        while time.time() < deadline:
            nudges = [
                (sent[0], lib.effect_time(e))
                for e in await sb.effects("mail.send")
                if (sent := lib.journey_email(e)) and sent[1] == "nudge"
            ]
            if len(nudges) >= len(due):
                break
            await asyncio.sleep(2)
        cpu = meter.stop()
        await sb.aclose()
        acted = [(at - due[lead]) * 1000 for lead, at in nudges if lead in due]
        sample = lib.rng(1).sample(sorted(due), min(args.history_sample, len(due)))
        fired, handled = await fired_lateness(client, sample, due) if sample else ([], [])
        return {
            "rate": rate,
            "open_s": res["seconds"],
            "valid": valid,
            "n": len(due),
            "errors": len(res["errors"]),
            "acted": lib.stats(acted, len(due) - len(acted)),
            "no_email": len(due) - len(acted),
            "fired": lib.stats(fired),
            "handled": lib.stats(handled),
            "sample": len(sample),
            "cpu": cpu,
            "flags": stack.dynamic_config(),
            "minute": minute.isoformat(timespec="seconds"),
            "last_s": (max(acted) / 1000 if acted else math.nan),
        }


def report(args, configs: list[lib.Config], results: dict[str, dict]) -> list[str]:
    lines = lib.header_lines(
        configs, {c.label: {"server_flags": results[c.label]["flags"]} for c in configs}, args.note
    )
    lines += [
        f"- workload: {args.timers:,} journeys waiting on a `wait: until_local_time` step, due evenly over one "
        "minute (60 journeys, one per second), then one email each; journeys opened already waiting, before "
        f"the minute; lateness: `fired`/`handled` from {args.history_sample} sampled histories, `acted` = email "
        "at the sandbox, for every journey",
        f"- target: {TARGET}",
        "",
        "| config | timers | opened before the minute | fired p50 ms | fired p99 | handled p50 | handled p99 | "
        "acted p50 | acted p99 | acted max | no email | vs baseline (handled p99) | cores after the minute |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    base = results.get("baseline")
    for c in configs:
        r = results[c.label]
        vs = lib.ratio(r["handled"]["p99"], base["handled"]["p99"]) if base and c.name != "baseline" else "–"
        opened = f"{'yes' if r['valid'] else 'NO (invalid run)'} ({r['open_s']:.0f}s)"
        lines.append(
            f"| {c.label} | {r['n']:,} | {opened} | "
            f"{lib.ms(r['fired']['p50'])} | {lib.ms(r['fired']['p99'])} | {lib.ms(r['handled']['p50'])} | "
            f"{lib.ms(r['handled']['p99'])} | {lib.ms(r['acted']['p50'])} | {lib.ms(r['acted']['p99'])} | "
            f"{lib.ms(r['acted']['max'])} | {r['no_email']} | {vs} | "
            f"{lib.cpu_text(r['cpu'])} |"
        )
    for c in configs:
        r = results[c.label]
        met = r["valid"] and r["handled"]["p99"] < 2000
        lines.append(
            f"\n{c.label}: target {'MET' if met else 'NOT met'} (handled p99 "
            f"{lib.ms(r['handled']['p99'])} ms; the last email {r['last_s']:.0f} s after its due time)."
        )
    return lines


def main() -> int:
    p = lib.parser(__doc__)
    p.add_argument("--timers", type=int, default=10_000, help="timers due in the minute (default 10000)")
    p.add_argument("--probe", type=int, default=300, help="journeys opened first to measure the opening rate")
    p.add_argument("--margin", type=float, default=1.6, help="opening-time safety factor (default 1.6)")
    p.add_argument("--limit", type=float, default=900.0, help="seconds after the minute to wait for emails")
    p.add_argument("--history-sample", type=int, default=500, help="histories read for fired/handled lateness")
    lib.add_common_args(p)
    args = p.parse_args()
    configs = lib.configs_from_args(args)

    return lib.measure_each(configs, measure, args, f"timer accuracy, {args.timers:,} timers in one minute", report)


if __name__ == "__main__":
    sys.exit(main())
