"""The connection pool on a real Postgres: a connection whose backend ended is never lent; one
lent in autocommit goes back to the pool in transaction mode."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from services.common.db import autocommit_connection, open_pool

pytestmark = pytest.mark.integration


async def _wait_gone(admin: psycopg.AsyncConnection[tuple[int]], pid: int) -> None:
    """Until the terminated backend has exited (termination is asynchronous)."""
    for _ in range(200):
        cur = await admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
        row = await cur.fetchone()
        if row is not None and row[0] == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"backend {pid} still running after 10s")


async def test_a_connection_whose_backend_was_terminated_is_replaced_not_lent(
    fresh_database: str,
) -> None:
    pool = await open_pool(fresh_database, max_size=1)  # one connection: the one terminated
    try:
        async with pool.connection() as conn:
            first = conn.info.backend_pid
        admin = await psycopg.AsyncConnection.connect(fresh_database, autocommit=True)
        async with admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (first,))
            await _wait_gone(admin, first)
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT pg_backend_pid() AS pid")
            row = await cur.fetchone()
        assert row is not None and row["pid"] != first
    finally:
        await pool.close()


async def test_a_connection_lent_in_autocommit_returns_in_transaction_mode(
    fresh_database: str,
) -> None:
    pool = await open_pool(fresh_database, max_size=1)  # the next borrower gets the same one
    try:
        async with autocommit_connection(pool) as conn:
            await conn.execute("CREATE TABLE t (x int)")
            await conn.execute("INSERT INTO t VALUES (1)")
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE, "committed"
        with pytest.raises(RuntimeError):
            async with pool.connection() as conn:
                assert not conn.autocommit
                await conn.execute("INSERT INTO t VALUES (2)")
                raise RuntimeError  # rolls back: the statement was in a transaction
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT array_agg(x) AS xs FROM t")
            row = await cur.fetchone()
        assert row is not None and row["xs"] == [1]
    finally:
        await pool.close()
