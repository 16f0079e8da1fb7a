"""Wiring for status: the projector's consumer, the query API and the search model, one pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar.di import Provide

from schemas import topics
from services.common.bootstrap import infrastructure
from services.common.http import Check, create_app
from services.common.kafka.consumer import ConsumerLoop
from services.common.service import Service, readiness
from services.status.adapters.audit import AuditLog
from services.status.adapters.deletions import PostgresDeletions
from services.status.adapters.projector import Projector
from services.status.adapters.queries import StatusQueries
from services.status.api import StatusController
from services.status.config import StatusSettings
from services.status.console import console_routes
from services.status.deadletters import DeadLetterController, DeadLetterReader
from services.status.deleting import DocumentDeleter
from services.status.redrive import Redriver
from services.status.search import SearchService


@asynccontextmanager
async def prepare(config: StatusSettings) -> AsyncIterator[Service]:
    """Open infrastructure; build the projector's consumer, the API, and the model loader."""
    async with infrastructure(config, "status") as infra:
        projector = Projector(infra.pool, config.status_group)
        consumer = ConsumerLoop(
            bootstrap=config.kafka_bootstrap,
            group_id=config.status_group,
            topics=(*topics.PIPELINE_TOPICS, topics.DOCUMENTS_DELETED),
            handler=projector,
            publisher=infra.publisher,
            origin=infra.origin,
            stored_offsets=projector.stored_offsets,
            # uploaded/parsed poison is dead-lettered by the stage that owns the topic
            dead_letter_topics=(
                topics.DOCUMENTS_INDEXED,
                topics.DOCUMENTS_FAILED,
                topics.JOBS_PROGRESS,
                topics.DOCUMENTS_DELETED,
            ),
            max_records=config.projector_batch,
        )
        queries = StatusQueries(infra.pool)
        search = SearchService(queries, config.embedding_provider, config.provider_options())
        redriver = Redriver(queries, infra.publisher, infra.origin)
        dead_letters = DeadLetterReader(config.kafka_bootstrap)
        audit = AuditLog(infra.pool)
        deleter = DocumentDeleter(PostgresDeletions(infra.pool), infra.publisher, infra.origin)

        def search_model() -> dict[str, Check]:
            detail = "loaded" if search.provider else (search.load_error or "loading")
            return {"search_model": Check(ok=search.load_error is None, detail=detail)}

        app = create_app(
            "status",
            readiness(infra.pool, {"projector": consumer}, search_model),
            [StatusController, DeadLetterController, *console_routes(config.public_ingest_url)],
            settings=config,
            dependencies={
                "queries": Provide(lambda: queries, sync_to_thread=False),
                "search": Provide(lambda: search, sync_to_thread=False),
                "redriver": Provide(lambda: redriver, sync_to_thread=False),
                "dead_letters": Provide(lambda: dead_letters, sync_to_thread=False),
                "audit": Provide(lambda: audit, sync_to_thread=False),
                "deleter": Provide(lambda: deleter, sync_to_thread=False),
            },
        )
        yield Service(app=app, consumer=consumer, tasks=[search.load])
