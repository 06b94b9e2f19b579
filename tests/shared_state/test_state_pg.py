"""The PostgreSQL implementations against a real server: the key store shared by processes,
the replay cache's insert-once with expiry, the token bucket and the sign-outs."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest

from gateway.state_pg import PostgresRateLimit, PostgresState
from mops.codec import shared_keyring
from mops.database import Database, DatabaseUnavailable, upgrade
from mops.keystore import ErasureRecord, utc_now
from mops.keystore_pg import PostgresKeyStore
from mops.settings import Settings

# Another process: takes the lead's data key (created on first use), encrypts with it and
# prints what the reader needs. Its data directory is its own: no SQLite file is shared.
WRITER = textwrap.dedent(
    """
    import json, os, sys
    from mops.codec import shared_keyring
    from mops.settings import Settings
    ring = shared_keyring(Settings(database_url=sys.argv[1], data_dir=sys.argv[2]))
    key_id, aead = ring.lead_key("lead-shared")
    nonce = os.urandom(12)
    print(json.dumps({"key_id": key_id, "nonce": nonce.hex(), "sealed": aead.encrypt(nonce, b"hi", None).hex()}))
    """
)


def run_writer(url: str, data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOPS_")}
    done = subprocess.run(
        [sys.executable, "-c", WRITER, url, str(data_dir)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_key_made_by_one_process_is_used_by_another(database_url: str, tmp_path: Path) -> None:
    upgrade(database_url)
    written = run_writer(database_url, tmp_path / "writer")
    reader = shared_keyring(Settings(database_url=database_url, data_dir=tmp_path / "reader"))
    opened = reader.key(written["key_id"]).decrypt(
        bytes.fromhex(written["nonce"]), bytes.fromhex(written["sealed"]), None
    )
    assert opened == b"hi"
    # The lead keeps its one key: a second process asking finds it rather than making another.
    assert run_writer(database_url, tmp_path / "writer2")["key_id"] == written["key_id"]
    assert reader.lead_key("lead-shared")[0] == written["key_id"]
    assert not any(p.name == "keys.db" for p in tmp_path.rglob("*")), "a local key store was made"


def test_erasure_destroys_the_keys_and_logs_it_in_one_place(database_url: str, tmp_path: Path) -> None:
    upgrade(database_url)
    key_id = run_writer(database_url, tmp_path)["key_id"]
    store = PostgresKeyStore(Database(database_url))
    record = ErasureRecord("erase-1", "lead-shared", utc_now(), "privacy@mops", steps={"crm": "deleted"})
    assert store.destroy_lead("lead-shared", record) == [key_id]
    assert store.get(key_id) is None and store.current_for_lead("lead-shared") is None
    [logged] = store.erasures("lead-shared")
    assert logged.destroyed_key_ids == [key_id] and logged.steps == {"crm": "deleted"} and logged.completed_at
    assert store.erasures("someone-else") == []


async def test_replay_cache_takes_a_key_once_until_it_expires(database_url: str) -> None:
    upgrade(database_url)
    state = PostgresState(Database(database_url))
    other = PostgresState(Database(database_url))  # another replica's connection
    requests = state.replays("webhook-requests", 10, ttl=3600)
    assert await requests.add("slack:sig-1") is True
    assert await other.replays("webhook-requests", 10, ttl=3600).add("slack:sig-1") is False
    assert await other.replays("webhook-requests", 10, ttl=3600).seen("slack:sig-1")
    assert not await other.replays("webhook-events", 10, ttl=3600).seen("slack:sig-1"), "caches are kept apart"
    # A ttl of 0 has expired by the next statement: the key may be taken again.
    instant = state.replays("instant", 10, ttl=0)
    assert await instant.add("k") is True
    assert not await instant.seen("k")
    assert await instant.add("k") is True


async def test_token_bucket_is_shared_and_answers_the_wait(database_url: str) -> None:
    upgrade(database_url)
    a = PostgresState(Database(database_url)).rate_limit("api-key", rate=0.01, burst=3)
    b = PostgresState(Database(database_url)).rate_limit("api-key", rate=0.01, burst=3)
    answers = [await limiter.take("web") for limiter in (a, b, a, b, a)]
    assert answers[:3] == [None, None, None]
    # Empty: a token comes back at 0.01 a second, so the wait is at most 100 seconds.
    assert all(wait is not None and 0 < wait <= 100.0 for wait in answers[3:])
    assert await a.take("another-key") is None, "each key has its own bucket"


async def test_a_sign_out_is_seen_by_every_connection(database_url: str) -> None:
    upgrade(database_url)
    mine, theirs = (
        PostgresState(Database(database_url)).revocations(),
        PostgresState(Database(database_url)).revocations(),
    )
    assert not await theirs.holds("sid-1")
    await mine.add("sid-1", 4_102_444_800)  # expires in 2100
    assert await theirs.holds("sid-1")
    await mine.add("sid-1", 4_102_444_800)  # signing out twice is fine


async def test_a_lost_connection_fails_that_call_and_the_next_reconnects(database_url: str) -> None:
    upgrade(database_url)
    db = Database(database_url)
    limiter = PostgresState(db).rate_limit("api-key", rate=0.01, burst=5)
    assert await limiter.take("web") is None
    with psycopg.connect(database_url, autocommit=True) as admin:  # the server drops our session
        [(pid,)] = db.rows("SELECT pg_backend_pid()")
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(DatabaseUnavailable, match="MOPS_DATABASE_URL"):
        await limiter.take("web")
    assert await limiter.take("web") is None  # a new connection, the same bucket
    [(tokens,)] = db.rows("SELECT tokens FROM rate_buckets WHERE bucket = 'api-key:web'")
    assert tokens < 4  # two spent (or three, had the lost call reached the row before the drop)


async def test_a_take_waiting_on_the_database_leaves_the_event_loop_free(database_url: str) -> None:
    upgrade(database_url)
    limiter = PostgresState(Database(database_url)).rate_limit("api-key", rate=0.0001, burst=5)
    assert await limiter.take("web") is None  # the bucket's row exists
    with psycopg.connect(database_url, autocommit=True) as admin, psycopg.connect(database_url) as holder:
        # Another transaction holds the row: the take's statement waits for it, as on a stalled
        # database. The server ends that transaction after 60 s, so a take that blocked the loop
        # makes this test fail (past the deadline below) instead of hanging it.
        holder.execute("SET idle_in_transaction_session_timeout = '60s'")
        holder.execute("SELECT 1 FROM rate_buckets WHERE bucket = 'api-key:web' FOR UPDATE")
        pending = asyncio.create_task(limiter.take("web"))
        # This loop going round at all is the point: the event loop is free while the take waits.
        deadline = time.monotonic() + 30
        while not admin.execute(
            "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%rate_buckets%'"
        ).fetchall():
            assert time.monotonic() < deadline, "the take never reached the database"
            await asyncio.sleep(0.02)
        assert not pending.done()
        holder.rollback()
        assert await asyncio.wait_for(pending, 30) is None
    [(tokens,)] = Database(database_url).rows("SELECT tokens FROM rate_buckets WHERE bucket = 'api-key:web'")
    assert 2.99 < tokens < 3.01  # each take spent one


def test_concurrent_first_keys_of_one_lead_agree(database_url: str, tmp_path: Path) -> None:
    upgrade(database_url)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        written = list(pool.map(lambda i: run_writer(database_url, tmp_path / f"w{i}"), range(4)))
    assert len({w["key_id"] for w in written}) == 1
    assert len(PostgresKeyStore(Database(database_url)).all_keys()) == 1


async def test_idle_full_buckets_are_purged_and_busy_ones_kept(database_url: str) -> None:
    upgrade(database_url)
    db = Database(database_url)
    limiter = PostgresRateLimit(db, "form to this form 60", rate=1.0, burst=60, purge_every=3)
    assert await limiter.take("idle") is None and await limiter.take("busy") is None
    # "idle" was last used an hour ago: refilled long since (60 tokens at 1 a second), as good as absent.
    db.rows("UPDATE rate_buckets SET updated_at = now() - interval '1 hour' WHERE bucket LIKE '%:idle'")
    await PostgresRateLimit(db, "api-key", rate=1.0, burst=60).take("idle")  # another limiter's bucket, same key
    assert await limiter.take("busy") is None  # the third take purges
    buckets = {r[0] for r in db.rows("SELECT bucket FROM rate_buckets")}
    assert buckets == {"form to this form 60:busy", "api-key:idle"}
