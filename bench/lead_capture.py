"""Capture → first email, open loop, on a rate ladder: mops against a plain 3-activity
workflow, on the same dev server in the same run.

- `mops`: leads captured through `starter.service.leads.LeadService.capture` (the real
  service: update-with-start) into the real `LeadJourney` on the `bench-welcome` journey
  (first step: the welcome email), worked by the mops worker (bench/worker_proc.py, the
  mops tuning).
- `plain` (the baseline): `PlainLead` (bench/plain_journey.py): CRM upsert → score → send
  email as three HTTP activities against the same sandbox endpoints, started with a default
  client and worked by a default `Worker(...)` on the asyncio loop, on its own task queue
  (bench/plain_worker.py).

Both go through the same open-loop driver (capture i is made at t0 + i/rate whether or not
earlier ones have returned) and the same measurement: latency = the first email's arrival
at the SendGrid sandbox (its own arrival time) − the capture's *scheduled* time. Each rate
runs --seconds; a configuration's ladder stops after the first rate whose p99 ≥ 2 s or that
loses or doubles an email. Then, counted not timed, workflow tasks and history events per
lead until the first email, from the histories of --leads-per-count sampled leads.

    .venv/bin/python bench/lead_capture.py                               # full ladder, 60 s per rate
    .venv/bin/python bench/lead_capture.py --rates 5,10 --seconds 10 --no-results

See bench/README.md for what each figure means.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import lib  # noqa: E402

CONFIGS = ("mops", "plain")
DEFAULT_RATES = "5,10,15,20,30,40,60,80,100"
JOURNEY = "bench-welcome"
PLAIN_QUEUE = "bench-plain"
LIMIT_MS = 2000.0
MAX_IN_FLIGHT = 5000
WELCOME = (
    lib.HEADER
    + """\
steps:
  # The first step is the welcome email (no quiet hours, no frequency cap: sent at once).
  - id: welcome
    type: send_email
    template: nurture-welcome
    subject: Welcome - here is where to start
  # Then the journey rests, as a real nurture does between emails.
  - id: rest
    type: wait
    duration: 30d
  - id: done
    type: goal
    outcome: nurture_complete
"""
).format(id=JOURNEY, name="Benchmark welcome email")

# A starter captures lead `i` at `email` and returns the ids of the workflows that lead causes.
Starter = Callable[[int, str], Awaitable[list[str]]]


# ------------------------------------------------------------------ the open-loop driver
@dataclass
class Step:
    config: str
    rate: float
    seconds: float
    scheduled: dict[str, float] = field(default_factory=dict)  # email -> scheduled capture time
    workflows: dict[str, list[str]] = field(default_factory=dict)  # email -> workflow ids it caused
    capture_errors: int = 0
    err_samples: list[str] = field(default_factory=list)
    skipped: int = 0  # not captured: too many captures already in flight
    max_lag_s: float = 0.0  # how late the driver made a capture after its scheduled time


async def drive(start: Starter, step: Step, tag: str) -> None:
    """Capture at fixed intervals for the step's rate, never waiting for earlier captures."""
    tasks: set[asyncio.Task] = set()

    async def one(i: int, email: str, at: float) -> None:
        step.max_lag_s = max(step.max_lag_s, time.time() - at)
        try:
            step.workflows[email] = await start(i, email)
        except Exception as err:  # noqa: BLE001 — counted and shown; the email is still looked for
            step.capture_errors += 1
            if len(step.err_samples) < 5:
                step.err_samples.append(f"{type(err).__name__}: {str(err)[:160]}")

    for i, at in enumerate(lib.open_loop_schedule(step.rate, step.seconds, time.time() + 0.5)):
        delay = at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(tasks) >= MAX_IN_FLIGHT:
            step.skipped += 1
            continue
        email = lib.lead_email(tag, i)
        step.scheduled[email] = at
        t = asyncio.create_task(one(i, email, at))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(set(tasks), timeout=120)


