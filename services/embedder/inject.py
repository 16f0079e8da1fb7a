"""Wiring for the embedder: model, chunk store, stage and loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from schemas import topics
from schemas.events import Stage
from services.common.blobstore import PostgresBlobStore
from services.common.bootstrap import infrastructure
from services.common.db import Pool
from services.common.embedding.build import build_provider
from services.common.embedding.ports import EmbeddingProvider
from services.common.kafka.consumer import ConsumerLoop
from services.common.kafka.retry import Retrier
from services.embedder.adapters.chunk_store import PostgresChunkStore
from services.embedder.config import EmbedderSettings
from services.embedder.stage import EmbedStage


@dataclass(frozen=True)
class EmbedderParts:
    """The loop to run, its pool, and the loaded model."""

    consumer: ConsumerLoop
    pool: Pool
    provider: EmbeddingProvider


@asynccontextmanager
async def prepare(config: EmbedderSettings) -> AsyncIterator[EmbedderParts]:
    """Load the model (off the loop), open infrastructure, build the stage."""
    provider = await asyncio.to_thread(
        build_provider,
        config.embedding_provider,
        batch_size=config.embedding_batch_size,
        threads=config.embedding_threads or None,
        lanes=config.embedding_lanes or None,
        **config.provider_options(),
    )
    async with infrastructure(config, "embedder") as infra:
        retrier = Retrier(infra.publisher, infra.origin, Stage.EMBED, group=config.embedder_group)
        stage = EmbedStage(
            blobs=PostgresBlobStore(infra.pool),
            chunks=PostgresChunkStore(infra.pool),
            publisher=infra.publisher,
            provider=provider,
            origin=infra.origin,
            retrier=retrier,
            chunk_tokens=config.chunk_tokens,
            chunk_overlap=config.chunk_overlap,
        )
        consumer = ConsumerLoop(
            bootstrap=config.kafka_bootstrap,
            group_id=config.embedder_group,
            topics=[topics.DOCUMENTS_PARSED, topics.retry(topics.DOCUMENTS_PARSED)],
            handler=stage,
            publisher=infra.publisher,
            origin=infra.origin,
            stage=Stage.EMBED,
            retrier=retrier,
            max_records=config.embedder_batch,
            max_poll_interval_ms=600_000,
        )
        yield EmbedderParts(consumer=consumer, pool=infra.pool, provider=provider)
