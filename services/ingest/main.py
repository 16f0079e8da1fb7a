"""Ingest service entry: serve the upload API until stopped."""

from __future__ import annotations

import asyncio

from services.common.service import run_service, serve
from services.ingest.config import IngestSettings
from services.ingest.inject import prepare


async def main(*, config: IngestSettings, stop: asyncio.Event | None = None) -> None:
    """Run ingest until `stop` is set (tests pass their own; else SIGTERM or SIGINT)."""
    await serve(prepare(config), config, config.ingest_port, stop=stop)


def run() -> None:
    """`python -m services.ingest`."""
    run_service("ingest", IngestSettings, main)
