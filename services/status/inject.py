"""Wiring for status: projector loop and HTTP app over one pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from litestar import Litestar
from litestar.di import Provide

from schemas import topics
from services.common.bootstrap import infrastructure
from services.common.db import ping
from services.common.http import Check, create_app, principal_provider
from services.common.kafka.consumer import ConsumerLoop
from services.status.adapters.projector import Projector
from services.status.adapters.queries import StatusQueries
from services.status.api import StatusController
from services.status.config import StatusSettings
from services.status.redrive import Redriver
from services.status.search import SearchService


@dataclass(frozen=True)
class StatusParts:
    """What main runs: the projector loop, the app, and the search model loader."""

    consumer: ConsumerLoop
    app: Litestar
    search: SearchService


@asynccontextmanager
async def prepare(config: StatusSettings) -> AsyncIterator[StatusParts]:
    """Open infrastructure and build the projector and the API."""
    async with infrastructure(config, "status") as infra:
        projector = Projector(infra.pool, config.status_group)
        consumer = ConsumerLoop(
            bootstrap=config.kafka_bootstrap,
            group_id=config.status_group,
            topics=topics.PIPELINE_TOPICS,
            handler=projector,
            publisher=infra.publisher,
            origin=infra.origin,
            stored_offsets=projector.stored_offsets,
            # uploaded/parsed poison is dead-lettered by the stage that owns the topic
            dead_letter_topics=(
                topics.DOCUMENTS_INDEXED,
                topics.DOCUMENTS_FAILED,
                topics.JOBS_PROGRESS,
            ),
            max_records=config.projector_batch,
        )
        queries = StatusQueries(infra.pool)
        search = SearchService(queries, config.embedding_provider, config.provider_options())
        redriver = Redriver(queries, infra.publisher, infra.origin)

        async def readiness() -> dict[str, Check]:
            ok, detail = consumer.health.ready()
            return {
                "postgres": Check(ok=await ping(infra.pool)),
                "projector": Check(ok=ok, detail=detail),
                "search_model": Check(
                    ok=search.load_error is None,
                    detail="loaded" if search.provider else (search.load_error or "loading"),
                ),
            }

        app = create_app(
            "status",
            readiness,
            [StatusController],
            dependencies={
                "principal": principal_provider(config.jwt_secret),
                "queries": Provide(lambda: queries, sync_to_thread=False),
                "search": Provide(lambda: search, sync_to_thread=False),
                "redriver": Provide(lambda: redriver, sync_to_thread=False),
            },
        )
        yield StatusParts(consumer=consumer, app=app, search=search)
