"""Wiring for the parser: infrastructure, the sandbox, and the parse stage's worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from schemas.events import Stage
from services.common.bootstrap import infrastructure
from services.common.service import Service
from services.common.worker import stage_worker
from services.parser.adapters.sandbox import ParserSandbox
from services.parser.config import ParserSettings
from services.parser.stage import ParseStage


@asynccontextmanager
async def prepare(config: ParserSettings) -> AsyncIterator[Service]:
    """Start the sandbox (a parser that cannot start its workers fails at start), open
    infrastructure; close both on exit."""
    sandbox = ParserSandbox(
        config.parse_workers,
        config.parse_timeout_s,
        config.parse_memory_mb,
        cpu_s=config.parse_cpu_s,
        file_mb=config.parse_file_mb,
    )
    try:
        await sandbox.start()
        async with infrastructure(config, "parser") as infra:
            yield stage_worker(
                infra,
                Stage.PARSE,
                config.parser_group,
                handler=lambda ports: ParseStage(
                    ports, extractor=sandbox, timeout_retries=config.parse_timeout_retries
                ),
                max_records=config.parser_batch,
                concurrency=config.parser_in_flight or config.parse_workers,
            )
    finally:
        await sandbox.close()
