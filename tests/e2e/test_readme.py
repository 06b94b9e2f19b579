"""The README is tested: every shell command in its ```sh blocks runs, in README order,
against an embedded stack (`mops up` on free ports), so the README cannot drift.

Markers, as a trailing comment on a command line in the README:
- `# needs: <what>`: not run here (real credentials, a long-running process, state this
  stack cannot have); few, and each says why. `make up` is one: the test starts
  `mops up` itself where the README starts it, and stops it at the end.
- `# exits N`: the command must exit with code N (a refusal the README shows on purpose).
Every other command must exit 0. `make demo` and `make test` are exempt: the suite and CI
run them. Shell variables (`$KEY`) are exported by an earlier command and carried over.

The commands run in a scratch directory whose `.venv` is this interpreter's environment
and whose example files are the repository's, with `MOPS_*` variables pointing at the
stack's ports, so nothing here depends on fixed ports or on the checkout's `.mops/`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mops.settings import Settings
from tests.conftest import ROOT as PROJECT_ROOT
from tests.conftest import free_port

README = PROJECT_ROOT / "README.md"
EXEMPT = {"make demo", "make test"}  # the suite and CI run these
STACK_START = "make up"
MAX_SKIPPED = 3
START_DEADLINE_S = 120.0
COMMAND_TIMEOUT_S = 120.0
PLATFORMS = ("HUBSPOT", "SENDGRID", "SLACK", "WORDPRESS", "LINKEDIN", "GA4", "META", "GOOGLE_ADS")


@dataclass(frozen=True)
class Command:
    line: int  # 1-based line in README.md where the command starts
    text: str  # as bash runs it (continuation lines joined)
    needs: str | None = None  # why it is not run here
    exits: int = 0

    @property
    def head(self) -> str:
        return " ".join(self.text.split()[:2])


_FENCE = re.compile(r"^```(\w*)\s*$")
_NEEDS = re.compile(r"#\s*needs:\s*(.+)$")
_EXITS = re.compile(r"#\s*exits\s+(\d+)\b")


def readme_commands(text: str) -> list[Command]:
    """Every command of the ```sh blocks, in order; `\\`-continued lines joined."""
    commands: list[Command] = []
    in_sh, pending, start = False, "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        fence = _FENCE.match(line.strip())
        if fence:
            assert not pending, f"README.md:{start}: a command ends with '\\' at the end of its block"
            in_sh = not in_sh and fence.group(1) in ("sh", "bash", "shell")
            continue
        if not in_sh:
            continue
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        full = pending + stripped
        pending = ""
        needs = _NEEDS.search(full)
        exits = _EXITS.search(full)
        commands.append(
            Command(start, full, needs.group(1).strip() if needs else None, int(exits.group(1)) if exits else 0)
        )
    return commands


# ------------------------------------------------------------- without a stack


def test_readme_markers_are_parsed() -> None:
    text = "\n".join(
        [
            "prose `.venv/bin/mops nothing`",
            "```sh",
            "# a comment line",
            "echo one   # exits 3",
            "curl -H a \\",
            "     http://x",
            "make up   # needs: runs until Ctrl-C",
            "```",
            "```python",
            "print('not shell')",
            "```",
        ]
    )
    assert readme_commands(text) == [
        Command(4, "echo one   # exits 3", exits=3),
        Command(5, "curl -H a http://x"),
        Command(7, "make up   # needs: runs until Ctrl-C", needs="runs until Ctrl-C"),
    ]


def test_readme_names_what_exists() -> None:
    """Workflow types as registered, the architecture doc a clone has, example files that exist."""
    text = README.read_text()
    assert "../shared/" not in text and "docs/ARCHITECTURE.md" in text
    registered = set()
    for path in (PROJECT_ROOT / "workflows").glob("*.py"):
        registered |= set(re.findall(r'@workflow\.defn\(name="(\w+)"\)', path.read_text()))
    assert {"LeadJourney", "Content", "ContactSync", "Campaign"} <= registered
    for name in registered:
        assert f"`{name}`" in text, f"README does not name the workflow type {name}"
    for name in set(re.findall(r"`(\w+Workflow)`", text)):
        assert name.removesuffix("Workflow") in registered and name not in registered, f"no workflow type {name}"
    for path in set(re.findall(r"\b((?:examples|campaigns|policies)/[\w.-]+\.(?:yaml|md))\b", text)):
        assert (PROJECT_ROOT / path).is_file(), f"README names {path}, which does not exist"


