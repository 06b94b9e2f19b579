"""The platform sandbox for the benchmarks: `sandbox.app` served by uvicorn with uvloop and
httptools when installed (mops' dependencies include both).

The sandbox stands in for HubSpot, SendGrid, Slack ... that would run on other machines;
here it shares the CPUs with what is measured, so it is served as cheaply as uvicorn can.

    .venv/bin/python bench/sandbox_proc.py --port 8100
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402

from sandbox.app import create_app  # noqa: E402
from sandbox.server import bind_socket  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    args = p.parse_args()
    fast = importlib.util.find_spec("uvloop") and importlib.util.find_spec("httptools")
    sock = bind_socket(args.host, args.port)
    config = uvicorn.Config(
        create_app(),
        log_level="warning",
        access_log=False,
        lifespan="off",
        loop="uvloop" if fast else "asyncio",
        http="httptools" if fast else "h11",
        backlog=2048,
    )
    print(
        f"bench sandbox on http://{args.host}:{sock.getsockname()[1]} ({'uvloop' if fast else 'asyncio'})", flush=True
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
