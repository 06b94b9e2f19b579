"""Contact sync latency: how long a contact change takes to reach every other platform.

    .venv/bin/python bench/sync_latency.py --rate 10 --seconds 60 --leads 100

Two kinds of change, alternating, open loop (change i is sent at t0 + i / rate, whether
or not earlier ones have landed):

- `webhook`: a contact's `firstname` is edited in HubSpot and HubSpot tells the gateway
  (a signed `contact.propertyChange`, as HubSpot sends it). The change must reach
  SendGrid (Marketing Contacts) and the CDP (Braze).
- `journey`: the lead is captured again with a new first name (update-with-start on its
  journey, as a form fill does). The journey hands it to the contact sync, which must
  write CRM, SendGrid and the CDP.

Latency of a change = the last platform's write (the sandbox's record of the effect,
millisecond stamps on the same clock) minus the change's scheduled send time. Target:
p99 < 1 s on this machine.

A throwaway stack in a temp dir on free ports: the Temporal dev server (SQLite WAL), the
sandbox, and `mops worker` and `python -m gateway` as subprocesses with the default
settings (platform rate limits included). Results are appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from gateway.webhooks.hubspot import signature_v3  # noqa: E402
from integrations.hubspot import HubSpotClient  # noqa: E402
from mops.settings import Settings  # noqa: E402
from sandbox.admin_client import SandboxAdmin  # noqa: E402
from sandbox.store import email_hash  # noqa: E402
from starter.service.leads import LeadService, build_capture  # noqa: E402
from starter.stack import EmbeddedStack, port_open  # noqa: E402
from tests.histories.record import free_port  # noqa: E402

HUBSPOT_SECRET = "bench-hubspot-client-secret"
TARGET = "p99 < 1 s from the change to the last platform"
LAND_TIMEOUT_S = 30.0


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of a sorted sample."""
    if not values:
        return float("nan")
    rank = max(1, min(len(values), int(round(p / 100 * len(values) + 0.5))))
    return values[rank - 1]


def stamp(at: str) -> float:
    return dt.datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


def settings_for(tmp: Path, crm_per_second: float | None) -> Settings:
    sandbox = f"http://127.0.0.1:{(sandbox_port := free_port())}"
    urls = {name: sandbox for name in Settings.model_fields if name.endswith("_base_url")}
    extra = {"crm_max_per_second": crm_per_second} if crm_per_second else {}
    return Settings(
        data_dir=tmp,
        temporal_address=f"127.0.0.1:{free_port()}",
        temporal_ui_port=free_port(),
        sandbox_port=sandbox_port,
        gateway_port=free_port(),
        codec_server_port=0,
        mail_sender_postal="mops bench, 1 Sandbox Street, 10115 Berlin, Germany",
        mail_preferences_url="https://www.mops.example/email-preferences",
        **urls,
        **extra,
    )


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    env = {**os.environ}
    for name, value in settings.model_dump(mode="json").items():
        if isinstance(value, str | int | float) and not isinstance(value, bool) and value != "**********":
            env[f"MOPS_{name.upper()}"] = str(value)  # secrets stay at their (dev) defaults
    env.update(extra)
    return env


