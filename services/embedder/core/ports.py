"""What the embed stage needs besides the shared ports: where chunks and vectors go, and the
providers of the models vector sets name."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

import msgspec

from services.common.embedding.ports import EmbeddingProvider
from services.common.vectors.sets import VectorSetKey
from services.embedder.core.chunking import Chunk


class DocumentChunks(msgspec.Struct, frozen=True):
    """Everything to store for one document, and the vector set it goes to."""

    tenant_id: str
    document_id: str
    source_event_id: str
    chunks: list[Chunk]
    vectors: list[list[float]]
    target: VectorSetKey
    job_id: str  # a deleted job's chunks are not stored


class ChunkStore(Protocol):
    """Chunks and vectors by (vector set, document, chunk index): pgvector, or a fake."""

    async def active_sets(self, tenant_ids: Collection[str]) -> dict[str, VectorSetKey]:
        """The vector set each tenant searches (tenants without one are left out)."""
        ...

    async def replace(self, documents: list[DocumentChunks]) -> set[str]:
        """Store every document's chunks in its set (all or none), drop any beyond its new
        count; a tenant without an active set gets the set its chunks went to.

        A document whose job was deleted is not stored: returns the `source_event_id`s of
        those (checked in the storing transaction, so a concurrent deletion cannot be missed).
        """
        ...


class ModelSource(Protocol):
    """Embedding providers by model name (services.common.embedding.models.ModelShelf)."""

    async def get(self, model: str) -> EmbeddingProvider:
        """The provider of `model`; ModelUnavailableError when there is none here."""
        ...
