"""Embedder settings: the common ones plus model and chunking."""

from __future__ import annotations

from typing import Annotated

from services.common.embedding.settings import ProviderSettings
from services.common.settings import CpuNice, doc
from services.embedder.core.chunking import ChunkSizes


class EmbedderSettings(ProviderSettings, kw_only=True, frozen=True):
    """SLUICE_* variables read by the embedder service."""

    cpu_nice: CpuNice = 10

    embedder_port: Annotated[int, doc("Embedder health/metrics port")] = 8003
    embedding_batch_size: Annotated[int, doc("Texts per model call")] = 32
    embedding_threads: Annotated[
        int, doc("Threads per model lane, torch or ONNX Runtime (0 = CPUs / lanes)")
    ] = 0
    embedding_lanes: Annotated[int, doc("Model calls run at once (0 = one per CPU, at most 4)")] = 0
    embedding_device: Annotated[
        str,
        doc(
            "Where the local model runs: auto (a CUDA GPU when torch sees one, else"
            " the CPU), cpu, cuda or cuda:N (cuda: the torch backend only)",
            pattern=r"^(auto|cpu|cuda(:[0-9]+)?)$",
        ),
    ] = "auto"
    embedder_batch: Annotated[int, doc("Max documents per poll")] = 16

    def chunk_sizes(self) -> ChunkSizes:
        """`chunk_tokens` and `chunk_overlap` (the stage fits them to its model)."""
        return ChunkSizes(self.chunk_tokens, self.chunk_overlap)
