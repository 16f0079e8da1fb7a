"""The one Postgres helper: connection pool, idempotent migrations, rows into Structs."""

from __future__ import annotations

import contextlib
import logging
import select
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from importlib import resources
from typing import Any, ClassVar, TypeVar

import msgspec
from psycopg import AsyncConnection, AsyncCursor, OperationalError
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from services.common import metrics

log = logging.getLogger(__name__)
Pool = AsyncConnectionPool[AsyncConnection[DictRow]]
_MIGRATION_LOCK = 0x5_1_0_1_C_E


class TimedCursor(AsyncCursor[DictRow]):
    """A cursor that observes each statement's time (`sluice_db_query_seconds`)."""

    service: ClassVar[str] = ""

    async def execute(self, query: Any, params: Any = None, **options: Any) -> TimedCursor:
        """Run one statement, timed."""
        started = time.perf_counter()
        try:
            return await super().execute(query, params, **options)
        finally:
            self._observe(query, started)

    async def executemany(self, query: Any, params_seq: Iterable[Any], **options: Any) -> None:
        """Run one statement for each parameter set (one pipeline), timed as one."""
        started = time.perf_counter()
        try:
            await super().executemany(query, params_seq, **options)
        finally:
            self._observe(query, started)

    def _observe(self, query: Any, started: float) -> None:
        metrics.DB_SECONDS.labels(self.service, verb(query)).observe(time.perf_counter() - started)


def verb(query: Any) -> str:
    """The first SQL word of a statement (SELECT, INSERT, ...): a label of few values."""
    text = query.decode(errors="replace") if isinstance(query, bytes) else query
    if not isinstance(text, str):
        return "COMPOSED"
    words = text.split(None, 1)
    first = words[0].upper() if words else ""
    return first if first.isalpha() and len(first) <= 12 else "OTHER"


async def check_lent(conn: AsyncConnection[Any]) -> None:
    """The pool's check of a connection it lends: a round trip only when the server spoke.

    An idle connection's socket has nothing to read unless the server wrote first: a
    termination (Postgres stopped or restarted, the backend killed), a closed socket, or a
    notice. Only then does the check cost a round trip (`check_connection`), which fails on a
    dead connection, so the pool discards it and lends another; a healthy idle connection
    is lent without one (that round trip was one per statement batch in every service).
    """
    if conn.closed or conn.broken:
        raise OperationalError("the connection is closed")
    readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    if readable:
        await AsyncConnectionPool.check_connection(conn)


async def open_pool(url: str, *, max_size: int = 8, name: str = "sluice") -> Pool:
    """An open pool of autocommit-off connections returning dict rows.

    Its statements are timed and its statistics (size, idle, waiting) reported as `name`'s.
    """
    cursor = type("TimedCursor", (TimedCursor,), {"service": name})
    pool: Pool = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        name=name,
        open=False,
        kwargs={"row_factory": dict_row, "application_name": name, "cursor_factory": cursor},
        check=check_lent,
        reconnect_timeout=60,
    )
    await pool.open(wait=True, timeout=30)
    metrics.POOLS.watch(name, pool)
    return pool


@contextlib.asynccontextmanager
async def autocommit_connection(pool: Pool) -> AsyncIterator[AsyncConnection[DictRow]]:
    """A connection of `pool` on which each statement is its own transaction: one round trip
    per statement, where the pool's connections otherwise open a transaction (BEGIN) and
    commit it (COMMIT), two more. For work that is one statement (a function call, an update).
    """
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            yield conn
        finally:
            if not (conn.closed or conn.broken):  # a broken one is discarded by the pool
                await conn.set_autocommit(False)


def _migrations() -> list[tuple[str, str]]:
    folder = resources.files("services.common") / "migrations"
    return sorted((f.name, f.read_text()) for f in folder.iterdir() if f.name.endswith(".sql"))


async def migrate(url: str) -> list[str]:
    """Apply pending migrations once, under an advisory lock; return what was applied."""
    applied: list[str] = []
    async with await AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT name FROM schema_migrations")
            done = {row[0] for row in await cur.fetchall()}
            for name, sql in _migrations():
                if name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql.encode())
                    await conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
                applied.append(name)
                log.info("applied migration %s", name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    return applied


SLOW_PING_S = 1.0  # a `SELECT 1` slower than this makes the database check fail


async def database_check(pool: Pool, *, slow_s: float = SLOW_PING_S) -> tuple[bool, str]:
    """Whether the database serves this process now, and why not: unreachable, its pool
    exhausted (no idle connection and requests waiting), or a `SELECT 1` slower than `slow_s`."""
    stats = pool.get_stats()
    waiting = stats.get("requests_waiting", 0)
    started = time.perf_counter()
    try:
        async with pool.connection(timeout=2) as conn:
            await conn.execute("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure means "not ready", with its reason
        if waiting:
            return False, f"pool exhausted: {waiting} requests waiting for a connection"
        return False, f"unreachable: {type(error).__name__}: {error}"[:200]
    took = time.perf_counter() - started
    if took > slow_s:
        return False, f"slow: SELECT 1 took {took * 1000:.0f} ms (limit {slow_s * 1000:.0f} ms)"
    return True, ""


async def ping(pool: Pool) -> bool:
    """True when a connection can run a query now."""
    ok, _ = await database_check(pool)
    return ok


_Row = TypeVar("_Row", bound=msgspec.Struct)


def from_row(cls: type[_Row], row: Mapping[str, Any], **given: Any) -> _Row:
    """`cls(**given)`, each of its other fields read from the column of its name in `row`."""
    values = {f.name: row[f.name] for f in msgspec.structs.fields(cls) if f.name not in given}
    return cls(**values, **given)
