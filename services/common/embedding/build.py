"""Choose an embedding provider by name: the one place a provider is built."""

from __future__ import annotations

from services.common.embedding.ports import EmbeddingProvider

PROVIDERS = ("local", "openai", "hashing")


def build_provider(
    name: str,
    *,
    batch_size: int = 32,
    threads: int | None = None,
    lanes: int | None = None,
    device: str = "auto",
    openai_base_url: str = "",
    openai_api_key: str = "",
    openai_model: str = "",
    openai_dimensions: int = 0,
) -> EmbeddingProvider:
    """Build the named provider.

    `local`: all-MiniLM-L6-v2 (default) on `device` (`auto`: a CUDA GPU when torch sees one,
    else the CPU); `openai`: any OpenAI-compatible embeddings API at `openai_base_url`
    (OpenAI, vLLM, Ollama, TEI); `hashing`: benchmark-only, not for search.
    """
    if name == "local":
        from services.common.embedding.local_model import (  # noqa: PLC0415 - torch loads only when chosen
            LocalSentenceTransformer,
        )

        return LocalSentenceTransformer(
            batch_size=batch_size, threads=threads, lanes=lanes, device=device
        )
    if name == "openai":
        from services.common.embedding.openai_compatible import (  # noqa: PLC0415
            OpenAICompatibleEmbedder,
        )

        missing = [
            variable
            for variable, value in (
                ("SLUICE_OPENAI_BASE_URL", openai_base_url),
                ("SLUICE_OPENAI_MODEL", openai_model),
                ("SLUICE_OPENAI_DIMENSIONS", openai_dimensions),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"the openai embedding provider needs {', '.join(missing)}")
        return OpenAICompatibleEmbedder(
            base_url=openai_base_url,
            api_key=openai_api_key,
            model=openai_model,
            dimensions=openai_dimensions,
            batch_size=batch_size,
        )
    if name == "hashing":
        from services.common.embedding.hashing import HashingEmbedder  # noqa: PLC0415

        return HashingEmbedder()
    raise ValueError(f"unknown embedding provider {name!r}; choose one of {', '.join(PROVIDERS)}")
