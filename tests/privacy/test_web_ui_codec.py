"""The Temporal Web UI, in a real headless Chromium, shows a workflow's encrypted input in
the clear through the codec server that `mops up` starts, though the UI was given no secret:
the browser on the UI's page is admitted by its origin on the loopback listener."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import pytest

from mops.settings import Settings
from mops.temporal import connect
from starter.stack import EmbeddedStack
from tests.conftest import free_port
from tests.gateway.test_approval_page import CHROMIUM, CHROMIUM_ARGS

MARKER = "canary.webui@marker.example"


@pytest.mark.timeout(300)
async def test_the_web_ui_reads_payloads_without_being_given_a_secret(tmp_path: Path) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (CI does) to run the browser test")
    from playwright.async_api import async_playwright

    settings = Settings(
        data_dir=tmp_path / "data",
        temporal_address=f"127.0.0.1:{free_port()}",
        temporal_ui_port=free_port(),
        sandbox_port=free_port(),
        codec_server_port=free_port(),
        codec_server_token="web-ui-test-token-0123456789",
    )
    stack = EmbeddedStack(settings, codec_server=True)  # as `mops up` starts it
    await stack.start()
    try:
        shown = httpx.get(f"{settings.web_ui_url}/api/v1/settings", timeout=15).text
        assert "web-ui-test-token-0123456789" not in shown and f":{settings.codec_server_port}" in shown

        client = await connect(settings)  # mops' data converter: the input is encrypted in history
        workflow_id = f"lead-{uuid.uuid4().hex[:24]}"
        await client.start_workflow("NoWorkerRunsThis", MARKER, id=workflow_id, task_queue="nobody-polls")
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        stored = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
        assert MARKER.encode() not in stored.data + stored.SerializeToString(), "the input is stored encrypted"

        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = await browser.new_page()
                await page.goto(f"{settings.web_ui_url}/namespaces/default/workflows/{workflow_id}")
                await page.get_by_text(MARKER).first.wait_for(timeout=60_000)
            finally:
                await browser.close()
    finally:
        stack.stop()
