"""The baseline worker of `bench/lead_capture.py`: `PlainLead` (bench/plain_journey.py) and
its three activities on one task queue, in a default `Worker(...)` (no options set) on the
asyncio loop, with a default client (no codec, no interceptors). Platform URLs and tokens
come from the `MOPS_*` environment, like the mops worker's.

    .venv/bin/python bench/plain_worker.py --task-queue bench-plain

Prints "plain bench worker ready" once it polls; stops gracefully on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))  # the workflow sandbox imports `plain_journey` by name

import httpx  # noqa: E402
from plain_journey import PlainActivities, PlainLeadWorkflow  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from mops.settings import Settings  # noqa: E402


async def serve(task_queue: str) -> None:
    settings = Settings()
    client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    hubspot = httpx.AsyncClient(
        base_url=settings.hubspot_base_url,
        headers={"Authorization": f"Bearer {settings.hubspot_token.get_secret_value()}"},
        timeout=10,
    )
    sendgrid = httpx.AsyncClient(
        base_url=settings.sendgrid_base_url,
        headers={"Authorization": f"Bearer {settings.sendgrid_api_key.get_secret_value()}"},
        timeout=10,
    )
    acts = PlainActivities(hubspot, sendgrid)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[PlainLeadWorkflow],
        activities=[acts.crm_upsert, acts.score, acts.send_email],
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.5)
    if task.done():
        task.result()  # a worker that failed to start raises here
    print(f"plain bench worker ready (task queue {task_queue}, {type(loop).__module__})", flush=True)
    await stop.wait()
    await worker.shutdown()
    await asyncio.gather(task, return_exceptions=True)
    await hubspot.aclose()
    await sendgrid.aclose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task-queue", default="bench-plain", help="task queue to poll (default bench-plain)")
    args = p.parse_args()
    asyncio.run(serve(args.task_queue))


if __name__ == "__main__":
    main()