def mops_starter(client, settings) -> Starter:
    from domain.leads import LeadCapture
    from domain.privacy import contact_sync_workflow_id
    from starter.service.leads import LeadService, build_capture

    leads = LeadService(client, settings)
    # build_capture validates the fields and the journey (re-reading its YAML each call); it
    # runs once here, and each capture is then the same model built directly, so the driver
    # spends its time capturing, not parsing YAML.
    build_capture(settings, email="probe@acme.example", source="webinar", consent=True, journey_id=JOURNEY)

    async def start(_: int, email: str) -> list[str]:
        capture = LeadCapture(
            capture_id=str(uuid.uuid4()),
            email=email,
            source="webinar",
            consent=True,
            timezone="UTC",
            captured_at=datetime.now(UTC),
            journey_id=JOURNEY,
        )
        res = await leads.capture(capture)
        return [res.workflow_id, contact_sync_workflow_id(res.lead_id)]

    return start


def plain_starter(client) -> Starter:
    from plain_journey import PlainLeadInput, PlainLeadWorkflow

    async def start(_: int, email: str) -> list[str]:
        # One id per address (addresses are unique per step): a workflow id starts once.
        wid = "plain-" + email.partition("@")[0]
        await client.start_workflow(
            PlainLeadWorkflow.run, PlainLeadInput(email, "webinar", wid), id=wid, task_queue=PLAIN_QUEUE
        )
        return [wid]

    return start


# ------------------------------------------------------------------ measurement
class Inbox:
    """The SendGrid sandbox's `mail.send` effects, read incrementally (only what is new)."""

    def __init__(self, settings) -> None:
        from sandbox.admin_client import SandboxAdmin

        self.admin = SandboxAdmin(f"http://127.0.0.1:{settings.sandbox_port}")
        self.seq = 0
        self.arrivals: dict[str, list[float]] = defaultdict(list)  # address -> arrival times

    async def skip_to_now(self) -> None:
        """Forget what arrived before (an earlier step's emails)."""
        await self.read()
        self.arrivals.clear()

    async def read(self) -> None:
        for e in await self.admin.effects(kind="mail.send", after=self.seq):
            self.seq = max(self.seq, e["seq"])
            for address in e["summary"]["to"]:
                self.arrivals[address].append(lib.effect_time(e))

    async def aclose(self) -> None:
        await self.admin.aclose()


async def quiesce(pids: dict[str, int], limit_s: float) -> None:
    """Wait until these processes (not the whole, shared machine) are idle for 2 s in a row,
    so the work a step caused (the contact sync's pushes after the email, too) is metered."""
    limit_s = min(limit_s, float(os.environ.get("MOPS_BENCH_SETTLE_LIMIT", limit_s)))
    t0, calm = time.monotonic(), 0
    while time.monotonic() - t0 < limit_s and calm < 2:
        m = lib.CpuMeter(pids).start()
        await asyncio.sleep(1.0)
        cores = m.stop()["cores"]
        calm = calm + 1 if all(cores[n] < 0.1 for n in pids) else 0


async def run_step(stack: lib.Stack, inbox: Inbox, start: Starter, step: Step, worker: str, args) -> dict:
    pids = stack.pids()
    await lib.settle(pids, limit_s=args.settle)
    await inbox.skip_to_now()
    meter = lib.CpuMeter({"server": pids["server"], "worker": pids[worker], "sandbox": pids["sandbox"]}).start()
    await drive(start, step, f"{step.config}-{uuid.uuid4().hex[:6]}-r{step.rate:g}")
    deadline = time.monotonic() + args.drain
    while True:
        await inbox.read()
        if all(a in inbox.arrivals for a in step.scheduled) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    await quiesce({"server": pids["server"], "worker": pids[worker]}, limit_s=60)
    cpu = meter.stop()
    await inbox.read()  # a duplicate sent while the processes wound down counts too
    return summarize(step, inbox.arrivals, cpu)


