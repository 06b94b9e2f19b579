"""`python -m sandbox [--host 127.0.0.1] [--port 8100]`: serve the platform sandbox."""

from __future__ import annotations

import argparse

from sandbox.app import create_app
from sandbox.server import bind_socket, make_server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="Serve the mops platform sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args(argv)
    sock = bind_socket(args.host, args.port)
    print(f"mops sandbox on http://{args.host}:{sock.getsockname()[1]} (admin API under /_sandbox)", flush=True)
    make_server(create_app()).run(sockets=[sock])


if __name__ == "__main__":
    main()
