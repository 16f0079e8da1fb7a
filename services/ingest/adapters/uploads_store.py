"""Postgres record of accepted uploads: idempotency keys, publish state, the outbox's claims."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import msgspec
from psycopg import AsyncConnection

from services.common.db import Pool, autocommit_connection
from services.common.deletions import BARRIER
from services.ingest.core.ports import UploadRecord

_JSON = msgspec.json.Encoder()
_COLUMNS = (
    "job_id, tenant_id, document_id, event_id, sha256, filename, media_type, size, metadata,"
    " created_at, idempotency_key, published_at, holder"
)


class PostgresUploadsStore:
    """`UploadsStore` in the `uploads` table, the bytes in `blobs`, one transaction each."""

    def __init__(self, pool: Pool, *, instance_ttl_s: float = 30.0) -> None:
        self.pool = pool
        self.instance_ttl_s = instance_ttl_s  # a holder silent for longer is gone

    async def create(self, record: UploadRecord, data: bytes) -> UploadRecord:
        """Store the bytes, the row and the blob's reference in one statement (one round trip,
        one WAL flush: `sluice_create_upload`, migration 017); if the record's
        Idempotency-Key is taken, return that upload instead.

        Under the deletion barrier: a concurrent DELETE of the document either sees this
        upload (and deletes it) or runs before it (and this upload is a new, live job).
        """
        async with autocommit_connection(self.pool) as conn:
            cur = await conn.execute(
                "SELECT * FROM sluice_create_upload(%s::jsonb, %s, %s)",
                (_JSON.encode(record).decode(), data, BARRIER),
            )
            row = await cur.fetchone()
        assert row is not None  # noqa: S101 - the function returns the stored row
        return msgspec.convert(row, UploadRecord)

    async def by_key(self, tenant_id: str, key: str) -> UploadRecord | None:
        """The upload a tenant made with this Idempotency-Key, if any."""
        async with self.pool.connection() as conn:
            return await _by_key(conn, tenant_id, key)

    async def mark_published(self, job_id: str) -> None:
        """Remember that Kafka acknowledged the upload's event.

        Committed without waiting for the WAL flush (`synchronous_commit off`): if a crash
        loses it, the row looks unpublished, and a retry with the same Idempotency-Key
        publishes the same event (same `event_id`) again, which consumers deduplicate.
        """
        async with autocommit_connection(self.pool) as conn:  # one round trip, not four
            await conn.execute(
                "WITH no_flush_wait AS (SELECT set_config('synchronous_commit', 'off', true))"
                " UPDATE uploads SET published_at = now() FROM no_flush_wait"
                " WHERE job_id = %s AND published_at IS NULL",
                (job_id,),
            )

    async def release(self, job_id: str) -> None:
        """Let any relay take the upload (its holder's send failed and is not pending)."""
        async with autocommit_connection(self.pool) as conn:
            await conn.execute(
                "UPDATE uploads SET holder = NULL WHERE job_id = %s AND published_at IS NULL",
                (job_id,),
            )

    async def claim_unpublished(
        self, holder: str, *, pending: Collection[str], limit: int, min_age_s: float
    ) -> list[UploadRecord]:
        """Take, as `holder`, up to `limit` unpublished uploads older than `min_age_s` that no
        live process is sending: held by nobody, by a process whose heartbeat stopped, or by
        `holder` itself but not among its `pending` sends.

        `FOR UPDATE SKIP LOCKED`: concurrent relays claim disjoint rows, and the claim (the
        new holder) is committed before any send, so no transaction waits on Kafka.
        """
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "WITH claimable AS ("
                "  SELECT u.job_id FROM uploads u"
                "  WHERE u.published_at IS NULL"
                "    AND u.created_at < now() - make_interval(secs => %(min_age)s)"
                "    AND NOT (u.job_id = ANY(%(pending)s))"
                "    AND (u.holder IS NULL OR u.holder = %(holder)s OR NOT EXISTS ("
                "      SELECT 1 FROM ingest_instances i WHERE i.holder = u.holder"
                "        AND i.seen_at > now() - make_interval(secs => %(ttl)s)))"
                "  ORDER BY u.created_at LIMIT %(limit)s"
                "  FOR UPDATE OF u SKIP LOCKED)"
                " UPDATE uploads SET holder = %(holder)s FROM claimable"
                " WHERE uploads.job_id = claimable.job_id"
                f" RETURNING {', '.join('uploads.' + c.strip() for c in _COLUMNS.split(','))}",
                {
                    "holder": holder,
                    "pending": list(pending),
                    "limit": limit,
                    "min_age": min_age_s,
                    "ttl": self.instance_ttl_s,
                },
            )
            rows = await cur.fetchall()
        return [msgspec.convert(row, UploadRecord) for row in rows]


async def _by_key(conn: AsyncConnection[Any], tenant_id: str, key: str) -> UploadRecord | None:
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM uploads WHERE tenant_id = %s AND idempotency_key = %s",
        (tenant_id, key),
    )
    row = await cur.fetchone()
    return None if row is None else msgspec.convert(row, UploadRecord)
