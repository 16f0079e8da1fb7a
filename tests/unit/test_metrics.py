"""What moves each metric, over in-memory ports: HTTP by route template and status, readiness
per check, uploads per tenant, retries that later succeeded or gave up, per-document stage
times, embedding batches, pickup from a retry's due time, the pool and statement metrics."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from aiokafka.structs import ConsumerRecord
from litestar import get
from litestar.testing import TestClient

from schemas import topics
from schemas.events import Origin, Stage
from services.common import metrics
from services.common.auth import Principal
from services.common.db import verb
from services.common.errors import RefusedError
from services.common.http import Check, create_app
from services.common.kafka.gauges import ready_at
from services.common.kafka.headers import RETRY_NOT_BEFORE
from services.common.kafka.records import Delivery
from services.common.kafka.retry import Retrier
from services.common.observe import ReadinessWatch
from services.common.stage import StagePorts
from services.ingest.core.uploads import UploadRejectedError
from services.parser.core.errors import RESOURCE_LIMIT, ParseError
from services.parser.core.routing import Router
from services.parser.stage import ParseStage
from tests.fixtures.fakes import (
    MemoryBlobStore,
    RecordingPublisher,
    ScriptedExtractor,
    upload,
)
from tests.fixtures.ingest import memory_ingest
from tests.unit.test_embed_stage import harness

pytestmark = pytest.mark.unit


def value(name: str, **labels: str) -> float:
    """A sample's current value (0 when the series does not exist yet)."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


# --- HTTP ---


async def _ready() -> dict[str, Check]:
    return {}


@get("/v1/things/{thing_id:str}", sync_to_thread=False)
def _thing(thing_id: str) -> dict[str, str]:
    if thing_id == "boom":
        raise RuntimeError("a bug")
    if thing_id == "taken":
        raise RefusedError(409, "Conflict", "taken")
    return {"id": thing_id}


def test_http_requests_are_counted_by_route_template_and_status() -> None:
    service = "http-unit"
    route = {"service": service, "method": "GET", "route": "/v1/things/{thing_id}"}
    with TestClient(create_app(service, _ready, [_thing])) as client:
        for thing in ("a", "b", "taken", "boom"):
            client.get(f"/v1/things/{thing}")
        for probe in ("/health/live", "/health/ready", "/metrics"):
            assert client.get(probe).status_code == 200

    assert value("sluice_http_requests_total", **route, status="200") == 2
    assert value("sluice_http_requests_total", **route, status="409") == 1
    assert value("sluice_http_requests_total", **route, status="500") == 1
    assert value("sluice_http_request_duration_seconds_count", **route) == 4
    assert value("sluice_http_requests_in_flight", **route) == 0
    for probe in ("/health/live", "/health/ready", "/metrics"):
        labels = {"service": service, "method": "GET", "route": probe, "status": "200"}
        assert value("sluice_http_requests_total", **labels) == 0, f"{probe} is counted"


# --- readiness ---


async def test_readiness_self_checks_export_each_check_and_the_failures_in_a_row() -> None:
    verdicts = [{"postgres": True, "kafka": False}] * 3 + [{"postgres": True}]

    async def checks() -> dict[str, Check]:
        return {name: Check(ok=ok) for name, ok in verdicts.pop(0).items()}

    watch = ReadinessWatch("ready-unit", checks)
    for in_a_row in (1, 2, 3):
        assert not await watch.check_once()
        assert value("sluice_readiness_failures_in_a_row", service="ready-unit") == in_a_row
    assert value("sluice_ready", service="ready-unit", check="kafka") == 0
    assert value("sluice_ready", service="ready-unit", check="postgres") == 1

    assert await watch.check_once()
    assert value("sluice_readiness_failures_in_a_row", service="ready-unit") == 0
    gone = metrics.REGISTRY.get_sample_value(
        "sluice_ready", {"service": "ready-unit", "check": "kafka"}
    )
    assert gone is None, "a check no longer run keeps no stale series"


# --- uploads per tenant ---


async def test_uploads_are_counted_per_tenant_by_outcome() -> None:
    tenant = "metrics-tenant"
    writer = Principal("w", tenant, frozenset({"documents:write"}))
    publisher = RecordingPublisher()
    ingest = memory_ingest(publisher=publisher, max_upload_bytes=64)

    async def send(data: bytes) -> None:
        await ingest.accept(
            writer, data=data, filename="a.txt", metadata_json=None, idempotency_key=None
        )

    await send(b"fine text")
    with pytest.raises(UploadRejectedError):
        await send(b"x" * 100)  # over the limit: the input's fault
    publisher.fail_next.append(KafkaConnectionError())
    with pytest.raises(UploadRejectedError):
        await send(b"other text")
    await ingest.drain()

    for outcome, count in (("accepted", 1), ("rejected", 1), ("kafka_unavailable", 1)):
        assert value("sluice_uploads_total", tenant=tenant, outcome=outcome) == count, outcome


