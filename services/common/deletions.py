"""The deletion record every stage honours, and the barrier that orders writes around a delete.

A deletion (DELETE /v1/documents/{id}) records the document's jobs in `deleted_jobs`; an event
of a recorded job is skipped by every stage. Writers that must not race a deletion (stored
chunks, projected job rows, stored blobs and their references, uploads) run their transaction
under the shared side of one advisory lock and check the record inside it; a deletion takes the
exclusive side. So a write either committed before the deletion (and the deletion removes it)
or starts after it (and sees the record): nothing is written for a deleted job afterwards.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

from psycopg import AsyncConnection

from services.common.db import Pool

BARRIER: Final = 0x5_1_0_1_CE_DE1
"""The advisory lock key (one for the database: deletions are rare and short)."""


async def hold_barrier(conn: AsyncConnection[Any], *, exclusive: bool = False) -> None:
    """Take the deletion barrier for `conn`'s transaction (released at commit or rollback).

    Writers take the shared side first in their transaction; a deletion the exclusive side.
    """
    lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await conn.execute(f"SELECT {lock}(%s)", (BARRIER,))


async def deleted_among(conn: AsyncConnection[Any], job_ids: Collection[str]) -> set[str]:
    """The jobs among `job_ids` recorded as deleted, as `conn` sees them now."""
    if not job_ids:
        return set()
    cur = await conn.execute(
        "SELECT job_id FROM deleted_jobs WHERE job_id = ANY(%s)", (list(set(job_ids)),)
    )
    return {row["job_id"] for row in await cur.fetchall()}


class PostgresDeletedJobs:
    """`DeletedJobs` in Postgres: a read of the record, for skipping work early.

    A stage's writes still check again under the barrier (`deleted_among` inside the writing
    transaction); this early look only saves the work on an event already known to be dead.
    """

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def deleted(self, job_ids: Collection[str]) -> set[str]:
        """The jobs among `job_ids` whose document was deleted."""
        async with self.pool.connection() as conn:
            return await deleted_among(conn, job_ids)
