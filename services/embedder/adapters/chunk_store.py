"""Chunks and vectors in pgvector, upserted by (document_id, chunk_index, embedding_model)."""

from __future__ import annotations

from collections.abc import Sequence

from services.common.db import Pool
from services.common.deletions import deleted_among, hold_barrier
from services.embedder.core.ports import DocumentChunks

UPSERT = (
    "INSERT INTO chunks (document_id, chunk_index, embedding_model, tenant_id, text, start_char,"
    " end_char, token_count, embedding, source_event_id, page, heading, updated_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::vector, %s, %s, %s, now())"
    " ON CONFLICT (document_id, chunk_index, embedding_model) DO UPDATE SET"
    " tenant_id = EXCLUDED.tenant_id, text = EXCLUDED.text, start_char = EXCLUDED.start_char,"
    " end_char = EXCLUDED.end_char, token_count = EXCLUDED.token_count,"
    " embedding = EXCLUDED.embedding, source_event_id = EXCLUDED.source_event_id,"
    " page = EXCLUDED.page, heading = EXCLUDED.heading, updated_at = now()"
)
TRIM = "DELETE FROM chunks WHERE document_id = %s AND embedding_model = %s AND chunk_index >= %s"


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form."""
    return "[" + ",".join(map(repr, vector)) + "]"


class PostgresChunkStore:
    """`ChunkStore` in pgvector: a batch of documents' chunks in one transaction."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def replace(self, model: str, documents: list[DocumentChunks]) -> set[str]:
        """Upsert every chunk and drop any beyond the new count (re-chunking shrank it).

        Under the deletion barrier, skipping documents whose job was deleted (returned by
        `source_event_id`): a deletion either ran before (seen here) or waits for this commit
        and deletes what it stored.
        """
        async with self.pool.connection() as conn, conn.transaction():
            await hold_barrier(conn)
            dead = await deleted_among(conn, [d.job_id for d in documents])
            live = [d for d in documents if d.job_id not in dead]
            async with conn.cursor() as cur:
                await cur.executemany(UPSERT, self._rows(model, live))
                await cur.executemany(TRIM, [(d.document_id, model, len(d.chunks)) for d in live])
        return {d.source_event_id for d in documents if d.job_id in dead}

    @staticmethod
    def _rows(model: str, documents: list[DocumentChunks]) -> list[tuple[object, ...]]:
        return [
            (
                d.document_id,
                c.index,
                model,
                d.tenant_id,
                c.text.replace("\x00", ""),
                c.start,
                c.end,
                c.token_count,
                vector_literal(v),
                d.source_event_id,
                c.page,
                c.heading,  # one printable line (core.citations)
            )
            for d in documents
            for c, v in zip(d.chunks, d.vectors, strict=True)
        ]
