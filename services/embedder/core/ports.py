"""What the embed stage needs besides the shared ports: somewhere to keep chunks and vectors."""

from __future__ import annotations

from typing import Protocol

import msgspec

from services.embedder.core.chunking import Chunk


class DocumentChunks(msgspec.Struct, frozen=True):
    """Everything to store for one document."""

    tenant_id: str
    document_id: str
    source_event_id: str
    chunks: list[Chunk]
    vectors: list[list[float]]
    job_id: str  # a deleted job's chunks are not stored


class ChunkStore(Protocol):
    """Chunks and vectors by (document, chunk index, model): pgvector, or a fake in tests."""

    async def replace(self, model: str, documents: list[DocumentChunks]) -> set[str]:
        """Store every document's chunks (all or none) and drop any beyond its new count.

        A document whose job was deleted is not stored: returns the `source_event_id`s of
        those (checked in the storing transaction, so a concurrent deletion cannot be missed).
        """
        ...
