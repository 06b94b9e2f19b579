"""Before/after of each tuning change: the same small workload on the full mops tuning, on the
mops tuning with ONE change undone, and on the baseline; CPU per unit of work by process
(robust to a noisy machine) and latency.

Workload per variant (fresh stack each): --capture leads captured (the real path), then
--import journeys started already waiting (one workflow task each), then clicks at --rate/s
for --seconds to the captured leads (each click → one journey email).

    .venv/bin/python bench/tuning_ablation.py
    .venv/bin/python bench/tuning_ablation.py --variants mops,no-bytecode-cache

The dev server runs with `--metrics-port`, so task writes (matching `CreateTasks`, tasks
that found no poller waiting) and database transactions per operation are counted too.
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lib  # noqa: E402
import open_journeys  # noqa: E402

# name -> (description, Config kwargs)
VARIANTS: dict[str, tuple[str, dict]] = {
    "mops": ("all of workers/tuning.py and the dev-server dynamic config", {}),
    "no-bytecode-cache": (
        "workflow modules compiled from source per sandbox import",
        {"worker_set": {"cache_workflow_bytecode": False}},
    ),
    "pollers-autoscaling": (
        "poller autoscaling (1..10) instead of 10 fixed pollers",
        {
            "worker_set": {
                "workflow_task_poller_behavior": ["auto", 1, 10, 2],
                "activity_task_poller_behavior": ["auto", 1, 10, 1],
            }
        },
    ),
    "pollers-sdk-default": (
        "the SDK's 5 fixed pollers",
        {
            "worker_set": {
                "workflow_task_poller_behavior": ["simple", 5],
                "activity_task_poller_behavior": ["simple", 5],
            }
        },
    ),
    "no-server-dc": ("the dev server without mops' dynamic config", {"server_tuning": False}),
    "asyncio-loop": ("the worker on the asyncio loop instead of uvloop", {"event_loop": "asyncio"}),
    "cache-1000": ("the SDK's default workflow cache (1000)", {"worker_set": {"max_cached_workflows": 1000}}),
    "sandbox-passthrough": (
        "opt-in: workflow modules passed through the sandbox",
        {"worker_set": {"sandbox_passthrough": ["workflows"]}},
    ),
    "baseline": ("SDK-default workers, plain dev server", {}),
}
COUNTED = (
    "UpdateWorkflowExecution",
    "CreateWorkflowExecution",
    "CreateTasks",
    "GetWorkflowExecution",
    "ReadHistoryBranch",
)


def scrape(port: int) -> collections.Counter:
    out: collections.Counter = collections.Counter()
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    except OSError:
        return out
    for line in text.splitlines():
        m = re.match(r"^persistence_requests\{(.*)\} ([0-9.e+]+)$", line)
        if m:
            op = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1))).get("operation", "")
            out[op] += float(m.group(2))
    return out


def config_for(name: str) -> lib.Config:
    if name == "baseline":
        return lib.Config("baseline", worker_tuning=False, server_tuning=False, event_loop="asyncio")
    kw = dict(VARIANTS[name][1])
    return lib.Config("mops", worker_tuning=True, server_tuning=kw.pop("server_tuning", True), **kw)


async def run_variant(name: str, args) -> dict:
    from mops.temporal import connect
    from starter.stack import temporal_command

    config = config_for(name)
    stack = lib.Stack(config, data_root=args.data_dir)
    mport = lib.free_port()
    stack.settings.data_dir.mkdir(parents=True, exist_ok=True)
    # The dev server exactly as `mops up` starts it, plus a metrics port (EmbeddedStack then reuses it).
    server = subprocess.Popen(
        temporal_command(stack.settings) + ["--metrics-port", str(mport)],
        stdout=open(stack.settings.data_dir / "temporal.log", "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    stack.others["server"] = server
    try:
        await stack.start()
        client = await connect(stack.settings)
        out: dict = {"name": name, "flags": stack.dynamic_config()}
        await lib.settle(stack.pids(), limit_s=60)
        tag = uuid.uuid4().hex[:8]
        # 1. capture path
        m0, meter = scrape(mport), lib.CpuMeter(stack.pids()).start()
        cap = await lib.open_leads(client, stack.settings, args.capture, concurrency=50, tag=tag)
        await lib.wait_count(
            client,
            "JourneyId = 'bench-loop' AND LeadStage = 'nurturing'",
            len(cap["ids"]),
            900,
            "captured leads waiting",
        )
        out["capture"] = per_unit(meter.stop(), scrape(mport), m0, len(cap["ids"]))
        await lib.settle(stack.pids(), limit_s=120)
        # 2. journeys started already waiting
        m0, meter = scrape(mport), lib.CpuMeter(stack.pids()).start()
        imp = await open_journeys.import_leads(
            client, stack.settings, args.imports, start_index=10**6, tag=tag, concurrency=200
        )
        out["import"] = per_unit(meter.stop(), scrape(mport), m0, len(imp["ids"]))
        out["import"]["rate"] = len(imp["ids"]) / imp["seconds"]
        await lib.settle(stack.pids(), limit_s=120)
        # 3. clicks → emails
        m0 = scrape(mport)
        r = await lib.event_action_latency(client, stack, cap["ids"], rate=args.rate, seconds=args.seconds, warmup=5)
        ops = r["sent"] + r["send_errors"]
        out["ops"] = per_unit(r["cpu"], scrape(mport), m0, max(1, ops), wall_units=args.rate * (args.seconds + 5))
        out["ops"]["lat"] = r["lat"]
        out["ops"]["no_email"] = r["unanswered"]
        out["rss"] = stack.worker_rss()
        return out
    finally:
        stack.stop()
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=20)


def per_unit(
    cpu: dict, m1: collections.Counter, m0: collections.Counter, units: int, wall_units: float | None = None
) -> dict:
    """CPU ms per unit by process and database calls per unit."""
    n = wall_units or units
    ms = {k: v * cpu["wall_s"] / n * 1000 for k, v in cpu["cores"].items()}
    db = {op: (m1[op] - m0[op]) / n for op in COUNTED}
    return {"ms": ms, "db": db, "other": cpu["cores"].get("other", 0.0), "wall_s": cpu["wall_s"]}


def report(args, results: list[dict]) -> list[str]:
    lines = [
        f"- machine: {lib.machine_line()}",
        f"- code: {lib.code_line()}",
        "- storage: Temporal dev server on a SQLite file in WAL mode (temp dir), with `--metrics-port`",
        f"- command: `{lib.command_line()}`",
        f"- workload per variant (fresh stack): {args.capture} leads captured (update-with-start, journey load, "
        f"CRM upsert, contact sync), {args.imports} journeys started already waiting, then {args.rate:g} "
        f"clicks/s for 5+{args.seconds:g}s (click → journey email)",
        "- figures: CPU milliseconds per unit of work by process (CPU seconds / units, from /proc); "
        "`tx` = database writes of workflow state per unit (UpdateWorkflowExecution + CreateWorkflowExecution);"
        " `task writes` = matching CreateTasks per unit (a task that found no poller waiting is written first); "
        "latency from the click's scheduled time to the email at the sandbox",
        "- variants: " + "; ".join(f"`{r['name']}` = {VARIANTS[r['name']][0]}" for r in results),
    ]
    if args.note:
        lines.append(f"- note: {args.note}")
    lines += [
        "",
        "| variant | capture: server / worker ms per lead | import: server / worker ms per journey | "
        "import /s | click: server / worker / sandbox ms per op | tx per op | task writes per op | "
        "click p50 ms | p99 | worker RSS | other procs (cores, ops phase) |",
        "|" + "---|" * 11,
    ]

    def tx(d: dict) -> float:
        return d["db"]["UpdateWorkflowExecution"] + d["db"]["CreateWorkflowExecution"]

    for r in results:
        c, i, o = r["capture"], r["import"], r["ops"]
        lines.append(
            f"| {r['name']} | {c['ms'].get('server', 0):.1f} / {c['ms'].get('worker', 0):.1f} | "
            f"{i['ms'].get('server', 0):.1f} / {i['ms'].get('worker', 0):.1f} | {i['rate']:.0f} | "
            f"{o['ms'].get('server', 0):.1f} / {o['ms'].get('worker', 0):.1f} / "
            f"{o['ms'].get('sandbox', 0):.1f}"
            f" | {tx(o):.1f} | {o['db']['CreateTasks']:.2f} | {lib.ms(o['lat']['p50'])} | "
            f"{lib.ms(o['lat']['p99'])} | {lib.mib(r['rss'])} | {o['other']:.2f} |"
        )
    return lines


def main() -> int:
    p = lib.parser(__doc__)
    p.add_argument(
        "--variants",
        default="mops,no-bytecode-cache,pollers-autoscaling,pollers-sdk-default,"
        "no-server-dc,asyncio-loop,sandbox-passthrough,baseline",
        help=f"in order; known: {', '.join(VARIANTS)}",
    )
    p.add_argument("--capture", type=int, default=200, help="leads captured (default 200)")
    p.add_argument("--imports", type=int, default=1000, help="journeys started already waiting (default 1000)")
    p.add_argument("--rate", type=float, default=20.0, help="clicks per second (default 20)")
    p.add_argument("--seconds", type=float, default=40.0, help="measured seconds of clicks (default 40)")
    p.add_argument("--data-dir", type=Path, default=None, help="parent directory for the throwaway stacks")
    p.add_argument("--no-results", action="store_true", help="print only; do not append to bench/RESULTS.md")
    p.add_argument("--note", default="", help="a sentence recorded with the results")
    args = p.parse_args()
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        p.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")

    async def run() -> int:
        results = []
        for name in names:
            t0 = time.monotonic()
            results.append(await run_variant(name, args))
            print(f"  {name} done in {time.monotonic() - t0:.0f}s", file=sys.stderr, flush=True)
        lib.append_results(
            "tuning ablation (each change undone in turn)", report(args, results), write=not args.no_results
        )
        return 0

    return lib.run_main(run)


if __name__ == "__main__":
    sys.exit(main())
