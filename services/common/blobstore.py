"""Content-addressed blob store (the claim check), kept in Postgres by default."""

from __future__ import annotations

import hashlib
from typing import Any

from psycopg import AsyncConnection

from schemas.events import BlobRef
from services.common.db import Pool
from services.common.errors import BlobNotFoundError


def sha256_hex(data: bytes) -> str:
    """The content address of `data`."""
    return hashlib.sha256(data).hexdigest()


class PostgresBlobStore:
    """Blobs in the `blobs` table; writing the same bytes twice is a no-op."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def put(
        self,
        data: bytes,
        media_type: str,
        *,
        conn: AsyncConnection[Any] | None = None,
        sha256: str | None = None,
    ) -> BlobRef:
        """Store `data` under its sha256 and return the reference.

        With `conn`, inside the caller's transaction (committed with it); else in its own.
        `sha256`: the digest when the caller has it (hashing 50 MiB blocks the loop ~0.1 s).
        """
        digest = sha256 or sha256_hex(data)
        query = (
            "INSERT INTO blobs (sha256, size, media_type, data) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (sha256) DO NOTHING"
        )
        params = (digest, len(data), media_type, data)
        if conn is not None:
            await conn.execute(query, params)
        else:
            async with self.pool.connection() as own:
                await own.execute(query, params)
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
