"""deploy/k8s: the Kubernetes + KEDA example (pure manifest parsing)."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.ops import (
    K8S_DIR,
    PLANNED_SETTINGS,
    ROOT,
    Settings,
    container_sensitive_settings,
    dev_server_versions,
    dockerfile_env,
    dockerfile_stages,
    env_names,
    graceful_shutdown_seconds,
    is_set,
    known_env_names,
    load_yaml_documents,
    secret_fields,
    task_queue_fields,
)

KUSTOMIZATION = K8S_DIR / "kustomization.yaml"
MANIFEST_FILES = sorted(p for p in K8S_DIR.glob("*.y*ml") if p != KUSTOMIZATION)
# Examples to copy and fill in (the real Secrets), never applied from the repository.
EXAMPLE_FILES = [p for p in MANIFEST_FILES if p.name.endswith(".example.yaml")]
DOCS: list[tuple[Path, dict]] = [(path, doc) for path in MANIFEST_FILES for doc in load_yaml_documents(path)]
CLUSTER_SCOPED = {"Namespace"}
REQUIRED_TRIGGER_KEYS = {"endpoint", "namespace", "taskQueue", "targetQueueSize"}


def of_kind(kind: str) -> list[dict]:
    return [doc for _path, doc in DOCS if doc.get("kind") == kind]


def one(kind: str, name: str) -> dict:
    found = [doc for doc in of_kind(kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name!r}, found {len(found)}"
    return found[0]


def containers(workload: dict) -> list[dict]:
    spec = workload["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def config() -> dict[str, str]:
    return one("ConfigMap", "mops-config")["data"]


def secret() -> dict[str, str]:
    doc = one("Secret", "mops-secrets")
    return {**doc.get("stringData", {}), **doc.get("data", {})}


def pod_env(deployment: dict) -> dict[str, str]:
    """What a container of the Deployment sees: its ConfigMap/Secret envFrom, then env."""
    env: dict[str, str] = {}
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                env.update(one("ConfigMap", source["configMapRef"]["name"])["data"])
            if "secretRef" in source:
                env.update(dict.fromkeys(secret(), "<secret>"))
        for var in container.get("env", []):
            env[var["name"]] = var.get("value", "<valueFrom>")
    return env


def expected_task_queues() -> set[str]:
    """The task queues the workers poll: Settings defaults, or the ConfigMap's override."""
    data = config()
    return {data.get(env_names(Settings, field)[0], default) for field, default in task_queue_fields().items()}


def named_port(container: dict, port) -> int:
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    raise AssertionError(f"container {container['name']} has no port named {port!r}")


# ---------------------------------------------------------------- structure


@pytest.mark.parametrize("path", MANIFEST_FILES, ids=lambda p: p.name)
def test_manifest_parses_and_names_itself(path):
    docs = load_yaml_documents(path)
    assert docs, f"{path.name} holds no document"
    for doc in docs:
        assert isinstance(doc, dict), f"{path.name}: a document is not a mapping"
        for key in ("apiVersion", "kind"):
            assert doc.get(key), f"{path.name}: missing {key}"
        assert (doc.get("metadata") or {}).get("name"), f"{path.name}: {doc.get('kind')} without metadata.name"


def test_objects_live_in_the_mops_namespace():
    namespaces = [doc["metadata"]["name"] for doc in of_kind("Namespace")]
    assert len(namespaces) == 1, f"expected one Namespace, found {namespaces}"
    kustomize_ns = load_yaml_documents(KUSTOMIZATION)[0].get("namespace")
    assert kustomize_ns == namespaces[0], f"kustomization namespace {kustomize_ns!r} != {namespaces[0]!r}"
    wrong = [
        f"{path.name}: {doc['kind']}/{doc['metadata']['name']} in {doc['metadata'].get('namespace')!r}"
        for path, doc in DOCS
        if doc["kind"] not in CLUSTER_SCOPED and doc["metadata"].get("namespace") != namespaces[0]
    ]
    assert not wrong, "objects outside the mops namespace:\n" + "\n".join(wrong)


