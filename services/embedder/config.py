"""Embedder settings: the common ones plus model and chunking."""

from __future__ import annotations

from typing import Annotated

import msgspec

from services.common.embedding.settings import ProviderSettings
from services.common.settings import CpuNice
from services.embedder.core.chunking import ChunkSizes


class EmbedderSettings(ProviderSettings, kw_only=True, frozen=True):
    """SLUICE_* variables read by the embedder service."""

    cpu_nice: CpuNice = 10

    embedder_port: Annotated[int, msgspec.Meta(description="Embedder health/metrics port")] = 8003
    embedding_batch_size: Annotated[int, msgspec.Meta(description="Texts per model call")] = 32
    embedding_threads: Annotated[
        int,
        msgspec.Meta(
            description="Threads per model lane, torch or ONNX Runtime (0 = CPUs / lanes)"
        ),
    ] = 0
    embedding_lanes: Annotated[
        int, msgspec.Meta(description="Model calls run at once (0 = one per CPU, at most 4)")
    ] = 0
    embedding_device: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^(auto|cpu|cuda(:[0-9]+)?)$",
            description="Where the local model runs: auto (a CUDA GPU when torch sees one, else"
            " the CPU), cpu, cuda or cuda:N (cuda: the torch backend only)",
        ),
    ] = "auto"
    embedder_batch: Annotated[int, msgspec.Meta(description="Max documents per poll")] = 16

    def chunk_sizes(self) -> ChunkSizes:
        """`chunk_tokens` and `chunk_overlap` (the stage fits them to its model)."""
        return ChunkSizes(self.chunk_tokens, self.chunk_overlap)