# --- retries that later succeeded or gave up ---


def _parse(
    publisher: RecordingPublisher, blobs: MemoryBlobStore, extractor: ScriptedExtractor
) -> ParseStage:
    retrier = Retrier(publisher, Origin(service="parser", instance="unit"), Stage.PARSE)
    return ParseStage(
        StagePorts(blobs, publisher, retrier, blobs.deleted), parsers=Router(extractor)
    )


async def test_retried_documents_count_as_succeeded_or_gave_up() -> None:
    blobs, publisher, extractor = MemoryBlobStore(), RecordingPublisher(), ScriptedExtractor()
    stage = _parse(publisher, blobs, extractor)
    labels = {"service": "parser", "stage": "parse"}
    succeeded = value("sluice_retries_finished_total", **labels, outcome="succeeded")
    gave_up = value("sluice_retries_finished_total", **labels, outcome="gave_up")
    retried = value(
        "sluice_records_retried_total",
        service="parser",
        topic=topics.DOCUMENTS_UPLOADED,
        code=RESOURCE_LIMIT,
    )

    def delivery(n: int, retries: int) -> Delivery:
        ref = blobs.add(f"doc {n}".encode())
        return Delivery(topics.DOCUMENTS_UPLOADED, 0, n, upload(n, blob=ref), retries)

    first, fine, final = delivery(1, 0), delivery(2, 1), delivery(3, 2)
    for record in (first, final):
        extractor.outcomes[f"doc {record.offset}".encode()] = ParseError(RESOURCE_LIMIT, "too big")
    for record in (first, fine, final):
        await stage([record], {})

    assert (
        value(
            "sluice_records_retried_total",
            service="parser",
            topic=topics.DOCUMENTS_UPLOADED,
            code=RESOURCE_LIMIT,
        )
        == retried + 1
    )
    assert value("sluice_retries_finished_total", **labels, outcome="succeeded") == succeeded + 1
    assert value("sluice_retries_finished_total", **labels, outcome="gave_up") == gave_up + 1


# --- per-document embed times and model calls ---


async def test_embed_observes_each_document_and_each_model_call() -> None:
    run = harness()
    documents = value("sluice_stage_seconds_count", stage="embed", outcome="ok")
    calls = value("sluice_embedding_batch_size_count")
    tokens = value("sluice_embedding_batch_tokens_sum")

    await run.stage([run.parsed(" ".join(f"w{d}x{i}" for i in range(5 + d))) for d in range(5)], {})

    assert value("sluice_stage_seconds_count", stage="embed", outcome="ok") == documents + 5
    assert value("sluice_embedding_batch_size_count") == calls + len(run.provider.calls)
    assert value("sluice_embedding_batch_tokens_sum") > tokens


# --- consumer pickup, statements, pool ---


def _record(timestamp_ms: int, not_before_ms: int | None) -> ConsumerRecord[bytes, bytes]:
    headers = [] if not_before_ms is None else [(RETRY_NOT_BEFORE, str(not_before_ms).encode())]
    return ConsumerRecord(
        "t",
        0,
        0,
        timestamp_ms,
        0,
        b"k",
        b"v",
        None,
        1,
        1,
        headers,  # type: ignore[arg-type]
    )


def test_a_retry_is_ready_at_its_due_time_not_its_timestamp() -> None:
    now_ms = int(time.time() * 1000)
    assert ready_at(_record(now_ms, None)) == now_ms / 1000
    assert ready_at(_record(now_ms, now_ms + 5000)) == (now_ms + 5000) / 1000
    assert ready_at(_record(now_ms, now_ms - 5000)) == now_ms / 1000


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT 1", "SELECT"),
        (b"  insert into x values (1)", "INSERT"),
        ("", "OTHER"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "WITH"),
        (object(), "COMPOSED"),
    ],
)
def test_statements_are_labelled_by_their_first_word(query: Any, expected: str) -> None:
    assert verb(query) == expected


class _Pool:
    closed = False

    def get_stats(self) -> dict[str, int]:
        return {
            "pool_size": 4,
            "pool_available": 1,
            "requests_waiting": 2,
            "requests_wait_ms": 1500,
            "requests_errors": 3,
        }


def test_pool_statistics_are_read_at_scrape_time() -> None:
    metrics.POOLS.watch("pool-unit", _Pool())
    try:
        assert value("sluice_db_pool_size", service="pool-unit") == 4
        assert value("sluice_db_pool_available", service="pool-unit") == 1
        assert value("sluice_db_pool_requests_waiting", service="pool-unit") == 2
        assert value("sluice_db_pool_wait_seconds_total", service="pool-unit") == 1.5
        assert value("sluice_db_pool_timeouts_total", service="pool-unit") == 3
    finally:
        metrics.POOLS.forget("pool-unit")
    assert (
        metrics.REGISTRY.get_sample_value("sluice_db_pool_size", {"service": "pool-unit"}) is None
    )