def test_kustomization_lists_every_manifest_but_the_examples():
    listed = load_yaml_documents(KUSTOMIZATION)[0]["resources"]
    assert len(listed) == len(set(listed)), f"a resource is listed twice: {listed}"
    applied_examples = sorted(p.name for p in EXAMPLE_FILES if p.name in listed)
    assert not applied_examples, f"kustomization.yaml applies the placeholder Secrets of {applied_examples}"
    missing = sorted(p.name for p in MANIFEST_FILES if p.name not in listed and p not in EXAMPLE_FILES)
    dangling = sorted(name for name in listed if not (K8S_DIR / name).exists())
    assert not missing, f"kustomization.yaml does not list {missing}"
    assert not dangling, f"kustomization.yaml lists files that do not exist: {dangling}"


def test_names_are_unique_per_kind():
    seen: set[tuple[str, str]] = set()
    for path, doc in DOCS:
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in seen, f"{path.name}: a second {key[0]} named {key[1]}"
        seen.add(key)


# ---------------------------------------------------------------- workloads


@pytest.mark.parametrize("deployment", of_kind("Deployment"), ids=lambda d: d["metadata"]["name"])
def test_deployment_selector_matches_its_pods(deployment):
    selector = deployment["spec"]["selector"]["matchLabels"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector, "an empty selector matches every pod in the namespace"
    mismatched = {k: v for k, v in selector.items() if labels.get(k) != v}
    assert not mismatched, f"selector {mismatched} does not match the pod labels {labels}"


@pytest.mark.parametrize("deployment", of_kind("Deployment"), ids=lambda d: d["metadata"]["name"])
def test_every_container_has_resources_and_a_pinned_image(deployment):
    for container in containers(deployment):
        resources = container.get("resources") or {}
        for path in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory")):
            assert (resources.get(path[0]) or {}).get(path[1]), f"{container['name']}: set resources.{'.'.join(path)}"
        image = container["image"]
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert tag and tag != "latest" and re.search(r"\d+\.\d+", tag), f"{container['name']}: pin {image!r}"


def runs_mops(deployment: dict) -> bool:
    return all(c["image"].partition(":")[0] == "mops" for c in deployment["spec"]["template"]["spec"]["containers"])


MOPS_DEPLOYMENTS = [d for d in of_kind("Deployment") if runs_mops(d)]


@pytest.mark.parametrize("deployment", MOPS_DEPLOYMENTS, ids=lambda d: d["metadata"]["name"])
def test_deployment_reads_the_config_and_secret_that_exist(deployment):
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        refs = {(k, v["name"]) for source in container.get("envFrom", []) for k, v in source.items()}
        assert ("configMapRef", "mops-config") in refs and ("secretRef", "mops-secrets") in refs, (
            f"{container['name']}: envFrom must take mops-config and mops-secrets"
        )
    unknown = [
        k for k in pod_env(deployment) if k.startswith("MOPS_") and k not in known_env_names() | PLANNED_SETTINGS
    ]
    assert not unknown, f"unknown MOPS_* variables: {unknown}"


@pytest.mark.parametrize("deployment", of_kind("Deployment"), ids=lambda d: d["metadata"]["name"])
def test_version_label_is_the_image_tag(deployment):
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        tag = container["image"].rsplit(":", 1)[-1]
        assert labels.get("app.kubernetes.io/version") == tag, (
            f"{container['name']}: pod label app.kubernetes.io/version {labels.get('app.kubernetes.io/version')!r} "
            f"!= image tag {tag!r} (the workers' MOPS_BUILD_ID comes from the label)"
        )


def test_worker_drains_before_it_is_killed():
    worker = one("Deployment", "mops-worker")
    grace = worker["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
    drain = graceful_shutdown_seconds()
    assert grace > drain, f"terminationGracePeriodSeconds {grace} must exceed the graceful shutdown ({drain}s)"
    strategy = worker["spec"].get("strategy", {}).get("rollingUpdate", {})
    assert str(strategy.get("maxUnavailable", "25%")) in ("0", "0%"), "keep the old pods until the new ones poll"


def test_worker_announces_its_build_id_and_is_ready_when_serving_metrics():
    worker = one("Deployment", "mops-worker")
    container = worker["spec"]["template"]["spec"]["containers"][0]
    env = {var["name"]: var for var in container.get("env", [])}
    assert "MOPS_BUILD_ID" in env, "set MOPS_BUILD_ID (worker versioning)"
    field = env["MOPS_BUILD_ID"].get("valueFrom", {}).get("fieldRef", {}).get("fieldPath", "")
    label = re.fullmatch(r"metadata\.labels\['(.+)'\]", field)
    if label:
        assert label.group(1) in worker["spec"]["template"]["metadata"]["labels"], f"{field} is not a pod label"
    else:
        assert env["MOPS_BUILD_ID"].get("value"), "MOPS_BUILD_ID needs a value or a pod label"
    probe = container["readinessProbe"]["httpGet"]
    assert named_port(container, probe["port"]) == int(config()["MOPS_METRICS_PORT"]), (
        "readiness must probe the metrics port (MOPS_METRICS_PORT)"
    )
    assert container["args"] == ["worker"]


def test_gateway_probes_its_health_route_on_its_port():
    gateway = one("Deployment", "mops-gateway")
    container = gateway["spec"]["template"]["spec"]["containers"][0]
    app_source = (ROOT / "gateway" / "app.py").read_text()
    for probe in ("readinessProbe", "livenessProbe"):
        http = container[probe]["httpGet"]
        assert f'"{http["path"]}"' in app_source, f"{probe}: gateway/app.py has no route {http['path']}"
        assert named_port(container, http["port"]) == int(config()["MOPS_GATEWAY_PORT"])
    assert container["args"] == ["gateway"]


@pytest.mark.parametrize("deployment", MOPS_DEPLOYMENTS, ids=lambda d: d["metadata"]["name"])
def test_mops_state_is_on_the_shared_persistent_volume(deployment):
    """A read-only root: every file mops writes (key store, contact ledger, journey versions,
    analytics store, reports) is on the one mops-data volume, on one node for every pod."""
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    data_dir = dockerfile_env(dockerfile_stages()[-1])["MOPS_DATA_DIR"]
    env = {**dockerfile_env(dockerfile_stages()[-1]), **pod_env(deployment)}
    for container in pod["containers"]:
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
        assert data_dir in mounts, f"{container['name']}: nothing writable at MOPS_DATA_DIR={data_dir}"
        mount = mounts[data_dir]
        assert not mount.get("readOnly")
        claim = volumes[mount["name"]].get("persistentVolumeClaim", {}).get("claimName")
        assert claim == "mops-data", f"{container['name']}: {data_dir} must be the mops-data claim, not {claim}"
        settings = Settings.model_construct(
            data_dir=Path(data_dir),
            keystore_path=Path(env["MOPS_KEYSTORE_PATH"]) if "MOPS_KEYSTORE_PATH" in env else None,
        )
        from mops.codec import keystore_path

        files = [keystore_path(settings), settings.contact_ledger_file, settings.journey_versions_file]
        files += [settings.analytics_store_file, settings.reports_path]
        outside = [str(f) for f in files if not any(f.is_relative_to(m) for m in mounts)]
        assert not outside, f"{container['name']}: written on the read-only root: {outside}"
    assert pod["securityContext"].get("fsGroup") == pod["securityContext"]["runAsUser"], "the volume must be writable"
    term = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in term["labelSelector"]["matchLabels"].items()), (
        "the pod must match its own affinity term (else the first pod never schedules) and so every mops pod's"
    )


def test_the_data_volume_is_one_persistent_claim():
    claim = one("PersistentVolumeClaim", "mops-data")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"], "SQLite's locking holds on one node only"
    terms = {
        str(d["spec"]["template"]["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"])
        for d in MOPS_DEPLOYMENTS
    }
    assert len(terms) == 1, "every pod on mops-data must share the one affinity term (one node)"


# ---------------------------------------------------------------- the Web UI and the codec server


def ui_env() -> dict[str, dict]:
    ui = one("Deployment", "temporal-ui")
    return {var["name"]: var for c in containers(ui) for var in c.get("env", [])}


def test_web_ui_signs_in_and_forwards_the_users_token_to_the_codec_server():
    env = ui_env()
    value = {k: v.get("value") for k, v in env.items()}
    assert value["TEMPORAL_AUTH_ENABLED"] == "true" and value["TEMPORAL_AUTH_TYPE"] == "oidc"
    assert value["TEMPORAL_AUTH_PROVIDER_URL"], "TEMPORAL_AUTH_PROVIDER_URL: your OIDC issuer"
    assert value["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "true"
    examples = {
        doc["metadata"]["name"]: doc.get("stringData", {}) for p in EXAMPLE_FILES for doc in load_yaml_documents(p)
    }
    for var in ("TEMPORAL_AUTH_CLIENT_ID", "TEMPORAL_AUTH_CLIENT_SECRET"):
        ref = env[var].get("valueFrom", {}).get("secretKeyRef", {})
        assert ref and ref["key"] in examples.get(ref["name"], {}), f"{var}: from a Secret secret.example.yaml shows"
    origin = config()["MOPS_CODEC_SERVER_UI_ORIGIN"]
    assert value["TEMPORAL_AUTH_CALLBACK_URL"] == f"{origin}/auth/sso/callback", "the callback is on the UI's origin"
    endpoint = value["TEMPORAL_CODEC_ENDPOINT"]
    assert urlsplit(endpoint).path in ("", "/"), f"{endpoint}: the UI is given the bare address, no token"
    assert not [k for k in env if k.startswith("MOPS_")], "no mops setting (nor secret) in the Web UI"
    assert ui_env()["TEMPORAL_ADDRESS"]["value"] == config()["MOPS_TEMPORAL_ADDRESS"], "the workers' Temporal"


def test_codec_server_runs_on_its_network_address_with_the_userinfo_url():
    from mops.codec_server import CodecServerConfigError, check_listener

    deployment = one("Deployment", "mops-codec-server")
    container = containers(deployment)[0]
    assert container["args"] == ["codec-server"]
    env = pod_env(deployment)
    fields = {
        "codec_server_host": env["MOPS_CODEC_SERVER_HOST"],
        "codec_server_oidc_userinfo_url": env.get("MOPS_CODEC_SERVER_OIDC_USERINFO_URL"),
    }
    check_listener(Settings.model_construct(**fields))  # it starts with what the pod reads
    with pytest.raises(CodecServerConfigError):
        check_listener(Settings.model_construct(**{**fields, "codec_server_oidc_userinfo_url": None}))
    assert named_port(container, "http") == int(env["MOPS_CODEC_SERVER_PORT"])
    service = one("Service", "mops-codec-server")
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_cluster_runs_the_temporal_ui_of_the_release_mops_up_runs():
    image = containers(one("Deployment", "temporal-ui"))[0]["image"]
    tag = image.partition(":")[2]
    assert tag.split(".")[:2] == dev_server_versions()["ui"].split(".")[:2], f"{image} vs `temporal --version`"


# ---------------------------------------------------------------- service and autoscaling


def test_service_selects_the_gateway_pods_and_ports():
    service = one("Service", "mops-gateway")
    selector = service["spec"]["selector"]
    matches = [
        d
        for d in of_kind("Deployment")
        if all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in selector.items())
    ]
    assert [d["metadata"]["name"] for d in matches] == ["mops-gateway"], (
        f"the Service selector {selector} matches {[d['metadata']['name'] for d in matches]}"
    )
    container = matches[0]["spec"]["template"]["spec"]["containers"][0]
    for port in service["spec"]["ports"]:
        named_port(container, port.get("targetPort", port["port"]))


def test_gateway_hpa_scales_the_gateway_on_cpu():
    hpa = one("HorizontalPodAutoscaler", "mops-gateway")
    assert hpa["apiVersion"] == "autoscaling/v2"
    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["apiVersion"], ref["kind"]) == ("apps/v1", "Deployment")
    target = one("Deployment", ref["name"])
    cpu = [m for m in hpa["spec"]["metrics"] if m["type"] == "Resource" and m["resource"]["name"] == "cpu"]
    assert cpu and cpu[0]["resource"]["target"]["type"] == "Utilization", "scale on CPU utilization"
    assert all(c["resources"]["requests"].get("cpu") for c in containers(target)), "utilization needs cpu requests"
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_keda_and_hpa_never_scale_the_same_deployment():
    hpa_targets = {h["spec"]["scaleTargetRef"]["name"] for h in of_kind("HorizontalPodAutoscaler")}
    keda_targets = {s["spec"]["scaleTargetRef"]["name"] for s in of_kind("ScaledObject")}
    assert not hpa_targets & keda_targets, f"both an HPA and KEDA scale {hpa_targets & keda_targets}"


