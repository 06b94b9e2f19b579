"""Checks of the deployment files: docker-compose.yml, Dockerfile, deploy/ (file parsing in
test_compose.py and test_k8s.py; test_tools.py runs promtool, kustomize and docker compose).

Shared helpers of test_compose.py and test_k8s.py: where the files are, which `MOPS_*`
variables exist (from the settings models, so a new setting is picked up by itself) and
which of them a container must set.
"""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
from datetime import timedelta
from pathlib import Path

import yaml
from pydantic import AliasChoices, SecretStr

from gateway.settings import GatewaySettings
from mops.settings import DATA_DIR_SETTINGS, Settings
from sandbox.settings import SandboxTokens

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOY = ROOT / "deploy"
K8S_DIR = DEPLOY / "k8s"

# `MOPS_*` variables the deployment files already set but mops/settings.py does not read
# yet (the metrics and worker-versioning work adds them). Remove each name once it is a
# field: the "real setting" tests then check it like any other.
PLANNED_SETTINGS: frozenset[str] = frozenset()

SETTINGS_MODELS = (Settings, GatewaySettings, SandboxTokens)
LOCAL_HOSTS = ("127.0.0.1", "localhost")


def env_names(model: type, field_name: str) -> list[str]:
    """The environment variable(s) a settings field is read from."""
    field = model.model_fields[field_name]
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [c for c in alias.choices if isinstance(c, str)]
    if isinstance(alias, str):
        return [alias]
    return [model.model_config.get("env_prefix", "") + field_name.upper()]


def known_env_names() -> set[str]:
    """Every variable the mops settings models read."""
    return {
        name for model in SETTINGS_MODELS for field_name in model.model_fields for name in env_names(model, field_name)
    }


def is_set(env: dict[str, str], field_name: str, model: type = Settings) -> bool:
    return any(name in env for name in env_names(model, field_name))


def container_sensitive_settings() -> dict[str, str]:
    """Settings whose default is wrong inside a container, with the reason.

    Derived from the fields, so a new `*_base_url` (or any setting defaulting to the
    local machine or the source tree) is required of the deployment files at once.
    """
    required = {
        "temporal_namespace": "the namespace the one-shot job created",
        "gateway_public_url": "unsubscribe links would point at the container's own address",
    }
    for name, field in Settings.model_fields.items():
        default = field.default
        if name.endswith("_base_url"):
            required[name] = "the platform (sandbox or real service) is not on the container's localhost"
        elif isinstance(default, str) and any(host in default for host in LOCAL_HOSTS):
            required[name] = f"defaults to the local machine ({default})"
        elif name == "campaign_assets":
            required[name] = "no default: the worker refuses every ad image without it"
        elif name in DATA_DIR_SETTINGS:
            required[name] = "defaults to the current directory or the user's, which a container should not guess"
    return required


def secret_fields() -> dict[str, type]:
    """SecretStr settings of the processes we deploy (field name -> model)."""
    out: dict[str, type] = {}
    for model in (Settings, GatewaySettings):
        for name, field in model.model_fields.items():
            if field.annotation is SecretStr:
                out.setdefault(name, model)
    return out


def task_queue_fields() -> dict[str, str]:
    """`*_task_queue` settings -> their default queue name."""
    return {name: f.default for name, f in Settings.model_fields.items() if name.endswith("_task_queue")}


def graceful_shutdown_seconds() -> float:
    """workers/main.py GRACEFUL_SHUTDOWN, read from the source (no import of the worker)."""
    tree = ast.parse((ROOT / "workers" / "main.py").read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "GRACEFUL_SHUTDOWN" for t in node.targets)
            and isinstance(node.value, ast.Call)
        ):
            kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.value.keywords}
            return timedelta(**kwargs).total_seconds()
    raise AssertionError("GRACEFUL_SHUTDOWN = timedelta(...) not found in workers/main.py")


_INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?::?[-?](?P<default>[^}]*))?\}")


def interpolate(value: str) -> str:
    """What docker compose makes of `value` with none of the variables set: the defaults."""
    out = _INTERPOLATION.sub(lambda m: m.group("default") or "", value)
    return out.replace("$$", "$")


# The Temporal SDK metrics the dashboard and the alert rules read, as a worker's /metrics
# serves them with mops/metrics.py's PrometheusConfig: durations in seconds with no unit in
# the name, counters ending in _total. Read off a real worker's endpoint (one with a failing
# activity and a failing workflow task); tests/e2e/test_operations.py checks the latency
# histograms' names on one in every run.
SDK_METRICS = frozenset(
    {
        "temporal_activity_execution_failed_total",
        "temporal_activity_execution_latency_bucket",
        "temporal_activity_execution_latency_count",
        "temporal_activity_schedule_to_start_latency_bucket",
        "temporal_request_failure_total",
        "temporal_request_total",
        "temporal_sticky_cache_size",
        "temporal_sticky_cache_total_forced_eviction_total",
        "temporal_worker_task_slots_available",
        "temporal_workflow_completed_total",
        "temporal_workflow_continue_as_new_total",
        "temporal_workflow_failed_total",
        "temporal_workflow_task_execution_failed_total",
        "temporal_workflow_task_execution_latency_bucket",
        "temporal_workflow_task_schedule_to_start_latency_bucket",
    }
)
_INSTRUMENT = re.compile(r"create_(?P<kind>counter|gauge|histogram)\w*\(\s*\"(?P<name>mops_\w+)\"")


def mops_metrics() -> set[str]:
    """mops' own series names, from the code that creates the instruments (counters get
    _total, histograms _bucket/_sum/_count: the Prometheus endpoint's naming)."""
    names: set[str] = set()
    for path in (ROOT / "mops" / "metrics.py", ROOT / "activities" / "email.py"):
        for m in _INSTRUMENT.finditer(path.read_text()):
            name, kind = m.group("name"), m.group("kind")
            if kind == "counter":
                names.add(f"{name}_total")
            elif kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            else:
                names.add(name)
    return names


def promql_metrics(expr: str) -> set[str]:
    """The mops_* and temporal_* metric names a PromQL expression reads."""
    return set(re.findall(r"\b(?:mops|temporal)_[a-z0-9_]+\b", expr))


_REQUIRED = re.compile(r"\$\{(?P<name>\w+):?\?[^}]*\}")


def required_variables(value: str) -> set[str]:
    """The variables `value` requires (`${VAR:?message}`): compose refuses to start without them."""
    return {m.group("name") for m in _REQUIRED.finditer(value)}


def load_yaml_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def dockerfile_stages(path: Path = DOCKERFILE) -> list[list[tuple[str, str]]]:
    """Instructions per build stage, as (INSTRUCTION, arguments) with continuations joined."""
    lines: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    stages: list[list[tuple[str, str]]] = []
    for line in lines:
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction, args.strip()))
    return stages


def dockerfile_env(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in stage:
        if instruction == "ENV":
            for token in shlex.split(args):
                key, sep, value = token.partition("=")
                if sep:
                    env[key] = value
    return env


def dev_server_versions() -> dict[str, str]:
    """What `mops up` runs: the `temporal` CLI's dev server and UI versions."""
    from mops.binaries import installed_binary

    out = subprocess.run([installed_binary("temporal"), "--version"], capture_output=True, text=True, check=True)
    match = re.search(r"Server (?P<server>[\d.]+), UI (?P<ui>[\d.]+)", out.stdout)
    assert match, f"unexpected `temporal --version`: {out.stdout!r}"
    return match.groupdict()
