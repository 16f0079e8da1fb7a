"""Embedding provider settings: SLUICE_EMBEDDING_PROVIDER and the remote provider's variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from services.common.embedding.budget import BudgetLimits
from services.common.embedding.remote import Limits, RemoteOptions
from services.common.settings import CommonSettings, doc, from_settings


class ProviderSettings(CommonSettings, kw_only=True, frozen=True):
    """Which embedding provider to build; shared by the embedder and status (query search)."""

    embedding_provider: Annotated[
        str,
        doc(
            "local (all-MiniLM-L6-v2) | openai (any OpenAI-compatible API) | hashing"
            " (benchmarks only)"
        ),
    ] = "local"
    embedding_backend: Annotated[
        Literal["auto", "onnx", "torch"],
        doc(
            "How the local model runs: onnx (ONNX Runtime on the CPU, no torch in the process;"
            " exported from the packaged weights once, into SLUICE_EMBEDDING_CACHE_DIR) | torch"
            " (sentence-transformers; CPU or GPU) | auto (torch where SLUICE_EMBEDDING_DEVICE"
            " names CUDA, or is auto and the NVIDIA driver lists a GPU; else onnx)"
        ),
    ] = "auto"
    embedding_cache_dir: Annotated[
        str,
        doc(
            "Folder of the onnx backend's exported model (empty: $XDG_CACHE_HOME/sluice/models,"
            " else ~/.cache/sluice/models)"
        ),
    ] = ""
    embedding_base_url: Annotated[
        str,
        doc(
            "OpenAI-compatible API base: https://api.openai.com/v1, vLLM/Ollama/TEI .../v1,"
            " Azure https://<resource>.openai.azure.com"
        ),
    ] = "https://api.openai.com/v1"
    embedding_api_key: Annotated[
        str, doc("Key for that API (Bearer; Azure's api-key header); required in production")
    ] = ""
    embedding_model: Annotated[str, doc("Embedding model name it serves")] = (
        "text-embedding-3-small"
    )
    embedding_dimensions: Annotated[
        int, doc("Vector length the model returns (checked per response)", gt=0)
    ] = 1536
    embedding_azure_api_version: Annotated[
        str, doc("Azure OpenAI api-version (e.g. 2024-10-21); set: use Azure's API")
    ] = ""
    embedding_azure_deployment: Annotated[
        str, doc("Azure OpenAI deployment name (empty: the model's name)")
    ] = ""
    embedding_send_dimensions: Annotated[
        bool | None,
        doc("Send `dimensions` in each request (unset: only for text-embedding-3 models)"),
    ] = None
    embedding_tokenizer: Annotated[
        str,
        doc(
            "How tokens are counted: auto (tiktoken for OpenAI models, the bundled one for"
            " all-MiniLM-L6-v2, else estimate) | tiktoken:<encoding> | file:<tokenizer.json>"
            " | estimate"
        ),
    ] = "auto"
    embedding_max_inputs: Annotated[int, doc("Most inputs in one request", gt=0)] = 2048
    embedding_max_input_tokens: Annotated[
        int, doc("Most tokens of one input (longer inputs are split)", gt=0)
    ] = 8192
    embedding_max_request_tokens: Annotated[
        int, doc("Most tokens in one request, all inputs together", gt=0)
    ] = 300_000
    embedding_timeout_s: Annotated[float, doc("Seconds one request may take", gt=0)] = 30.0
    embedding_requests_per_min: Annotated[
        int, doc("Requests per minute all replicas together may send (0: no limit)", ge=0)
    ] = 0
    embedding_tokens_per_min: Annotated[
        int, doc("Tokens per minute all replicas together may send (0: no limit)", ge=0)
    ] = 0
    embedding_budget_window_s: Annotated[
        float, doc("Window the per-minute budget is enforced over, in seconds", gt=0)
    ] = 60.0
    chunk_tokens: Annotated[
        int,
        doc(
            "Max tokens per chunk of a tenant's first vector set (status: the"
            " default of `reprocess`)",
            ge=1,
        ),
    ] = 256
    chunk_overlap: Annotated[int, doc("Tokens shared by neighbouring chunks (idem)", ge=0)] = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        if (
            self.embedding_provider == "openai"
            and self.env == "production"
            and not self.embedding_api_key
        ):
            raise ValueError(
                "SLUICE_EMBEDDING_API_KEY must be set in production when"
                " SLUICE_EMBEDDING_PROVIDER=openai (any non-empty value for a keyless server)"
            )
        if self.embedding_max_request_tokens < self.embedding_max_input_tokens:
            raise ValueError(
                "SLUICE_EMBEDDING_MAX_REQUEST_TOKENS must be at least"
                " SLUICE_EMBEDDING_MAX_INPUT_TOKENS"
            )

    def remote_options(self) -> RemoteOptions:
        """The `openai` provider's options."""
        return from_settings(
            RemoteOptions,
            self,
            "embedding_",
            limits=from_settings(Limits, self, "embedding_"),
            budget=from_settings(
                BudgetLimits, self, "embedding_", window_s=self.embedding_budget_window_s
            ),
            database_url=self.database_url,
        )

    def provider_options(self) -> dict[str, Any]:
        """Keyword arguments for `build_provider` beyond the provider's name."""
        return {
            "backend": self.embedding_backend,
            "cache_dir": Path(self.embedding_cache_dir) if self.embedding_cache_dir else None,
            "remote": self.remote_options(),
        }
