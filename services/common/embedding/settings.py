"""Embedding provider settings: SLUICE_EMBEDDING_PROVIDER and the SLUICE_OPENAI_* variables."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from services.common.settings import CommonSettings


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
    chunk_tokens: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            description="Max tokens per chunk of a tenant's first vector set (status: the"
            " default of `reprocess`)",
        ),
    ] = 256
    chunk_overlap: Annotated[
        int, msgspec.Meta(ge=0, description="Tokens shared by neighbouring chunks (idem)")
    ] = 32

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
