"""Gateway latency: open-loop reads and ingest through the HTTP gateway at --rate, with the
same load through a Temporal client directly (no HTTP) as the reference, per configuration.

    .venv/bin/python bench/gateway_latency.py --rate 200 --seconds 30 --mix both

Configurations (--configs): `baseline` = the gateway as before the tuning (asyncio loop, h11
parser) with SDK-default workers and the plain dev server; `mops` = the gateway as shipped
(uvloop, httptools) with workers/tuning.py and starter/stack.py's dev-server tuning.
Everything runs on a throwaway stack (temp dir, free ports): Temporal dev server on a SQLite
WAL file, the sandbox, the worker and `python -m gateway` as subprocesses; the load generator
runs here on its own event loop. Target: average < 20 ms, p99 < 100 ms at 200 req/s
for reads and ingest. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lib  # noqa: E402
from lib import ROOT  # noqa: E402

from starter.service.leads import LeadService, build_event  # noqa: E402

REQUEST_TIMEOUT_S = 10.0
MAX_IN_FLIGHT = 2000  # beyond this a scheduled request is counted as an error, not queued
TARGET = "average < 20 ms, p99 < 100 ms at 200 req/s for reads and ingest"


# ---------------------------------------------------------------- the load
def pct(sorted_ms: list[float], p: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(round(p / 100 * (len(sorted_ms) - 1))))]


def summarize(kind: str, lat: list[float], sent: int, errors: int, seconds: float) -> dict:
    s = sorted(lat)
    return {
        "kind": kind,
        "sent": sent,
        "ok": len(s),
        "errors": errors,
        "avg": sum(s) / len(s) if s else float("nan"),
        "p50": pct(s, 50),
        "p95": pct(s, 95),
        "p99": pct(s, 99),
        "max": s[-1] if s else float("nan"),
        "rate": len(s) / seconds,
    }


async def open_loop(ops: dict, kinds: list[str], rate: float, warmup: float, seconds: float) -> list[dict]:
    """Schedule request i at t0 + i/rate whatever happened before; latency counts from that
    scheduled time (no coordinated omission). Warm-up requests are sent but not recorded."""
    n_warm, n_total = int(warmup * rate), int((warmup + seconds) * rate)
    lat: dict[str, list[float]] = {k: [] for k in kinds}
    sent = dict.fromkeys(kinds, 0)
    errs = dict.fromkeys(kinds, 0)
    err_samples: list[str] = []
    tasks: set[asyncio.Task] = set()
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.05

    async def one(i: int, kind: str, scheduled: float) -> None:
        try:
            await asyncio.wait_for(ops[kind](i), REQUEST_TIMEOUT_S)
            ok = True
        except Exception as err:  # noqa: BLE001 — every failure is an error in the table
            ok = False
            if len(err_samples) < 5:
                err_samples.append(f"{kind}: {type(err).__name__}: {str(err)[:120]}")
        if i >= n_warm:
            if ok:
                lat[kind].append((loop.time() - scheduled) * 1000)
            else:
                errs[kind] += 1

    for i in range(n_total):
        scheduled = t0 + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        kind = kinds[i % len(kinds)]
        if i >= n_warm:
            sent[kind] += 1
        if len(tasks) >= MAX_IN_FLIGHT:
            if i >= n_warm:
                errs[kind] += 1
            continue
        task = asyncio.create_task(one(i, kind, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(set(tasks), timeout=REQUEST_TIMEOUT_S + 1)
    for msg in err_samples:
        print("  error sample:", msg, file=sys.stderr)
    return [summarize(k, lat[k], sent[k], errs[k], seconds) for k in kinds]


class RawHttp:
    """Minimal HTTP/1.1 keep-alive client for the load generator. httpx costs ~1 ms of CPU
    per request and its pool degrades with hundreds of in-flight requests: at 200 req/s
    it saturated this process and measured itself, not the gateway."""

    def __init__(self, host: str, port: int, key: str) -> None:
        self.host, self.port = host, port
        self.head = f"Host: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(self, method: str, path: str, body: bytes = b"") -> bytes:
        if self.idle:
            try:  # like any HTTP client: a kept-alive connection the server closed meanwhile
                return await self._send(self.idle.pop(), method, path, body)  # (uvicorn: 5 s idle)
            except asyncio.IncompleteReadError as err:  # ... is retried once on a fresh one
                if err.partial:
                    raise
        return await self._send(await asyncio.open_connection(self.host, self.port), method, path, body)

    async def _send(self, conn, method: str, path: str, body: bytes) -> bytes:
        reader, writer = conn
        try:
            extra = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n" if body else ""
            writer.write(f"{method} {path} HTTP/1.1\r\n{self.head}{extra}\r\n".encode() + body)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length, close = 0, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
                elif name.lower() == b"connection" and value.strip().lower() == b"close":
                    close = True
            data = await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        if close:
            writer.close()
        else:
            self.idle.append(conn)
        if status >= 400:
            raise RuntimeError(f"HTTP {status}: {data[:100]!r}")
        return data

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


# ---------------------------------------------------------------- the stack
GATEWAY_AFTER = ""  # experiments: python -c code that runs the gateway instead of `python -m gateway`
GATEWAY_BEFORE = (
    "import gateway.server as g; g.HTTP_IMPL = 'h11'; from gateway.__main__ import main; raise SystemExit(main())"
)


async def start_gateway(stack: lib.Stack, fast: bool) -> str:
    """`python -m gateway` as a subprocess; `fast` = as shipped (uvloop + httptools), else the
    gateway as it was before the tuning (asyncio loop, h11). Returns the minted raw key."""
    out = subprocess.run(
        [sys.executable, "-m", "gateway", "keygen", "--id", "bench", "--scopes", "ingest,read", "--json", "--no-save"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    minted = json.loads(out.stdout)
    env = stack.env(
        MOPS_GATEWAY_HOST="127.0.0.1",
        MOPS_GATEWAY_KEYS=json.dumps([minted["entry"]]),
        MOPS_GATEWAY_RATE_PER_SECOND="1000000",
        MOPS_GATEWAY_BURST="1000000",
        MOPS_GATEWAY_EVENT_LOOP="uvloop" if fast else "asyncio",
    )
    cmd = (
        ([sys.executable, "-c", GATEWAY_AFTER] if GATEWAY_AFTER else [sys.executable, "-m", "gateway"])
        if fast
        else [sys.executable, "-c", GATEWAY_BEFORE]
    )
    proc = stack.spawn_other("gateway", cmd, env)
    await lib.wait_http(f"http://127.0.0.1:{stack.settings.gateway_port}/healthz", proc, "gateway")
    return minted["key"]


async def run_config(config: lib.Config, args: argparse.Namespace) -> tuple[list[dict], dict[str, dict], list[str]]:
    from mops.temporal import connect

    async with lib.running(config, data_root=args.data_dir) as stack:
        key = await start_gateway(stack, fast=config.name != "baseline")
        client = await connect(stack.settings)
        leads = LeadService(client, stack.settings)
        # Each phase gets leads of its own: events move a lead along its journey (score, MQL,
        # hand-off), so a phase run on leads an earlier phase already advanced is not the same work.
        n_phases = 1 if args.no_direct else 2
        print(f"[{config.label}] seeding {args.leads} leads per phase ...", file=sys.stderr)
        opened = await lib.open_leads(
            client, stack.settings, args.leads * n_phases, concurrency=20, journey=stack.settings.default_journey
        )
        ids, own = opened["ids"][: args.leads], opened["ids"][-args.leads :]  # the gateway's, the direct client's
        run_tag = opened["tag"]
        await lib.settle(stack.pids(), idle_pct=15, limit_s=180)
        kinds = {"reads": ["read"], "ingest": ["ingest"], "both": ["read", "ingest"]}[args.mix]
        http = RawHttp("127.0.0.1", stack.settings.gateway_port, key)

        async def gw_read(i: int) -> None:
            await http.request("GET", f"/v1/leads/{ids[i % len(ids)]}")

        async def gw_ingest(i: int) -> None:
            body = json.dumps({"type": "open", "event_id": f"bench-{run_tag}-{i}"}).encode()  # idempotent
            await http.request("POST", f"/v1/leads/{ids[i % len(ids)]}/events", body)

        async def direct_read(i: int) -> None:
            await leads.state(lead_id=own[i % len(own)])

        async def direct_ingest(i: int) -> None:
            await leads.record_event(build_event(type="open"), lead_id=own[i % len(own)])

        results, cpu = [], {}
        phases = [("gateway (HTTP)", {"read": gw_read, "ingest": gw_ingest})]
        if not args.no_direct:
            phases.append(("direct client", {"read": direct_read, "ingest": direct_ingest}))
        try:
            for via, ops in phases:
                print(
                    f"[{config.label}] {via}: {args.rate:g} req/s for {args.warmup:g}+{args.seconds:g}s ...",
                    file=sys.stderr,
                )
                meter = lib.CpuMeter(stack.pids()).start()
                rows = await open_loop(ops, kinds, args.rate, args.warmup, args.seconds)
                cpu[via] = meter.stop()
                results += [{"config": config.label, "via": via, **r} for r in rows]
                await lib.settle(stack.pids(), idle_pct=15, limit_s=60)
        finally:
            http.close()
        return results, cpu, stack.dynamic_config()


# ---------------------------------------------------------------- the report
def table(results: list[dict]) -> str:
    head = (
        "| config | via | kind | sent | ok | errors | avg ms | p50 | p95 | p99 | max | achieved req/s | "
        "avg vs direct | avg vs baseline |"
    )
    lines = [head, "|" + "---|" * 14]
    direct = {(r["config"], r["kind"]): r for r in results if r["via"] == "direct client"}
    base = {(r["via"], r["kind"]): r for r in results if r["config"] == "baseline"}
    for r in results:
        d = direct.get((r["config"], r["kind"]))
        vs_direct = f"{r['avg'] / d['avg']:.1f}×" if d and d["avg"] == d["avg"] and d["avg"] > 0 else "–"
        b = base.get((r["via"], r["kind"]))
        vs_base = lib.ratio(r["avg"], b["avg"]) + " faster" if b and r["config"] != "baseline" else "–"
        lines.append(
            f"| {r['config']} | {r['via']} | {r['kind']} | {r['sent']} | {r['ok']} | {r['errors']} | "
            f"{r['avg']:.1f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['max']:.1f} | "
            f"{r['rate']:.1f} | {vs_direct} | {vs_base} |"
        )
    return "\n".join(lines)


def cpu_table(cpu: dict[str, dict]) -> str:
    names = sorted({n for c in cpu.values() for n in c["cores"]})
    lines = ["| config, phase | " + " | ".join(names) + " | machine busy |", "|" + "---|" * (len(names) + 2)]
    for phase, c in cpu.items():
        lines.append(
            f"| {phase} | " + " | ".join(f"{c['cores'].get(n, 0.0):.2f}" for n in names) + f" | {c['busy_pct']:.0f}% |"
        )
    return "\n".join(lines)


def reading(results: list[dict], cpu: dict[str, dict], rate: float) -> list[str]:
    out = []
    for label in dict.fromkeys(r["config"] for r in results):
        gw = [r for r in results if r["config"] == label and r["via"] == "gateway (HTTP)"]
        met = all(r["avg"] < 20 and r["p99"] < 100 and r["errors"] == 0 for r in gw)
        c = cpu[f"{label}, gateway (HTTP)"]
        ours = {k: v for k, v in c["cores"].items() if k != "other"}
        busiest = ", ".join(f"{n} {v:.2f}" for n, v in sorted(ours.items(), key=lambda kv: -kv[1])[:3])
        sat = "saturated" if c["busy_pct"] > 90 else "not saturated"
        other = c["cores"].get("other", 0.0)
        noise = f"; {other:.2f} cores used by other processes on the machine" if other > 0.2 else ""
        out.append(
            f"{label}: target {'MET' if met else 'NOT met'} at {rate:g} req/s; machine CPU {sat} "
            f"({c['busy_pct']:.0f}% of {os.cpu_count()} cores); busiest: {busiest}{noise}."
        )
    return out


def report(
    args: argparse.Namespace,
    configs: list[lib.Config],
    results: list[dict],
    cpu: dict[str, dict],
    flags: dict[str, list[str]],
) -> list[str]:
    lines = lib.header_lines(configs, {k: {"server_flags": v} for k, v in flags.items()}, args.note)
    lines += [
        "- gateway: `baseline` asyncio loop + h11 parser (as before the tuning); `mops` uvloop + httptools",
        f"- open loop: {args.rate:g} req/s offered in total (mix {args.mix}, split evenly), {args.warmup:g}s "
        f"warm-up not recorded, {args.seconds:g}s measured; latency from the scheduled send time; "
        f"{args.leads} seeded leads per phase (default journey; each phase its own); "
        "gateway rate limit set to 1e6/s",
        f"- target: {TARGET}",
        "",
        table(results),
        "",
        "CPU cores used during each phase (CPU seconds / wall seconds, from /proc):",
        "",
        cpu_table(cpu),
        "",
    ]
    lines += [f"Reading: {line}" for line in reading(results, cpu, args.rate)]
    return lines


def main() -> int:
    p = lib.parser(__doc__)
    p.add_argument("--rate", type=float, default=200.0, help="offered requests/second in total (default 200)")
    p.add_argument("--seconds", type=float, default=30.0, help="measured seconds per phase (default 30)")
    p.add_argument("--warmup", type=float, default=5.0, help="unrecorded warm-up seconds per phase (default 5)")
    p.add_argument(
        "--mix",
        choices=["reads", "ingest", "both"],
        default="both",
        help="reads = GET /v1/leads/{id} (query); ingest = POST /v1/leads/{id}/events (signal)",
    )
    p.add_argument("--leads", type=int, default=100, help="leads seeded per phase before the run (default 100)")
    p.add_argument("--no-direct", action="store_true", help="skip the direct-client reference phase")
    lib.add_common_args(p)
    args = p.parse_args()
    if not (0 < args.rate <= 5000 and 0 < args.seconds <= 600 and 0 <= args.warmup <= 120 and args.leads >= 1):
        p.error("bounds: 0 < rate <= 5000, 0 < seconds <= 600, 0 <= warmup <= 120, leads >= 1")
    configs = lib.configs_from_args(args)

    async def run() -> int:
        results, cpu, flags = [], {}, {}
        for c in configs:
            r, cc, f = await run_config(c, args)
            results += r
            cpu.update({f"{c.label}, {k}": v for k, v in cc.items()})
            flags[c.label] = f
        lib.append_results(
            f"gateway latency, {args.rate:g} req/s, mix {args.mix}",
            report(args, configs, results, cpu, flags),
            write=not args.no_results,
        )
        return 0

    return lib.run_main(run)


if __name__ == "__main__":
    sys.exit(main())