def scaled_object() -> dict:
    return one("ScaledObject", "mops-worker")


def test_scaled_object_targets_the_worker_deployment():
    so = scaled_object()
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    ref = so["spec"]["scaleTargetRef"]
    assert ref.get("kind", "Deployment") == "Deployment"
    one("Deployment", ref["name"])
    assert ref["name"] == "mops-worker"
    spec = so["spec"]
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"], (
        "keep at least one worker: timers and signals need a poller even with no backlog"
    )


def test_scaled_object_has_one_temporal_trigger_per_task_queue():
    triggers = scaled_object()["spec"]["triggers"]
    problems = []
    for i, trigger in enumerate(triggers):
        metadata = trigger.get("metadata", {})
        if trigger.get("type") != "temporal":
            problems.append(f"trigger {i}: type {trigger.get('type')!r}, expected temporal")
        if missing := REQUIRED_TRIGGER_KEYS - set(metadata):
            problems.append(f"trigger {i}: missing metadata {sorted(missing)}")
        if not all(isinstance(v, str) for v in metadata.values()):
            problems.append(f"trigger {i}: KEDA metadata values must be strings: {metadata}")
        elif not metadata.get("targetQueueSize", "").isdigit() or int(metadata["targetQueueSize"]) < 1:
            problems.append(f"trigger {i}: targetQueueSize must be a positive integer")
    assert not problems, "\n".join(problems)
    queues = [t["metadata"]["taskQueue"] for t in triggers]
    assert len(queues) == len(set(queues)), f"a task queue has two triggers: {queues}"
    expected = expected_task_queues()
    assert set(queues) == expected, (
        f"triggers should cover exactly the task queues of mops/settings.py: missing {sorted(expected - set(queues))}, "
        f"unknown {sorted(set(queues) - expected)}"
    )


