"""Embedder service entry: consume parsed documents, embed, index, until stopped."""

from __future__ import annotations

import asyncio

from services.common.http import Check
from services.common.runtime import install_signal_handlers, lower_cpu_priority
from services.common.runtime import run as run_service
from services.common.worker import run_worker
from services.embedder.config import EmbedderSettings
from services.embedder.inject import prepare


async def main(*, config: EmbedderSettings, stop: asyncio.Event | None = None) -> None:
    """Run the embedder; tests pass their own `stop` event."""
    if stop is None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        lower_cpu_priority(config.cpu_nice)  # a service process, not a test's event loop
    async with prepare(config) as parts:

        async def model_check() -> dict[str, Check]:
            return {"model": Check(ok=True, detail=parts.provider.model_name)}

        await run_worker(
            service="embedder",
            consumer=parts.consumer,
            pool=parts.pool,
            host=config.http_host,
            port=config.embedder_port,
            stop=stop,
            extra_checks=model_check,
        )


def run() -> None:
    """`python -m services.embedder`."""
    run_service("embedder", EmbedderSettings, main)
