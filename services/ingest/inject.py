"""Wiring for ingest: infrastructure in, the upload API out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar.di import Provide

from services.common.bootstrap import infrastructure
from services.common.http import Check, create_app
from services.common.service import Service, readiness
from services.ingest.adapters.uploads_store import PostgresUploadsStore
from services.ingest.api import upload_document
from services.ingest.config import IngestSettings
from services.ingest.service import IngestService


@asynccontextmanager
async def prepare(config: IngestSettings) -> AsyncIterator[Service]:
    """The ingest app with its pool and producer open."""
    async with infrastructure(config, "ingest", linger_ms=0) as infra:
        ingest = IngestService(
            uploads=PostgresUploadsStore(infra.pool),
            publisher=infra.publisher,
            origin=infra.origin,
            max_upload_bytes=config.max_upload_bytes,
            status_base_url=config.status_base_url,
        )

        def kafka() -> dict[str, Check]:
            brokers = infra.publisher.brokers_known()
            return {"kafka": Check(ok=brokers > 0, detail=f"{brokers} brokers known")}

        app = create_app(
            "ingest",
            readiness(infra.pool, more=kafka),
            [upload_document],
            settings=config,
            dependencies={
                "ingest": Provide(lambda: ingest, sync_to_thread=False),
            },
            request_max_body_size=config.max_upload_bytes + 1024 * 1024,
        )
        try:
            yield Service(app=app)
        finally:
            await ingest.drain()