def test_scaled_object_watches_the_workers_temporal():
    data = config()
    for trigger in scaled_object()["spec"]["triggers"]:
        metadata = trigger["metadata"]
        assert metadata["endpoint"] == data["MOPS_TEMPORAL_ADDRESS"], "trigger endpoint != MOPS_TEMPORAL_ADDRESS"
        assert metadata["namespace"] == data["MOPS_TEMPORAL_NAMESPACE"], "trigger namespace != MOPS_TEMPORAL_NAMESPACE"
        for queue_type in metadata.get("queueTypes", "workflow,activity").split(","):
            assert queue_type in ("workflow", "activity", "nexus"), f"unknown queueTypes entry {queue_type!r}"


def test_throttled_queues_cannot_fan_out_replicas_on_their_rate_limit_alone():
    """A platform queue's backlog is mostly its server-side rate limit: its target is at
    least a minute of that rate, so throttling alone does not add pods."""
    by_queue = {
        t["metadata"]["taskQueue"]: int(t["metadata"]["targetQueueSize"]) for t in scaled_object()["spec"]["triggers"]
    }
    data = config()
    problems = []
    for field, default in task_queue_fields().items():
        rate_field = field.removesuffix("_task_queue") + "_max_per_second"
        if rate_field not in Settings.model_fields:
            continue
        queue = data.get(env_names(Settings, field)[0], default)
        rate = float(data.get(env_names(Settings, rate_field)[0], Settings.model_fields[rate_field].default))
        if by_queue.get(queue, 0) < math.ceil(rate * 60):
            problems.append(f"{queue}: targetQueueSize {by_queue.get(queue)} < 60 s of its {rate}/s limit")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- configuration


