"""pipestats on the real broker and Postgres: events produced for a tenant of its own end in the
faust worker's snapshot as the expected done and failed counts and p95 stage times, including
a job whose finishing event was read before its `StageStarted`; its /metrics moved and its log
is JSON lines."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from psycopg.rows import dict_row

from infra.local.stack import Stack
from schemas import topics
from schemas.events import (
    AnyEvent,
    BlobRef,
    DocumentFailed,
    DocumentIndexed,
    DocumentParsed,
    Stage,
    StageStarted,
)
from services.common.kafka.admin import ensure_topics
from services.common.kafka.producer import KafkaPublisher, make_producer
from tests.fixtures.pipeline import own_stack

pytestmark = pytest.mark.integration

PARSE_TOOK = [float(n) for n in range(1, 21)]  # seconds; p95 interpolated: 19.05
EMBED_TOOK = [2.0, 2.0, 2.0]


@pytest.fixture
def pipestats(kafka_bootstrap: str, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    """pipestats alone (no pipeline service), snapshotting every second, on its own group and
    database."""
    with own_stack(
        tmp_path,
        database_url,
        database="pipestats",
        kafka_bootstrap=kafka_bootstrap,
        env={"SLUICE_PIPESTATS_SNAPSHOT_S": "1"},
        replicas={"pipestats": 1},
    ) as stack:
        yield stack


def _envelope(tenant: str, job: str, at: datetime) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "occurred_at": at,
        "tenant_id": tenant,
        "job_id": job,
        "document_id": job,
    }


def _events(tenant: str) -> list[tuple[str, AnyEvent]]:
    """Parse jobs taking PARSE_TOOK (every other one's end produced before its start), two
    parse failures and embed jobs taking EMBED_TOOK."""
    text = BlobRef(sha256="0" * 64, size=1, media_type="text/plain")
    start = datetime.now(UTC) - timedelta(seconds=30)
    out: list[tuple[str, AnyEvent]] = []
    for i, took in enumerate(PARSE_TOOK):
        job = str(uuid.uuid4())
        begun = StageStarted(**_envelope(tenant, job, start), stage=Stage.PARSE)
        end = start + timedelta(seconds=took)
        parsed = DocumentParsed(**_envelope(tenant, job, end), text=text)
        pair = [(topics.JOBS_PROGRESS, begun), (topics.DOCUMENTS_PARSED, parsed)]
        out += pair if i % 2 else pair[::-1]
    for _ in range(2):
        job = str(uuid.uuid4())
        out.append(
            (topics.JOBS_PROGRESS, StageStarted(**_envelope(tenant, job, start), stage=Stage.PARSE))
        )
        failed = DocumentFailed(
            **_envelope(tenant, job, start), stage=Stage.PARSE, code="x", message="no"
        )
        out.append((topics.DOCUMENTS_FAILED, failed))
    for took in EMBED_TOOK:
        job = str(uuid.uuid4())
        begun = StageStarted(**_envelope(tenant, job, start), stage=Stage.EMBED)
        indexed = DocumentIndexed(
            **_envelope(tenant, job, start + timedelta(seconds=took)),
            chunk_count=1,
            embedding_model="m",
            dimensions=3,
        )
        out += [(topics.JOBS_PROGRESS, begun), (topics.DOCUMENTS_INDEXED, indexed)]
    return out


def _snapshot(url: str, tenant: str) -> dict[tuple[str, int], dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT stage, seconds, done, failed, p95_stage_s FROM pipeline_windows"
            " WHERE tenant_id = %s",
            (tenant,),
        ).fetchall()
    return {(row["stage"], row["seconds"]): row for row in rows}


async def test_the_snapshot_counts_each_stage_of_a_tenant_with_its_p95_and_its_metrics_move(
    pipestats: Stack, kafka_bootstrap: str
) -> None:
    tenant = f"pipestats-{uuid.uuid4().hex[:8]}"
    events = _events(tenant)
    await ensure_topics(kafka_bootstrap, topics.STATUS_TOPICS)
    producer = make_producer(kafka_bootstrap, "test-pipestats")
    await producer.start()
    try:
        publisher = KafkaPublisher(producer)
        for topic, event in events:
            await publisher.publish(topic, event)
    finally:
        await producer.stop()

    expected = {
        "parse": {"done": len(PARSE_TOOK), "failed": 2, "p95_stage_s": 19.05},
        "embed": {"done": len(EMBED_TOOK), "failed": 0, "p95_stage_s": 2.0},
        "project": {"done": len(events), "failed": 0, "p95_stage_s": None},
    }
    deadline = time.monotonic() + 120
    got: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        snapshot = _snapshot(pipestats.database_url, tenant)
        got = {
            stage: {k: snapshot[stage, 300][k] for k in ("done", "failed", "p95_stage_s")}
            for stage in expected
            if (stage, 300) in snapshot
        }
        if got == expected:
            break
        time.sleep(0.5)
    assert got == expected

    samples = _samples(pipestats.url("pipestats"))
    consumed = sum(
        value
        for (name, labels), value in samples.items()
        if name == "sluice_records_consumed_total" and ("service", "pipestats") in labels
    )
    assert consumed >= len(events)  # its own at least (the session's topics are shared)
    assert samples["sluice_pipestats_snapshots_total", frozenset({("outcome", "ok")})] >= 1
    assert samples["sluice_pipestats_snapshot_timestamp_seconds", frozenset()] > time.time() - 60
    lines = pipestats.log_file("pipestats").read_text().splitlines()
    assert len(lines) > 3
    for line in lines:
        assert msgspec.json.decode(line)["service"] == "pipestats", line


def _samples(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
