"""Chunks and vectors in pgvector, one table per vector set (services/common/vectors/)."""

from __future__ import annotations

from collections.abc import Collection

from services.common.db import Pool
from services.common.vectors.registry import VectorSets
from services.common.vectors.sets import VectorSetKey
from services.common.vectors.store import ChunkRow, DocumentRows, VectorStore, vector_literal
from services.embedder.core.ports import DocumentChunks


def _rows(document: DocumentChunks) -> DocumentRows:
    return DocumentRows(
        tenant_id=document.tenant_id,
        document_id=document.document_id,
        source_event_id=document.source_event_id,
        job_id=document.job_id,
        rows=[
            ChunkRow(
                chunk_index=c.index,
                text=c.text.replace("\x00", ""),
                start_char=c.start,
                end_char=c.end,
                token_count=c.token_count,
                page=c.page,
                heading=c.heading,  # one printable line (core.citations)
                embedding=vector_literal(v),
            )
            for c, v in zip(document.chunks, document.vectors, strict=True)
        ],
    )


class PostgresChunkStore:
    """`ChunkStore` in pgvector: a batch of documents' chunks in one transaction."""

    def __init__(self, pool: Pool) -> None:
        self.sets = VectorSets(pool)
        self.store = VectorStore(pool, self.sets)

    async def active_sets(self, tenant_ids: Collection[str]) -> dict[str, VectorSetKey]:
        """The vector set each tenant searches (tenants without one are left out)."""
        return {t: s.key for t, s in (await self.sets.active(tenant_ids)).items()}

    async def replace(self, documents: list[DocumentChunks]) -> set[str]:
        """Upsert every chunk into its set and drop any beyond the new count (re-chunking
        shrank it), all in one transaction under the deletion barrier; documents whose job
        was deleted are skipped (returned by `source_event_id`)."""
        by_set: dict[VectorSetKey, list[DocumentRows]] = {}
        for document in documents:
            by_set.setdefault(document.target, []).append(_rows(document))
        return await self.store.write(list(by_set.items()))
