"""docker-compose.yml, the Dockerfile and the files the stack mounts (deploy/)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from starter.stack import SEARCH_ATTRIBUTES
from tests.ops import (
    COMPOSE_FILE,
    DEPLOY,
    DOCKERFILE,
    DOCKERIGNORE,
    PLANNED_SETTINGS,
    ROOT,
    SDK_METRICS,
    Settings,
    container_sensitive_settings,
    dev_server_versions,
    dockerfile_env,
    dockerfile_stages,
    env_names,
    graceful_shutdown_seconds,
    interpolate,
    is_set,
    known_env_names,
    mops_metrics,
    promql_metrics,
    required_variables,
    secret_fields,
)

COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
ONE_SHOT = {name for name, s in SERVICES.items() if s.get("restart") == "no"}
LONG_RUNNING = set(SERVICES) - ONE_SHOT
MOPS_SERVICES = ("sandbox", "worker", "gateway", "codec-server")
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# DESIGN.md §3: the default ports, the same in the compose stack.
DOCUMENTED_PORTS = {
    "temporal": (7233, 7233),
    "temporal-ui": (8233, 8080),
    "gateway": (8000, 8000),
    "sandbox": (8100, 8100),
}


def env(service: str) -> dict[str, str]:
    raw = SERVICES[service].get("environment") or {}
    assert isinstance(raw, dict), f"{service}: write `environment` as a mapping (the tests and anchors rely on it)"
    return {k: "" if v is None else str(v) for k, v in raw.items()}


def resolved_env(service: str) -> dict[str, str]:
    return {k: interpolate(v) for k, v in env(service).items()}


def depends_on(service: str) -> dict[str, dict]:
    deps = SERVICES[service].get("depends_on") or {}
    assert isinstance(deps, dict), f"{service}: depends_on must be the long form with a condition per service"
    return deps


def published_ports(service: str) -> list[tuple[str, int, int]]:
    """(host ip, host port, container port) of each `ports:` entry."""
    out = []
    for entry in SERVICES[service].get("ports") or []:
        if isinstance(entry, dict):
            out.append((entry.get("host_ip", ""), int(entry["published"]), int(entry["target"])))
            continue
        spec = str(entry).split("/")[0]
        parts = spec.rsplit(":", 2)
        assert len(parts) >= 2, f"{service}: port {entry!r} publishes no host port (pick one explicitly)"
        host_ip = parts[0] if len(parts) == 3 else ""
        out.append((host_ip, int(parts[-2]), int(parts[-1])))
    return out


def volumes(service: str) -> list[tuple[str, str]]:
    """(source, target) of each volume entry."""
    out = []
    for entry in SERVICES[service].get("volumes") or []:
        if isinstance(entry, dict):
            out.append((str(entry.get("source", "")), str(entry["target"])))
        else:
            source, _, rest = str(entry).partition(":")
            out.append((source, rest.split(":")[0]) if rest else ("", source))
    return out


def repo_mounts() -> dict[str, tuple[Path, str]]:
    """`service:target` -> (file or directory in the repo, target in the container)."""
    return {
        f"{name}:{target}": ((ROOT / source).resolve(), target)
        for name in SERVICES
        for source, target in volumes(name)
        if source.startswith((".", "/"))
    }


def mounted_repo_path(service: str, target: str) -> Path:
    for source, t in volumes(service):
        if t == target:
            return (ROOT / source).resolve()
    raise AssertionError(f"{service} mounts nothing at {target}")


def healthcheck_url(service: str) -> str:
    test = " ".join(SERVICES[service]["healthcheck"]["test"])
    match = re.search(r"https?://[^\s'\"]+", test)
    assert match, f"{service}: no URL in its healthcheck {test!r}"
    return match.group(0)


def duration_seconds(value: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(value))
    assert parts and "".join(n + u for n, u in parts) == str(value), f"not a compose duration: {value!r}"
    return sum(float(n) * units[u] for n, u in parts)


# ---------------------------------------------------------------- images and health


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_image_is_pinned_to_a_version(service):
    image = interpolate(str(SERVICES[service].get("image", "")))
    assert image, f"{service}: no image (services with `build` still name the image they build, with a tag)"
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    assert ":" in last or digest, f"{service}: {image!r} has no tag, i.e. `latest`"
    tag = last.partition(":")[2]
    assert tag != "latest", f"{service}: {image!r} uses `latest`"
    assert digest or re.search(r"\d+\.\d+", tag), f"{service}: {image!r} is not pinned to an exact version"


def test_every_service_says_whether_it_is_a_job():
    missing = [name for name, s in SERVICES.items() if "restart" not in s]
    assert not missing, (
        f'{missing}: set `restart` (unless-stopped for services, "no" for one-shot jobs) so the stack\'s '
        "long-running services and jobs are told apart"
    )


@pytest.mark.parametrize("service", sorted(LONG_RUNNING))
def test_long_running_service_has_a_healthcheck(service):
    check = SERVICES[service].get("healthcheck") or {}
    assert not check.get("disable"), f"{service}: healthcheck disabled on a long-running service"
    test = check.get("test")
    assert isinstance(test, list) and test and test[0] in ("CMD", "CMD-SHELL"), (
        f"{service}: healthcheck.test must be [CMD, ...] or [CMD-SHELL, ...], got {test!r}"
    )
    assert len(test) > 1 and all(str(part).strip() for part in test[1:]), f"{service}: empty healthcheck command"
    for key in ("interval", "timeout", "retries"):
        assert key in check, f"{service}: healthcheck without {key}"


def test_dependencies_exist_and_wait_for_the_right_condition():
    problems = []
    for name in SERVICES:
        for dep, spec in depends_on(name).items():
            condition = (spec or {}).get("condition")
            if dep not in SERVICES:
                problems.append(f"{name} depends on unknown service {dep!r}")
            elif dep == name:
                problems.append(f"{name} depends on itself")
            elif condition not in CONDITIONS:
                problems.append(f"{name} -> {dep}: condition {condition!r} is not one of {sorted(CONDITIONS)}")
            elif dep in ONE_SHOT and condition != "service_completed_successfully":
                problems.append(
                    f"{name} -> {dep}: a one-shot job must be waited for with service_completed_successfully"
                )
            elif dep in LONG_RUNNING and condition != "service_healthy":
                problems.append(f"{name} -> {dep}: wait for service_healthy (it has a healthcheck), not {condition}")
    assert not problems, "\n".join(problems)


def test_dependencies_have_no_cycle():
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        assert state.get(name) != "visiting", f"dependency cycle: {' -> '.join([*path, name])}"
        state[name] = "visiting"
        for dep in depends_on(name):
            if dep in SERVICES:
                visit(dep, [*path, name])
        state[name] = "done"

    for name in SERVICES:
        visit(name, [])


@pytest.mark.parametrize("job", sorted(ONE_SHOT))
def test_one_shot_job_is_waited_for(job):
    waiters = [
        name
        for name in SERVICES
        if (depends_on(name).get(job) or {}).get("condition") == "service_completed_successfully"
    ]
    assert waiters, f"{job} is a one-shot job but nothing waits for it to complete successfully"


# ---------------------------------------------------------------- ports and volumes


def test_no_host_port_is_published_twice():
    seen: dict[int, str] = {}
    problems = []
    for name in SERVICES:
        for _ip, host_port, _target in published_ports(name):
            if host_port in seen:
                problems.append(f"host port {host_port}: {seen[host_port]} and {name}")
            seen[host_port] = name
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("service", sorted(DOCUMENTED_PORTS))
def test_documented_ports(service):
    host, container = DOCUMENTED_PORTS[service]
    assert (host, container) in [(h, c) for _ip, h, c in published_ports(service)], (
        f"{service} should publish {host}:{container} (the default ports of DESIGN.md §3)"
    )


def test_named_volumes_are_declared_and_used():
    declared = set(COMPOSE.get("volumes") or {})
    used = {
        source
        for name in SERVICES
        for source, _target in volumes(name)
        if source and not source.startswith((".", "/", "~", "$"))
    }
    assert used <= declared, f"named volumes used but not declared under `volumes:`: {sorted(used - declared)}"
    assert declared <= used, f"declared volumes no service uses: {sorted(declared - used)}"
    for stateful, target in (
        ("postgresql", "/var/lib/postgresql/data"),
        ("elasticsearch", "/usr/share/elasticsearch/data"),
        ("prometheus", "/prometheus"),
        ("grafana", "/var/lib/grafana"),
    ):
        assert any(t == target and s in declared for s, t in volumes(stateful)), (
            f"{stateful}: keep {target} on a named volume, or its data is lost with the container"
        )


def test_files_mounted_from_the_repo_exist():
    missing = [
        f"{where} <- {path.relative_to(ROOT)}" for where, (path, _t) in repo_mounts().items() if not path.exists()
    ]
    assert not missing, "mounted from the repo but missing:\n" + "\n".join(missing)


# ---------------------------------------------------------------- mops settings


@pytest.mark.parametrize("service", ["worker", "gateway"])
def test_mops_service_sets_every_setting_without_a_container_default(service):
    service_env = resolved_env(service)
    image_env = dockerfile_env(dockerfile_stages()[-1])
    missing = [
        f"{env_names(Settings, name)[0]} ({why})"
        for name, why in container_sensitive_settings().items()
        if not is_set(service_env, name) and not is_set(image_env, name)
    ]
    assert not missing, f"{service} leaves these settings at defaults that are wrong in a container:\n" + "\n".join(
        missing
    )
    assert service_env.get("OTEL_EXPORTER_OTLP_ENDPOINT"), f"{service}: set OTEL_EXPORTER_OTLP_ENDPOINT (the collector)"


def test_sensitive_settings_include_every_platform_base_url():
    """The derivation itself: every *_base_url field is required (a new platform cannot slip through)."""
    base_urls = {n for n in Settings.model_fields if n.endswith("_base_url")}
    assert base_urls and base_urls <= set(container_sensitive_settings())
    assert {"temporal_address", "temporal_namespace"} <= set(container_sensitive_settings())


@pytest.mark.parametrize("service", MOPS_SERVICES)
def test_hosts_in_mops_urls_are_compose_services_or_real_domains(service):
    problems = []
    for key, value in resolved_env(service).items():
        if not (key.endswith(("_BASE_URL", "_ADDRESS", "_ENDPOINT")) and value):
            continue
        host = urlsplit(value if "://" in value else f"//{value}").hostname or ""
        if "." not in host and host not in SERVICES and host != "localhost":
            problems.append(f"{key}={value}: {host!r} is neither a compose service nor a domain")
    assert not problems, "\n".join(problems)


def test_every_mops_variable_is_a_real_setting():
    known = known_env_names() | PLANNED_SETTINGS
    unknown = sorted(
        f"{name}.{key}" for name in SERVICES for key in env(name) if key.startswith("MOPS_") and key not in known
    )
    assert not unknown, (
        "MOPS_* variables no settings model reads (typo, or a setting that does not exist; planned ones go in "
        f"tests/ops/__init__.py PLANNED_SETTINGS): {unknown}"
    )


@pytest.mark.parametrize("service", ["worker", "gateway"])
def test_secrets_can_be_overridden(service):
    """Every secret the process reads comes from `${VAR:-dev default}`, never a literal in the file."""
    service_env = env(service)
    fields = {n: m for n, m in secret_fields().items() if service == "gateway" or m is Settings}
    problems = []
    for name, model in fields.items():
        var = env_names(model, name)[0]
        value = service_env.get(var)
        if value is None:
            problems.append(f"{var}: not passed to the container (a .env value would never reach it)")
        elif not value.startswith(f"${{{var}"):
            problems.append(f"{var}: write it as ${{{var}:-dev default}} so it can be overridden")
    assert not problems, f"{service}:\n" + "\n".join(problems)


def test_services_share_the_temporal_namespace():
    namespaces = {name: resolved_env(name)["MOPS_TEMPORAL_NAMESPACE"] for name in ("worker", "gateway")}
    namespaces["temporal-create-namespace"] = resolved_env("temporal-create-namespace")["NAMESPACE"]
    assert len(set(namespaces.values())) == 1, f"namespace differs between services: {namespaces}"


def test_worker_metrics_endpoint_is_the_one_checked_and_scraped():
    worker = resolved_env("worker")
    port = worker.get("MOPS_METRICS_PORT")
    assert port == "9464", f"MOPS_METRICS_PORT should be 9464 (DESIGN.md §3), got {port!r}"
    assert worker.get("MOPS_METRICS_HOST") == "0.0.0.0", "bind the metrics endpoint to all interfaces in a container"
    assert urlsplit(healthcheck_url("worker")).port == int(port), "the worker's healthcheck must probe its metrics port"
    assert worker.get("MOPS_BUILD_ID"), "set MOPS_BUILD_ID (worker versioning)"


def test_worker_gets_longer_than_its_graceful_shutdown():
    grace = duration_seconds(SERVICES["worker"].get("stop_grace_period", "10s"))
    drain = graceful_shutdown_seconds()
    assert grace > drain, f"stop_grace_period {grace}s must exceed the worker's graceful shutdown ({drain}s)"
    assert SERVICES["worker"].get("stop_signal", "SIGTERM") == "SIGTERM"


def test_gateway_healthcheck_probes_its_health_route():
    path = urlsplit(healthcheck_url("gateway")).path
    assert f'"{path}"' in (ROOT / "gateway" / "app.py").read_text(), f"gateway/app.py has no route {path}"
    assert urlsplit(healthcheck_url("gateway")).port == int(resolved_env("gateway")["MOPS_GATEWAY_PORT"])


async def test_sandbox_healthcheck_probes_its_health_route():
    import httpx

    from sandbox.app import create_app

    path = urlsplit(healthcheck_url("sandbox")).path
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        response = await client.get(path)
    assert response.status_code == 200, f"the sandbox answers {response.status_code} on {path}, its healthcheck"
    assert urlsplit(healthcheck_url("sandbox")).port == int(resolved_env("sandbox")["MOPS_SANDBOX_PORT"])


# ---------------------------------------------------------------- the Web UI and the codec server


def test_web_ui_decodes_through_the_codec_server_with_no_secret_in_its_settings():
    ui, codec = env("temporal-ui"), env("codec-server")
    endpoint = interpolate(ui["TEMPORAL_CODEC_ENDPOINT"])
    port = int(interpolate(codec["MOPS_CODEC_SERVER_PORT"]))
    assert urlsplit(endpoint).port == port, f"the UI's codec endpoint {endpoint} is not the codec server's port {port}"
    assert ("", port, port) in published_ports("codec-server"), "the browser calls the codec server: publish its port"
    assert urlsplit(endpoint).path in ("", "/"), f"{endpoint}: the UI is given the bare address (no token in a path)"
    secrets = {interpolate(v) for k, v in env("worker").items() if k.endswith(("_TOKEN", "_KEY", "_KEYS", "_SECRET"))}
    assert not any(s and s in ui_value for s in secrets for ui_value in map(interpolate, ui.values())), (
        "a secret of the mops services is in the Web UI's environment, which it serves to any visitor"
    )
    assert ui["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "true", "the UI must forward its signed-in user's access token"
    assert "codec-server" in depends_on("temporal-ui")


def test_web_ui_signs_in_at_an_identity_provider_the_operator_names():
    ui = env("temporal-ui")
    assert ui["TEMPORAL_AUTH_ENABLED"] == "true" and ui.get("TEMPORAL_AUTH_TYPE", "oidc") == "oidc"
    for var in ("TEMPORAL_AUTH_PROVIDER_URL", "TEMPORAL_AUTH_CLIENT_ID", "TEMPORAL_AUTH_CLIENT_SECRET"):
        assert var in required_variables(ui.get(var, "")), f"{var}: required from the environment (${{{var}:?...}})"
    ui_origin = interpolate(env("codec-server")["MOPS_CODEC_SERVER_UI_ORIGIN"])
    callback = interpolate(ui["TEMPORAL_AUTH_CALLBACK_URL"])
    assert callback == f"{ui_origin}/auth/sso/callback", f"callback {callback} is not on the UI's origin {ui_origin}"
    host_port = next(host for _ip, host, target in published_ports("temporal-ui") if target == 8080)
    assert urlsplit(ui_origin).port == host_port, f"the codec server allows {ui_origin}, the UI is on :{host_port}"


def test_codec_server_starts_on_its_network_address_only_with_the_userinfo_url():
    from mops.codec_server import CodecServerConfigError, check_listener

    codec = env("codec-server")
    assert "MOPS_CODEC_SERVER_OIDC_USERINFO_URL" in required_variables(codec["MOPS_CODEC_SERVER_OIDC_USERINFO_URL"])
    fields = {
        "codec_server_host": interpolate(codec["MOPS_CODEC_SERVER_HOST"]),
        "codec_server_oidc_userinfo_url": "https://id.example.com/userinfo",
    }
    check_listener(Settings.model_construct(**fields))  # what the operator's value makes of it: it starts
    with pytest.raises(CodecServerConfigError):
        check_listener(Settings.model_construct(**{**fields, "codec_server_oidc_userinfo_url": None}))
    assert ("mops-data", "/var/lib/mops") in volumes("codec-server"), "the codec server reads the shared key store"


def test_mops_state_is_one_volume_every_mops_container_shares():
    for service in ("worker", "gateway", "codec-server"):
        assert ("mops-data", "/var/lib/mops") in volumes(service), (
            f"{service}: mount mops-data at /var/lib/mops (MOPS_DATA_DIR: key store, contact ledger, journeys)"
        )
    assert dockerfile_env(dockerfile_stages()[-1])["MOPS_DATA_DIR"] == "/var/lib/mops"


# ---------------------------------------------------------------- Temporal


def test_compose_runs_the_temporal_minor_that_mops_up_runs():
    dev = dev_server_versions()
    minor = lambda version: version.split(".")[:2]  # noqa: E731
    server = SERVICES["temporal"]["image"].partition(":")[2]
    ui = SERVICES["temporal-ui"]["image"].partition(":")[2]
    assert minor(server) == minor(dev["server"]), f"compose runs server {server}, `mops up` runs {dev['server']}"
    assert minor(ui) == minor(dev["ui"]), f"compose runs UI {ui}, `mops up` runs {dev['ui']}"


def test_temporal_runs_on_postgres_with_elasticsearch_visibility():
    server = resolved_env("temporal")
    assert SERVICES["temporal"]["image"].startswith("temporalio/server:"), "use temporalio/server (not auto-setup)"
    assert server["DB"] == "postgres12" and server["POSTGRES_SEEDS"] == "postgresql"
    assert server["ENABLE_ES"] == "true" and server["ES_SEEDS"] == "elasticsearch"
    schema = resolved_env("temporal-admin-tools")
    for key in (
        "DB_PORT",
        "DBNAME",
        "POSTGRES_SEEDS",
        "POSTGRES_USER",
        "POSTGRES_PWD",
        "ES_SEEDS",
        "ES_PORT",
        "ES_VERSION",
        "ES_VIS_INDEX",
    ):
        assert schema.get(key) == server.get(key), f"schema job and server disagree on {key}"
    assert SERVICES["temporal-admin-tools"]["image"].startswith("temporalio/admin-tools:")
    assert depends_on("temporal")["temporal-admin-tools"]["condition"] == "service_completed_successfully"
    server_version = SERVICES["temporal"]["image"].partition(":")[2]
    tools_version = SERVICES["temporal-admin-tools"]["image"].partition(":")[2]
    assert tools_version.startswith(server_version + "-") or tools_version == server_version, (
        f"admin-tools {tools_version} sets up a schema for another server than {server_version}"
    )


def test_schema_script_sets_up_postgres_and_elasticsearch():
    script = mounted_repo_path("temporal-admin-tools", "/scripts") / "setup-schema.sh"
    entrypoint = " ".join(SERVICES["temporal-admin-tools"]["entrypoint"])
    assert "/scripts/setup-schema.sh" in entrypoint
    text = script.read_text()
    for needle in ("setup-schema", "update-schema", "postgres12", "temporal-elasticsearch-tool", "create-index"):
        assert needle in text, f"{script.name} does not {needle!r}"


@pytest.mark.parametrize("job", ["temporal-admin-tools", "temporal-create-namespace"])
def test_admin_tools_scripts_are_posix_sh(job):
    """temporalio/admin-tools (1.30 on) is Alpine with the Temporal tools and busybox: no bash, no curl."""
    entrypoint = SERVICES[job]["entrypoint"]
    assert entrypoint[0] == "/bin/sh", f"{job}: run the script with /bin/sh, the image has no bash"
    script = mounted_repo_path(job, "/scripts") / Path(entrypoint[1]).name
    text = script.read_text()
    assert text.startswith("#!/bin/sh\n"), f"{script.name}: a /bin/sh script"
    for bashism in ("<<<", "[[", "pipefail", "curl ", "declare ", "function "):
        assert bashism not in text, f"{script.name} uses {bashism!r}, which the admin-tools image cannot run"


def test_search_attributes_created_match_mops():
    job = resolved_env("temporal-create-namespace")
    pairs = job["SEARCH_ATTRIBUTES"].split()
    created = dict(pair.split("=", 1) for pair in pairs)
    assert len(created) == len(pairs), f"a search attribute is listed twice: {pairs}"
    missing = {k: v for k, v in SEARCH_ATTRIBUTES.items() if k not in created}
    extra = {k: v for k, v in created.items() if k not in SEARCH_ATTRIBUTES}
    wrong = {k: (created[k], v) for k, v in SEARCH_ATTRIBUTES.items() if k in created and created[k] != v}
    assert not (missing or extra or wrong), (
        f"SEARCH_ATTRIBUTES of temporal-create-namespace differ from starter/stack.py: missing {missing}, "
        f"extra {extra}, wrong type (compose, mops) {wrong}"
    )
    script = (mounted_repo_path("temporal-create-namespace", "/scripts") / "create-namespace.sh").read_text()
    assert "search-attribute create" in script and "namespace create" in script
    assert "/scripts/create-namespace.sh" in " ".join(SERVICES["temporal-create-namespace"]["entrypoint"])
    assert depends_on("temporal-create-namespace")["temporal"]["condition"] == "service_healthy"
    for service in ("worker", "gateway"):
        assert "temporal-create-namespace" in depends_on(service), f"{service} must wait for the namespace job"


def test_temporal_dynamic_config_is_mounted_where_the_server_reads_it():
    path = resolved_env("temporal")["DYNAMIC_CONFIG_FILE_PATH"]
    source = mounted_repo_path("temporal", path)
    assert isinstance(yaml.safe_load(source.read_text()), dict), f"{source.name} is not a YAML mapping"


def test_the_worker_reads_ad_images_from_the_campaigns_the_host_launches():
    # `mops campaign launch campaigns/<file>` on the host names each image relative to the
    # file; the worker uploads it only if the file at that path under its assets directory
    # is the one validated, so it must read the host's campaigns/, not the image's copy.
    assets = {**dockerfile_env(dockerfile_stages()[-1]), **resolved_env("worker")}["MOPS_CAMPAIGN_ASSETS"]
    assert mounted_repo_path("worker", assets) == ROOT / "campaigns"


# ---------------------------------------------------------------- telemetry


def collector_config() -> dict:
    return yaml.safe_load((DEPLOY / "otel-collector.yaml").read_text())


def test_collector_pipelines_use_defined_components():
    config = collector_config()
    service = config["service"]
    problems = []
    for ext in service.get("extensions", []):
        if ext not in (config.get("extensions") or {}):
            problems.append(f"service.extensions: {ext} is not defined")
    for pipeline, spec in service["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for component in spec.get(kind, []):
                if component not in (config.get(kind) or {}):
                    problems.append(f"pipeline {pipeline}: {kind[:-1]} {component} is not defined")
        assert spec.get("receivers") and spec.get("exporters"), f"pipeline {pipeline} needs receivers and exporters"
    assert not problems, "\n".join(problems)
    assert {"traces", "metrics"} <= set(service["pipelines"]), "the collector must carry traces and metrics"


def test_collector_listens_for_otlp_and_ships_traces_to_jaeger():
    config = collector_config()
    protocols = config["receivers"]["otlp"]["protocols"]
    for proto, port in (("grpc", 4317), ("http", 4318)):
        assert protocols[proto]["endpoint"] == f"0.0.0.0:{port}", (
            f"OTLP {proto} must listen on 0.0.0.0:{port}; the collector's default (localhost) is unreachable "
            "from the other containers"
        )
    exporters = config["exporters"]
    for name in config["service"]["pipelines"]["traces"]["exporters"]:
        host = exporters[name]["endpoint"].split("://")[-1].split(":")[0]
        assert host in SERVICES, f"traces exporter {name} points at {host!r}, not a compose service"
    assert "jaeger" in [
        exporters[n]["endpoint"].split(":")[0] for n in config["service"]["pipelines"]["traces"]["exporters"]
    ]
    mopsendpoint = urlsplit(resolved_env("worker")["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert (mopsendpoint.hostname, mopsendpoint.port) == ("otel-collector", 4317), "mops should export to the collector"
    assert mounted_repo_path("otel-collector", "/etc/otelcol-contrib/config.yaml") == DEPLOY / "otel-collector.yaml"


def prometheus_targets() -> dict[str, list[tuple[str, int]]]:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    out: dict[str, list[tuple[str, int]]] = {}
    for job in config["scrape_configs"]:
        targets = []
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, _, port = target.rpartition(":")
                targets.append((host, int(port)))
        for dns in job.get("dns_sd_configs", []):
            targets += [(name, int(dns["port"])) for name in dns["names"]]
        out[job["job_name"]] = targets
    return out


def test_prometheus_scrapes_compose_services():
    targets = prometheus_targets()
    problems = [
        f"{job}: {host} is not a compose service"
        for job, ts in targets.items()
        for host, _ in ts
        if host not in SERVICES
    ]
    assert not problems, "\n".join(problems)
    scraped = {t for ts in targets.values() for t in ts}
    collector_port = int(collector_config()["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1])
    server_port = int(resolved_env("temporal")["PROMETHEUS_ENDPOINT"].rsplit(":", 1)[1])
    worker_port = int(resolved_env("worker")["MOPS_METRICS_PORT"])
    for target, what in (
        (("otel-collector", collector_port), "the collector's prometheus exporter"),
        (("worker", worker_port), "the workers' metrics endpoint"),
        (("temporal", server_port), "Temporal server metrics"),
    ):
        assert target in scraped, f"Prometheus does not scrape {what} at {target[0]}:{target[1]}"
    assert mounted_repo_path("prometheus", "/etc/prometheus") == DEPLOY / "prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in SERVICES["prometheus"]["command"]


def test_grafana_is_provisioned_from_the_repo():
    datasources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/datasources.yaml").read_text())
    prometheus = [d for d in datasources["datasources"] if d["type"] == "prometheus"]
    assert prometheus and urlsplit(prometheus[0]["url"]).hostname in SERVICES
    providers = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/dashboards.yaml").read_text())["providers"]
    path = providers[0]["options"]["path"]
    assert mounted_repo_path("grafana", path) == DEPLOY / "grafana" / "dashboards", (
        f"the dashboard provider reads {path}, where deploy/grafana/dashboards is not mounted"
    )
    assert mounted_repo_path("grafana", "/etc/grafana/provisioning") == DEPLOY / "grafana" / "provisioning"


DASHBOARD = json.loads((DEPLOY / "grafana" / "dashboards" / "mops.json").read_text())
QUERY_PANELS = [p for p in DASHBOARD["panels"] if p["type"] != "row"]
# What the dashboard must show: mops' integration and approval metrics and the SDK's.
DASHBOARD_METRICS = [
    "mops_leads",
    "mops_emails_sent_total",
    "mops_approvals_waiting",
    "mops_approval_age_seconds",
    "mops_platform_requests_total",
    "mops_platform_request_duration_seconds_bucket",
    "mops_rate_limited_total",
    "mops_platform_degraded_holds_total",
    "temporal_workflow_task_schedule_to_start_latency_bucket",
    "temporal_activity_schedule_to_start_latency_bucket",
    "temporal_activity_execution_latency_bucket",
    "temporal_activity_execution_failed_total",
    "temporal_workflow_task_execution_failed_total",
    "temporal_workflow_completed_total",
    "temporal_workflow_failed_total",
    "temporal_request_total",
    "temporal_request_failure_total",
    "temporal_worker_task_slots_available",
    "temporal_sticky_cache_size",
]


@pytest.mark.parametrize("panel", QUERY_PANELS, ids=lambda p: p["title"])
def test_dashboard_panel_has_a_promql_query(panel):
    datasources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/datasources.yaml").read_text())
    uids = {d["uid"] for d in datasources["datasources"]}
    assert panel.get("datasource", {}).get("uid") in uids, f"{panel['title']}: datasource is not a provisioned one"
    exprs = [t.get("expr", "") for t in panel.get("targets", [])]
    assert exprs and all(e.strip() for e in exprs), f"{panel['title']}: every target needs a PromQL expr"
    for expr in exprs:
        for open_, close in ("()", "[]", "{}"):
            assert expr.count(open_) == expr.count(close), f"{panel['title']}: unbalanced {open_}{close} in {expr}"
        assert "$" not in expr or "$__" in expr, f"{panel['title']}: {expr} uses an undefined dashboard variable"


ALERTS = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
ALERT_RULES = [rule for group in ALERTS["groups"] for rule in group["rules"]]


def test_dashboard_and_alerts_read_only_metrics_the_workers_serve():
    served = SDK_METRICS | mops_metrics()
    exprs = [(p["title"], t["expr"]) for p in QUERY_PANELS for t in p["targets"]]
    exprs += [(rule["alert"], rule["expr"]) for rule in ALERT_RULES]
    unknown = sorted({(where, name) for where, expr in exprs for name in promql_metrics(expr) if name not in served})
    assert not unknown, f"no worker serves these (a wrong suffix or unit, or a metric nothing emits): {unknown}"


def test_alerts_watch_workflow_tasks_schedule_to_start_activities_and_integrations():
    read = {name for rule in ALERT_RULES for name in promql_metrics(rule["expr"])}
    for metric in (
        "temporal_workflow_task_execution_failed_total",
        "temporal_workflow_task_schedule_to_start_latency_bucket",
        "temporal_activity_schedule_to_start_latency_bucket",
        "temporal_activity_execution_failed_total",
        "mops_platform_requests_total",
        "mops_rate_limited_total",
        "mops_platform_degraded_holds_total",
    ):
        assert metric in read, f"no alert rule reads {metric}"
    for rule in ALERT_RULES:
        assert rule.get("for") and rule["labels"].get("severity") and rule["annotations"].get("summary"), rule["alert"]
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"], "prometheus.yml loads the rules next to it"


def test_dashboard_covers_sdk_and_mops_metrics():
    text = " ".join(t["expr"] for p in QUERY_PANELS for t in p["targets"])
    missing = [m for m in DASHBOARD_METRICS if not re.search(rf"\b{m}\b", text)]
    assert not missing, f"no panel queries {missing}"
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert DASHBOARD.get("uid") and DASHBOARD.get("title")


# ---------------------------------------------------------------- the image


def test_dockerfile_builds_a_non_root_mops_image():
    stages = dockerfile_stages()
    assert len(stages) >= 2, "build in one stage, run from a slim one (multi-stage)"
    runtime = stages[-1]
    instructions = {}
    for instruction, args in runtime:
        instructions.setdefault(instruction, []).append(args)
    assert "python:3.11-slim" in DOCKERFILE.read_text()
    assert json.loads(instructions["ENTRYPOINT"][-1]) == ["mops"]
    assert json.loads(instructions["CMD"][-1]) == ["worker"]
    assert instructions["STOPSIGNAL"][-1] == "SIGTERM"
    user = instructions.get("USER", ["root"])[-1].split(":")[0]
    assert user not in ("root", "0"), "the runtime stage must switch to a non-root USER"
    exposed = {int(p.split("/")[0]) for args in instructions.get("EXPOSE", []) for p in args.split()}
    assert {8000, 8100, 9464} <= exposed, f"EXPOSE 8000 8100 9464, got {sorted(exposed)}"
    build = " ".join(args for stage in stages[:-1] for ins, args in stage if ins == "RUN")
    assert "pip install" in build and "[test]" not in build, "install the project from pyproject.toml, no test extras"


def test_image_env_names_are_real_settings():
    image_env = dockerfile_env(dockerfile_stages()[-1])
    unknown = [k for k in image_env if k.startswith("MOPS_") and k not in known_env_names() | PLANNED_SETTINGS]
    assert not unknown, f"Dockerfile ENV sets unknown settings: {unknown}"
    data_dirs = {"MOPS_JOURNEYS_DIR": "journeys", "MOPS_POLICIES_DIR": "policies"}
    copies = {args.split()[-1]: args.split()[0] for ins, args in dockerfile_stages()[-1] if ins == "COPY"}
    for var, source in data_dirs.items():
        assert copies.get(image_env.get(var)) == source, f"{var} must point at where the image copies {source}/"


def test_dockerignore_keeps_local_state_out():
    patterns = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in (".git", ".venv", ".mops", ".pytest_cache"):
        assert needed in patterns, f".dockerignore should exclude {needed}"
