"""Status service entry: project events and serve queries until stopped."""

from __future__ import annotations

import asyncio

from services.common.http import serve
from services.common.runtime import install_signal_handlers, run_until_stopped
from services.common.runtime import run as run_service
from services.status.config import StatusSettings
from services.status.inject import prepare


async def main(*, config: StatusSettings, stop: asyncio.Event | None = None) -> None:
    """Run status; tests pass their own `stop` event."""
    if stop is None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
    async with prepare(config) as parts:
        await run_until_stopped(
            stop,
            parts.consumer.run(stop),
            serve(parts.app, config.http_host, config.status_port, stop),
            parts.search.load(),
        )


def run() -> None:
    """`python -m services.status`."""
    run_service("status", StatusSettings, main)
