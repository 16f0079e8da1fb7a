"""Status service entry: project events and serve queries until stopped."""

from __future__ import annotations

import asyncio

from services.common.service import run_service, serve
from services.status.config import StatusSettings
from services.status.inject import prepare


async def main(*, config: StatusSettings, stop: asyncio.Event | None = None) -> None:
    """Run status until `stop` is set (tests pass their own; else SIGTERM or SIGINT)."""
    await serve(prepare(config), config, config.status_port, stop=stop)


def run() -> None:
    """`python -m services.status`."""
    run_service("status", StatusSettings, main)
