"""Embedding providers by model name: the configured model, and the others a process can load.

A vector set names its model; the embedder (writing a set) and status (embedding a query for
the set a tenant searches) both need a provider for that model. Which models a deployment can
serve follows from its provider:

- `local`: all-MiniLM-L6-v2 (the only model the local package ships);
- `openai`: the configured `SLUICE_OPENAI_MODEL` (its dimensions are configured with it);
- `hashing` (benchmarks, tests): `bench-hashing-<N>` for any N in 8..2000, and the local model.

Any other name raises `ModelUnavailableError`, whose message lists what is available.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any, Final

from services.common.embedding.build import build_provider
from services.common.embedding.ports import EmbeddingProvider

LOCAL_MODEL: Final = "all-MiniLM-L6-v2"
HASHING_MODEL: Final = re.compile(r"bench-hashing-([0-9]{1,4})")
HASHING_DIMENSIONS: Final = range(8, 2001)
MODEL_UNAVAILABLE: Final = "embedding_model_unavailable"
"""The `DocumentFailed.code` of a job whose vector set names a model this deployment lacks."""


class ModelUnavailableError(LookupError):
    """No provider for that model here; the message says which models there are."""

    code = MODEL_UNAVAILABLE


def available_models(provider: str, options: Mapping[str, Any]) -> list[str]:
    """The model names a process with this provider can serve, for messages."""
    if provider == "openai":
        return [str(options.get("openai_model", ""))]
    if provider == "hashing":
        return [LOCAL_MODEL, "bench-hashing-<8..2000>"]
    return [LOCAL_MODEL]


def build_for_model(model: str, provider: str, options: Mapping[str, Any]) -> EmbeddingProvider:
    """A new provider serving `model` (ModelUnavailableError when this deployment has none)."""
    hashing = HASHING_MODEL.fullmatch(model)
    if provider == "openai" and model == options.get("openai_model"):
        return build_provider("openai", **options)
    if model == LOCAL_MODEL and provider in ("local", "hashing"):
        try:
            return build_provider("local", **options)
        except (ImportError, OSError) as error:  # the model's package is not installed
            raise ModelUnavailableError(
                f"embedding model {model!r} cannot load: {error}"
            ) from error
    if hashing and provider == "hashing" and int(hashing.group(1)) in HASHING_DIMENSIONS:
        from services.common.embedding.hashing import HashingEmbedder  # noqa: PLC0415

        return HashingEmbedder(dimensions=int(hashing.group(1)))
    raise ModelUnavailableError(
        f"embedding model {model!r} is not available here (provider {provider!r} serves"
        f" {', '.join(available_models(provider, options))})"
    )


class ModelShelf:
    """The configured provider and, loaded on first use, providers of other models.

    `provider` None: a shelf of `default` alone (tests, tools), which loads nothing.
    """

    def __init__(
        self,
        provider: str | None,
        options: Mapping[str, Any] | None = None,
        *,
        default: EmbeddingProvider | None = None,
    ) -> None:
        self.provider = provider
        self.options = dict(options or {})
        self.default = default
        self._loaded: dict[str, EmbeddingProvider] = {}
        if default is not None:
            self._loaded[default.model_name] = default
        self._loading: dict[str, asyncio.Lock] = {}

    async def load_default(self) -> EmbeddingProvider:
        """Build the configured provider (off the event loop) and keep it as the default."""
        if self.default is None:
            if self.provider is None:
                raise ModelUnavailableError("this shelf has no provider to build")
            self.default = await asyncio.to_thread(build_provider, self.provider, **self.options)
            self._loaded[self.default.model_name] = self.default
        return self.default

    def loaded(self, model: str) -> EmbeddingProvider | None:
        """The provider of `model` if it is loaded already."""
        return self._loaded.get(model)

    async def get(self, model: str) -> EmbeddingProvider:
        """The provider of `model`, loading it off the event loop the first time."""
        found = self._loaded.get(model)
        if found is not None:
            return found
        lock = self._loading.setdefault(model, asyncio.Lock())
        async with lock:  # one load per model, however many ask at once
            found = self._loaded.get(model)
            if found is not None:
                return found
            if self.provider is None:
                raise ModelUnavailableError(
                    f"embedding model {model!r} is not available here (this process serves"
                    f" {', '.join(self._loaded) or 'no model'})"
                )
            built = await asyncio.to_thread(build_for_model, model, self.provider, self.options)
            if built.model_name != model:
                raise ModelUnavailableError(
                    f"asked for {model!r}, the provider serves {built.model_name!r}"
                )
            self._loaded[model] = built
        return built
