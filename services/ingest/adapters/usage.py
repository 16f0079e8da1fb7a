"""Tenants' limits in Postgres, shared by every ingest replica (tables in migration 007).

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
from psycopg_pool import PoolTimeout

from services.common.db import Pool
from services.ingest.core.limits import (
    LimitedError,
    TenantLimits,
    Windows,
    larger_than_quota,
    quota_exhausted,
    rate_limited,
    tenant_busy,
)

UPLOADS, BYTES = "uploads", "bytes"
_SLOTS_LOCK = 0x5_1_0_7  # first key of the per-tenant advisory lock on upload_slots
_KEEP_USAGE = "1 hour"  # how long a window's row stays after the window ended
_FORGET_INSTANCES = 10  # instances silent this many TTLs are deleted
_START = "to_timestamp(floor(extract(epoch FROM now()) / %(w)s) * %(w)s)"
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
        slot: all or none (one transaction); LimitedError (429) names the limit."""
        async with self._transaction() as conn:
            limits, bytes_used = await self._limits(conn, tenant_id)
            quota = limits.bytes_per_window
            if quota and bytes_used >= quota:
                left = await _seconds_left(conn, self.windows.quota_s)
                raise quota_exhausted(quota, self.windows.quota_s, left)
            rate = limits.uploads_per_window
            if rate and not await _add(
                conn, tenant_id, UPLOADS, amount=1, limit=rate, window_s=self.windows.rate_s
            ):
                left = await _seconds_left(conn, self.windows.rate_s)
                raise rate_limited(rate, self.windows.rate_s, left)
            if not limits.concurrent_uploads:
                return False
            await conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_SLOTS_LOCK, tenant_id)
            )
            cur = await conn.execute(
                "INSERT INTO upload_slots (tenant_id, holder, in_flight)"
                " SELECT %(tenant)s, %(holder)s, 1"
                " WHERE (SELECT coalesce(sum(s.in_flight), 0) FROM upload_slots s"
                f"  JOIN ingest_instances i ON {_LIVE}"
                "  WHERE s.tenant_id = %(tenant)s) < %(limit)s"
                " ON CONFLICT (tenant_id, holder)"
                " DO UPDATE SET in_flight = upload_slots.in_flight + 1 RETURNING in_flight",
                {
                    "tenant": tenant_id,
                    "holder": holder,
                    "limit": limits.concurrent_uploads,
                    "ttl": self.ttl_s,
                },
            )
            if await cur.fetchone() is None:
                raise tenant_busy(limits.concurrent_uploads)
            return True

    async def release(self, tenant_id: str, holder: str) -> None:
        """Give back one slot of `holder`'s for the tenant."""
        await self._give_back(tenant_id, holder, 1)

    async def charge_bytes(self, tenant_id: str, size: int) -> None:
        """Count `size` bytes in the tenant's quota window; 413 if it exceeds the whole quota,
        429 if it does not fit in what is left of it."""
        async with self._transaction() as conn:
            limits, _ = await self._limits(conn, tenant_id)
            quota, window_s = limits.bytes_per_window, self.windows.quota_s
            if not quota:
                return
            if size > quota:
                raise larger_than_quota(size, quota, window_s)
            if not await _add(conn, tenant_id, BYTES, amount=size, limit=quota, window_s=window_s):
                raise quota_exhausted(quota, window_s, await _seconds_left(conn, window_s))

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

    async def _give_back(self, tenant_id: str, holder: str, count: int) -> None:
        async with self._transaction() as conn:
            await _give_back_in(conn, tenant_id, holder, count)

    async def _limits(self, conn: AsyncConnection[Any], tenant_id: str) -> tuple[TenantLimits, int]:
        """The tenant's limits (defaults with its overrides) and its bytes used this window."""
        cur = await conn.execute(
            "SELECT l.uploads_per_window, l.bytes_per_window, l.concurrent_uploads,"
            " (SELECT used FROM tenant_usage WHERE tenant_id = %(tenant)s AND kind = 'bytes'"
            f"   AND window_start = {_START}) AS bytes_used"
            " FROM (SELECT 1) AS one"
            " LEFT JOIN tenant_limits l ON l.tenant_id = %(tenant)s",
            {"tenant": tenant_id, "w": self.windows.quota_s},
        )
        row = await cur.fetchone()
        assert row is not None  # noqa: S101 - one row, always
        limits = self.defaults.with_overrides(
            row["uploads_per_window"], row["bytes_per_window"], row["concurrent_uploads"]
        )
        return limits, int(row["bytes_used"] or 0)

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection in a transaction (committed at the end, rolled back on an error);
        503 with Retry-After when the database does not answer."""
        try:
            async with self.pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as error:
            raise LimitedError(
                503,
                "Service Unavailable",
                "the database that holds the upload limits did not answer; retry shortly",
                retry_after_s=5,
            ) from error


async def _add(
    conn: AsyncConnection[Any], tenant_id: str, kind: str, *, amount: int, limit: int, window_s: int
) -> bool:
    """Add `amount` to the tenant's `kind` in the current window unless that passes `limit`."""
    cur = await conn.execute(
        "INSERT INTO tenant_usage AS u (tenant_id, kind, window_start, window_end, used)"
        f" SELECT %(tenant)s, %(kind)s, {_START}, {_START} + make_interval(secs => %(w)s),"
        " %(amount)s WHERE %(amount)s <= %(limit)s"
        " ON CONFLICT (tenant_id, kind, window_start)"
        " DO UPDATE SET used = u.used + EXCLUDED.used WHERE u.used + EXCLUDED.used <= %(limit)s"
        " RETURNING used",
        {"tenant": tenant_id, "kind": kind, "amount": amount, "limit": limit, "w": window_s},
    )
    return await cur.fetchone() is not None


async def _seconds_left(conn: AsyncConnection[Any], window_s: int) -> float:
    """Seconds until the current window of `window_s` ends (by the database's clock)."""
    cur = await conn.execute(
        "SELECT %(w)s - mod(extract(epoch FROM now())::numeric, %(w)s) AS left_s", {"w": window_s}
    )
    row = await cur.fetchone()
    assert row is not None  # noqa: S101
    return float(row["left_s"])


async def _give_back_in(
    conn: AsyncConnection[Any], tenant_id: str, holder: str, count: int
) -> None:
    await conn.execute(
        "UPDATE upload_slots SET in_flight = greatest(in_flight - %s, 0)"
        " WHERE tenant_id = %s AND holder = %s",
        (count, tenant_id, holder),
    )