def summarize(step: Step, arrivals: dict[str, list[float]], cpu: dict[str, Any]) -> dict:
    lat, missing, dupes = [], 0, 0
    slowest: list[tuple[float, str]] = []
    for email, at in step.scheduled.items():
        got = sorted(arrivals.get(email, []))
        if not got:
            missing += 1
            slowest.append((float("inf"), email))
            continue
        lat.append((got[0] - at) * 1000)
        slowest.append((lat[-1], email))
        dupes += len(got) - 1
    leads = max(1, len(step.scheduled))
    s = lib.stats(lat, missing + step.skipped)
    cpu_s = {k: v * cpu["wall_s"] / leads for k, v in cpu["cores"].items()}
    return {
        "step": step,
        "leads": len(step.scheduled) + step.skipped,
        "emails": len(lat),
        "missing": missing + step.skipped,
        "dupes": dupes,
        "lat": s,
        "cpu_s_per_lead": cpu_s,
        "cpu": cpu,
        "ok": s["p99"] < LIMIT_MS and missing + step.skipped == 0 and dupes == 0,
        # the slowest leads' workflows, to look up (MOPS_BENCH_KEEP=1 keeps the stack)
        "slowest": [(ms, step.workflows.get(e, [e])[0]) for ms, e in sorted(slowest, reverse=True)[:3]],
    }


# ------------------------------------------------------------------ counted, not timed
def count_events(events: list, send_activity: str | None) -> tuple[int, int] | None:
    """(workflow tasks completed, all events) of one history; with `send_activity`, only up to
    the workflow task that handled that email activity's completion (None: no email yet)."""
    from temporalio.api.enums.v1 import EventType

    end = len(events)
    if send_activity is not None:
        scheduled = {
            e.event_id
            for e in events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and e.activity_task_scheduled_event_attributes.activity_type.name == send_activity
        }
        done = next(
            (
                i
                for i, e in enumerate(events)
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                and e.activity_task_completed_event_attributes.scheduled_event_id in scheduled
            ),
            None,
        )
        if done is None:
            return None
        end = next(
            (
                i + 1
                for i in range(done + 1, len(events))
                if events[i].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
            ),
            len(events),
        )
    cut = events[:end]
    wft = sum(1 for e in cut if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    return wft, len(cut)


async def counted(client, step: Step, send_activity: str, n: int) -> dict:
    """Workflow tasks and history events per lead, over `n` leads of `step` spread evenly,
    across every workflow each lead caused (the first is the one that sends the email)."""
    emails = [e for e in step.scheduled if e in step.workflows]
    sample = [emails[round(i * (len(emails) - 1) / max(1, n - 1))] for i in range(min(n, len(emails)))]
    per_type: dict[str, list[tuple[int, int]]] = defaultdict(list)
    incomplete = 0
    for email in dict.fromkeys(sample):
        for k, wid in enumerate(step.workflows[email]):
            history = await client.get_workflow_handle(wid).fetch_history()
            events = list(history.events)
            wtype = events[0].workflow_execution_started_event_attributes.workflow_type.name
            c = count_events(events, send_activity if k == 0 else None)
            if c is None:
                incomplete += 1
            else:
                per_type[wtype].append(c)
    leads = len(dict.fromkeys(sample))
    by_type = {
        t: (sum(w for w, _ in v) / max(1, leads), sum(e for _, e in v) / max(1, leads)) for t, v in per_type.items()
    }
    return {
        "leads": leads,
        "incomplete": incomplete,
        "by_type": by_type,
        "wft": sum(w for w, _ in by_type.values()),
        "events": sum(e for _, e in by_type.values()),
    }


# ------------------------------------------------------------------ the run
async def wait_ready(stack: lib.Stack, name: str, line: bytes, limit_s: float = 60) -> None:
    log = stack.settings.data_dir / f"{name}.log"
    proc = stack.others[name]
    deadline = time.monotonic() + limit_s
    while not (log.exists() and line in log.read_bytes()):
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited ({proc.returncode}); see {log}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} not ready after {limit_s:.0f}s; see {log}")
        await asyncio.sleep(0.1)


