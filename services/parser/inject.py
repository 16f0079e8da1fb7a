"""Wiring for the parser: infrastructure, sandbox, stage and loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from schemas import topics
from schemas.events import Stage
from services.common.blobstore import PostgresBlobStore
from services.common.bootstrap import infrastructure
from services.common.db import Pool
from services.common.kafka.consumer import ConsumerLoop
from services.common.kafka.retry import Retrier
from services.parser.adapters.sandbox import ParserSandbox
from services.parser.config import ParserSettings
from services.parser.stage import ParseStage


@dataclass(frozen=True)
class ParserParts:
    """The loop to run and the pool its health check pings."""

    consumer: ConsumerLoop
    pool: Pool


@asynccontextmanager
async def prepare(config: ParserSettings) -> AsyncIterator[ParserParts]:
    """Open infrastructure and the sandbox; close both on exit."""
    sandbox = ParserSandbox(
        config.parse_workers,
        config.parse_timeout_s,
        config.parse_memory_mb,
        cpu_s=config.parse_cpu_s,
        file_mb=config.parse_file_mb,
    )
    try:
        await sandbox.start()  # a parser that cannot start its workers fails at start
        async with infrastructure(config, "parser") as infra:
            retrier = Retrier(infra.publisher, infra.origin, Stage.PARSE, group=config.parser_group)
            stage = ParseStage(
                blobs=PostgresBlobStore(infra.pool),
                publisher=infra.publisher,
                extractor=sandbox,
                origin=infra.origin,
                retrier=retrier,
                timeout_retries=config.parse_timeout_retries,
            )
            consumer = ConsumerLoop(
                bootstrap=config.kafka_bootstrap,
                group_id=config.parser_group,
                topics=[topics.DOCUMENTS_UPLOADED, topics.retry(topics.DOCUMENTS_UPLOADED)],
                handler=stage,
                publisher=infra.publisher,
                origin=infra.origin,
                stage=Stage.PARSE,
                retrier=retrier,
                max_records=config.parser_batch,
                concurrency=config.parser_in_flight or config.parse_workers,
            )
            yield ParserParts(consumer=consumer, pool=infra.pool)
    finally:
        await sandbox.close()