def test_config_values_are_strings():
    bad = {k: v for k, v in config().items() if not isinstance(v, str)}
    assert not bad, f"ConfigMap data must be strings (quote numbers and booleans): {bad}"


def test_config_sets_what_a_container_cannot_default():
    data = config()
    # No sandbox in the cluster; paths are set in the image (Dockerfile ENV).
    required = {
        name: why
        for name, why in container_sensitive_settings().items()
        if not name.startswith("sandbox_") and not name.endswith("_dir")
    }
    missing = [f"{env_names(Settings, n)[0]} ({why})" for n, why in required.items() if not is_set(data, n)]
    assert not missing, "mops-config leaves these at defaults that are wrong in a cluster:\n" + "\n".join(missing)
    assert data.get("OTEL_EXPORTER_OTLP_ENDPOINT"), "set OTEL_EXPORTER_OTLP_ENDPOINT"
    local = [k for k, v in data.items() if re.search(r"127\.0\.0\.1|localhost", v)]
    assert not local, f"these point at the pod itself: {local}"


def test_config_and_secret_names_are_real_settings():
    known = known_env_names() | PLANNED_SETTINGS
    for source, data in (("mops-config", config()), ("mops-secrets", secret())):
        unknown = [k for k in data if k.startswith("MOPS_") and k not in known]
        assert not unknown, f"{source}: MOPS_* variables no settings model reads: {unknown}"


