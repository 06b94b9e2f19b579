"""Event → action latency at low load: a lead's click (signal) → the journey's email reaching
SendGrid (the sandbox), open loop, per configuration (baseline, then mops).

    .venv/bin/python bench/event_latency.py --rate 5 --seconds 60

Target: p50 < 50 ms, p99 < 200 ms. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lib  # noqa: E402

TARGET = "p50 < 50 ms, p99 < 200 ms"


async def measure(config: lib.Config, args) -> dict:
    from mops.temporal import connect

    async with lib.running(config, data_root=args.data_dir) as stack:
        client = await connect(stack.settings)
        opened = await lib.open_leads(client, stack.settings, args.leads, concurrency=50)
        await lib.wait_count(
            client, "JourneyId = 'bench-loop' AND LeadStage = 'nurturing'", args.leads, 300, "leads waiting"
        )
        await lib.settle(stack.pids())
        res = await lib.event_action_latency(
            client, stack, opened["ids"], rate=args.rate, seconds=args.seconds, warmup=args.warmup
        )
        res["flags"] = stack.dynamic_config()
        for s in res["err_samples"]:
            print("  error sample:", s, file=sys.stderr)
        return res


def report(args, configs: list[lib.Config], results: dict[str, dict]) -> list[str]:
    lines = lib.header_lines(
        configs, {c.label: {"server_flags": results[c.label]["flags"]} for c in configs}, args.note
    )
    lines += [
        f"- workload: {args.leads} open `bench-loop` journeys; {args.rate:g} clicks/s open loop, round-robin "
        f"over the leads, {args.warmup:g}s warm-up + {args.seconds:g}s measured; latency = click's scheduled "
        "send time → the journey email's `mail/send` received by the sandbox",
        f"- target: {TARGET}",
        "",
        "| config | clicks | no email | p50 ms | p95 | p99 | max | vs baseline (p50 / p99) | cores: busiest |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    base = results.get("baseline")
    for c in configs:
        r = results[c.label]
        la = r["lat"]
        vs = (
            f"{lib.ratio(la['p50'], base['lat']['p50'])} / {lib.ratio(la['p99'], base['lat']['p99'])}"
            if base and c.name != "baseline"
            else "–"
        )
        lines.append(
            f"| {c.label} | {r['sent']} | {r['unanswered'] + r['send_errors']} | {lib.ms(la['p50'])} | "
            f"{lib.ms(la['p95'])} | {lib.ms(la['p99'])} | {lib.ms(la['max'])} | {vs} | "
            f"{lib.cpu_text(r['cpu'])} |"
        )
    for c in configs:
        la = results[c.label]["lat"]
        met = la["p50"] < 50 and la["p99"] < 200 and results[c.label]["unanswered"] == 0
        lines.append(f"\n{c.label}: target {'MET' if met else 'NOT met'}.")
    return lines


def main() -> int:
    p = lib.parser(__doc__)
    p.add_argument("--rate", type=float, default=5.0, help="clicks per second (default 5)")
    p.add_argument("--seconds", type=float, default=60.0, help="measured seconds (default 60)")
    p.add_argument("--warmup", type=float, default=5.0, help="unrecorded warm-up seconds (default 5)")
    p.add_argument("--leads", type=int, default=200, help="open journeys the clicks go to (default 200)")
    lib.add_common_args(p)
    args = p.parse_args()
    configs = lib.configs_from_args(args)

    return lib.measure_each(configs, measure, args, f"event → action latency at {args.rate:g}/s", report)


if __name__ == "__main__":
    sys.exit(main())
