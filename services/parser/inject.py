"""Wiring for the parser: infrastructure, the sandbox, LlamaParse and the parse stage's worker."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from schemas.events import Stage
from services.common.bootstrap import infrastructure
from services.common.http import Check
from services.common.service import Service
from services.common.settings import from_settings
from services.common.worker import stage_worker
from services.parser.adapters.llamaparse import (
    MIB,
    LlamaParseClient,
    LlamaParseExtractor,
    LlamaParseOptions,
)
from services.parser.adapters.sandbox import ParserSandbox
from services.parser.config import LlamaParseSettings, ParserSettings
from services.parser.core.routing import Failover, Router, Routes, patterns
from services.parser.stage import ParseStage

log = logging.getLogger(__name__)


def llamaparse_options(config: LlamaParseSettings) -> LlamaParseOptions:
    """The LlamaParse client's options from the SLUICE_LLAMAPARSE_* settings."""
    return from_settings(
        LlamaParseOptions,
        config,
        "llamaparse_",
        max_result_bytes=config.llamaparse_max_result_mb * MIB,
    )


def router_for(
    config: LlamaParseSettings, sandbox: ParserSandbox, client: LlamaParseClient | None
) -> tuple[Router, Callable[[], dict[str, Check]] | None]:
    """The router over the sandbox (and LlamaParse with a client), and its readiness check."""
    if client is None:
        return Router(sandbox), None
    remote = LlamaParseExtractor(client, markdown=sandbox)
    routes = Routes.from_lists(config.llamaparse_media_types, config.llamaparse_tenants)
    router = Router(
        sandbox,
        remote,
        routes=routes,
        failover=Failover(config.llamaparse_failover, config.llamaparse_cooldown_s),
    )
    log.info(
        "LlamaParse reads %s of tenants %s (failover %s)",
        patterns(routes.media_types),
        patterns(routes.tenants),
        "on" if config.llamaparse_failover else "off",
    )

    def checks() -> dict[str, Check]:
        if remote.misconfigured is not None:
            return {"llamaparse": Check(ok=False, detail=str(remote.misconfigured))}
        return {"llamaparse": Check(ok=True, detail=router.cooling_down or "in use")}

    return router, checks


@asynccontextmanager
async def prepare(config: ParserSettings) -> AsyncIterator[Service]:
    """Start the sandbox (a parser that cannot start its workers fails at start), open
    infrastructure and the LlamaParse client; close them on exit."""
    sandbox = ParserSandbox(
        config.parse_workers,
        config.parse_timeout_s,
        config.parse_memory_mb,
        cpu_s=config.parse_cpu_s,
        file_mb=config.parse_file_mb,
    )
    client = LlamaParseClient(llamaparse_options(config)) if config.llamaparse_enabled else None
    router, checks = router_for(config, sandbox, client)
    try:
        await sandbox.start()
        async with infrastructure(config, "parser") as infra:
            yield stage_worker(
                infra,
                Stage.PARSE,
                config.parser_group,
                handler=lambda ports: ParseStage(
                    ports, parsers=router, timeout_retries=config.parse_timeout_retries
                ),
                max_records=config.parser_batch,
                concurrency=config.in_flight,
                checks=checks,
            )
    finally:
        await sandbox.close()
        if client is not None:
            await client.close()