def test_readme_runs_few_commands_elsewhere() -> None:
    commands = readme_commands(README.read_text())
    skipped = [c for c in commands if c.needs]
    assert 0 < len(skipped) <= MAX_SKIPPED, [c.text for c in skipped]
    assert [c for c in commands if c.text.startswith(STACK_START)], "the README starts the stack with `make up`"
    assert len([c for c in commands if not c.needs and c.head not in EXEMPT]) >= 40


# ---------------------------------------------------------------- with a stack


def scratch_dir(tmp: Path) -> Path:
    """A checkout as a new user has it: `.venv` = this interpreter's environment, the data
    directories (settings find them in the current directory) and the example files."""
    work = tmp / "work"
    work.mkdir()
    (work / ".venv").symlink_to(Path(sys.prefix))
    for name in ("examples", "campaigns", "journeys", "policies"):
        (work / name).symlink_to(PROJECT_ROOT / name)
    assert (work / ".venv" / "bin" / "mops").exists(), "the project is not installed in this environment"
    return work


def make_up_exports() -> dict[str, str]:
    """What `make up` exports for the stack (the email footer's sandbox values): the test
    starts `mops up` itself, as `make up` would."""
    exports = {}
    for line in (PROJECT_ROOT / "Makefile").read_text().splitlines():
        if line.startswith("demo up: export "):
            name, _, value = line.removeprefix("demo up: export ").partition(" ?= ")
            exports[name] = value
    assert {"MOPS_MAIL_SENDER_POSTAL", "MOPS_MAIL_PREFERENCES_URL"} <= exports.keys(), exports
    return exports


def stack_env(tmp: Path) -> dict[str, str]:
    sandbox = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOPS_", "TEMPORAL_"))}
    env.update(
        {
            "MOPS_DATA_DIR": str(tmp / "data"),
            "MOPS_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            "MOPS_TEMPORAL_UI_PORT": str(free_port()),
            "MOPS_SANDBOX_PORT": str(sandbox),
            "MOPS_GATEWAY_PORT": str(free_port()),
            "MOPS_CODEC_SERVER_PORT": str(free_port()),
            "MOPS_METRICS_PORT": "0",
            # The accuracy Schedules `mops up` makes would fire at the top of the hour, in the
            # middle of the commands (tests/e2e/test_worker_config.py checks they are made).
            "MOPS_COMPLIANCE_CHECK_EVERY": "off",
            "MOPS_RECONCILE_EVERY": "off",
            **{f"MOPS_{p}_BASE_URL": f"http://127.0.0.1:{sandbox}" for p in PLATFORMS},
            **make_up_exports(),
        }
    )
    return env


class Stack:
    """`mops up` in the background, as a user starts it, on this test's ports."""

    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self.log = Path(env["MOPS_DATA_DIR"]).parent / "mops-up.log"
        self.env = env
        self.proc = subprocess.Popen(
            [str(work / ".venv" / "bin" / "mops"), "up"],
            cwd=work,
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def wait_ready(self) -> None:
        url = f"http://127.0.0.1:{self.env['MOPS_GATEWAY_PORT']}/healthz"
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"mops up exited {self.proc.returncode}:\n{self.log.read_text()}"
            try:
                if httpx.get(url, timeout=1).status_code == 200 and "mops is up" in self.log.read_text():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"mops up not ready within {START_DEADLINE_S:.0f}s:\n{self.log.read_text()}")

    def worker_config(self) -> dict:
        """The configuration line the stack's workers log once they are built."""
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            found = re.search(r"mops worker configuration (\{.*\})$", self.log.read_text(), re.M)
            if found:
                return json.loads(found.group(1))
            assert self.proc.poll() is None, f"mops up exited {self.proc.returncode}:\n{self.log.read_text()}"
            time.sleep(0.3)
        raise AssertionError(f"mops up logged no worker configuration:\n{self.log.read_text()}")

    def stop(self) -> None:
        """Ctrl-C, as a user stops it: `mops up` stops the server, sandbox and codec server it started."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"mops up did not stop on Ctrl-C:\n{self.log.read_text()}") from None


def run_command(cmd: Command, work: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """One command in bash, with the variables earlier commands exported (state.env)."""
    script = f"""set -o pipefail
