"""The gateway process runs on the event loop it is configured with, or refuses to start:
uvloop configured but not installed is one line and exit 2, never a quiet asyncio loop."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import free_port


def test_a_configured_uvloop_that_is_missing_is_refused() -> None:
    # `python -m gateway` in a process where uvloop cannot be imported (as if not installed).
    code = "import sys; sys.modules['uvloop'] = None; from gateway.__main__ import main; raise SystemExit(main())"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOPS_")}
    env.update(
        MOPS_GATEWAY_EVENT_LOOP="uvloop",
        MOPS_TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",  # nothing listens: it must not get that far
        MOPS_GATEWAY_PORT=str(free_port()),
    )
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "MOPS_GATEWAY_EVENT_LOOP=uvloop: uvloop is not installed" in lines[0], lines
