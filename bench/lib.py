"""Shared parts of the benchmark scripts: machine facts, a throwaway stack with the worker in
subprocesses, CPU/RSS meters, the bench journeys, lead opening, event→action measurement,
and the RESULTS.md writer. Not part of mops; imported only by `bench/*.py`.

Two configurations are measured in every run (see bench/README.md):

- `baseline`: the same mops workflows, activities, task queues and client, but every
  `Worker(...)` built with the SDK's defaults (samples-style) and the dev server started
  with only the flags DESIGN.md prescribes (SQLite file, WAL, synchronous=normal).
- `mops`: the workers built with `workers.tuning.worker_config(settings)` and the dev
  server with the dynamic config `starter.stack` sets (`mops up`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from mops.settings import Settings  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PY = sys.executable


# ------------------------------------------------------------------ machine & processes
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mem_total_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return float("nan")


def temporal_version() -> str:
    from starter.stack import temporal_binary

    try:
        out = subprocess.run([temporal_binary(), "--version"], capture_output=True, text=True, timeout=20).stdout
        return out.strip().removeprefix("temporal version ")
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine_line() -> str:
    import temporalio

    return (
        f"{os.cpu_count()} CPUs (nproc), {mem_total_gib():.1f} GiB RAM, {platform.platform()}; "
        f"Python {platform.python_version()}, temporalio {temporalio.__version__}, "
        f"Temporal CLI {temporal_version()}"
    )


def code_line() -> str:
    """The commit measured (and whether the working tree had uncommitted changes)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=10,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"git {sha or '?'}" + (f" + uncommitted changes in {len(dirty)} files" if dirty else "")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime, all threads
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def machine_busy() -> tuple[int, int]:
    vals = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = vals[3] + vals[4]
    return sum(vals) - idle, sum(vals)


class CpuMeter:
    """Cores used (CPU seconds / wall seconds) by each named process between start() and stop(),
    plus this benchmark process and whatever else ran on the machine."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = dict(pids)

    def _sample(self) -> tuple[dict[str, float], tuple[int, int], float]:
        cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        cpu["bench"] = cpu_seconds(os.getpid())
        return cpu, machine_busy(), time.monotonic()

    def start(self) -> CpuMeter:
        self._t0 = self._sample()
        return self

    def stop(self) -> dict[str, Any]:
        (c0, m0, w0), (c1, m1, w1) = self._t0, self._sample()
        wall = max(1e-6, w1 - w0)
        cores = {k: (c1[k] - c0.get(k, 0.0)) / wall for k in c1}
        busy = 100.0 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1])
        cores["other"] = max(0.0, busy / 100 * (os.cpu_count() or 1) - sum(cores.values()))
        return {"cores": cores, "busy_pct": busy, "wall_s": wall}


def cpu_text(c: dict[str, Any]) -> str:
    parts = [f"{k} {v:.2f}" for k, v in sorted(c["cores"].items(), key=lambda kv: -kv[1]) if v >= 0.005]
    return f"{', '.join(parts)} (machine {c['busy_pct']:.0f}% busy)"


async def settle(pids: dict[str, int], idle_pct: float = 20.0, limit_s: float = 120.0, quiet_s: int = 2) -> float:
    """Wait until the machine is (nearly) idle for `quiet_s` consecutive seconds; returns seconds waited.
    `MOPS_BENCH_SETTLE_LIMIT` caps `limit_s` (the smoke test sets it to 0)."""
    limit_s = min(limit_s, float(os.environ.get("MOPS_BENCH_SETTLE_LIMIT", limit_s)))
    t0, calm = time.monotonic(), 0
    while time.monotonic() - t0 < limit_s:
        m = CpuMeter(pids).start()
        await asyncio.sleep(1.0)
        calm = calm + 1 if m.stop()["busy_pct"] < idle_pct else 0
        if calm >= quiet_s:
            break
    return time.monotonic() - t0


# ------------------------------------------------------------------ statistics
def pct(sorted_vals: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_vals:
        return float("nan")
    return sorted_vals[min(len(sorted_vals) - 1, int(round(p / 100 * (len(sorted_vals) - 1))))]


def stats(values: Iterable[float], missing: int = 0) -> dict[str, float]:
    """avg over the values; percentiles and max count `missing` ones (never answered) as infinite."""
    s = sorted(values)
    avg = sum(s) / len(s) if s else float("nan")
    s += [float("inf")] * missing
    return {
        "n": len(s),
        "avg": avg,
        "p50": pct(s, 50),
        "p95": pct(s, 95),
        "p99": pct(s, 99),
        "max": s[-1] if s else float("nan"),
    }


def ms(v: float) -> str:
    if v == float("inf"):
        return "∞"
    return "–" if v != v else (f"{v:.0f}" if v >= 100 else f"{v:.1f}")


def ratio(a: float, b: float, *, higher_is_better: bool = False) -> str:
    """How many times better `a` (mops) is than `b` (baseline)."""
    if not (a == a and b == b) or a <= 0 or b <= 0:
        return "–"
    r = a / b if higher_is_better else b / a
    return f"{r:.1f}×"


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:.0f} MiB"


# ------------------------------------------------------------------ bench journeys
SCORING = """\
# Benchmark scoring: engagement never makes an MQL, so every click only moves the score.
fit_rules:
  - id: webinar-source
    when: [{field: source, op: eq, value: webinar}]
    points: 10
    reason: Attended a webinar
