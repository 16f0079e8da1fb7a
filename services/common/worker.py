"""The shape every consumer service shares: one loop, one health/metrics server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from services.common.db import Pool, ping
from services.common.http import Check, create_app, serve
from services.common.kafka.consumer import ConsumerLoop
from services.common.runtime import run_until_stopped


async def run_worker(
    *,
    service: str,
    consumer: ConsumerLoop,
    pool: Pool,
    host: str,
    port: int,
    stop: asyncio.Event,
    extra_checks: Callable[[], Awaitable[dict[str, Check]]] | None = None,
) -> None:
    """Run the consumer loop and the probe server until `stop`."""

    async def readiness() -> dict[str, Check]:
        ok, detail = consumer.health.ready()
        checks = {"postgres": Check(ok=await ping(pool)), "consumer": Check(ok=ok, detail=detail)}
        if extra_checks is not None:
            checks.update(await extra_checks())
        return checks

    app = create_app(service, readiness)
    await run_until_stopped(stop, consumer.run(stop), serve(app, host, port, stop))
