"""Job changes as the projection recorded them (`job_changes`), read in commit-safe order and
woken by the projector's NOTIFY: what the event streams send.

A change's position is `(tx, id)`: the writing transaction's id and the row's serial. Rows are
read in that order and only from transactions older than every transaction still running
(`pg_snapshot_xmin`), so a concurrent projector transaction that commits late can never be
skipped by a reader that moved past a later row (the cursor, `"{tx}-{id}"`, is the SSE id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import msgspec
from psycopg import AsyncConnection

from services.common.db import Pool, from_row
from services.status.adapters.queries import JobError

log = logging.getLogger(__name__)
CHANNEL = "sluice_job_changes"
RECHECK_S = 2.0  # a stream reads again this often without a NOTIFY (a safety net)
HEARTBEAT_S = 15.0  # a stream with nothing to say sends a comment this often
READ_LIMIT = 500
TERMINAL = ("indexed", "failed")
_CURSOR = re.compile(r"^([0-9]{1,18})-([0-9]{1,18})$")  # ASCII digits, within a bigint


class JobChange(msgspec.Struct, frozen=True, kw_only=True):
    """A job's state, attempt or retry count changed (one SSE `job` event)."""

    job_id: str
    document_id: str
    state: str
    attempt: int
    retries: int
    error: JobError | None = None
    changed_at: datetime


class Cursor(msgspec.Struct, frozen=True, order=True):
    """Where a reader is: after the change `(tx, id)`."""

    tx: int
    id: int

    def __str__(self) -> str:
        return f"{self.tx}-{self.id}"

    @classmethod
    def parse(cls, text: str) -> Cursor | None:
        """A cursor from an SSE id (`Last-Event-ID`); None when the text is not one."""
        match = _CURSOR.match(text.strip())
        return None if match is None else cls(int(match[1]), int(match[2]))


START = Cursor(0, 0)
_COLUMNS = (
    "id, tx, job_id, document_id, state, attempt, retries, error_stage, error_code,"
    " error_message, changed_at"
)


def _change(row: dict[str, Any]) -> tuple[Cursor, JobChange]:
    error = None
    if row["error_code"] is not None and row["state"] == "failed":
        error = JobError(row["error_stage"], row["error_code"], row["error_message"])
    change = from_row(JobChange, row, error=error)
    return Cursor(row["tx"], row["id"]), change


class ChangeFeed:
    """Reads `job_changes` for streams; one LISTEN connection wakes the streams of a tenant."""

    def __init__(self, pool: Pool, database_url: str) -> None:
        self.pool = pool
        self.database_url = database_url
        self._waiters: dict[str, asyncio.Event] = {}
        self._closed = asyncio.Event()

    def close(self) -> None:
        """End every stream and the listener (the service is stopping)."""
        self._closed.set()
        self._wake_all()

    @property
    def closed(self) -> bool:
        """True once the service stops."""
        return self._closed.is_set()

    async def listen(self) -> None:
        """LISTEN for the projector's NOTIFYs until closed, reconnecting after errors."""
        delay = 0.5
        while not self.closed:
            try:
                async with await AsyncConnection.connect(
                    self.database_url, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    delay = 0.5
                    self._wake_all()  # what committed while nobody listened
                    while not self.closed:
                        async for notify in conn.notifies(timeout=1.0):
                            self._wake(notify.payload)
            except Exception as error:  # noqa: BLE001 - never stop the projector beside it
                log.warning("job change listener: %r; again in %.1fs", error, delay)
                self._wake_all()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _wake(self, tenant: str) -> None:
        waiter = self._waiters.pop(tenant, None)
        if waiter is not None:
            waiter.set()

    def _wake_all(self) -> None:
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            waiter.set()

    def _waiter(self, tenant: str) -> asyncio.Event:
        return self._waiters.setdefault(tenant, asyncio.Event())

    async def now(self) -> Cursor:
        """A cursor before every change not yet readable: a stream from here sends only news."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin"
            )
            row = await cur.fetchone()
        return Cursor(int(row["xmin"]) if row else 0, 0)

    async def read(
        self, tenant: str, after: Cursor, *, job_id: str | None = None, state: str | None = None
    ) -> list[tuple[Cursor, JobChange]]:
        """The tenant's changes after `after` (of one job, or into one state), oldest first."""
        clauses = ["tenant_id = %s", "(tx, id) > (%s, %s)"]
        params: list[Any] = [tenant, after.tx, after.id]
        if job_id is not None:
            clauses.append("job_id = %s")
            params.append(job_id)
        if state is not None:
            clauses.append("state = %s")
            params.append(state)
        params.append(READ_LIMIT)
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM job_changes WHERE {' AND '.join(clauses)}"
                " AND tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
                " ORDER BY tx, id LIMIT %s",
                params,
            )
            rows = await cur.fetchall()
        return [_change(row) for row in rows]

    async def ended(self, tenant: str, job_id: str, after: Cursor) -> bool:
        """True when the job is finished and has no change after `after`, readable or not."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT state = ANY(%s) AS done,"
                " EXISTS (SELECT 1 FROM job_changes c WHERE c.job_id = j.job_id"
                "  AND (c.tx, c.id) > (%s, %s)) AS more"
                " FROM jobs j WHERE tenant_id = %s AND job_id = %s",
                (list(TERMINAL), after.tx, after.id, tenant, job_id),
            )
            row = await cur.fetchone()
        return row is not None and bool(row["done"]) and not row["more"]

    async def follow(
        self,
        tenant: str,
        after: Cursor,
        *,
        job_id: str | None = None,
        state: str | None = None,
    ) -> AsyncIterator[tuple[Cursor, JobChange] | None]:
        """Changes as they come (None: a heartbeat is due); a job's stream ends with the job."""
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while not self.closed:
            waiter = self._waiter(tenant)  # before reading: a NOTIFY from now on wakes us
            changes = await self.read(tenant, after, job_id=job_id, state=state)
            for cursor, change in changes:
                after = cursor
                yield cursor, change
            if changes:
                quiet_since = loop.time()
                continue
            if job_id is not None and await self.ended(tenant, job_id, after):
                return
            if loop.time() - quiet_since >= HEARTBEAT_S:
                quiet_since = loop.time()
                yield None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), timeout=RECHECK_S)
