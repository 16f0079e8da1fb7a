"""Content-addressed blob store (the claim check), kept in Postgres by default."""

from __future__ import annotations

import hashlib
from typing import Any

from psycopg import AsyncConnection

from schemas.events import BlobRef, Event
from services.common.db import Pool
from services.common.deletions import deleted_among, hold_barrier
from services.common.errors import BlobNotFoundError, DocumentDeletedError

_INSERT = (
    "INSERT INTO blobs (sha256, size, media_type, data) VALUES (%s, %s, %s, %s)"
    " ON CONFLICT (sha256) DO NOTHING"
)


def sha256_hex(data: bytes) -> str:
    """The content address of `data`."""
    return hashlib.sha256(data).hexdigest()


class PostgresBlobStore:
    """Blobs in the `blobs` table; writing the same bytes twice is a no-op."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def put(self, data: bytes, media_type: str, *, owner: Event | None = None) -> BlobRef:
        """Store `data` under its sha256 and return the reference, in its own transaction.

        With `owner`, under the deletion barrier: refuse (`DocumentDeletedError`) if the owner's
        job was deleted, else record that its document refers to the blob (`add_ref`).
        (Ingest stores an upload's bytes with its row in one statement: migration 017.)
        """
        digest = sha256_hex(data)
        async with self.pool.connection() as conn:
            if owner is not None:
                await hold_barrier(conn)
                if await deleted_among(conn, [owner.job_id]):
                    raise DocumentDeletedError(owner.document_id)
            await conn.execute(_INSERT, (digest, len(data), media_type, data))
            if owner is not None:
                await add_ref(conn, digest, owner.tenant_id, owner.document_id)
        return BlobRef(sha256=digest, size=len(data), media_type=media_type)

    async def get(self, ref: BlobRef) -> bytes:
        """The bytes behind `ref`; raises BlobNotFoundError if absent."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT data FROM blobs WHERE sha256 = %s", (ref.sha256,))
            row = await cur.fetchone()
        if row is None:
            raise BlobNotFoundError(ref.sha256)
        data = bytes(row["data"])
        if sha256_hex(data) != ref.sha256:
            raise BlobNotFoundError(f"{ref.sha256} (stored bytes do not match their hash)")
        return data


async def add_ref(
    conn: AsyncConnection[Any], sha256: str, tenant_id: str, document_id: str
) -> None:
    """Record that a tenant's document refers to a blob (a deletion keeps blobs still referred to).

    Call it under the deletion barrier (`services.common.deletions.hold_barrier`).
    """
    await conn.execute(
        "INSERT INTO blob_refs (sha256, tenant_id, document_id) VALUES (%s, %s, %s)"
        " ON CONFLICT DO NOTHING",
        (sha256, tenant_id, document_id),
    )
