"""Deleting a tenant's document from Postgres: the record stages honour, then every row and blob.

The route (`services/status/api.py`) calls `PostgresDeletions.delete`, then publishes the
`DocumentDeleted` tombstone; the projector applies tombstones it reads with `apply_tombstone`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from services.common.api_bodies import Deletion
from services.common.db import Pool
from services.common.deletions import hold_barrier
from services.common.vectors.store import VectorStore


async def delete_chunks(
    conn: AsyncConnection[Any], vectors: VectorStore, tenant_id: str, document_id: str
) -> int:
    """Delete the document's chunks and vectors from every vector set; return how many.

    The one place a deletion removes chunks (`VectorStore.delete_document_in`, in the
    deletion's transaction): adapt it where chunk storage changes.
    """
    return await vectors.delete_document_in(conn, tenant_id, document_id)


async def record_deletion(
    conn: AsyncConnection[Any],
    tenant_id: str,
    document_id: str,
    job_ids: list[str],
    at: datetime | None = None,
) -> datetime:
    """Record the document's jobs as deleted (idempotent); return when the document was deleted."""
    await conn.execute(
        "INSERT INTO deleted_jobs (job_id, tenant_id, document_id, deleted_at)"
        " SELECT j, %s, %s, COALESCE(%s, now()) FROM unnest(%s::text[]) AS j"
        " ON CONFLICT (job_id) DO NOTHING",
        (tenant_id, document_id, at, job_ids),
    )
    cur = await conn.execute(
        "INSERT INTO deleted_documents (tenant_id, document_id, deleted_at)"
        " VALUES (%s, %s, COALESCE(%s, now())) ON CONFLICT (tenant_id, document_id)"
        " DO UPDATE SET deleted_at = GREATEST(deleted_documents.deleted_at, EXCLUDED.deleted_at)"
        " RETURNING deleted_at",
        (tenant_id, document_id, at),
    )
    row = await cur.fetchone()
    assert row is not None  # noqa: S101 - RETURNING of an upsert
    deleted_at: datetime = row["deleted_at"]
    return deleted_at


async def forget_jobs(conn: AsyncConnection[Any], job_ids: list[str]) -> int:
    """Delete the projection's rows of these jobs (`jobs`, `job_events`); return the jobs."""
    await conn.execute("DELETE FROM job_events WHERE job_id = ANY(%s)", (job_ids,))
    cur = await conn.execute("DELETE FROM jobs WHERE job_id = ANY(%s)", (job_ids,))
    return cur.rowcount


async def record_missing(
    conn: AsyncConnection[Any], tenant_id: str, document_id: str, job_ids: list[str], at: datetime
) -> None:
    """Record the deletion where no record of it is (a database restored from before it),
    locking no existing row: `rebuild-status` holds its transaction for the whole read."""
    await conn.execute(
        "INSERT INTO public.deleted_jobs (job_id, tenant_id, document_id, deleted_at)"
        " SELECT j, %s, %s, %s FROM unnest(%s::text[]) AS j ON CONFLICT (job_id) DO NOTHING",
        (tenant_id, document_id, at, job_ids),
    )
    await conn.execute(
        "INSERT INTO public.deleted_documents (tenant_id, document_id, deleted_at)"
        " VALUES (%s, %s, %s) ON CONFLICT (tenant_id, document_id) DO NOTHING",
        (tenant_id, document_id, at),
    )


async def apply_tombstone(
    conn: AsyncConnection[Any],
    tenant_id: str,
    document_id: str,
    job_ids: list[str],
    at: datetime,
    *,
    rebuilding: bool = False,
) -> None:
    """What the projector does with a `DocumentDeleted` it reads (idempotent).

    Records the deleted jobs and drops their projected rows, and nothing else: a later upload
    of the document is a job not in `job_ids`, so a replayed tombstone leaves it alone.
    `rebuilding`: `rebuild-status` projecting into its own tables (the record stays live).
    """
    if rebuilding:
        await record_missing(conn, tenant_id, document_id, job_ids, at)
    else:
        await record_deletion(conn, tenant_id, document_id, job_ids, at)
    await forget_jobs(conn, job_ids)


class PostgresDeletions:
    """Deletes a tenant's document in one transaction under the exclusive deletion barrier."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.vectors = VectorStore(pool)

    async def owner(self, document_id: str) -> str | None:
        """The tenant whose document this is (document ids are per tenant), if known."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT tenant_id FROM uploads WHERE document_id = %s"
                " UNION SELECT tenant_id FROM jobs WHERE document_id = %s"
                " UNION SELECT tenant_id FROM deleted_documents WHERE document_id = %s LIMIT 1",
                (document_id, document_id, document_id),
            )
            row = await cur.fetchone()
        return None if row is None else str(row["tenant_id"])

    async def delete(self, tenant_id: str, document_id: str) -> Deletion | None:
        """Delete the document of `tenant_id`; None if the tenant never had it.

        The jobs deleted are those whose upload or reprocess job (`vector_set_jobs`, recorded
        before it is published) committed before this transaction (the barrier orders them
        and deletions), so an upload after it is a new, live job. Its reprocess jobs are
        forgotten too: they never end now, and would keep their set from being pruned.
        Blobs go only when no other document (of any tenant) refers to them.
        """
        key = (tenant_id, document_id)
        async with self.pool.connection() as conn, conn.transaction():
            await hold_barrier(conn, exclusive=True)
            cur = await conn.execute(
                "SELECT job_id FROM uploads WHERE tenant_id = %s AND document_id = %s"
                " UNION SELECT job_id FROM jobs WHERE tenant_id = %s AND document_id = %s"
                " UNION SELECT job_id FROM deleted_jobs WHERE tenant_id = %s AND document_id = %s"
                " UNION SELECT job_id FROM vector_set_jobs"
                " WHERE tenant_id = %s AND document_id = %s",
                key * 4,
            )
            job_ids = sorted(row["job_id"] for row in await cur.fetchall())
            chunks = await delete_chunks(conn, self.vectors, *key)
            if not job_ids and not chunks:
                return None
            deleted_at = await record_deletion(conn, *key, job_ids)
            jobs = await forget_jobs(conn, job_ids)
            await conn.execute("DELETE FROM uploads WHERE tenant_id = %s AND document_id = %s", key)
            await conn.execute("DELETE FROM vector_set_jobs WHERE job_id = ANY(%s)", (job_ids,))
            cur = await conn.execute(
                "WITH refs AS (DELETE FROM blob_refs WHERE tenant_id = %s AND document_id = %s"
                " RETURNING sha256)"
                " DELETE FROM blobs b WHERE b.sha256 IN (SELECT sha256 FROM refs)"
                " AND NOT EXISTS (SELECT 1 FROM blob_refs r WHERE r.sha256 = b.sha256"
                " AND NOT (r.tenant_id = %s AND r.document_id = %s))",
                key * 2,
            )
            blobs = cur.rowcount
        return Deletion(
            tenant_id=tenant_id,
            document_id=document_id,
            deleted_at=deleted_at,
            deleted_jobs=job_ids,
            jobs=jobs,
            chunks=chunks,
            blobs=blobs,
        )
