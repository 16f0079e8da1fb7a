"""Ingest settings: the common ones plus upload limits, the relay, the HTTP port and origins."""

from __future__ import annotations

from typing import Annotated

from services.common.settings import CommonSettings, doc, origin_of


class IngestSettings(CommonSettings, kw_only=True, frozen=True):
    """SLUICE_* variables read by the ingest service."""

    ingest_port: Annotated[int, doc("Ingest HTTP port")] = 8000
    max_upload_bytes: Annotated[int, doc("Largest accepted upload")] = 50 * 1024 * 1024
    status_base_url: Annotated[str, doc("Status API base for links")] = "http://127.0.0.1:8001"
    max_uploads_in_flight: Annotated[
        int,
        doc(
            "Uploads one ingest process serves at once (each can hold ~3.4x the"
            " upload in memory); more get 503 with Retry-After before their body is read (0:"
            " no cap)",
            ge=0,
        ),
    ] = 8
    tenant_upload_rate: Annotated[
        int,
        doc(
            "Uploads a tenant may start per SLUICE_TENANT_RATE_WINDOW_S, all ingest"
            " replicas together; more get 429 (0: unlimited; per tenant: table tenant_limits)",
            ge=0,
        ),
    ] = 600
    tenant_rate_window_s: Annotated[
        int, doc("Length of the upload-rate window in seconds", ge=1)
    ] = 60
    tenant_byte_quota: Annotated[
        int,
        doc(
            "Bytes a tenant may upload per SLUICE_TENANT_QUOTA_WINDOW_S, all"
            " replicas together; more get 429 (0: unlimited; per tenant: table tenant_limits)",
            ge=0,
        ),
    ] = 50 * 1024**3
    tenant_quota_window_s: Annotated[
        int, doc("Length of the byte-quota window in seconds", ge=1)
    ] = 24 * 3600
    tenant_concurrent_uploads: Annotated[
        int,
        doc(
            "Uploads of one tenant in flight at once, all replicas together; more"
            " get 429 (0: unlimited; per tenant: table tenant_limits)",
            ge=0,
        ),
    ] = 16
    publish_timeout_s: Annotated[
        float,
        doc(
            "How long an upload waits for Kafka's acknowledgement before the answer"
            " is 503 (the upload stays stored and is published when Kafka answers); the"
            " default is the producer's request timeout",
            gt=0,
        ),
    ] = 30.0
    relay_interval_s: Annotated[
        float,
        doc("How often the relay looks for unpublished uploads", gt=0),
    ] = 1.0
    relay_min_age_s: Annotated[
        float,
        doc("Age an unpublished upload must reach before the relay takes it", ge=0),
    ] = 5.0
    relay_batch: Annotated[int, doc("Unpublished uploads the relay takes per round", ge=1)] = 100
    instance_ttl_s: Annotated[
        float,
        doc(
            "An ingest process whose heartbeat is older is gone: its pending"
            " uploads go to another relay and its upload slots stop counting",
            ge=3,
        ),
    ] = 30.0

    @property
    def cors(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """CORS as configured, plus what the web console (served by status) needs to upload:
        the status service's origin, POST, and the Authorization and Idempotency-Key headers."""
        origins, methods, headers = super().cors
        return (
            tuple(dict.fromkeys((origin_of(self.status_base_url), *origins))),
            tuple(dict.fromkeys((*methods, "POST"))),
            tuple(dict.fromkeys((*headers, "Authorization", "Idempotency-Key"))),
        )