async def wait_port(host: str, port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if port_open(host, port):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{what} did not start")


async def run(args: argparse.Namespace) -> dict:
    from mops.temporal import connect

    with tempfile.TemporaryDirectory(prefix="mops-sync-bench-") as tmp:
        settings = settings_for(Path(tmp), args.crm_per_second)
        args.crm_limit = settings.crm_max_per_second
        stack = EmbeddedStack(settings)
        procs: list[subprocess.Popen] = []
        try:
            await stack.start()
            logs = open(Path(tmp) / "procs.log", "ab")  # noqa: SIM115
            env = env_for(settings, MOPS_HUBSPOT_CLIENT_SECRET=HUBSPOT_SECRET)
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "starter.cli", "worker"],
                    env=env,
                    cwd=ROOT,
                    stdout=logs,
                    stderr=subprocess.STDOUT,
                )
            )
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "gateway"], env=env, cwd=ROOT, stdout=logs, stderr=subprocess.STDOUT
                )
            )
            try:
                await wait_port("127.0.0.1", settings.gateway_port, procs[1], "gateway")
            except RuntimeError:
                print((Path(tmp) / "procs.log").read_text()[-3000:], file=sys.stderr)
                raise
            client = await connect(settings)
            leads = LeadService(client, settings)
            gateway = f"http://127.0.0.1:{settings.gateway_port}"
            sandbox = f"http://127.0.0.1:{settings.sandbox_port}"
            async with SandboxAdmin(sandbox) as admin, httpx.AsyncClient(base_url=gateway, timeout=15) as http:
                seeded = await seed(leads, settings, admin, args.leads)
                print(f"seeded {len(seeded)} leads; measuring {args.seconds}s at {args.rate}/s", file=sys.stderr)
                changes = await load(args, leads, settings, http, gateway, seeded)
                result = await measure(admin, changes, args)
                # Drift after the load: one reconciliation over every contact (no repair needed, we hope).
                from starter.service.privacy import PrivacyService

                privacy = PrivacyService(client, settings)
                try:
                    _, report = await privacy.reconcile("data")
                finally:
                    await privacy.aclose()
                result["reconcile"] = report
                return result
        finally:
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
            for proc in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=30)
            stack.stop()


async def seed(leads: LeadService, settings: Settings, admin: SandboxAdmin, n: int) -> list[dict]:
    tag = uuid.uuid4().hex[:6]
    out = []
    limit = asyncio.Semaphore(20)

    async def one(i: int) -> None:
        email = f"sync.{tag}.{i}@acme.example"
        async with limit:
            res = await leads.capture(
                build_capture(settings, email=email, source="web_form", consent=True, first_name=f"Seed{i}")
            )
        out.append({"email": email, "lead_id": res.lead_id, "workflow_id": res.workflow_id})

    await asyncio.gather(*(one(i) for i in range(n)))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # every contact in the CRM (with its id) and in the CDP
        state = await admin.state("hubspot")
        crm = {c["properties"].get("email"): c["id"] for c in state["contacts"]}
        cdp = (await admin.privacy_state())["braze_users"]
        if all(s["email"] in crm for s in out) and all(s["lead_id"] in cdp for s in out):
            for s in out:
                s["contact_id"] = crm[s["email"]]
            await asyncio.sleep(3)  # let the seeding backlog drain before measuring
            return out
        await asyncio.sleep(0.5)
    raise RuntimeError("seeding did not finish")


async def load(
    args, leads: LeadService, settings: Settings, http: httpx.AsyncClient, gateway: str, seeded: list[dict]
) -> list[dict]:
    total = int(args.rate * (args.seconds + args.warmup))
    warm = int(args.rate * args.warmup)
    changes: list[dict] = []
    tasks = set()
    t0 = time.time() + 0.5

    async def webhook(i: int, lead: dict, at: float) -> None:
        # Someone edits the contact in HubSpot; HubSpot then calls the webhook.
        await hubspot.update_contact(lead["contact_id"], {"firstname": f"W{i}"})
        event = {
            "eventId": i + 1,
            "subscriptionId": 1,
            "portalId": 1,
            "appId": 1,
            "occurredAt": int(at * 1000),
            "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0,
            "objectId": int(lead["contact_id"]),
            "propertyName": "firstname",
            "propertyValue": f"W{i}",
            "changeSource": "CRM_UI",
        }
        body = json.dumps([event]).encode()
        ts = str(int(time.time() * 1000))
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Request-Timestamp": ts,
            "X-HubSpot-Signature-v3": signature_v3(HUBSPOT_SECRET, "POST", f"{gateway}/webhooks/hubspot", body, ts),
        }
        r = await http.post("/webhooks/hubspot", content=body, headers=headers)
        r.raise_for_status()

    async def journey(i: int, lead: dict, at: float) -> None:
        await leads.capture(
            build_capture(
                settings,
                email=lead["email"],
                source="webinar",
                consent=True,
                first_name=f"J{i}",
                captured_at=dt.datetime.fromtimestamp(at, dt.UTC),
            )
        )

    hubspot = HubSpotClient(settings.hubspot_base_url, settings.hubspot_token.get_secret_value())
    for i in range(total):
        scheduled = t0 + i / args.rate
        delay = scheduled - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        kind = ("webhook", "journey")[i % 2] if args.mix == "both" else args.mix
        lead = seeded[i % len(seeded)]
        change = {"i": i, "kind": kind, "lead": lead, "at": scheduled, "measured": i >= warm, "error": None}
        changes.append(change)

        async def send(change=change) -> None:
            try:
                await (webhook if change["kind"] == "webhook" else journey)(change["i"], change["lead"], change["at"])
            except Exception as err:  # noqa: BLE001 - counted as an error
                change["error"] = f"{type(err).__name__}: {err}"[:200]

        task = asyncio.create_task(send())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(set(tasks), timeout=30)
    await hubspot.aclose()
    return changes


