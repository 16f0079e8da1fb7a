"""The pipeline's metrics without a broker: a consumer's lag per partition (dropped when the
partition is revoked), outages as failed tries, status's offsets reading as gauges, and what
the projector observes once a batch is committed (project time, jobs per tenant, upload to
indexed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from schemas import topics
from schemas.events import DocumentFailed, DocumentIndexed, Stage
from services.common import metrics
from services.common.kafka.gauges import LoopMetrics
from services.common.kafka.records import Delivery
from services.status.adapters.offsets import GroupOffsets, Offsets, OffsetsReader
from services.status.adapters.projector import _observe

pytestmark = pytest.mark.unit


def value(name: str, **labels: str) -> float | None:
    """A sample's current value (None when the series does not exist)."""
    return metrics.REGISTRY.get_sample_value(name, labels)


def test_lag_is_per_partition_and_a_revoked_partition_drops_its_series() -> None:
    loop = LoopMetrics("lag-unit", "g")
    first, second = TopicPartition("t", 0), TopicPartition("t", 1)
    loop.lag({first: 7, second: 0})
    assert (
        value("sluice_consumer_lag", service="lag-unit", group="g", topic="t", partition="0") == 7
    )
    assert (
        value("sluice_consumer_lag", service="lag-unit", group="g", topic="t", partition="1") == 0
    )

    loop.revoked([first])
    loop.assignment(1, "revoked", 1)
    assert (
        value("sluice_consumer_lag", service="lag-unit", group="g", topic="t", partition="0")
        is None
    ), "the new owner reports a revoked partition's lag"
    assert value("sluice_assigned_partitions", service="lag-unit", group="g") == 1
    assert value("sluice_rebalances_total", service="lag-unit", group="g", change="revoked") == 1
    loop.revoked([first])  # revoking it again is harmless


def test_an_outage_fails_every_record_of_the_batch() -> None:
    loop = LoopMetrics("outage-unit", "g")
    records = [
        ConsumerRecord("t", 0, n, 0, 0, b"k", b"v", None, 1, 1, [])  # type: ignore[arg-type]
        for n in range(3)
    ]
    loop.outage(records)
    assert value("sluice_handler_errors_total", service="outage-unit", group="g") == 1
    labels = {"service": "outage-unit", "group": "g", "topic": "t", "reason": "outage"}
    assert value("sluice_records_failed_total", **labels) == 3


def test_a_reading_of_offsets_sets_lag_committed_and_dead_letter_depth() -> None:
    reader = OffsetsReader("unused:9092", {}, ack_group="ack")
    dlq = topics.dlq(topics.DOCUMENTS_UPLOADED)
    reader.export(
        Offsets(
            groups=[
                GroupOffsets("export-unit", "t", 0, committed=40, lag=2),
                GroupOffsets("export-unit", "t", 1, committed=None, lag=5),
            ],
            dead_letters={dlq: 3},
        )
    )
    assert value("sluice_group_lag", group="export-unit", topic="t", partition="0") == 2
    assert (
        value("sluice_group_committed_offset", group="export-unit", topic="t", partition="0") == 40
    )
    assert value("sluice_group_lag", group="export-unit", topic="t", partition="1") == 5
    assert (
        value("sluice_group_committed_offset", group="export-unit", topic="t", partition="1")
        is None
    ), "a partition the group never committed on has no committed offset"
    assert value("sluice_dead_letter_depth", topic=dlq) == 3

    reader.export(Offsets(groups=[], dead_letters={dlq: 0}))
    assert value("sluice_dead_letter_depth", topic=dlq) == 0, "depth falls once acknowledged"


def _envelope(n: int, tenant: str, at: datetime) -> dict[str, object]:
    return {
        "event_id": f"e{n}",
        "occurred_at": at,
        "tenant_id": tenant,
        "job_id": f"j{n}",
        "document_id": f"d{n}",
    }


def test_the_projector_observes_project_time_terminal_jobs_and_upload_to_indexed() -> None:
    tenant, uploaded = "project-unit", datetime(2026, 1, 1, tzinfo=UTC)
    indexed = DocumentIndexed(
        **_envelope(1, tenant, uploaded + timedelta(seconds=12)),  # type: ignore[arg-type]
        chunk_count=1,
        embedding_model="m",
        dimensions=3,
    )
    failed = DocumentFailed(
        **_envelope(2, tenant, uploaded),  # type: ignore[arg-type]
        stage=Stage.PARSE,
        code="corrupt_file",
        message="bad",
    )
    seen_before = DocumentIndexed(
        **_envelope(3, tenant, uploaded),  # type: ignore[arg-type]
        chunk_count=1,
        embedding_model="m",
        dimensions=3,
    )
    batch = [Delivery("t", 0, n, e, 0) for n, e in enumerate((indexed, failed, seen_before))]
    projected = value("sluice_stage_seconds_count", stage="project", outcome="ok") or 0
    journeys = value("sluice_upload_to_indexed_seconds_count") or 0
    journey_sum = value("sluice_upload_to_indexed_seconds_sum") or 0

    _observe(batch, batch[:2], {"j1": uploaded}, 0.25)

    assert value("sluice_stage_seconds_count", stage="project", outcome="ok") == projected + 3
    assert value("sluice_jobs_finished_total", tenant=tenant, outcome="indexed") == 1, (
        "a redelivered event (not fresh) is not counted again"
    )
    assert value("sluice_jobs_finished_total", tenant=tenant, outcome="failed") == 1
    assert value("sluice_upload_to_indexed_seconds_count") == journeys + 1
    assert value("sluice_upload_to_indexed_seconds_sum") == journey_sum + 12
