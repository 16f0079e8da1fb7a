"""Parser service entry: consume uploads, parse, announce, until stopped."""

from __future__ import annotations

import asyncio

from services.common.runtime import install_signal_handlers, lower_cpu_priority
from services.common.runtime import run as run_service
from services.common.worker import run_worker
from services.parser.config import ParserSettings
from services.parser.inject import prepare


async def main(*, config: ParserSettings, stop: asyncio.Event | None = None) -> None:
    """Run the parser; tests pass their own `stop` event."""
    if stop is None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        lower_cpu_priority(config.cpu_nice)  # a service process, not a test's event loop
    async with prepare(config) as parts:
        await run_worker(
            service="parser",
            consumer=parts.consumer,
            pool=parts.pool,
            host=config.http_host,
            port=config.parser_port,
            stop=stop,
        )


def run() -> None:
    """`python -m services.parser`."""
    run_service("parser", ParserSettings, main)
