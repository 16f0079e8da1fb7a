"""Embedder service entry: consume parsed documents, embed, index, until stopped."""

from __future__ import annotations

import asyncio

from services.common.service import run_service, serve
from services.embedder.config import EmbedderSettings
from services.embedder.inject import prepare


async def main(*, config: EmbedderSettings, stop: asyncio.Event | None = None) -> None:
    """Run the embedder until `stop` is set (tests pass their own; else SIGTERM or SIGINT)."""
    await serve(prepare(config), config, config.embedder_port, stop=stop, cpu_nice=config.cpu_nice)


def run() -> None:
    """`python -m services.embedder`."""
    run_service("embedder", EmbedderSettings, main)