async def measure(args, configs: list[str]) -> dict:
    from temporalio.client import Client

    from activities import contracts as act
    from mops.temporal import connect

    mops_config = lib.Config(
        "mops",
        worker_tuning=True,
        server_tuning=True,
        worker_set=dict(args.worker_set),
        workers=1 if "mops" in configs else 0,
    )
    out: dict[str, Any] = {"configs": {}}
    async with lib.running(mops_config, data_root=args.data_dir, journeys={JOURNEY: WELCOME}) as stack:
        out["server_flags"] = stack.dynamic_config()
        if "plain" in configs:
            stack.spawn_other(
                "plain", [lib.PY, str(BENCH / "plain_worker.py"), "--task-queue", PLAIN_QUEUE], stack.env()
            )
            await wait_ready(stack, "plain", b"plain bench worker ready")
        mops_client = await connect(stack.settings)
        plain_client = await Client.connect(
            stack.settings.temporal_address, namespace=stack.settings.temporal_namespace
        )
        inbox = Inbox(stack.settings)
        try:
            for name in configs:
                if name == "mops":
                    client, start, worker, send = (
                        mops_client,
                        mops_starter(mops_client, stack.settings),
                        "worker",
                        act.EMAIL_SEND.name,
                    )
                else:
                    from plain_journey import SEND_ACTIVITY

                    client, start, worker, send = plain_client, plain_starter(plain_client), "plain", SEND_ACTIVITY
                if args.warmup > 0:  # cold start (first workflow runs, connections) kept out of the figures
                    print(
                        f"  [{name}] warm-up, {args.rates[0]:g}/s for {args.warmup:g}s ...", file=sys.stderr, flush=True
                    )
                    r = await run_step(stack, inbox, start, Step(name, args.rates[0], args.warmup), worker, args)
                    print("    warm-up (not recorded): " + step_text(r), file=sys.stderr, flush=True)
                steps = []
                for rate in args.rates:
                    print(f"  [{name}] {rate:g} captures/s for {args.seconds:g}s ...", file=sys.stderr, flush=True)
                    r = await run_step(stack, inbox, start, Step(name, rate, args.seconds), worker, args)
                    steps.append(r)
                    print("    " + step_text(r), file=sys.stderr, flush=True)
                    slow = ", ".join(f"{wid} {lib.ms(v)} ms" for v, wid in r["slowest"])
                    print(f"    slowest: {slow}", file=sys.stderr, flush=True)
                    for s in r["step"].err_samples:
                        print("    capture error sample:", s, file=sys.stderr, flush=True)
                    if not r["ok"]:
                        break
                count = await counted(client, steps[0]["step"], send, args.leads_per_count)
                out["configs"][name] = {"steps": steps, "counted": count}
        finally:
            await inbox.aclose()
    return out


def step_text(r: dict) -> str:
    la, c = r["lat"], r["cpu_s_per_lead"]
    return (
        f"p50 {lib.ms(la['p50'])} p99 {lib.ms(la['p99'])} ms; emails {r['emails']}/{r['leads']}, "
        f"missing {r['missing']}, duplicates {r['dupes']}, capture errors {r['step'].capture_errors}; "
        f"CPU-s/lead server {c['server']:.4f} worker {c['worker']:.4f}; {'pass' if r['ok'] else 'FAIL'}"
    )


# ------------------------------------------------------------------ the report
def max_rate(steps: list[dict]) -> float:
    """The highest rate before the first failing step (nan when the first step failed)."""
    best = float("nan")
    for r in steps:
        if not r["ok"]:
            break
        best = r["step"].rate
    return best


def at_rate(steps: list[dict], rate: float) -> dict | None:
    return next((r for r in steps if r["step"].rate == rate), None)


def quotient(a: float, b: float) -> str:
    """mops ÷ plain, or – when either is missing."""
    if not (a == a and b == b) or b <= 0 or a == float("inf") or b == float("inf"):
        return "–"
    return f"{a / b:.2f}"


