"""Vector sets: which model and chunking made a table of vectors, and how that table is named.

A vector set is one embedding model at one dimension with one chunking (tokens per chunk,
overlap). Each set has a table of its own, `chunks_<16 hex digits>`, with a fixed-dimension
`vector(N)` column and an HNSW index, so sets of other models or chunking never mix.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Final

import msgspec

HNSW_MAX_DIMENSIONS: Final = 2000  # pgvector's HNSW indexes `vector` columns up to this length
TABLE_PREFIX: Final = "chunks_"
LEGACY_CHUNKING: Final = "legacy"  # the naming tag of a set migrated from the old `chunks`


class VectorSetKey(msgspec.Struct, frozen=True):
    """What makes a vector set: model, vector length and chunking.

    `chunk_tokens` and `chunk_overlap` are None only for a set migrated from before vector
    sets (migration 006): its chunking was not recorded, and new chunks stored in it are cut
    with the embedder's configured sizes, as the old ones were.
    """

    model: str
    dimensions: int
    chunk_tokens: int | None = None
    chunk_overlap: int | None = None

    def table_name(self) -> str:
        """The set's table: a short hash of the key, so any model name gives a safe name."""
        chunking = (
            LEGACY_CHUNKING
            if self.chunk_tokens is None
            else f"{self.chunk_tokens}\x1f{self.chunk_overlap}"
        )
        text = f"{self.model}\x1f{self.dimensions}\x1f{chunking}"
        return TABLE_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def indexed(self) -> bool:
        """Whether the set's vectors can have an HNSW index (else every search is exact)."""
        return self.dimensions <= HNSW_MAX_DIMENSIONS

    def describe(self) -> str:
        """`model (N-d, T tokens / O overlap)` for messages and logs."""
        chunking = (
            "chunking not recorded"
            if self.chunk_tokens is None
            else f"{self.chunk_tokens} tokens / {self.chunk_overlap} overlap"
        )
        return f"{self.model} ({self.dimensions}-d, {chunking})"


class VectorSet(msgspec.Struct, frozen=True):
    """A registered vector set (a row of `vector_sets`) and its table."""

    id: int
    key: VectorSetKey
    table: str
    created_at: datetime


class VectorSetView(msgspec.Struct, frozen=True, kw_only=True):
    """A vector set as the admin API shows it."""

    set_id: int
    embedding_model: str
    dimensions: int
    chunk_tokens: int | None
    chunk_overlap: int | None
    table: str
    created_at: datetime

    def chunking(self) -> str:
        """`256/32`, or `not recorded` for a set from before vector sets."""
        if self.chunk_tokens is None:
            return "not recorded"
        return f"{self.chunk_tokens}/{self.chunk_overlap}"

    @classmethod
    def of(cls, vector_set: VectorSet) -> VectorSetView:
        """The view of `vector_set`."""
        key = vector_set.key
        return cls(
            set_id=vector_set.id,
            embedding_model=key.model,
            dimensions=key.dimensions,
            chunk_tokens=key.chunk_tokens,
            chunk_overlap=key.chunk_overlap,
            table=vector_set.table,
            created_at=vector_set.created_at,
        )


def chunking_problem(chunk_tokens: int, chunk_overlap: int, model_limit: int) -> str | None:
    """Why a chunking cannot be used with a model that reads `model_limit` tokens per text
    (None when it can): 1..limit tokens per chunk, an overlap of 0..half a chunk."""
    if not 0 < chunk_tokens <= model_limit:
        return f"a chunk size of {chunk_tokens} tokens: this model takes 1 to {model_limit}"
    if not 0 <= chunk_overlap <= chunk_tokens // 2:
        return (
            f"an overlap of {chunk_overlap} tokens: 0 to half the chunk size"
            f" ({chunk_tokens // 2}) is allowed"
        )
    return None
