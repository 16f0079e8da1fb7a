"""Wiring for status: the projector's consumer, the query API and the search model, one pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar.di import Provide

from schemas import topics
from services.common.bootstrap import infrastructure
from services.common.embedding.models import ModelShelf
from services.common.http import Check, create_app
from services.common.kafka.consumer import ConsumerLoop
from services.common.service import Service, readiness
from services.common.vectors.search import SearchTuning, VectorSearch
from services.status.adapters.audit import AuditLog
from services.status.adapters.changes import ChangeFeed
from services.status.adapters.deletions import PostgresDeletions
from services.status.adapters.figures import Figures
from services.status.adapters.groups import GroupProbe
from services.status.adapters.offsets import OffsetsReader, group_topics
from services.status.adapters.projector import Projector
from services.status.adapters.queries import StatusQueries
from services.status.admin import AdminController, Replays
from services.status.api import StatusController
from services.status.config import StatusSettings
from services.status.console import console_routes
from services.status.deadletters import DeadLetterController, DeadLetterReader
from services.status.deleting import DocumentDeleter
from services.status.pipeline import PipelineController, PipelineWatch, pipeline_stages
from services.status.redrive import Redriver
from services.status.search import SearchService
from services.status.streams import JobStreamController
from services.status.vector_sets import VectorSetAdmin
from services.status.vector_sets_api import VectorSetController


@asynccontextmanager
async def prepare(config: StatusSettings) -> AsyncIterator[Service]:
    """Open infrastructure; build the projector's consumer, the API, and the model loader."""
    async with infrastructure(config, "status") as infra:
        projector = Projector(infra.pool, config.status_group)
        consumer = ConsumerLoop(
            bootstrap=config.kafka_bootstrap,
            group_id=config.status_group,
            topics=topics.STATUS_TOPICS,
            handler=projector,
            publisher=infra.publisher,
            origin=infra.origin,
            stored_offsets=projector.stored_offsets,
            offsets_moved=projector.rewound,  # a replay rewrote them while idle
            stall_after_s=config.consumer_stall_s,
            # uploaded/parsed poison is dead-lettered by the stage that owns the topic
            dead_letter_topics=(
                topics.DOCUMENTS_INDEXED,
                topics.DOCUMENTS_FAILED,
                topics.JOBS_PROGRESS,
                topics.DOCUMENTS_DELETED,
            ),
            max_records=config.projector_batch,
            gather_ms=config.projector_gather_ms,
        )
        projector.on_rewound = consumer.reseek  # a replay rewrote the stored offsets
        queries = StatusQueries(infra.pool)
        models = ModelShelf(config.embedding_provider, config.provider_options())
        tuning = SearchTuning(
            exact_below=config.search_exact_below,
            ef_search=config.search_ef,
            max_scan_tuples=config.search_max_scan_tuples,
        )
        search = SearchService(queries.sets, VectorSearch(infra.pool, tuning), models)
        vector_sets = VectorSetAdmin(
            infra.pool,
            infra.publisher,
            infra.origin,
            models,
            (config.chunk_tokens, config.chunk_overlap),
        )
        redriver = Redriver(queries, infra.publisher, infra.origin)
        dead_letters = DeadLetterReader(config.kafka_bootstrap)
        audit = AuditLog(infra.pool)
        deleter = DocumentDeleter(PostgresDeletions(infra.pool), infra.publisher, infra.origin)
        offsets = OffsetsReader(
            config.kafka_bootstrap,
            group_topics(config.parser_group, config.embedder_group, config.status_group),
            ack_group=config.dlq_ack_group,
            interval_s=config.offsets_interval_s,
        )
        replays = Replays(config)
        changes = ChangeFeed(infra.pool, config.database_url)
        pipeline = PipelineWatch(
            GroupProbe(config.kafka_bootstrap, ack_group=config.dlq_ack_group),
            Figures(infra.pool, max_age_s=config.pipeline_windows_max_age_s),
            pipeline_stages(config.parser_group, config.embedder_group, config.status_group),
            sample_s=config.pipeline_sample_s,
            stall_s=config.pipeline_stall_s,
        )

        def search_model() -> dict[str, Check]:
            detail = "loaded" if search.provider else (search.load_error or "loading")
            return {"search_model": Check(ok=search.load_error is None, detail=detail)}

        app = create_app(
            "status",
            readiness(infra.pool, {"projector": consumer}, search_model),
            [
                JobStreamController,
                StatusController,
                DeadLetterController,
                VectorSetController,
                AdminController,
                PipelineController,
                *console_routes(config.public_ingest_url),
            ],
            settings=config,
            dependencies={
                "queries": Provide(lambda: queries, sync_to_thread=False),
                "search": Provide(lambda: search, sync_to_thread=False),
                "redriver": Provide(lambda: redriver, sync_to_thread=False),
                "dead_letters": Provide(lambda: dead_letters, sync_to_thread=False),
                "audit": Provide(lambda: audit, sync_to_thread=False),
                "deleter": Provide(lambda: deleter, sync_to_thread=False),
                "vector_sets": Provide(lambda: vector_sets, sync_to_thread=False),
                "replays": Provide(lambda: replays, sync_to_thread=False),
                "changes": Provide(lambda: changes, sync_to_thread=False),
                "pipeline": Provide(lambda: pipeline, sync_to_thread=False),
            },
        )
        yield Service(
            app=app,
            consumer=consumer,
            tasks=[
                lambda _stop: search.load(),
                offsets.run,
                lambda _stop: changes.listen(),
                lambda _stop: pipeline.run(),
            ],
            on_stop=[changes.close, pipeline.close],
        )
