"""Open journeys at scale: N lead journeys open at once (waiting on a 30-day timer and the
`event` signal), per configuration: time to open them, worker RSS, server RSS, DB size, and
click → email latency (p50/p99) measured while they are all open.

    .venv/bin/python bench/open_journeys.py --counts 10000,100000
    .venv/bin/python bench/open_journeys.py --counts 2000 --via capture

How journeys are opened (--via):
- `capture` (the real path): `LeadService.capture` (update-with-start, as the gateway and
  CLI do): load the journey, CRM upsert, contact sync, then the wait.
- `import` (default): the journey is started already qualified, with the state a journey
  carries across continue-as-new (journey spec, CRM contact id, consent, cursor at the wait):
  one workflow task per lead. Every long-lived journey looks like this after its first
  continue-as-new; it is also how leads already qualified elsewhere would be brought in.
  The capture path's rate is measured on --capture-sample leads first and reported beside it.

Target: 100,000 open with worker RSS < 2 GB and signal→action p99 < 500 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lib  # noqa: E402

TARGET = "100,000 open with worker RSS < 2 GB and signal→action p99 < 500 ms"


async def backlog(client, queue: str) -> int:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    r = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            report_stats=True,
        )
    )
    return int(r.stats.approximate_backlog_count) if r.HasField("stats") else 0


async def seed_crm_contacts(settings, emails: list[str], concurrency: int = 8) -> dict[str, str]:
    """The CRM contacts the imported journeys point at, made in the sandbox HubSpot with its
    batch upsert (100 a request, as HubSpot allows): a journey's click writes its contact (the
    score, a stage change), and a write to a contact that does not exist is refused (404),
    which parks the journey's step before its email. Returns each address's contact id."""
    import httpx

    ids: dict[str, str] = {}
    sem = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {settings.hubspot_token.get_secret_value()}"}
    url = f"{settings.hubspot_base_url}/crm/v3/objects/contacts/batch/upsert"
    async with httpx.AsyncClient(timeout=60) as http:

        async def batch(chunk: list[str]) -> None:
            inputs = [{"idProperty": "email", "id": e, "properties": {"email": e}} for e in chunk]
            async with sem:
                r = await http.post(url, headers=headers, json={"inputs": inputs})
            r.raise_for_status()
            for result in r.json()["results"]:
                ids[result["properties"]["email"]] = result["id"]

        await asyncio.gather(*(batch(emails[lo : lo + 100]) for lo in range(0, len(emails), 100)))
    missing = [e for e in emails if e not in ids]
    if missing:
        raise RuntimeError(f"the sandbox CRM made no contact for {len(missing)} addresses, e.g. {missing[0]}")
    return ids


async def import_leads(
    client, settings, n: int, *, start_index: int, tag: str, concurrency: int = 200, progress_every: float = 15.0
) -> dict:
    """Start `n` journeys already waiting at `await-click` (the continue-as-new state shape),
    each with its contact in the sandbox CRM."""
    from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

    from domain.journeys import load_journey
    from domain.leads import LeadStage, capture_touch, lead_workflow_id
    from mops.queues import platform_queues
    from starter.service.leads import LeadService, build_capture
    from workflows.lead_journey import LeadJourneyWorkflow
    from workflows.lead_models import LeadJourneyInput, LeadJourneyState
    from workflows.search_attributes import JOURNEY_ID, LEAD_STAGE

    spec = load_journey(settings.journeys_dir, "bench-loop")
    leads = LeadService(client, settings)
    q = platform_queues(settings)
    ids: list[str] = []
    errors: list[str] = []
    t0 = last = time.monotonic()
    sem = asyncio.Semaphore(concurrency)
    captured_at = datetime.now(UTC)

    async def one(i: int) -> None:
        nonlocal last
        cap = build_capture(
            settings,
            email=lib.lead_email(tag, start_index + i),
            source="webinar",
            consent=True,
            timezone="UTC",
            journey_id="bench-loop",
            captured_at=captured_at,
        )
        key = leads.lead_id(cap.email)
        state = LeadJourneyState(
            lead_id=key,
            capture=cap,
            stage=LeadStage.NURTURING,
            journey=spec,
            contact_id=contacts[cap.email],
            consent=True,
            cursor=spec.first_step_id,
            capture_ids=[cap.capture_id],
            touch_path=[capture_touch(cap)],
        )
        async with sem:
            for attempt in range(5):
                try:
                    await client.start_workflow(
                        LeadJourneyWorkflow.run,
                        LeadJourneyInput(lead_id=key, capture=cap, queues=q, state=state),
                        id=lead_workflow_id(key),
                        task_queue=settings.workflow_task_queue,
                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                        search_attributes=TypedSearchAttributes(
                            [
                                SearchAttributePair(LEAD_STAGE, "nurturing"),
                                SearchAttributePair(JOURNEY_ID, "bench-loop"),
                            ]
                        ),
                    )
                    ids.append(key)
                    break
                except Exception as err:  # noqa: BLE001
                    if attempt == 4:
                        errors.append(f"{type(err).__name__}: {str(err)[:160]}")
                    await asyncio.sleep(0.5 * (attempt + 1))
        now = time.monotonic()
        if now - last >= progress_every:
            last = now
            print(f"  started {len(ids)}/{n} ({len(ids) / (now - t0):.0f}/s)", file=sys.stderr, flush=True)

    chunk = 5000  # bounded task creation
    contacts: dict[str, str] = {}
    for lo in range(0, n, chunk):
        contacts = await seed_crm_contacts(
            settings, [lib.lead_email(tag, start_index + i) for i in range(lo, min(n, lo + chunk))]
        )
        await asyncio.gather(*(one(i) for i in range(lo, min(n, lo + chunk))))
    started = time.monotonic() - t0
    # Open = every first workflow task done (the journey reached its wait): backlog drained.
    while await backlog(client, settings.workflow_task_queue) > 0:
        await asyncio.sleep(1.0)
    return {"ids": ids, "seconds": time.monotonic() - t0, "start_s": started, "errors": errors}


async def fill_cache(client, ids: list[str], n: int, concurrency: int = 50) -> float:
    """Query `n` distinct random journeys (a query loads a journey into the worker's cache
    without adding history), so RSS is measured with the workflow cache full."""
    from workflows.lead_journey import LeadJourneyWorkflow

    picks = lib.rng(3).sample(ids, min(n, len(ids)))
    sem = asyncio.Semaphore(concurrency)
    t0 = time.monotonic()

    async def one(lead: str) -> None:
        async with sem:
            with contextlib.suppress(Exception):  # a failed query only means less in the cache
                await client.get_workflow_handle(f"lead-{lead}").query(LeadJourneyWorkflow.state)

    await asyncio.gather(*(one(lead) for lead in picks))
    return time.monotonic() - t0


async def serve_and_measure(stack: lib.Stack, ids: list[str], args) -> dict:
    """With the stack's current configuration: fill the worker cache, then clicks to random
    open journeys; RSS of worker and server, DB size, latency."""
    from mops.temporal import connect

    client = await connect(stack.settings)
    await lib.settle(stack.pids(), limit_s=300)
    fill_s = await fill_cache(client, ids, args.fill)
    await lib.settle(stack.pids(), limit_s=300)
    rss_filled = stack.worker_rss()
    print(
        f"  [{stack.config.label}] cache filled ({args.fill} queries, {fill_s:.0f}s, worker RSS "
        f"{lib.mib(rss_filled)}); clicks at {args.rate:g}/s to random journeys for {args.seconds:g}s ...",
        file=sys.stderr,
        flush=True,
    )
    order = lib.rng(len(ids)).sample(range(len(ids)), min(len(ids), int(args.rate * (args.seconds + args.warmup))))
    lat = await lib.event_action_latency(
        client,
        stack,
        ids,
        rate=args.rate,
        seconds=args.seconds,
        warmup=args.warmup,
        pick=lambda i: order[i % len(order)],
        drain_s=120,
    )
    return {
        "lat": lat,
        "rss": max(rss_filled, stack.worker_rss()),
        "server_rss": stack.server_rss(),
        "db": stack.db_bytes(),
        "flags": stack.dynamic_config(),
    }


async def open_more(client, stack: lib.Stack, todo: int, start_index: int, tag: str, args) -> dict:
    if args.via == "import":
        return await import_leads(
            client, stack.settings, todo, start_index=start_index, tag=tag, concurrency=args.concurrency
        )
    res = await lib.open_leads(
        client, stack.settings, todo, concurrency=args.concurrency, tag=tag, start_index=start_index
    )
    await lib.wait_count(
        client, "JourneyId = 'bench-loop' AND LeadStage = 'nurturing'", start_index + todo, 7200, "leads waiting"
    )
    return res


async def measure_all(configs: list[lib.Config], counts: list[int], args) -> dict:
    """One database for every configuration: each configuration opens --rate-sample journeys (its
    opening rate), then the last one opens the rest; at each count every configuration in turn
    serves the same open journeys (dev server restarted on the file with its flags, fresh worker)."""
    from mops.temporal import connect

    out: dict = {"rows": {c.label: [] for c in configs}, "rates": {}, "capture": {}}
    tag = uuid.uuid4().hex[:8]
    ids: list[str] = []
    async with lib.running(configs[0], data_root=args.data_dir) as stack:
        for c in configs:
            if stack.config is not c:
                await stack.reconfigure(c)
            client = await connect(stack.settings)
            await lib.settle(stack.pids(), limit_s=120)
            if args.capture_sample:
                res = await lib.open_leads(
                    client, stack.settings, args.capture_sample, concurrency=50, tag=f"{tag}c{c.label}"
                )
                await lib.wait_count(
                    client,
                    "JourneyId = 'bench-loop' AND LeadStage = 'nurturing'",
                    len(ids) + len(res["ids"]),
                    1800,
                    "captured leads waiting",
                )
                out["capture"][c.label] = len(res["ids"]) / res["seconds"]
                ids += res["ids"]
                await lib.settle(stack.pids(), limit_s=300)
            if args.rate_sample and args.via == "import":
                res = await import_leads(
                    client,
                    stack.settings,
                    args.rate_sample,
                    start_index=len(ids),
                    tag=tag,
                    concurrency=args.concurrency,
                )
                out["rates"][c.label] = len(res["ids"]) / res["seconds"]
                ids += res["ids"]
            print(
                f"  [{c.label}] opening rates: capture {out['capture'].get(c.label, 0):.1f}/s, import "
                f"{out['rates'].get(c.label, 0):.0f}/s",
                file=sys.stderr,
                flush=True,
            )
        opener = configs[-1]
        for n in counts:
            if stack.config is not opener:
                await stack.reconfigure(opener)
            client = await connect(stack.settings)
            todo = n - len(ids)
            open_s = 0.0
            if todo > 0:
                print(
                    f"[{opener.label}] opening {todo} more journeys (to {n}) via {args.via} ...",
                    file=sys.stderr,
                    flush=True,
                )
                res = await open_more(client, stack, todo, len(ids), tag, args)
                ids += res["ids"]
                open_s = res["seconds"]
                for e in res["errors"][:5]:
                    print("  open error:", e, file=sys.stderr)
                out.setdefault("open", {})[n] = {
                    "seconds": open_s,
                    "opened": len(res["ids"]),
                    "errors": len(res["errors"]),
                    "by": opener.label,
                }
            order = [opener] + [c for c in configs if c is not opener]
            for c in order:
                if stack.config is not c:
                    await stack.reconfigure(c)
                row = await serve_and_measure(stack, ids, args)
                row["n"] = len(ids)
                out["rows"][c.label].append(row)
    return out


def report(args, configs: list[lib.Config], out: dict) -> list[str]:
    first = {c.label: rows[0]["flags"] for c, rows in ((c, out["rows"][c.label]) for c in configs) if rows}
    lines = lib.header_lines(configs, {k: {"server_flags": v} for k, v in first.items()}, args.note)
    opener = configs[-1].label
    lines += [
        f"- workload: `bench-loop` journeys, each waiting on a 30-day timer and the `event` signal, opened via "
        f"`{args.via}` (concurrency {args.concurrency}) into ONE database: first --rate-sample "
        f"{args.rate_sample} per configuration (its opening rate), then the rest by `{opener}`; at each count "
        "every configuration serves the same journeys in turn (dev server restarted on the file with its flags, "
        f"fresh worker); {args.fill} distinct journeys queried first (worker cache full), then clicks to random "
        f"distinct journeys at {args.rate:g}/s ({args.warmup:g}s warm-up + {args.seconds:g}s measured), "
        "latency click → journey email at the sandbox",
        f"- target: {TARGET}",
        "",
        "Opening rate (journeys/s; `import` = started already waiting, one workflow task each; `capture` = "
        "the real capture path: update-with-start, journey load, CRM upsert, contact sync):",
        "",
        "| config | import /s | capture /s | vs baseline (import) |",
        "|---|---|---|---|",
    ]
    base_rate = out["rates"].get("baseline")
    for c in configs:
        r = out["rates"].get(c.label, float("nan"))
        vs = lib.ratio(r, base_rate, higher_is_better=True) if base_rate and c.name != "baseline" else "–"
        lines.append(f"| {c.label} | {r:.0f} | {out['capture'].get(c.label, float('nan')):.1f} | {vs} |")
    lines += [
        "",
        "Time to open (by the last configuration):",
        "",
        "| open journeys | opened now | seconds | /s | errors | at the baseline's rate (estimate) s |",
        "|---|---|---|---|---|---|",
    ]
    for n, o in sorted(out.get("open", {}).items()):
        est = f"{o['opened'] / base_rate:.0f}" if base_rate else "–"
        lines.append(
            f"| {n:,} | {o['opened']:,} | {o['seconds']:.0f} | {o['opened'] / max(o['seconds'], 1e-9):.0f} | "
            f"{o['errors']} | {est} |"
        )
    lines += [
        "",
        "Served while open:",
        "",
        "| config | open | worker RSS (cache full) | server RSS | DB (db+wal) | signal→action p50 ms | p99 | "
        "max | no email | vs baseline (p50 / p99) | cores while signalling |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    base = {row["n"]: row for row in out["rows"].get("baseline", [])}
    for c in configs:
        for row in out["rows"][c.label]:
            la = row["lat"]["lat"]
            b = base.get(row["n"])
            vs = (
                f"{lib.ratio(la['p50'], b['lat']['lat']['p50'])} / {lib.ratio(la['p99'], b['lat']['lat']['p99'])}"
                if b and c.name != "baseline"
                else "–"
            )
            lines.append(
                f"| {c.label} | {row['n']:,} | {lib.mib(row['rss'])} | {lib.mib(row['server_rss'])} | "
                f"{lib.mib(row['db'])} | {lib.ms(la['p50'])} | {lib.ms(la['p99'])} | {lib.ms(la['max'])} | "
                f"{row['lat']['unanswered']} | {vs} | {lib.cpu_text(row['lat']['cpu'])} |"
            )
    for c in configs:
        for row in out["rows"][c.label]:
            if row["n"] >= 100_000:
                la = row["lat"]["lat"]
                met = row["rss"] < 2 * 1024**3 and la["p99"] < 500 and row["lat"]["unanswered"] == 0
                lines.append(
                    f"\n{c.label} at {row['n']:,} open: target {'MET' if met else 'NOT met'} "
                    f"(worker RSS {lib.mib(row['rss'])}, p99 {lib.ms(la['p99'])} ms)."
                )
    return lines


def main() -> int:
    p = lib.parser(__doc__)
    p.add_argument(
        "--counts", default="10000,100000", help="open journeys to reach, in order, on one stack (default 10000,100000)"
    )
    p.add_argument("--via", choices=["import", "capture"], default="import", help="how journeys are opened")
    p.add_argument(
        "--capture-sample",
        type=int,
        default=200,
        help="leads each configuration opens through the capture path first (its rate), 0 = none",
    )
    p.add_argument(
        "--rate-sample",
        type=int,
        default=2000,
        help="with --via import: journeys each configuration opens first (its rate), 0 = none",
    )
    p.add_argument(
        "--fill",
        type=int,
        default=6000,
        help="distinct journeys queried before measuring (fills a 5000-workflow cache; default 6000)",
    )
    p.add_argument("--concurrency", type=int, default=200, help="starts/captures in flight (default 200)")
    p.add_argument("--rate", type=float, default=20.0, help="clicks per second while open (default 20)")
    p.add_argument("--seconds", type=float, default=60.0, help="measured seconds of clicks (default 60)")
    p.add_argument("--warmup", type=float, default=5.0, help="unrecorded warm-up seconds (default 5)")
    lib.add_common_args(p)
    args = p.parse_args()
    counts = sorted(int(c) for c in args.counts.split(",") if c.strip())
    configs = lib.configs_from_args(args)

    async def run() -> int:
        out = await measure_all(configs, counts, args)
        lib.append_results(
            f"open journeys {', '.join(f'{n:,}' for n in counts)}",
            report(args, configs, out),
            write=not args.no_results,
        )
        return 0

    return lib.run_main(run)


if __name__ == "__main__":
    sys.exit(main())
