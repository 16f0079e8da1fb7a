"""Wiring for ingest: infrastructure in, the upload API, the relay and the heartbeat out."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar.di import Provide

from services.common.bootstrap import infrastructure
from services.common.db import Pool
from services.common.http import Check, create_app
from services.common.service import Service, readiness
from services.common.settings import from_settings
from services.ingest.adapters.uploads_store import PostgresUploadsStore
from services.ingest.adapters.usage import PostgresTenantUsage
from services.ingest.api import upload_document
from services.ingest.config import IngestSettings
from services.ingest.core.limits import TenantLimits, Windows
from services.ingest.limits import LIMITER_STATE, Limiter
from services.ingest.relay import Deliveries, Relay
from services.ingest.service import IngestService


def tenant_usage(config: IngestSettings, pool: Pool) -> PostgresTenantUsage:
    """The tenants' shared limits, as the settings give them."""
    return PostgresTenantUsage(
        pool,
        TenantLimits(
            uploads_per_window=config.tenant_upload_rate,
            bytes_per_window=config.tenant_byte_quota,
            concurrent_uploads=config.tenant_concurrent_uploads,
        ),
        Windows(rate_s=config.tenant_rate_window_s, quota_s=config.tenant_quota_window_s),
        instance_ttl_s=config.instance_ttl_s,
    )


@asynccontextmanager
async def prepare(config: IngestSettings) -> AsyncIterator[Service]:
    """The ingest app with its pool and producer open, its relay and heartbeat to run."""
    async with infrastructure(config, "ingest", linger_ms=0) as infra:
        holder = f"{config.instance}:{uuid.uuid4().hex[:8]}"  # this process, never reused
        uploads = PostgresUploadsStore(infra.pool, instance_ttl_s=config.instance_ttl_s)
        usage = tenant_usage(config, infra.pool)
        deliveries = Deliveries(uploads=uploads, publisher=infra.publisher, origin=infra.origin)
        ingest = from_settings(
            IngestService,
            config,
            "",
            uploads=uploads,
            deliveries=deliveries,
            holder=holder,
            usage=usage,
        )
        limiter = Limiter(
            usage,
            holder=holder,
            max_in_flight=config.max_uploads_in_flight,
            heartbeat_s=config.instance_ttl_s / 3,
        )
        relay = from_settings(
            Relay, config, "relay_", uploads=uploads, deliveries=deliveries, holder=holder
        )
        await limiter.beat()  # alive before the first upload: its slots and sends count

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
        app.state[LIMITER_STATE] = limiter
        try:
            yield Service(app=app, tasks=[relay.run, limiter.run])
        finally:
            await ingest.drain()
            await usage.leave(holder)  # what is still pending goes to the other relays