def test_every_secret_setting_comes_from_the_secret():
    data = secret()
    missing = [
        env_names(model, name)[0] for name, model in secret_fields().items() if env_names(model, name)[0] not in data
    ]
    assert not missing, (
        f"secret.example.yaml should carry every SecretStr setting (else its dev default is used): {missing}"
    )
    in_config = [k for k in config() if k in data]
    assert not in_config, f"set in both the ConfigMap and the Secret: {in_config}"


def test_worker_pods_run_the_measured_worker_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a worker pod reads (the image's ENV, then its ConfigMap and env) reaches
    workers/tuning.py's `worker_config` as the tuned configuration, on uvloop."""
    from workers.tuning import worker_config

    deployment = one("Deployment", "mops-worker")
    assert [c.get("args") for c in containers(deployment)] == [["worker"]], "the pods run `mops worker`"
    env = {**dockerfile_env(dockerfile_stages()[-1]), **pod_env(deployment)}
    for name in [k for k in os.environ if k.startswith("MOPS_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        # Not the placeholders of secrets and fields, nor the image's data paths (not here).
        image_path = name.endswith("_DIR") or name == "MOPS_CAMPAIGN_ASSETS"
        if name.startswith("MOPS_") and not value.startswith("<") and not image_path:
            monkeypatch.setenv(name, value)
    config = worker_config(Settings())
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    assert config.tuning and config.event_loop == "uvloop" and config.bytecode_cache
    assert (config.workflow_pollers, config.activity_pollers) == (
        defaults["worker_workflow_pollers"],
        defaults["worker_activity_pollers"],
    )
    assert (config.max_cached_workflows, config.max_concurrent_activities) == (5000, 200)


def test_workers_read_ad_images_from_a_campaigns_directory_they_hold():
    # Either the copy built into the image or a volume mounted over it.
    worker = one("Deployment", "mops-worker")
    assets = pod_env(worker)["MOPS_CAMPAIGN_ASSETS"]
    copies = [args.split() for instruction, args in dockerfile_stages()[-1] if instruction == "COPY"]
    mounts = [m["mountPath"] for c in containers(worker) for m in c.get("volumeMounts", [])]
    assert ["campaigns", assets] in [c[-2:] for c in copies] or assets in mounts, (
        f"MOPS_CAMPAIGN_ASSETS={assets} is neither where the Dockerfile copies campaigns/ nor a mounted volume"
    )
