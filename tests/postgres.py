"""A real PostgreSQL 15 the tests start themselves (Debian's postgresql-15 binaries).

PostgreSQL refuses to run as root, and the suite runs as root: the server runs as the
`postgres` user, in a temporary directory that user owns, on a free TCP port on the loopback
(picked by the kernel), with its unix socket in that directory; clients connect over the
socket. `PostgresServer.database()` makes a fresh database per test."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
INSTALL = "install Debian's postgresql-15 (apt-get install postgresql-15), which provides initdb and pg_ctl"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(*args: str | Path) -> subprocess.CompletedProcess:
    command = [str(a) for a in args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", PG_USER, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@dataclass
class PostgresServer:
    root: Path
    port: int = 0
    databases: list[str] = field(default_factory=list)

    @property
    def socket_dir(self) -> Path:
        return self.root

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{PG_USER}@/{dbname}?host={self.socket_dir}&port={self.port}"

    @classmethod
    def start(cls) -> PostgresServer:
        for binary in ("initdb", "pg_ctl"):
            if not (PG_BIN / binary).exists():
                raise RuntimeError(f"{PG_BIN / binary} is missing: {INSTALL}")
        try:
            user = pwd.getpwnam(PG_USER)
        except KeyError:
            raise RuntimeError(f"no {PG_USER!r} user on this machine: {INSTALL}") from None
        root = Path(tempfile.mkdtemp(prefix="mops-pg-"))
        if os.geteuid() == 0:
            os.chown(root, user.pw_uid, user.pw_gid)
        server = cls(root)
        done = _as_postgres(
            PG_BIN / "initdb", "-D", root / "data", "-U", PG_USER, "-A", "trust", "--no-sync", "-E", "UTF8"
        )
        if done.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
        # The port is free when picked; another process may take it before the server binds,
        # so a start that fails is tried again on a new one.
        for _ in range(5):
            server.port = _free_port()
            options = f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
            done = _as_postgres(
                PG_BIN / "pg_ctl", "-D", root / "data", "-o", options, "-l", root / "log", "-w", "start"
            )
            if done.returncode == 0:
                return server
        log = (root / "log").read_text() if (root / "log").exists() else done.stderr
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"pg_ctl start failed: {log.strip().splitlines()[-1] if log.strip() else 'no log'}")

    def database(self) -> str:
        """A fresh, empty database; its URL."""
        name = f"mops_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        self.databases.append(name)
        return self.url(name)

    def stop(self) -> None:
        _as_postgres(PG_BIN / "pg_ctl", "-D", self.root / "data", "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
