"""Ingest service entry: serve the upload API until stopped."""

from __future__ import annotations

import asyncio

from services.common.http import serve
from services.common.runtime import install_signal_handlers
from services.common.runtime import run as run_service
from services.ingest.config import IngestSettings
from services.ingest.inject import prepare


async def main(*, config: IngestSettings, stop: asyncio.Event | None = None) -> None:
    """Run ingest; tests pass their own `stop` event."""
    if stop is None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
    async with prepare(config) as app:
        await serve(app, config.http_host, config.ingest_port, stop)


def run() -> None:
    """`python -m services.ingest`."""
    run_service("ingest", IngestSettings, main)
