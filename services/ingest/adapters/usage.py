"""Tenants' limits in Postgres, shared by every ingest replica (tables in migration 007; an
admission and a byte charge are one statement each, functions in migration 016).

- Rate and byte quota: one `tenant_usage` row per (tenant, kind, fixed window), grown by an
  upsert that refuses to pass the limit, so replicas never admit more than the limit between
  them. Windows follow the database's clock, the same for every replica.
- Concurrent uploads: one `upload_slots` row per (tenant, ingest process); a process takes a
  slot under a per-tenant advisory lock after counting the slots of live processes
  (`ingest_instances`), so a process that dies leaks nothing.
- Overrides: `tenant_limits`, read on every admission (NULL: the setting; 0: unlimited).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg_pool import PoolTimeout

from services.common.db import Pool, autocommit_connection
from services.ingest.core.limits import (
    LimitedError,
    TenantLimits,
    Windows,
    larger_than_quota,
    quota_exhausted,
    rate_limited,
    tenant_busy,
)

_KEEP_USAGE = "1 hour"  # how long a window's row stays after the window ended
_FORGET_INSTANCES = 10  # instances silent this many TTLs are deleted
_LIVE = "i.holder = s.holder AND i.seen_at > now() - make_interval(secs => %(ttl)s)"


class PostgresTenantUsage:
    """`TenantUsage` in Postgres: `defaults` unless the tenant has overrides."""

    def __init__(
        self, pool: Pool, defaults: TenantLimits, windows: Windows, *, instance_ttl_s: float
    ) -> None:
        self.pool = pool
        self.defaults = defaults
        self.windows = windows
        self.ttl_s = instance_ttl_s

    async def admit(self, tenant_id: str, holder: str) -> bool:
        """Check the byte quota is not used up, count the upload in the rate window, take a
        slot: all or none (one statement, `sluice_admit` in migration 016); LimitedError (429)
        names the limit. Whether a slot was taken (to give back)."""
        limits, windows = self.defaults, self.windows
        row = await self._call(
            "SELECT * FROM sluice_admit(%(tenant)s, %(holder)s, %(rate)s, %(rate_s)s,"
            " %(quota)s, %(quota_s)s, %(slots)s, %(ttl)s)",
            {
                "tenant": tenant_id,
                "holder": holder,
                "rate": limits.uploads_per_window,
                "rate_s": windows.rate_s,
                "quota": limits.bytes_per_window,
                "quota_s": windows.quota_s,
                "slots": limits.concurrent_uploads,
                "ttl": self.ttl_s,
            },
        )
        refused, limit = row["refused"], row["limit_value"]
        if refused == "quota":
            raise quota_exhausted(limit, windows.quota_s, row["retry_after_s"])
        if refused == "rate":
            raise rate_limited(limit, windows.rate_s, row["retry_after_s"])
        if refused == "busy":
            raise tenant_busy(limit)
        return bool(row["slot"])

    async def release(self, tenant_id: str, holder: str) -> None:
        """Give back one slot of `holder`'s for the tenant."""
        async with self._connection(autocommit=True) as conn:
            await _give_back_in(conn, tenant_id, holder, 1)

    async def charge_bytes(self, tenant_id: str, size: int) -> None:
        """Count `size` bytes in the tenant's quota window (one statement,
        `sluice_charge_bytes`); 413 if it exceeds the whole quota, 429 if it does not fit in
        what is left of it."""
        window_s = self.windows.quota_s
        row = await self._call(
            "SELECT * FROM sluice_charge_bytes(%s, %s, %s, %s)",
            (tenant_id, size, self.defaults.bytes_per_window, window_s),
        )
        if row["refused"] == "too_large":
            raise larger_than_quota(size, row["limit_value"], window_s)
        if row["refused"] == "quota":
            raise quota_exhausted(row["limit_value"], window_s, row["retry_after_s"])

    async def beat(self, holder: str, unreleased: Mapping[str, int]) -> None:
        """`holder` is alive; give back its `unreleased` slots; delete what the dead left."""
        async with self._transaction() as conn:
            await conn.execute(
                "INSERT INTO ingest_instances (holder, seen_at) VALUES (%s, now())"
                " ON CONFLICT (holder) DO UPDATE SET seen_at = now()",
                (holder,),
            )
            for tenant_id, count in unreleased.items():
                await _give_back_in(conn, tenant_id, holder, count)
            await conn.execute(
                "DELETE FROM ingest_instances WHERE seen_at < now() - make_interval(secs => %s)",
                (self.ttl_s * _FORGET_INSTANCES,),
            )
            await conn.execute(
                "DELETE FROM upload_slots s WHERE NOT EXISTS"
                f" (SELECT 1 FROM ingest_instances i WHERE {_LIVE})",
                {"ttl": self.ttl_s},
            )
            await conn.execute(
                f"DELETE FROM tenant_usage WHERE window_end < now() - interval '{_KEEP_USAGE}'"
            )

    async def leave(self, holder: str) -> None:
        """`holder` stops: its slots go, and its pending uploads are any relay's."""
        async with self._transaction() as conn:
            await conn.execute("DELETE FROM upload_slots WHERE holder = %s", (holder,))
            await conn.execute("DELETE FROM ingest_instances WHERE holder = %s", (holder,))

    async def _call(self, query: str, params: Any) -> DictRow:
        """The one row of a function call made as one statement (its own transaction)."""
        async with self._connection(autocommit=True) as conn:
            cur = await conn.execute(query, params)
            row: DictRow | None = await cur.fetchone()
        assert row is not None  # noqa: S101 - a function's one row
        return row

    def _transaction(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection[Any]]:
        """A connection in a transaction (committed at the end, rolled back on an error)."""
        return self._connection(autocommit=False)

    @contextlib.asynccontextmanager
    async def _connection(self, *, autocommit: bool) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection of the pool (`autocommit`: each statement its own transaction);
        503 with Retry-After when the database does not answer."""
        lend = autocommit_connection(self.pool) if autocommit else self.pool.connection()
        try:
            async with lend as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as error:
            raise LimitedError(
                503,
                "Service Unavailable",
                "the database that holds the upload limits did not answer; retry shortly",
                retry_after_s=5,
            ) from error


async def _give_back_in(
    conn: AsyncConnection[Any], tenant_id: str, holder: str, count: int
) -> None:
    await conn.execute(
        "UPDATE upload_slots SET in_flight = greatest(in_flight - %s, 0)"
        " WHERE tenant_id = %s AND holder = %s",
        (count, tenant_id, holder),
    )