async def measure(admin: SandboxAdmin, changes: list[dict], args) -> dict:
    """Match each change with the first write of each platform it must reach, after it was sent."""
    needed = {"webhook": ("email", "cdp"), "journey": ("crm", "email", "cdp")}
    deadline = time.monotonic() + LAND_TIMEOUT_S
    while True:
        effects = await admin.effects()
        writes: dict[tuple[str, str], list[float]] = {}
        for e in effects:
            where = {"contact.update": "crm", "mcontact.upsert": "email", "profile.update": "cdp"}.get(e["kind"])
            if where:
                writes.setdefault((where, e["key"]), []).append(stamp(e["at"]))
        for c in changes:
            lead = c["lead"]
            keys = {"crm": email_hash(lead["email"]), "email": email_hash(lead["email"]), "cdp": lead["lead_id"]}
            landed = []
            c["per_platform"] = {}
            for platform_ in needed[c["kind"]]:
                after = [t for t in writes.get((platform_, keys[platform_]), []) if t >= c["at"] - 0.002]
                landed.append(min(after) if after else None)
                if after:
                    c["per_platform"][platform_] = min(after) - c["at"]
            c["latency"] = None if None in landed or c["error"] else max(landed) - c["at"]
        if all(c["latency"] is not None or c["error"] for c in changes) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    rows = {}
    for kind in ("webhook", "journey", "all"):
        picked = [c for c in changes if c["measured"] and (kind == "all" or c["kind"] == kind)]
        lat = sorted(c["latency"] * 1000 for c in picked if c["latency"] is not None)
        rows[kind] = {
            "sent": len(picked),
            "landed": len(lat),
            "errors": len(picked) - len(lat),
            "avg": sum(lat) / len(lat) if lat else float("nan"),
            **{f"p{p}": percentile(lat, p) for p in (50, 95, 99)},
            "max": lat[-1] if lat else float("nan"),
        }
    samples = [c["error"] for c in changes if c["error"]][:3]
    per_platform = {}  # p99 per kind and platform: which write is the slow one
    for kind in ("webhook", "journey"):
        for platform_ in needed[kind]:
            lat = sorted(
                c["per_platform"][platform_] * 1000
                for c in changes
                if c["measured"] and c["kind"] == kind and platform_ in c["per_platform"]
            )
            per_platform[f"{kind}/{platform_}"] = (percentile(lat, 50), percentile(lat, 99))
    return {"rows": rows, "error_samples": samples, "per_platform": per_platform}