engagement_points: {open: 2, click: 6, visit: 4, form: 15, reply: 20, unsubscribe: 0, bounce: -5}
half_life_days: 14
mql_threshold: 1000000
max_engagement: 80
default_segment: smb
"""

HEADER = """\
version: 1
requires_consent: true
from_email: marketing@mops.example
unsubscribe_group_id: 4242
default_timezone: UTC
scoring: bench
handoff: {{sla: 24h, manager_owner_id: "105", notify_channel: "#sales-handoff"}}
id: {id}
name: {name}
"""

LOOP = (
    HEADER
    + """\
steps:
  # Open: waits on a 30-day timer and the `event` signal at once.
  - id: await-click
    type: wait_for_event
    events: [click]
    timeout: 30d
    on_event: follow-up
    on_timeout: done
  # Each click is answered by one email (SendGrid: suppression check + mail/send), then back to waiting.
  - id: follow-up
    type: send_email
    template: nurture-demo-offer
    subject: Want to see it with your own data?
    next: await-click
  - id: done
    type: goal
    outcome: nurture_complete
"""
)

TIMER = (
    HEADER
    + """\
steps:
  # A nurture timer to a local wall time (like default-nurture's 09:30 `morning-slot`).
  - id: slot
    type: wait
    until_local_time: "{at}"
  - id: nudge
    type: send_email
    template: nurture-case-study
    subject: How a 40-person team cut campaign launch time in half
  - id: done
    type: goal
    outcome: nurture_complete
