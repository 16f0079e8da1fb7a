"""Embedder settings: the common ones plus model and chunking."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from services.common.settings import CommonSettings, CpuNice


class ProviderSettings(CommonSettings, kw_only=True, frozen=True):
    """Which embedding provider to build; shared by the embedder and status (query search)."""

    embedding_provider: Annotated[
        str,
        msgspec.Meta(
            description="local (all-MiniLM-L6-v2) | openai (any OpenAI-compatible API)"
            " | hashing (benchmarks only)"
        ),
    ] = "local"
    openai_base_url: Annotated[
        str, msgspec.Meta(description="OpenAI-compatible API base (vLLM, Ollama, TEI: .../v1)")
    ] = "https://api.openai.com/v1"
    openai_api_key: Annotated[
        str, msgspec.Meta(description="Bearer key for that API (required in production)")
    ] = ""
    openai_model: Annotated[str, msgspec.Meta(description="Embedding model name it serves")] = (
        "text-embedding-3-small"
    )
    openai_dimensions: Annotated[
        int, msgspec.Meta(description="Vector length the model returns (checked per response)")
    ] = 1536

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.embedding_provider == "openai":
            if self.env == "production" and not self.openai_api_key:
                raise ValueError(
                    "SLUICE_OPENAI_API_KEY must be set in production when"
                    " SLUICE_EMBEDDING_PROVIDER=openai (any non-empty value for a keyless server)"
                )
            if self.openai_dimensions <= 0:
                raise ValueError("SLUICE_OPENAI_DIMENSIONS must be positive")

    def provider_options(self) -> dict[str, Any]:
        """Keyword arguments for `build_provider` beyond the provider's name."""
        return {
            "openai_base_url": self.openai_base_url,
            "openai_api_key": self.openai_api_key,
            "openai_model": self.openai_model,
            "openai_dimensions": self.openai_dimensions,
        }


class EmbedderSettings(ProviderSettings, kw_only=True, frozen=True):
    """SLUICE_* variables read by the embedder service."""

    cpu_nice: CpuNice = 10

    embedder_port: Annotated[int, msgspec.Meta(description="Embedder health/metrics port")] = 8003
    embedder_group: Annotated[str, msgspec.Meta(description="Consumer group")] = "sluice-embedder"
    embedding_batch_size: Annotated[int, msgspec.Meta(description="Texts per model call")] = 32
    embedding_threads: Annotated[
        int, msgspec.Meta(description="Torch threads per model lane (0 = CPUs / lanes)")
    ] = 0
    embedding_lanes: Annotated[
        int, msgspec.Meta(description="Model calls run at once (0 = one per CPU, at most 4)")
    ] = 0
    chunk_tokens: Annotated[int, msgspec.Meta(description="Max tokens per chunk")] = 256
    chunk_overlap: Annotated[int, msgspec.Meta(description="Tokens shared by neighbours")] = 32
    embedder_batch: Annotated[int, msgspec.Meta(description="Max documents per poll")] = 16
