"""Choose an embedding provider by name: the one place a provider is built."""

from __future__ import annotations

from services.embedder.core.ports import EmbeddingProvider

PROVIDERS = ("local", "hashing")


def build_provider(
    name: str, *, batch_size: int = 32, threads: int | None = None
) -> EmbeddingProvider:
    """`local`: all-MiniLM-L6-v2 on CPU (default); `hashing`: benchmark-only, not for search."""
    if name == "local":
        from services.embedder.adapters.local_model import (  # noqa: PLC0415 - torch loads only when chosen
            LocalSentenceTransformer,
        )

        return LocalSentenceTransformer(batch_size=batch_size, threads=threads)
    if name == "hashing":
        from services.embedder.adapters.hashing import HashingEmbedder  # noqa: PLC0415

        return HashingEmbedder()
    raise ValueError(f"unknown embedding provider {name!r}; choose one of {', '.join(PROVIDERS)}")
