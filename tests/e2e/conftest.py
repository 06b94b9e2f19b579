"""Integration fixtures: real dev server + sandbox over HTTP + the real mops workers."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from mops.settings import Settings
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from starter.service.leads import LeadService
from tests.conftest import make_settings
from workers.main import running_workers


@dataclass
class Stack:
    client: Client
    settings: Settings
    leads: LeadService
    admin: SandboxAdmin
    sandbox_url: str


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment, sandbox: SandboxServer) -> Stack:
    settings = make_settings(sandbox.url, dev_env.client.service_client.config.target_host)
    async with SandboxAdmin(sandbox.url) as admin, running_workers(dev_env.client, settings):
        await admin.clear_faults()
        yield Stack(dev_env.client, settings, LeadService(dev_env.client, settings), admin, sandbox.url)
        await admin.clear_faults()
