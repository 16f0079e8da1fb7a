"""The status service's dead-letter reader on the real broker: the newest records of the
`.dlq` topics with their headers, one by its place, and who may see which."""

from __future__ import annotations

import json
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from schemas import topics
from services.common.kafka import headers as deadletter
from services.common.kafka.admin import ensure_topics
from services.status.deadletters import DLQ_TOPICS, DeadLetterReader

pytestmark = pytest.mark.integration

DLQ = topics.dlq(topics.DOCUMENTS_PARSED)


def _headers(code: str) -> list[tuple[str, bytes]]:
    return [
        (deadletter.ERROR_CODE, code.encode()),
        (deadletter.ERROR_MESSAGE, b"the embedder gave up"),
        (deadletter.ERROR_STAGE, b"embed"),
        (deadletter.ORIGINAL_TOPIC, topics.DOCUMENTS_PARSED.encode()),
        (deadletter.ORIGINAL_PARTITION, b"3"),
        (deadletter.ORIGINAL_OFFSET, b"42"),
        (deadletter.ATTEMPTS, b"5"),
    ]


async def test_dead_letters_are_read_newest_first_and_per_tenant(kafka_bootstrap: str) -> None:
    await ensure_topics(kafka_bootstrap, DLQ_TOPICS)
    tenant, job_id = f"dl-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    event = {"type": "DocumentParsed", "tenant_id": tenant, "job_id": job_id, "document_id": "d"}
    poison = f"not json {uuid.uuid4()}".encode()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        mine = await producer.send_and_wait(
            DLQ, json.dumps(event).encode(), key=b"d", headers=_headers("internal_error")
        )
        bad = await producer.send_and_wait(DLQ, poison, key=b"p", headers=_headers("poison"))
    finally:
        await producer.stop()
    reader = DeadLetterReader(kafka_bootstrap)

    seen = await reader.newest(DLQ_TOPICS, 500, tenant)
    assert [r.job_id for r in seen] == [job_id], "the tenant sees its record only"
    record = seen[0]
    assert record.ref == f"{DLQ}/{mine.partition}/{mine.offset}"
    assert (record.code, record.stage, record.attempts) == ("internal_error", "embed", 5)
    assert (record.original_topic, record.original_partition, record.original_offset) == (
        topics.DOCUMENTS_PARSED,
        3,
        42,
    )
    assert (record.tenant_id, record.event_type, record.value) == (tenant, "DocumentParsed", None)

    everything = await reader.newest(DLQ_TOPICS, 500, None)
    refs = [r.ref for r in everything]
    assert record.ref in refs and f"{DLQ}/{bad.partition}/{bad.offset}" in refs, "admin sees all"
    assert everything == sorted(everything, key=lambda r: (r.timestamp, r.ref), reverse=True)

    shown = await reader.one(DLQ, mine.partition, mine.offset, tenant)
    assert shown is not None and json.loads(shown.value or "") == event
    assert await reader.one(DLQ, mine.partition, mine.offset, "another-tenant") is None
    assert await reader.one(DLQ, bad.partition, bad.offset, tenant) is None, "no tenant named"
    admin = await reader.one(DLQ, bad.partition, bad.offset, None)
    assert admin is not None and admin.value == poison.decode() and admin.job_id is None
    assert await reader.one(DLQ, mine.partition, mine.offset + 10**6, None) is None
    assert await reader.one(topics.DOCUMENTS_PARSED, mine.partition, mine.offset, None) is None
