"""Embedding server entry: load the model, serve it over the OpenAI embeddings API until stopped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from services.common.embedding.build import build_provider
from services.common.embedding.counting import remote_tokenizer
from services.common.embedding.ports import EmbeddingProvider
from services.common.http import Check, create_app
from services.common.service import Service, run_service, serve
from services.embedserver.api import EmbeddingsAPI, routes
from services.embedserver.config import EmbedServerSettings


@asynccontextmanager
async def prepare(config: EmbedServerSettings) -> AsyncIterator[Service]:
    """Load the model (off the event loop) and build the app around it."""
    provider = await asyncio.to_thread(
        build_provider,
        config.embedserver_provider,
        batch_size=config.embedserver_batch_size,
        threads=config.embedserver_threads or None,
        lanes=config.embedserver_lanes or None,
    )
    api = EmbeddingsAPI(
        provider,
        counter(provider),
        api_key=config.embedserver_api_key,
        max_inputs=config.embedserver_max_inputs,
    )

    async def ready() -> dict[str, Check]:
        return {"model": Check(ok=True, detail=provider.model_name)}

    yield Service(
        app=create_app(
            "embedserver",
            ready,
            routes(api),
            settings=config,
            request_max_body_size=config.embedserver_max_body_bytes,
        )
    )


def counter(provider: EmbeddingProvider) -> Callable[[str], int]:
    """How the server counts a text's tokens: the local model's tokenizer.json in an instance
    of its own (the model's fast tokenizer is not safe to call beside a forward pass), or the
    provider's own tokenizer (hashing: words)."""
    if provider.provider_name == "local":
        return remote_tokenizer("auto", provider.model_name).count
    return lambda text: len(provider.tokenizer.token_spans(text))


async def main(*, config: EmbedServerSettings, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set (tests pass their own; else SIGTERM or SIGINT)."""
    await serve(prepare(config), config, config.embedserver_port, stop=stop)


def run() -> None:
    """`python -m services.embedserver`."""
    run_service("embedserver", EmbedServerSettings, main)
