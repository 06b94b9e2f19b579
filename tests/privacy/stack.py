"""The real stack for data-protection tests: dev server, sandbox over HTTP (with the CDP
and the ad audience configured) and the real mops workers on this test's own queues."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.privacy_models import SyncView
from domain.leads import LeadStage
from mops.codec import KeyRing
from mops.settings import Settings
from mops.temporal import DATA_CONVERTER
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from starter.service.leads import LeadNotFound, LeadService, build_capture
from starter.service.privacy import PrivacyService
from tests.conftest import eventually, make_settings
from workers.main import running_workers


@dataclass
class PrivacyStack:
    client: Client
    settings: Settings
    leads: LeadService
    privacy: PrivacyService
    admin: SandboxAdmin
    sandbox_url: str
    keyring: KeyRing


def privacy_settings(sandbox_url: str, address: str, **overrides) -> Settings:
    suffix = uuid.uuid4().hex[:6]
    return make_settings(
        sandbox_url,
        address,
        braze_base_url=sandbox_url,
        cdp_task_queue=f"cdp-{suffix}",
        compliance_schedule_id=f"compliance-{suffix}",
        **overrides,
    )


@contextlib.asynccontextmanager
async def privacy_stack(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer, **overrides
) -> AsyncIterator[PrivacyStack]:
    settings = privacy_settings(sandbox.url, dev_env.client.service_client.config.target_host, **overrides)
    keyring = DATA_CONVERTER.payload_codec.keyring  # the ring the test client encodes with
    async with SandboxAdmin(sandbox.url) as admin, running_workers(dev_env.client, settings):
        await admin.clear_faults()
        privacy = PrivacyService(dev_env.client, settings, keyring=keyring)
        try:
            yield PrivacyStack(
                dev_env.client, settings, LeadService(dev_env.client, settings), privacy, admin, sandbox.url, keyring
            )
        finally:
            await privacy.aclose()
            await admin.clear_faults()


async def capture(stack: PrivacyStack, email: str, *, journey: str | None = None, **fields):
    return await stack.leads.capture(
        build_capture(stack.settings, email=email, source="web_form", consent=True, journey_id=journey, **fields)
    )


async def stage(stack: PrivacyStack, email: str, *stages: LeadStage, timeout: float = 30.0):
    async def reached():
        st = await stack.leads.state(email=email)
        assert st.stage in stages, (st.stage, st.timeline[-3:])
        return st

    return await eventually(reached, timeout=timeout, what=f"stage {'/'.join(s.value for s in stages)}")


async def synced(stack: PrivacyStack, lead_id: str, check=None, timeout: float = 30.0) -> SyncView:
    """The lead's contact sync has written its latest version everywhere (and `check` holds)."""

    async def done():
        try:
            view = await stack.privacy.contact(lead_id)
        except LeadNotFound as err:  # the journey has not published its first change yet
            raise AssertionError(str(err)) from None
        assert view.version >= 1 and not view.pending, (view.version, view.pending)
        if check is not None:
            assert check(view), view.model_dump(exclude={"email"})
        return view

    return await eventually(done, timeout=timeout, what="the contact sync to settle")


def marker_email(tag: str, domain: str = "acme.example") -> str:
    return f"zq{tag}.{uuid.uuid4().hex[:6]}@{domain}"