[ -f state.env ] && . ./state.env
{cmd.text}
rc=$?
export -p > state.env
exit $rc
"""
    return subprocess.run(
        ["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
    )


def web_ui_decodes_with_no_secret(env: dict[str, str]) -> None:
    """The Web UI hands its settings to any visitor: they hold the codec endpoint and no secret,
    and a browser on the UI's page is answered by the codec server all the same."""
    ui = f"http://127.0.0.1:{env['MOPS_TEMPORAL_UI_PORT']}"
    shown = httpx.get(f"{ui}/api/v1/settings", timeout=15)
    assert shown.status_code == 200, shown.text
    endpoint = shown.json()["Codec"]["Endpoint"]
    assert endpoint == f"http://127.0.0.1:{env['MOPS_CODEC_SERVER_PORT']}", shown.text
    token = Settings.model_fields["codec_server_token"].default.get_secret_value()  # the stack's: none is set
    assert "MOPS_CODEC_SERVER_TOKEN" not in env and token not in shown.text
    text = {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(b'"hi"').decode(),
    }
    browser = {"Origin": ui, "X-Namespace": "default"}
    sealed = httpx.post(f"{endpoint}/encode", json={"payloads": [text]}, headers=browser, timeout=15)
    assert sealed.status_code == 200 and sealed.json()["payloads"][0] != text, sealed.text
    opened = httpx.post(f"{endpoint}/decode", json=sealed.json(), headers=browser, timeout=15)
    assert opened.status_code == 200 and opened.json()["payloads"][0]["data"] == text["data"], opened.text
    assert httpx.post(f"{endpoint}/decode", json=sealed.json(), timeout=15).status_code == 401, "not a browser: token"


def approver_can_sign_in(work: Path, env: dict[str, str]) -> None:
    """What the README says an approver does with the token it minted: sign in to the page."""
    token = subprocess.run(
        ["bash", "-c", '. ./state.env && printf %s "$OMAR_TOKEN"'], cwd=work, capture_output=True, text=True
    ).stdout
    assert token.startswith("mops_"), "the README exports OMAR_TOKEN from `mops gateway keygen ... --approver omar`"
    base = f"http://127.0.0.1:{env['MOPS_GATEWAY_PORT']}"
    with httpx.Client(base_url=base, follow_redirects=True, timeout=15) as http:
        page = http.post("/approvals/sign-in", data={"token": token})
    assert page.status_code == 200 and "Signed in as" in page.text, page.text[:2000]


@pytest.mark.timeout(600)
def test_every_readme_command_runs(tmp_path: Path) -> None:
    commands = readme_commands(README.read_text())
    work, env = scratch_dir(tmp_path), stack_env(tmp_path)
    stack: Stack | None = None
    ran: list[str] = []
    try:
        for cmd in commands:
            if cmd.text.startswith(STACK_START):
                stack = Stack(work, env)
                stack.wait_ready()
                # `mops up` runs its workers in the configuration `mops worker` runs, on uvloop.
                running = stack.worker_config()
                assert running["tuning"] and running["event_loop"] == "uvloop", running
                assert (running["max_cached_workflows"], running["workflow_pollers"]) == (5000, 10), running
                web_ui_decodes_with_no_secret(env)
                continue
            if cmd.needs or cmd.head in EXEMPT:
                continue
            assert stack is not None, f"README.md:{cmd.line}: `{cmd.text}` comes before the stack is started"
            res = run_command(cmd, work, env)
            where = f"README.md:{cmd.line}: `{cmd.text}`"
            assert res.returncode == cmd.exits, f"{where} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
            assert "Traceback" not in res.stderr, f"{where}:\n{res.stderr}"
            if cmd.exits:
                assert res.stderr.startswith("error:") and len(res.stderr.strip().splitlines()) == 1, res.stderr
            if cmd.text.startswith(".venv/bin/mops lead capture"):
                # Output to a pipe is not folded at 80 columns: the Web UI link stays whole.
                ui = f"http://127.0.0.1:{env['MOPS_TEMPORAL_UI_PORT']}/namespaces/default/workflows/lead-"
                assert re.search(rf"^Web UI: {re.escape(ui)}[0-9a-f]{{24}}$", res.stdout, re.M), res.stdout
            ran.append(cmd.text)
        approver_can_sign_in(work, env)
    finally:
        if stack is not None:
            stack.stop()
    assert len(ran) >= 40
