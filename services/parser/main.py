"""Parser service entry: consume uploads, parse, announce, until stopped."""

from __future__ import annotations

import asyncio

from services.common.service import run_service, serve
from services.parser.config import ParserSettings
from services.parser.inject import prepare


async def main(*, config: ParserSettings, stop: asyncio.Event | None = None) -> None:
    """Run the parser until `stop` is set (tests pass their own; else SIGTERM or SIGINT)."""
    await serve(prepare(config), config, config.parser_port, stop=stop, cpu_nice=config.cpu_nice)


def run() -> None:
    """`python -m services.parser`."""
    run_service("parser", ParserSettings, main)
