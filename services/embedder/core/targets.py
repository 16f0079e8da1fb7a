"""Which vector set each parsed document is embedded into, with which model and chunking.

A reprocess job names its set (`DocumentParsed.vector_set`); any other document goes to its
tenant's active set, or, for a tenant without one, to the embedder's configured model and
chunking (which then becomes the tenant's active set when its chunks are stored).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from schemas.events import DocumentParsed, VectorSetRef
from services.common.embedding.ports import EmbeddingProvider
from services.common.vectors.sets import VectorSetKey, chunking_problem
from services.embedder.core.chunking import ChunkSizes

INVALID_VECTOR_SET: Final = "invalid_vector_set"
"""The `DocumentFailed.code` of a job whose vector set cannot be made (chunking, dimensions)."""


@dataclass(frozen=True)
class Target:
    """Where one document's chunks go and how they are made."""

    provider: EmbeddingProvider
    sizes: ChunkSizes
    key: VectorSetKey  # the set they are stored in

    @property
    def ref(self) -> VectorSetRef:
        """The model and chunking, as `DocumentIndexed.vector_set` reports them."""
        return VectorSetRef(
            self.provider.model_name, self.sizes.max_tokens, self.sizes.overlap_tokens
        )


class TargetError(ValueError):
    """The document's vector set cannot be written here; `code` and the message say why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def wanted_model(event: DocumentParsed, active: VectorSetKey | None, default_model: str) -> str:
    """The model the document must be embedded with."""
    if event.vector_set is not None:
        return event.vector_set.embedding_model
    return active.model if active is not None else default_model


def target_for(
    event: DocumentParsed,
    active: VectorSetKey | None,
    provider: EmbeddingProvider,
    configured: ChunkSizes,
) -> Target:
    """The target of `event`, given its tenant's active set and the provider of the model
    `wanted_model` chose; TargetError when the set cannot be made with it."""
    if event.vector_set is not None:
        ref = event.vector_set
        sizes = ChunkSizes(ref.chunk_tokens, ref.chunk_overlap)
        key = VectorSetKey(provider.model_name, provider.dimensions, *_sizes(sizes))
    elif active is not None:
        key = active
        if active.chunk_tokens is None or active.chunk_overlap is None:
            sizes = configured.within(provider.max_tokens)  # a set from before vector sets
        else:
            sizes = ChunkSizes(active.chunk_tokens, active.chunk_overlap)
        if provider.dimensions != active.dimensions:
            raise TargetError(
                INVALID_VECTOR_SET,
                f"the tenant's active vector set {active.describe()} holds"
                f" {active.dimensions}-d vectors; {provider.model_name} gives"
                f" {provider.dimensions}-d",
            )
    else:
        sizes = configured.within(provider.max_tokens)
        key = VectorSetKey(provider.model_name, provider.dimensions, *_sizes(sizes))
    problem = chunking_problem(sizes.max_tokens, sizes.overlap_tokens, provider.max_tokens)
    if problem is not None:
        raise TargetError(
            INVALID_VECTOR_SET, f"vector set {key.describe()} cannot be made: {problem}"
        )
    return Target(provider, sizes, key)


def _sizes(sizes: ChunkSizes) -> tuple[int, int]:
    return sizes.max_tokens, sizes.overlap_tokens
