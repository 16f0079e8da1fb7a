"""Content-addressed blob store (the claim check), kept in Postgres by default."""

from __future__ import annotations

import hashlib

from schemas.events import BlobRef, Event
from services.common.db import Pool, autocommit_connection
from services.common.deletions import BARRIER
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
        """Store `data` under its sha256 and return the reference, in one statement.

        With `owner`, under the deletion barrier: refuse (`DocumentDeletedError`, nothing
        written) if the owner's job was deleted, else record that its document refers to the
        blob (`sluice_put_owned_blob`, migration 018). Ingest stores an upload's bytes with
        its row (`sluice_create_upload`, migration 017).
        """
        digest = sha256_hex(data)
        async with autocommit_connection(self.pool) as conn:
            if owner is None:
                await conn.execute(_INSERT, (digest, len(data), media_type, data))
            else:
                cur = await conn.execute(
                    "SELECT sluice_put_owned_blob(%s, %s, %s, %s, %s, %s, %s) AS stored",
                    (
                        digest,
                        media_type,
                        data,
                        owner.job_id,
                        owner.tenant_id,
                        owner.document_id,
                        BARRIER,
                    ),
                )
                if not (await cur.fetchone() or {}).get("stored"):
                    raise DocumentDeletedError(owner.document_id)
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