def report(result: dict, args) -> str:
    rows = result["rows"]
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    mem = next(
        (
            int(line.split()[1]) / 1024 / 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        ),
        0.0,
    )
    lines = [
        f"## {now} — contact sync latency, rate {args.rate:g} changes/s, mix {args.mix}",
        "",
        f"- machine: {os.cpu_count()} CPUs (nproc), {mem:.1f} GiB RAM, {platform.platform()}; 1-minute load "
        f"average {args.load_before} before and {args.load_after} after the run (other processes included)",
        f"- Python {platform.python_version()}; storage: SQLite WAL file (Temporal dev server, temp dir)",
        f"- command: `.venv/bin/python bench/sync_latency.py {shlex.join(sys.argv[1:])}`",
        f"- open loop: {args.rate:g} changes/s (webhook and journey alternating), {args.warmup}s warm-up not "
        f"recorded, {args.seconds}s measured; {args.leads} seeded leads, round-robin; latency from the scheduled "
        "send time to the last platform's write (sandbox effect stamps, same clock)",
        "- `mops worker` and `python -m gateway` as subprocesses with default settings (payload encryption on, "
        f"platform rate limits as shipped) except the CRM queue's server-side limit: {args.crm_limit:g}/s "
        f"({'as shipped' if not args.crm_per_second else '--crm-per-second'}); webhook = signed HubSpot "
        "`contact.propertyChange` → SendGrid + CDP; journey = a new capture of the lead → CRM + SendGrid + CDP",
        f"- target: {TARGET}",
        "",
        "| kind | sent | landed | errors | avg ms | p50 | p95 | p99 | max |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, r in rows.items():
        lines.append(
            f"| {kind} | {r['sent']} | {r['landed']} | {r['errors']} | {r['avg']:.1f} | {r['p50']:.1f} | "
            f"{r['p95']:.1f} | {r['p99']:.1f} | {r['max']:.1f} |"
        )
    lines += [
        "",
        "Per platform (p50 / p99 ms from the change to that platform's write): "
        + ", ".join(f"{k} {p50:.0f} / {p99:.0f}" for k, (p50, p99) in result["per_platform"].items())
        + ".",
    ]
    rec = result.get("reconcile")
    if rec is not None:
        lines += [
            "",
            f"Reconciliation right after the load: {rec.contacts} contacts, {rec.compared} comparisons, "
            f"{rec.mismatches_before} mismatches before repair ({rec.rate_before:.3%}), "
            f"{rec.mismatches_after} after (target: < 0.5 % before, 0 after).",
        ]
    met = rows["all"]["errors"] == 0 and rows["all"]["p99"] < 1000
    lines += [
        "",
        f"Reading: target {'met' if met else 'NOT met'}: p99 {rows['all']['p99']:.0f} ms over "
        f"{rows['all']['landed']} changes (webhook p99 {rows['webhook']['p99']:.0f} ms, journey p99 "
        f"{rows['journey']['p99']:.0f} ms).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10.0, help="changes per second in total")
    parser.add_argument("--seconds", type=int, default=60, help="measured seconds")
    parser.add_argument("--warmup", type=int, default=5, help="seconds sent first and not recorded")
    parser.add_argument("--leads", type=int, default=100, help="leads seeded before the run")
    parser.add_argument("--mix", choices=("both", "webhook", "journey"), default="both")
    parser.add_argument(
        "--crm-per-second",
        type=float,
        default=None,
        help="the CRM queue's server-side rate limit (default: MOPS_CRM_MAX_PER_SECOND, 9/s)",
    )
    parser.add_argument("--no-results", action="store_true", help="print only; do not append to bench/RESULTS.md")
    args = parser.parse_args()
    args.load_before = Path("/proc/loadavg").read_text().split()[0]
    result = asyncio.run(run(args))
    args.load_after = Path("/proc/loadavg").read_text().split()[0]
    text = report(result, args)
    print(text)
    for sample in result["error_samples"]:
        print("  error sample:", sample, file=sys.stderr)
    if not args.no_results:
        with (ROOT / "bench" / "RESULTS.md").open("a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
