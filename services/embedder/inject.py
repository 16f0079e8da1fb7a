"""Wiring for the embedder: the model, infrastructure, and the embed stage's worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from schemas.events import Stage
from services.common.bootstrap import infrastructure
from services.common.embedding.build import build_provider
from services.common.http import Check
from services.common.service import Service
from services.common.stage import StagePorts
from services.common.worker import stage_worker
from services.embedder.adapters.chunk_store import PostgresChunkStore
from services.embedder.config import EmbedderSettings
from services.embedder.stage import EmbedStage


@asynccontextmanager
async def prepare(config: EmbedderSettings) -> AsyncIterator[Service]:
    """Load the model (off the event loop), open infrastructure, build the stage's worker."""
    provider = await asyncio.to_thread(
        build_provider,
        config.embedding_provider,
        batch_size=config.embedding_batch_size,
        threads=config.embedding_threads or None,
        lanes=config.embedding_lanes or None,
        device=config.embedding_device,
        **config.provider_options(),
    )
    async with infrastructure(config, "embedder") as infra:

        def embed_stage(ports: StagePorts) -> EmbedStage:
            chunks = PostgresChunkStore(infra.pool)
            return EmbedStage(ports, chunks=chunks, provider=provider, sizes=config.chunk_sizes())

        yield stage_worker(
            infra,
            Stage.EMBED,
            config.embedder_group,
            handler=embed_stage,
            max_records=config.embedder_batch,
            max_poll_interval_ms=600_000,
            checks=lambda: {"model": Check(ok=True, detail=provider.model_name)},
        )
