"""Start-up shared by every service: migrations, topics, pool and producer, with retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from schemas.events import Origin
from services.common.db import Pool, migrate, open_pool
from services.common.kafka.admin import development_topics, missing_topics, refuse_missing
from services.common.kafka.producer import KafkaPublisher, make_producer
from services.common.settings import CommonSettings, PipelineSettings

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Infra:
    """The connections a service holds for its lifetime."""

    pool: Pool
    publisher: KafkaPublisher
    origin: Origin
    bootstrap: str  # where the service's consumers connect
    consumer_stall_s: float = 300.0  # readiness fails after lag without a commit this long


async def with_retries(what: str, action: Callable[[], Awaitable[T]], limit_s: float = 90) -> T:
    """Retry `action` with backoff until it succeeds or `timeout` seconds pass."""
    deadline = asyncio.get_running_loop().time() + limit_s
    delay = 0.25
    while True:
        try:
            return await action()
        except Exception as error:
            if asyncio.get_running_loop().time() + delay > deadline:
                raise RuntimeError(f"{what} unavailable after {limit_s:.0f}s: {error}") from error
            log.warning("%s not ready (%s); retrying in %.1fs", what, error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def prepare_topics(config: PipelineSettings) -> None:
    """Development: create missing topics. Otherwise: TopicsMissingError (no retry) when any
    is missing, naming `sluice topics create`: a production topic is created on purpose."""
    bootstrap = config.kafka_bootstrap
    if config.env == "development":
        await with_retries("kafka", lambda: development_topics(config, bootstrap))
    else:
        refuse_missing(await with_retries("kafka", lambda: missing_topics(bootstrap)))


@asynccontextmanager
async def infrastructure(
    config: CommonSettings, service: str, *, linger_ms: int = 5
) -> AsyncIterator[Infra]:
    """Migrate, prepare topics, open the pool and a durable producer; close them on exit.

    `linger_ms`: how long the producer waits to batch. Workers send bursts (5 ms batches
    them); ingest answers a request per send and passes 0.
    """
    await with_retries("postgres", lambda: migrate(config.database_url))
    await prepare_topics(config)
    pool = await open_pool(config.database_url, max_size=config.db_pool_size, name=service)
    origin = Origin(service=service, instance=config.instance)
    producer = make_producer(
        config.kafka_bootstrap, f"{service}-{config.instance}", linger_ms=linger_ms
    )
    try:
        await with_retries("kafka producer", producer.start)
        publisher = KafkaPublisher(producer, service=service)
        yield Infra(pool, publisher, origin, config.kafka_bootstrap, config.consumer_stall_s)
    finally:
        await producer.stop()
        await pool.close()
