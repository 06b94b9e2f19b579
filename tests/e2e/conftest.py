"""Integration fixtures: real dev server + sandbox over HTTP + the real mops workers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from integrations.sendgrid import SendGridClient
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
    email_list: str = ""  # a SendGrid list made for this test (one member), for list sends

    def sendgrid(self) -> SendGridClient:
        """A SendGrid client with the stack's credentials (close it after use)."""
        return SendGridClient(self.settings.sendgrid_base_url, self.settings.sendgrid_api_key.get_secret_value())

    async def new_list(self, members: list[str]) -> str:
        """A new SendGrid list holding `members`, made through the API as a marketer would."""
        async with self.sendgrid() as sendgrid:
            list_id = await sendgrid.create_list(f"test list {uuid.uuid4().hex[:10]}")
            await sendgrid.add_to_list(list_id, members)
        return list_id


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment, sandbox: SandboxServer) -> Stack:
    settings = make_settings(sandbox.url, dev_env.client.service_client.config.target_host)
    async with SandboxAdmin(sandbox.url) as admin, running_workers(dev_env.client, settings):
        await admin.clear_faults()
        stack = Stack(dev_env.client, settings, LeadService(dev_env.client, settings), admin, sandbox.url)
        stack.email_list = await stack.new_list([f"reader.{uuid.uuid4().hex[:10]}@example.com"])
        yield stack
        await admin.clear_faults()
