"""Wiring for the embedder: the model, infrastructure, and the embed stage's worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from schemas.events import Stage
from services.common.bootstrap import infrastructure
from services.common.embedding.models import ModelShelf
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
    options = {
        "batch_size": config.embedding_batch_size,
        "threads": config.embedding_threads or None,
        "lanes": config.embedding_lanes or None,
        "device": config.embedding_device,
        **config.provider_options(),
    }
    models = ModelShelf(config.embedding_provider, options)  # other models load on first use
    provider = await models.load_default()
    async with infrastructure(config, "embedder") as infra:

        def embed_stage(ports: StagePorts) -> EmbedStage:
            return EmbedStage(
                ports,
                chunks=PostgresChunkStore(infra.pool),
                provider=provider,
                sizes=config.chunk_sizes(),
                models=models,
            )

        yield stage_worker(
            infra,
            Stage.EMBED,
            config.embedder_group,
            handler=embed_stage,
            max_records=config.embedder_batch,
            max_poll_interval_ms=600_000,
            checks=lambda: {"model": Check(ok=True, detail=provider.model_name)},
        )
