"""`mops db upgrade` against a real PostgreSQL: applies the versioned SQL files once, is a
no-op the second time, and a process never runs on a schema that is behind or a database
it cannot reach (a loud error, exit 2; never the local files instead)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from mops.database import Database, DatabaseUnavailable, current_version, migrations, upgrade
from tests.postgres import PostgresServer


def mops(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MOPS_")}
    return subprocess.run(
        [sys.executable, "-m", "starter.cli", *args], env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def test_upgrade_applies_each_migration_once(database_url: str, tmp_path: Path) -> None:
    env = {"MOPS_DATABASE_URL": database_url, "MOPS_DATA_DIR": str(tmp_path)}
    first = mops("db", "upgrade", "--json", env=env)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"version": len(migrations()), "applied": ["0001_shared_state"]}
    assert {"schema_version", "data_keys", "erasures", "rate_buckets", "replay_keys", "revoked_sessions"} <= tables(
        database_url
    )

    again = mops("db", "upgrade", env=env)
    assert again.returncode == 0, again.stderr
    assert "already current" in again.stdout
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT version, name FROM schema_version").fetchall() == [(1, "shared_state")]

    status = mops("db", "status", "--json", env=env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == {"version": 1, "needed": 1}


def test_concurrent_upgrades_apply_once(database_url: str) -> None:
    # Replicas starting together: the advisory lock makes all but one find the work done.
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: upgrade(database_url), range(4)))
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    assert current_version(database_url) == 1


def test_a_schema_behind_is_refused_naming_the_command(database_url: str) -> None:
    with pytest.raises(DatabaseUnavailable, match=r"schema is at version 0, this mops needs 1: run `mops db upgrade`"):
        Database(database_url)
    status = mops("db", "status", env={"MOPS_DATABASE_URL": database_url})
    assert status.returncode == 1 and "run `mops db upgrade`" in status.stdout


def test_db_upgrade_without_the_setting_is_refused(tmp_path: Path) -> None:
    res = mops("db", "upgrade", env={"MOPS_DATA_DIR": str(tmp_path)})
    assert res.returncode == 2
    assert "MOPS_DATABASE_URL: not set" in res.stderr


def test_a_url_that_is_not_postgresql_is_refused(tmp_path: Path) -> None:
    res = mops("db", "upgrade", env={"MOPS_DATABASE_URL": "sqlite:///x.db", "MOPS_DATA_DIR": str(tmp_path)})
    assert res.returncode == 2
    assert "MOPS_DATABASE_URL" in res.stderr and "postgresql://" in res.stderr


def test_an_unreachable_database_stops_the_gateway_at_start(postgres: PostgresServer, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOPS_")}
    env.update(
        MOPS_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/mops",
        MOPS_DATA_DIR=str(tmp_path),
        MOPS_TEMPORAL_ADDRESS="127.0.0.1:1",  # never reached: the database is checked first
    )
    res = subprocess.run([sys.executable, "-m", "gateway"], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("MOPS_DATABASE_URL: cannot connect to"), lines
    assert not (tmp_path / "keys.db").exists()


def test_without_the_setting_no_process_loads_the_driver() -> None:
    # Every CLI command imports this much; the driver's import costs a CLI call tenths of a second.
    code = "import sys, starter.cli, gateway.app, mops.codec; print('psycopg' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "False", (done.stdout, done.stderr)
