"""Choose an embedding provider by name: the one place a provider is built."""

from __future__ import annotations

import logging
from pathlib import Path

from services.common.embedding.ports import EmbeddingProvider
from services.common.embedding.remote import RemoteOptions

PROVIDERS = ("local", "openai", "hashing")
BACKENDS = ("auto", "onnx", "torch")
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")  # one folder per GPU the driver sees
log = logging.getLogger(__name__)


def choose_backend(backend: str, device: str, *, gpus: Path | None = None) -> str:
    """The local model's backend: `auto` is torch where a GPU may serve (`device` names CUDA, or
    is `auto` and the NVIDIA driver lists a GPU; torch then checks it can use it), else onnx:
    on the CPU the faster of the two at a fraction of torch's memory (docs/benchmarks.md)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown embedding backend {backend!r}; choose auto, onnx or torch")
    if backend != "auto":
        return backend
    if device.startswith("cuda"):
        return "torch"
    gpus = NVIDIA_GPUS if gpus is None else gpus
    visible = device == "auto" and gpus.is_dir() and any(gpus.iterdir())
    return "torch" if visible else "onnx"


def build_provider(
    name: str,
    *,
    batch_size: int = 32,
    threads: int | None = None,
    lanes: int | None = None,
    device: str = "auto",
    backend: str = "auto",
    cache_dir: Path | None = None,
    remote: RemoteOptions | None = None,
) -> EmbeddingProvider:
    """Build the named provider.

    `local`: all-MiniLM-L6-v2 (default) on `backend`: `torch` on `device` (`auto`: a CUDA GPU
    when torch sees one, else the CPU), `onnx` (ONNX Runtime on the CPU, no torch loaded; the
    export is cached in `cache_dir`) or `auto` (`choose_backend`); `openai`: any
    OpenAI-compatible embeddings API described by `remote` (OpenAI, Azure OpenAI, vLLM, Ollama,
    TEI, LiteLLM, services.embedserver),
    drawing on the budget shared through Postgres when `remote.budget` sets limits;
    `hashing`: benchmark-only, not for search.
    """
    if name == "local":
        chosen = choose_backend(backend, device)
        # Operators see what `auto` made of this machine (and what to set to change it).
        log.info(
            "local model on the %s backend (SLUICE_EMBEDDING_BACKEND=%s,"
            " SLUICE_EMBEDDING_DEVICE=%s)",
            chosen,
            backend,
            device,
        )
        if chosen == "onnx":
            from services.common.embedding.onnx_model import (  # noqa: PLC0415
                OnnxSentenceTransformer,
            )

            return OnnxSentenceTransformer(
                cache_dir=cache_dir,
                batch_size=batch_size,
                threads=threads,
                lanes=lanes,
                device=device,
            )
        from services.common.embedding.local_model import (  # noqa: PLC0415 - torch loads only when chosen
            LocalSentenceTransformer,
        )

        return LocalSentenceTransformer(
            batch_size=batch_size, threads=threads, lanes=lanes, device=device
        )
    if name == "openai":
        return _remote(remote)
    if name == "hashing":
        from services.common.embedding.hashing import HashingEmbedder  # noqa: PLC0415

        return HashingEmbedder()
    raise ValueError(f"unknown embedding provider {name!r}; choose one of {', '.join(PROVIDERS)}")


def _remote(options: RemoteOptions | None) -> EmbeddingProvider:
    from services.common.embedding.budget import PostgresBudget  # noqa: PLC0415
    from services.common.embedding.openai_compatible import (  # noqa: PLC0415
        OpenAICompatibleEmbedder,
    )

    if options is None or not options.base_url or not options.model:
        raise ValueError(
            "the openai embedding provider needs SLUICE_EMBEDDING_BASE_URL and"
            " SLUICE_EMBEDDING_MODEL"
        )
    budget = None
    if options.budget.active:
        if not options.database_url:
            raise ValueError("a shared embedding budget needs SLUICE_DATABASE_URL")
        budget = PostgresBudget(options.database_url, options.budget_key, options.budget)
    return OpenAICompatibleEmbedder(options, budget=budget)