"""
)


def write_journeys(directory: Path, extra: dict[str, str] | None = None) -> Path:
    """The project's journeys plus the bench journeys (and scoring) into `directory`; returns it
    (the stack's MOPS_JOURNEYS_DIR)."""
    import shutil

    shutil.copytree(ROOT / "journeys", directory, dirs_exist_ok=True)
    (directory / "scoring").mkdir(parents=True, exist_ok=True)
    (directory / "scoring" / "bench.yaml").write_text(SCORING)
    (directory / "bench-loop.yaml").write_text(LOOP.format(id="bench-loop", name="Benchmark event loop"))
    for name, text in (extra or {}).items():
        (directory / f"{name}.yaml").write_text(text)
    return directory


def timer_journey(journey_id: str, at: dt.time) -> str:
    return TIMER.format(id=journey_id, name=f"Benchmark timer at {at.isoformat()}", at=at.isoformat())


# ------------------------------------------------------------------ configurations
@dataclass
class Config:
    """What is measured: the worker options and the dev server flags."""

    name: str  # "baseline" | "mops"
    worker_tuning: bool  # False: SDK-default Worker(...) options
    server_tuning: bool  # False: only DESIGN.md's flags (SQLite WAL, synchronous=normal)
    worker_set: dict[str, Any] = field(default_factory=dict)  # overrides of the tuning (experiments)
    server_dc: dict[str, Any] = field(default_factory=dict)  # extra dynamic config (experiments)
    event_loop: str | None = None  # worker process loop; None = the settings' choice
    workers: int = 1  # worker processes

    @property
    def label(self) -> str:
        return self.name if self.workers == 1 else f"{self.name}:{self.workers}"

    def describe(self) -> str:
        if self.name == "baseline":
            text = (
                "SDK-default `Worker(...)` options on every task queue (max_cached_workflows 1000, "
                "5 pollers, 100 slots), asyncio loop; dev server with DESIGN.md's flags only"
            )
        else:
            text = "workers.tuning.worker_config(settings) + starter.stack dev-server dynamic config"
        if self.worker_set:
            text += f"; worker overrides {self.worker_set}"
        if self.server_dc:
            text += f"; extra dynamic config {self.server_dc}"
        if self.event_loop and self.name != "baseline":
            text += f"; worker loop {self.event_loop}"
        if self.workers > 1:
            text += f"; {self.workers} worker processes"
        return text


def parse_kv(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def configs_from_args(args) -> list[Config]:
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    out = []
    for label in names:
        name, _, n = label.partition(":")
        if name not in ("baseline", "mops") or (n and not n.isdigit()):
            raise SystemExit(f"--configs: unknown configuration {label!r} (baseline, mops, mops:2 = two workers)")
        tuned = name == "mops"
        out.append(
            Config(
                name,
                worker_tuning=tuned,
                server_tuning=tuned,
                worker_set=parse_kv(args.worker_set) if tuned else {},
                server_dc=parse_kv(args.server_dc) if tuned else {},
                event_loop=getattr(args, "worker_loop", None) if tuned else "asyncio",
                workers=int(n or 1),
            )
        )
    return out


def add_common_args(p, *, configs: str = "baseline,mops") -> None:
    p.add_argument(
        "--configs",
        default=configs,
        help=f"configurations to measure, in order (default {configs}); baseline = SDK-default "
        "workers and plain dev server, mops = workers/tuning.py + starter/stack.py tuning",
    )
    p.add_argument(
        "--worker-set",
        action="append",
        metavar="KEY=JSON",
        help="experiment: override one option of the mops worker tuning (repeatable)",
    )
    p.add_argument(
        "--server-dc",
        action="append",
        metavar="KEY=JSON",
        help="experiment: extra dev-server dynamic config for the mops configuration (repeatable)",
    )
    p.add_argument(
        "--worker-loop",
        choices=["asyncio", "uvloop"],
        default=None,
        help="experiment: event loop of the mops worker process (default: the settings' choice)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="parent directory for the throwaway stack (default: the system temp dir)",
    )
    p.add_argument("--no-results", action="store_true", help="print only; do not append to bench/RESULTS.md")
    p.add_argument("--note", default="", help="a sentence recorded with the results")


# ------------------------------------------------------------------ the stack
class Stack:
    """Temporal dev server (SQLite file, WAL) + sandbox + worker process(es), in a temp dir,
    on free ports; everything started is stopped again, also on errors and Ctrl-C."""

    def __init__(
        self,
        config: Config,
        *,
        data_root: Path | None = None,
        journeys: dict[str, str] | None = None,
        settings_extra: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        prefix = f"mops-bench-{config.name}-"
        # MOPS_BENCH_KEEP: a plain directory, since a TemporaryDirectory removes itself when
        # the process exits, kept or not.
        self.tmp = (
            None if os.environ.get("MOPS_BENCH_KEEP") else tempfile.TemporaryDirectory(prefix=prefix, dir=data_root)
        )
        self.dir = Path(self.tmp.name if self.tmp else tempfile.mkdtemp(prefix=prefix, dir=data_root))
        sandbox_port = free_port()
        sandbox = f"http://127.0.0.1:{sandbox_port}"
        urls = {n: sandbox for n in Settings.model_fields if n.endswith("_base_url")}
        # Platform rate limits out of the way: the benchmark measures mops, not the limits.
        rates = {n: 100000.0 for n in Settings.model_fields if n.endswith("_max_per_second")}
        extra = {"journeys_dir": write_journeys(self.dir / "journeys", journeys), **(settings_extra or {})}
        for name, value in (
            ("temporal_dev_tuning", config.server_tuning),
            ("worker_tuning", config.worker_tuning),
            ("temporal_dev_dynamic_config", config.server_dc),
        ):
            if name in Settings.model_fields:
                extra[name] = value
        self.settings = Settings(
            data_dir=self.dir / "data",
            temporal_address=f"127.0.0.1:{free_port()}",
            temporal_ui_port=free_port(),
            sandbox_port=sandbox_port,
            gateway_port=free_port(),
            mail_sender_postal="mops bench, 1 Sandbox Street, 10115 Berlin, Germany",
            mail_preferences_url="https://www.mops.example/email-preferences",
            **urls,
            **rates,
            **extra,
        )
        self.sandbox: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.others: dict[str, subprocess.Popen] = {}
        self._stack = None

    # environment for child processes (settings travel as MOPS_* variables)
    def env(self, **more: str) -> dict[str, str]:
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MOPS_", "OTEL_", "TEMPORAL_"))}
        env.update(
            {
                "MOPS_DATA_DIR": str(s.data_dir),
                "MOPS_TEMPORAL_ADDRESS": s.temporal_address,
                "MOPS_SANDBOX_PORT": str(s.sandbox_port),
                "MOPS_JOURNEYS_DIR": str(s.journeys_dir),
                "MOPS_GATEWAY_PORT": str(s.gateway_port),
                "MOPS_MAIL_SENDER_POSTAL": s.mail_sender_postal or "",
                "MOPS_MAIL_PREFERENCES_URL": s.mail_preferences_url or "",
                "PYTHONPATH": str(ROOT),
            }
        )
        for name in Settings.model_fields:
            if name.endswith(("_base_url", "_max_per_second")):
                env[f"MOPS_{name.upper()}"] = str(getattr(s, name))
        for name in ("worker_tuning", "temporal_dev_tuning"):
            if name in Settings.model_fields:
                env[f"MOPS_{name.upper()}"] = "true" if getattr(s, name) else "false"
        env.update(more)
        return env

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.settings.data_dir / f"{name}.log", "ab")  # noqa: SIM115 (the child's)
        return subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )

    async def start(self, workers: int = 1) -> Stack:
        from starter.stack import EmbeddedStack

        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        print(f"[{self.config.label}] starting stack in {self.dir} ...", file=sys.stderr, flush=True)
        # The sandbox first, in our own process so it can use uvloop/httptools: it stands in for
        # SaaS platforms and shares this machine's CPUs with what is measured.
        self.sandbox = self._spawn(
            "sandbox", [PY, str(Path(__file__).parent / "sandbox_proc.py"), "--port", str(s.sandbox_port)], self.env()
        )
        await wait_http(f"http://127.0.0.1:{s.sandbox_port}/_sandbox/health", self.sandbox, "sandbox")
        self._stack = EmbeddedStack(s)  # the Temporal dev server exactly as `mops up` starts it
        await self._stack.start()
        for _ in range(workers):
            await self.add_worker()
        return self

    async def add_worker(self) -> subprocess.Popen:
        n = len(self.workers)
        cmd = [PY, str(Path(__file__).parent / "worker_proc.py")]
        if not self.config.worker_tuning:
            cmd += ["--baseline"]
        for k, v in self.config.worker_set.items():
            cmd += ["--set", f"{k}={json.dumps(v)}"]
        if self.config.event_loop:
            cmd += ["--loop", self.config.event_loop]
        name = f"worker{n}"
        log = self.settings.data_dir / f"{name}.log"
        offset = log.stat().st_size if log.exists() else 0
        proc = self._spawn(name, cmd, self.env(MOPS_METRICS_PORT=str(free_port())))
        self.workers.append(proc)
        deadline = time.monotonic() + 60
        while b"mops bench worker ready" not in log.read_bytes()[offset:]:
            if proc.poll() is not None:
                # The log's end in the error: a test's temporary directory may be gone by the time
                # someone reads the failure.
                tail = log.read_bytes()[offset:].decode(errors="replace").strip().splitlines()[-15:]
                raise RuntimeError(f"{name} exited ({proc.returncode}); {log} ends:\n" + "\n".join(tail))
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after 60s; see {log}")
            await asyncio.sleep(0.1)
        return proc

    def stop_workers(self) -> None:
        for p in self.workers:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        for p in self.workers:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.workers = []

    async def reconfigure(self, config: Config) -> None:
        """Serve the same SQLite file with another configuration: stop the workers and the dev
        server, restart the server with that configuration's flags, start its workers."""
        from starter.stack import EmbeddedStack

        self.stop_workers()
        if self._stack is not None:
            self._stack.stop()
        self.config = config
        update = {
            n: v
            for n, v in (
                ("temporal_dev_tuning", config.server_tuning),
                ("worker_tuning", config.worker_tuning),
                ("temporal_dev_dynamic_config", config.server_dc),
            )
            if n in Settings.model_fields
        }
        self.settings = self.settings.model_copy(update=update)
        print(
            f"[{config.label}] restarting the dev server and workers on the same database ...",
            file=sys.stderr,
            flush=True,
        )
        self._stack = EmbeddedStack(self.settings)
        await self._stack.start()
        for _ in range(config.workers):
            await self.add_worker()

    def spawn_other(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        self.others[name] = proc = self._spawn(name, cmd, env)
        return proc

    def pids(self) -> dict[str, int]:
        out = {}
        if self._stack is not None:
            out.update({"server" if n == "temporal" else n: p.pid for n, p in self._stack.started})
        if self.sandbox is not None:
            out["sandbox"] = self.sandbox.pid
        for i, p in enumerate(self.workers):
            out[f"worker{i if i else ''}"] = p.pid
        out.update({n: p.pid for n, p in self.others.items()})
        return out

    def worker_rss(self) -> int:
        return sum(rss_bytes(p.pid) for p in self.workers)

    def server_rss(self) -> int:
        return rss_bytes(self.pids().get("server", 0))

    def db_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.settings.data_dir.glob("temporal.db*"))

    def dynamic_config(self) -> list[str]:
        from starter.stack import temporal_command

        cmd = temporal_command(self.settings)
        out = [cmd[i + 1] for i, c in enumerate(cmd) if c in ("--dynamic-config-value", "--sqlite-pragma")]
        return out

    def stop(self) -> None:
        # A second Ctrl-C or SIGTERM while stopping would abandon the rest (a dev server left
        # running with its data dir deleted): held until everything is stopped, then delivered.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            self._stop()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def _stop(self) -> None:
        procs = [*self.others.values(), *self.workers]
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if self._stack is not None:
            self._stack.stop()
        if self.sandbox is not None and self.sandbox.poll() is None:
            self.sandbox.terminate()
            try:
                self.sandbox.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.sandbox.kill()
                self.sandbox.wait()
        if self.tmp is None:
            print(f"kept {self.dir} (MOPS_BENCH_KEEP)", file=sys.stderr)
        else:
            self.tmp.cleanup()


async def wait_http(url: str, proc: subprocess.Popen | None, what: str, limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    async with httpx.AsyncClient(timeout=1) as http:
        while True:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{what} exited with code {proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not ready after {limit_s:.0f}s")
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running(config: Config, **kwargs):
    stack = Stack(
        config,
        data_root=kwargs.pop("data_root", None),
        journeys=kwargs.pop("journeys", None),
        settings_extra=kwargs.pop("settings_extra", None),
    )
    try:
        await stack.start(workers=config.workers, **kwargs)
        yield stack
    finally:
        stack.stop()


# ------------------------------------------------------------------ sandbox effects
class Sandbox:
    def __init__(self, settings: Settings) -> None:
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.sandbox_port}/_sandbox", timeout=120)

    async def effects(self, kind: str, *, after: int = 0) -> list[dict[str, Any]]:
        """Effects of `kind`, oldest first; with `after`, only those past that sequence number."""
        r = await self.http.get("/effects", params={"kind": kind, "after": after})
        r.raise_for_status()
        return r.json()["effects"]

    async def last_seq(self, kind: str) -> int:
        """The sequence number of the newest effect of `kind` (0: none yet)."""
        effects = await self.effects(kind)
        return effects[-1]["seq"] if effects else 0

    async def count(self, kind: str) -> int:
        return len(await self.effects(kind))

    async def reset(self) -> None:
        (await self.http.post("/reset")).raise_for_status()

    async def aclose(self) -> None:
        await self.http.aclose()


def effect_time(effect: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(effect["at"].replace("Z", "+00:00")).timestamp()


def journey_email(effect: dict[str, Any]) -> tuple[str, str] | None:
    """(lead id, step id) of a journey's email among the sandbox's `mail.send` effects, read
    from the custom args every journey email carries (`mops_lead_id`, `mops_step`): SendGrid
    keeps no idempotency key, so the effect's own key is the message id."""
    args = (effect.get("summary") or {}).get("custom_args") or {}
    lead, step = args.get("mops_lead_id"), args.get("mops_step")
    return (lead, step) if lead and step else None


# ------------------------------------------------------------------ leads
def lead_email(tag: str, i: int) -> str:
    return f"bench-{tag}-{i}@acme.example"


async def open_leads(
    client,
    settings: Settings,
    n: int,
    *,
    journey: Callable[[int], str] | str = "bench-loop",
    concurrency: int = 100,
    tag: str | None = None,
    progress_every: float = 10.0,
    start_index: int = 0,
) -> dict[str, Any]:
    """Capture `n` leads (update-with-start, as the gateway and CLI do), `concurrency` at a time.
    Returns their lead ids, the seconds it took and the errors."""
    from domain.journeys import load_journey
    from starter.service.leads import LeadService, build_capture

    leads = LeadService(client, settings)
    tag = tag or uuid.uuid4().hex[:8]
    ids: list[str | None] = [None] * n
    errors: list[str] = []
    done = 0
    t0 = time.monotonic()
    last = t0
    # build_capture re-reads the journey YAML on every call; cache the check for the bench's own CPU.
    specs: dict[str, Any] = {}

    async def one(i: int) -> None:
        nonlocal done, last
        jid = journey(i) if callable(journey) else journey
        if jid not in specs:
            specs[jid] = load_journey(settings.journeys_dir, jid)
        cap = build_capture(
            settings,
            email=lead_email(tag, start_index + i),
            source="webinar",
            consent=True,
            timezone="UTC",
            journey_id=jid,
        )
        for attempt in range(5):
            try:
                ids[i] = (await leads.capture(cap)).lead_id
                break
            except Exception as err:  # noqa: BLE001 — counted, retried like any caller would
                if attempt == 4:
                    errors.append(f"{type(err).__name__}: {str(err)[:160]}")
                await asyncio.sleep(0.5 * (attempt + 1))
        done += 1
        now = time.monotonic()
        if now - last >= progress_every:
            last = now
            print(f"  opened {done}/{n} ({done / (now - t0):.0f}/s)", file=sys.stderr, flush=True)

    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def runner() -> None:
        while not queue.empty():
            await one(queue.get_nowait())

    await asyncio.gather(*(runner() for _ in range(min(concurrency, n))))
    return {"ids": [i for i in ids if i], "seconds": time.monotonic() - t0, "errors": errors, "tag": tag}


async def wait_count(client, query: str, target: int, limit_s: float, label: str = "") -> float:
    """Poll visibility until `query` counts `target` workflows; returns when (monotonic)."""
    t0 = time.monotonic()
    last_print = t0
    while True:
        n = (await client.count_workflows(query)).count
        now = time.monotonic()
        if n >= target:
            return now
        if now - t0 > limit_s:
            raise TimeoutError(f"{label or query}: {n}/{target} after {limit_s:.0f}s")
        if now - last_print > 15:
            print(f"  {label or 'waiting'}: {n}/{target}", file=sys.stderr, flush=True)
            last_print = now
        await asyncio.sleep(1.0)


# ------------------------------------------------------------------ event → action
@dataclass
class EventRun:
    """Clicks sent open-loop and the journey emails they caused."""

    sent: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # lead -> scheduled times
    send_errors: int = 0
    skipped: int = 0  # not sent: too many signals already in flight
    err_samples: list[str] = field(default_factory=list)
    first: float = float("inf")
    last: float = 0.0


async def send_events(
    client,
    settings: Settings,
    lead_ids: list[str],
    schedule: Iterable[float],
    run: EventRun,
    *,
    pick: Callable[[int], int] | None = None,
    max_in_flight: int = 5000,
) -> None:
    """Signal a click to a lead at each (wall-clock) time of `schedule`, whether or not earlier
    signals have returned (open loop). Latency is later measured from the scheduled time."""
    from starter.service.leads import LeadService, build_event

    leads = LeadService(client, settings)
    tasks: set[asyncio.Task] = set()
    n_leads = len(lead_ids)

    async def one(lead: str, scheduled: float) -> None:
        try:
            await leads.record_event(build_event(type="click"), lead_id=lead)
        except Exception as err:  # noqa: BLE001
            run.send_errors += 1
            run.sent[lead].remove(scheduled)
            if len(run.err_samples) < 5:
                run.err_samples.append(f"{type(err).__name__}: {str(err)[:160]}")

    for i, at in enumerate(schedule):
        delay = at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lead = lead_ids[(pick(i) if pick else i) % n_leads]
        if len(tasks) >= max_in_flight:
            run.skipped += 1
            continue
        run.sent[lead].append(at)
        run.first, run.last = min(run.first, at), max(run.last, at)
        t = asyncio.create_task(one(lead, at))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(set(tasks), timeout=60)


def open_loop_schedule(rate: float, seconds: float, start: float) -> list[float]:
    return [start + i / rate for i in range(int(rate * seconds))]


def pair_actions(run: EventRun, effects: list[dict[str, Any]], step: str = "follow-up") -> dict[str, Any]:
    """Pair each lead's emails with its clicks (earliest unanswered click sent before the email)."""
    by_lead: dict[str, list[float]] = defaultdict(list)
    for e in effects:
        sent = journey_email(e)
        if sent and sent[1] == step:
            by_lead[sent[0]].append(effect_time(e))
    lat: list[tuple[float, float]] = []  # (scheduled, latency s)
    unanswered: list[float] = []  # scheduled times of clicks no email answered
    for lead, sent in run.sent.items():
        pending = sorted(sent)
        acts = sorted(by_lead.get(lead, []))
        j = 0
        for act in acts:
            if j < len(pending) and pending[j] <= act + 0.005:
                lat.append((pending[j], act - pending[j]))
                j += 1
        unanswered += pending[j:]
    return {"latencies": lat, "unanswered": unanswered}


async def event_action_latency(
    client,
    stack: Stack,
    lead_ids: list[str],
    *,
    rate: float,
    seconds: float,
    warmup: float = 0.0,
    drain_s: float = 60.0,
    pick=None,
) -> dict[str, Any]:
    """Clicks at `rate`/s for warmup+seconds (open loop); emails they cause; latency stats
    over the measured window (warm-up excluded) and CPU per process."""
    sb = Sandbox(stack.settings)
    # Only the emails sent from here on, read past the newest one so far. The sandbox is not
    # reset: that would also drop the CRM contacts the journeys write on a click (a refused
    # write parks the step before its email), which a real CRM keeps.
    seen = await sb.last_seq("mail.send")
    run = EventRun()
    start = time.time() + 0.2
    sched = open_loop_schedule(rate, warmup + seconds, start)
    meter = CpuMeter(stack.pids()).start()
    await send_events(client, stack.settings, lead_ids, sched, run, pick=pick)
    cpu = meter.stop()
    expected = sum(len(v) for v in run.sent.values())
    # Drain: wait until every click has its email (or the drain limit).
    t_end = time.monotonic() + drain_s
    effects: list[dict[str, Any]] = []
    while time.monotonic() < t_end:
        effects = await sb.effects("mail.send", after=seen)
        if len(effects) >= expected:
            break
        await asyncio.sleep(1.0)
    await sb.aclose()
    return summarize_run(run, effects, sched, start + warmup, seconds, cpu)


def summarize_run(
    run: EventRun,
    effects: list[dict[str, Any]],
    sched: list[float],
    window_from: float,
    seconds: float,
    cpu: dict[str, Any] | None,
) -> dict[str, Any]:
    paired = pair_actions(run, effects)
    measured = [lat * 1000 for at, lat in paired["latencies"] if at >= window_from]
    missing = sum(1 for at in paired["unanswered"] if at >= window_from)
    last_action = max((at + lat for at, lat in paired["latencies"]), default=float("nan"))
    return {
        "sent": len(measured) + missing,
        "send_errors": run.send_errors,
        "skipped": run.skipped,
        "unanswered": missing,
        "lat": stats(measured, missing + run.skipped + run.send_errors),
        "achieved": len(measured) / seconds,
        "cpu": cpu,
        "err_samples": run.err_samples,
        "drained_after_s": last_action - sched[-1] if sched else float("nan"),
        "pairs": paired,
    }


# ------------------------------------------------------------------ results
def command_line() -> str:
    return " ".join(shlex.quote(a) for a in [".venv/bin/python", *[os.path.relpath(sys.argv[0], ROOT)], *sys.argv[1:]])


def append_results(title: str, lines: list[str], *, write: bool) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join([f"## {now} — {title}", "", *lines, ""])
    print(text)
    if write:
        if not RESULTS.exists():
            RESULTS.write_text("# Benchmark results\n\n")
        with RESULTS.open("a") as f:
            f.write(text + "\n")
    return text


def header_lines(configs: list[Config], stacks_info: dict[str, dict[str, Any]], note: str = "") -> list[str]:
    lines = [
        f"- machine: {machine_line()}",
        f"- code: {code_line()}",
        "- storage: Temporal dev server on a SQLite file in WAL mode (temp dir on the machine's disk)",
        f"- command: `{command_line()}`",
    ]
    for c in configs:
        info = stacks_info.get(c.label, {})
        lines.append(f"- `{c.label}`: {c.describe()}")
        if info.get("server_flags"):
            lines.append(f"  - dev server: `{' '.join(info['server_flags'])}`")
    if note:
        lines.append(f"- note: {note}")
    return lines


def parser(doc: str) -> argparse.ArgumentParser:
    """A script's argument parser: the docstring's first paragraph as description, all of it as epilog."""
    return argparse.ArgumentParser(
        description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=doc
    )


def measure_each(
    configs: list[Config],
    measure: Callable[[Config, Any], Awaitable[dict]],
    args,
    title: str,
    report: Callable[[Any, list[Config], dict[str, dict]], list[str]],
) -> int:
    """Measure each configuration in turn (each on its own stack), then print and record the report."""

    async def run() -> int:
        results = {c.label: await measure(c, args) for c in configs}
        append_results(title, report(args, configs, results), write=not args.no_results)
        return 0

    return run_main(run)


def run_main(coro_fn: Callable[[], Awaitable[int]]) -> int:
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM cleans up like Ctrl-C
    try:
        return asyncio.run(coro_fn())
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        return 130


def rng(seed: int = 7) -> random.Random:
    return random.Random(seed)
