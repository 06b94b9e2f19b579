"""Fixtures for the shared state: one real PostgreSQL server for the session (tests/postgres.py),
a fresh database for each test."""

from __future__ import annotations

import pytest

from tests.postgres import PostgresServer


@pytest.fixture(scope="session")
def postgres() -> PostgresServer:
    server = PostgresServer.start()  # missing binaries: fails with what to install, never a skip
    yield server
    server.stop()


@pytest.fixture
def database_url(postgres: PostgresServer) -> str:
    return postgres.database()
