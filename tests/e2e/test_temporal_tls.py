"""mops reaches a secured Temporal by the SDK's standard configuration alone
(temporalio.envconfig: TEMPORAL_* variables or a TOML profile): through a TLS endpoint the
real workers run a lead's journey to its welcome email; with mTLS the client presents its
certificate, and without one it is turned away. Conflicting settings are refused, named."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from mops.settings import SettingsError, load_settings
from mops.temporal import connect
from sandbox.server import SandboxServer
from starter.service.leads import LeadService, build_capture
from starter.stack import EmbeddedStack, StackError
from tests.conftest import eventually, make_settings
from tests.tls_proxy import make_pki, tls_proxy
from workers.main import running_workers


def dev_address(dev_env: WorkflowEnvironment) -> str:
    return dev_env.client.service_client.config.target_host


@pytest.fixture
def no_temporal_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Nothing of the machine's own Temporal configuration leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("TEMPORAL_") or name in ("MOPS_TEMPORAL_ADDRESS", "MOPS_TEMPORAL_NAMESPACE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "absent.toml"))
    return monkeypatch


async def test_workers_run_a_journey_over_tls_set_by_temporal_variables(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer, tmp_path: Path, no_temporal_env: pytest.MonkeyPatch
) -> None:
    pki = make_pki(tmp_path)
    async with tls_proxy(dev_address(dev_env), pki, require_client_cert=False) as proxy:
        no_temporal_env.setenv("TEMPORAL_ADDRESS", proxy.address)
        no_temporal_env.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(pki.ca))
        no_temporal_env.setenv("TEMPORAL_TLS_SERVER_NAME", "localhost")
        settings = make_settings(sandbox.url, proxy.address)
        assert settings.temporal_secured()
        client = await connect(settings)
        assert client.service_client.config.tls  # the connection really is TLS
        async with running_workers(client, settings):
            leads = LeadService(client, settings)
            email = f"tls.{uuid.uuid4().hex[:8]}@acme.example"
            await leads.capture(build_capture(settings, email=email, source="web_form", consent=True))

            async def welcomed() -> bool:
                return (await leads.state(email=email)).emails_sent == 1

            await eventually(welcomed, timeout=60, what="the welcome email over the TLS connection")


async def test_mtls_from_a_profile_file_presents_the_client_certificate(
    dev_env: WorkflowEnvironment, tmp_path: Path, no_temporal_env: pytest.MonkeyPatch
) -> None:
    pki = make_pki(tmp_path)
    async with tls_proxy(dev_address(dev_env), pki, require_client_cert=True) as proxy:
        profile = tmp_path / "temporal.toml"
        profile.write_text(
            f"""[profile.cloud]
address = "{proxy.address}"
namespace = "default"

[profile.cloud.tls]
server_name = "localhost"
server_ca_cert_path = "{pki.ca}"
client_cert_path = "{pki.client_cert}"
client_key_path = "{pki.client_key}"
"""
        )
        no_temporal_env.setenv("TEMPORAL_CONFIG_FILE", str(profile))
        no_temporal_env.setenv("TEMPORAL_PROFILE", "cloud")
        settings = load_settings()
        assert settings.temporal_address == proxy.address and settings.temporal_namespace == "default"
        client = await connect(settings)
        assert (await client.count_workflows()).count >= 0  # a real call through the mTLS endpoint
        assert proxy.client_names and set(proxy.client_names) == {"mops worker"}  # verified by the server

        # The same endpoint without the client certificate: the server refuses the handshake.
        profile.write_text(
            profile.read_text()
            .replace(f'client_cert_path = "{pki.client_cert}"\n', "")
            .replace(f'client_key_path = "{pki.client_key}"\n', "")
        )
        before = len(proxy.client_names)
        with pytest.raises(RuntimeError, match="Failed client connect"):
            await connect(load_settings())
        assert len(proxy.client_names) == before  # no connection got past the certificate check


def test_an_api_key_turns_tls_on_and_reaches_the_connection(no_temporal_env: pytest.MonkeyPatch) -> None:
    no_temporal_env.setenv("TEMPORAL_ADDRESS", "my-ns.abc12.tmprl.cloud:7233")
    no_temporal_env.setenv("TEMPORAL_NAMESPACE", "my-ns.abc12")
    no_temporal_env.setenv("TEMPORAL_API_KEY", "key-123")
    config = load_settings().temporal_connect_config()
    assert config["target_host"] == "my-ns.abc12.tmprl.cloud:7233" and config["namespace"] == "my-ns.abc12"
    assert config.get("api_key") == "key-123" and config.get("tls") is True


def test_two_places_saying_different_things_are_refused(no_temporal_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_temporal_env.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    no_temporal_env.setenv("MOPS_TEMPORAL_ADDRESS", "127.0.0.1:7233")
    with pytest.raises(SettingsError, match=r"^MOPS_TEMPORAL_ADDRESS: '127.0.0.1:7233' disagrees with .* address"):
        load_settings()
    no_temporal_env.delenv("MOPS_TEMPORAL_ADDRESS")
    no_temporal_env.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(tmp_path / "missing-ca.pem"))
    with pytest.raises(SettingsError, match=r"^Temporal profile .*"):
        load_settings()


async def test_mops_up_refuses_to_start_a_plain_dev_server_for_a_secured_profile(
    no_temporal_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with socket.socket() as s:  # a free port: nothing answers there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    no_temporal_env.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{port}")
    no_temporal_env.setenv("TEMPORAL_API_KEY", "key-123")
    settings = load_settings(data_dir=tmp_path)
    with pytest.raises(StackError, match="asks for TLS or an API key"):
        await EmbeddedStack(settings).start()