def report(args, configs: list[str], res: dict) -> list[str]:
    lines = [
        f"- machine: {lib.machine_line()}",
        f"- code: {lib.code_line()}",
        "- storage: Temporal dev server on a SQLite file in WAL mode (temp dir on the machine's disk), "
        "one server for both configurations, started as `mops up` starts it",
        f"  - dev server: `{' '.join(res['server_flags'])}`",
        f"- command: `{lib.command_line()}`",
        "- `mops`: `LeadService.capture` (update-with-start) → `LeadJourney` on `bench-welcome` (first step the "
        "welcome email) and its `ContactSync`; mops worker with workers.tuning"
        + "".join(f", `--set {k}={json.dumps(v)}`" for k, v in args.worker_set),
        "- `plain` (baseline): `PlainLead` (bench/plain_journey.py), CRM upsert → score → send email as 3 HTTP "
        f"activities on the same sandbox endpoints; default client, default `Worker(...)`, asyncio, task queue "
        f"`{PLAIN_QUEUE}`",
        f"- workload: open loop, {args.warmup:g}s unrecorded warm-up per configuration, then "
        f"{args.seconds:g}s per rate, ladder {','.join(f'{r:g}' for r in args.rates)}/s, "
        "stopping after the first rate with p99 ≥ 2 s or a lost or doubled email; latency = first email's arrival "
        "at the SendGrid sandbox − the capture's scheduled time; CPU-s per lead over the step until the worker and "
        "server were idle again",
    ]
    if args.note:
        lines.append(f"- note: {args.note}")
    lines += [
        "",
        "| config | rate/s | leads | emails | missing | duplicates | capture errors | p50 ms | p95 | p99 | max | "
        "CPU-s/lead server | worker | sandbox | driver lag ms | other load (cores) | |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in configs:
        for r in res["configs"][name]["steps"]:
            la, c, st = r["lat"], r["cpu_s_per_lead"], r["step"]
            lines.append(
                f"| {name} | {st.rate:g} | {r['leads']} | {r['emails']} | {r['missing']} | {r['dupes']} | "
                f"{st.capture_errors} | {lib.ms(la['p50'])} | {lib.ms(la['p95'])} | {lib.ms(la['p99'])} | "
                f"{lib.ms(la['max'])} | {c['server']:.4f} | {c['worker']:.4f} | {c['sandbox']:.4f} | "
                f"{st.max_lag_s * 1000:.0f} | {r['cpu']['cores']['other']:.2f} | {'pass' if r['ok'] else 'FAIL'} |"
            )
    lines.append("")
    summary: dict[str, dict[str, float]] = {}
    for name in configs:
        steps, cnt = res["configs"][name]["steps"], res["configs"][name]["counted"]
        first = steps[0]
        five = at_rate(steps, 5.0)
        best = max_rate(steps)
        summary[name] = {
            "max": best,
            "p50_5": five["lat"]["p50"] if five else float("nan"),
            "server": first["cpu_s_per_lead"]["server"],
            "worker": first["cpu_s_per_lead"]["worker"],
            "wft": cnt["wft"],
            "events": cnt["events"],
        }
        lost = sum(r["missing"] for r in steps)
        doubled = sum(r["dupes"] for r in steps)
        best_text = f"{best:g}/s" if best == best else f"none (failed at {first['step'].rate:g}/s)"
        lines.append(
            f"{name}: max rate with p99 < 2 s: {best_text}"
            + (f"; at 5/s p50 {lib.ms(five['lat']['p50'])} ms, p99 {lib.ms(five['lat']['p99'])} ms" if five else "")
            + f"; CPU-s per lead at {first['step'].rate:g}/s: server {first['cpu_s_per_lead']['server']:.4f}, "
            f"worker {first['cpu_s_per_lead']['worker']:.4f}"
        )
        if lost or doubled:
            lines.append(f"{name}: EMAILS WRONG: {lost} leads got no welcome email, {doubled} duplicate emails")
        parts = ", ".join(f"{t} {w:.1f} / {e:.1f}" for t, (w, e) in sorted(cnt["by_type"].items()))
        lines.append(
            f"{name}: workflow tasks per lead until the first email {cnt['wft']:.1f}, history events per lead "
            f"{cnt['events']:.1f} (per workflow type, tasks / events: {parts}; {cnt['leads']} leads sampled at "
            f"{first['step'].rate:g}/s"
            + (f"; {cnt['incomplete']} histories without the email, left out" if cnt["incomplete"] else "")
            + ")"
        )
    if "mops" in summary and "plain" in summary:
        m, p = summary["mops"], summary["plain"]
        lines += [
            "",
            "| mops ÷ plain | max rate | p50 at 5/s | CPU-s/lead server (first rate) | CPU-s/lead worker (first rate) "
            "| workflow tasks/lead | history events/lead |",
            "|---|---|---|---|---|---|---|",
            f"| | {quotient(m['max'], p['max'])} | {quotient(m['p50_5'], p['p50_5'])} | "
            f"{quotient(m['server'], p['server'])} | {quotient(m['worker'], p['worker'])} | "
            f"{quotient(m['wft'], p['wft'])} | {quotient(m['events'], p['events'])} |",
        ]
    return lines


def parse_rates(text: str) -> list[float]:
    try:
        rates = [float(r) for r in text.split(",") if r.strip()]
    except ValueError:
        raise SystemExit(f"--rates: expected comma-separated numbers, got {text!r}") from None
    if not rates or any(r <= 0 for r in rates):
        raise SystemExit(f"--rates: every rate must be above 0, got {text!r}")
    return sorted(rates)


def main() -> int:
    p = lib.parser(__doc__)
    p.add_argument("--rates", default=DEFAULT_RATES, help=f"captures per second, the ladder (default {DEFAULT_RATES})")
    p.add_argument("--seconds", type=float, default=60.0, help="seconds of captures per rate (default 60)")
    p.add_argument(
        "--warmup",
        type=float,
        default=5.0,
        help="unrecorded seconds of captures at the first rate, once per configuration (default 5)",
    )
    p.add_argument("--configs", default="mops,plain", help="configurations, in order (default mops,plain)")
    p.add_argument(
        "--leads-per-count",
        type=int,
        default=20,
        help="leads whose histories are counted, from the first rate (default 20)",
    )
    p.add_argument(
        "--drain", type=float, default=30.0, help="seconds to wait for emails after the last capture (default 30)"
    )
    p.add_argument(
        "--settle",
        type=float,
        default=60.0,
        help="at most this many seconds waiting for an idle machine per rate (default 60)",
    )
    p.add_argument(
        "--worker-set",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="change one part of the mops worker's configuration, for an ablation (bench/worker_proc.py --set)",
    )
    p.add_argument("--data-dir", type=Path, default=None, help="parent directory for the throwaway stack")
    p.add_argument("--no-results", action="store_true", help="print only; do not append to bench/RESULTS.md")
    p.add_argument("--note", default="", help="a sentence recorded with the results")
    args = p.parse_args()
    args.rates = parse_rates(args.rates)
    try:
        args.worker_set = [(k, json.loads(v)) for k, _, v in (item.partition("=") for item in args.worker_set)]
    except json.JSONDecodeError as err:
        raise SystemExit(f"--worker-set: expected KEY=JSON, got {args.worker_set!r} ({err})") from None
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if not configs or unknown or len(set(configs)) != len(configs):
        raise SystemExit(f"--configs: expected some of {', '.join(CONFIGS)} once each, got {args.configs!r}")
    if args.seconds <= 0 or args.leads_per_count < 1:
        raise SystemExit("--seconds must be above 0 and --leads-per-count at least 1")

    async def run() -> int:
        res = await measure(args, configs)
        title = "lead capture → first email, mops vs a plain workflow"
        lib.append_results(title, report(args, configs, res), write=not args.no_results)
        return 0

    return lib.run_main(run)


if __name__ == "__main__":
    sys.exit(main())
