"""Wiring for ingest: infrastructure in, a ready Litestar app out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.di import Provide

from services.common.bootstrap import infrastructure
from services.common.db import ping
from services.common.http import Check, create_app, principal_provider
from services.ingest.adapters.uploads_store import PostgresUploadsStore
from services.ingest.api import upload_document
from services.ingest.config import IngestSettings
from services.ingest.service import IngestService


@asynccontextmanager
async def prepare(config: IngestSettings) -> AsyncIterator[Litestar]:
    """The ingest app with its pool and producer open."""
    async with infrastructure(config, "ingest", linger_ms=0) as infra:
        service = IngestService(
            uploads=PostgresUploadsStore(infra.pool),
            publisher=infra.publisher,
            origin=infra.origin,
            max_upload_bytes=config.max_upload_bytes,
            status_base_url=config.status_base_url,
        )

        async def readiness() -> dict[str, Check]:
            db = await ping(infra.pool)
            brokers = infra.publisher.brokers_known()
            return {
                "postgres": Check(ok=db),
                "kafka": Check(ok=brokers > 0, detail=f"{brokers} brokers known"),
            }

        app = create_app(
            "ingest",
            readiness,
            [upload_document],
            dependencies={
                "principal": principal_provider(config.jwt_secret),
                "ingest": Provide(lambda: service, sync_to_thread=False),
            },
            request_max_body_size=config.max_upload_bytes + 1024 * 1024,
        )
        try:
            yield app
        finally:
            await service.drain()
