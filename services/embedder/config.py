"""Embedder settings: the common ones plus model and chunking."""

from __future__ import annotations

from typing import Annotated

import msgspec

from services.common.settings import CommonSettings


class EmbedderSettings(CommonSettings, kw_only=True, frozen=True):
    """SLUICE_* variables read by the embedder service."""

    embedder_port: Annotated[int, msgspec.Meta(description="Embedder health/metrics port")] = 8003
    embedder_group: Annotated[str, msgspec.Meta(description="Consumer group")] = "sluice-embedder"
    embedding_provider: Annotated[
        str, msgspec.Meta(description="local (all-MiniLM-L6-v2) | hashing (benchmarks only)")
    ] = "local"
    embedding_batch_size: Annotated[int, msgspec.Meta(description="Texts per model call")] = 32
    embedding_threads: Annotated[int, msgspec.Meta(description="Torch threads (0 = default)")] = 0
    chunk_tokens: Annotated[int, msgspec.Meta(description="Max tokens per chunk")] = 256
    chunk_overlap: Annotated[int, msgspec.Meta(description="Tokens shared by neighbours")] = 32
    embedder_batch: Annotated[int, msgspec.Meta(description="Max documents per poll")] = 16
