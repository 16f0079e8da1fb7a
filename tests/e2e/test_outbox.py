"""Nothing lost at the door: an upload taken while the broker is down is indexed once it is back,
without the client retrying, and exactly one `DocumentUploaded` reaches the topic; when the
ingest process that took it dies before the broker returns, another process's relay sends it."""

import asyncio
import re
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from infra.local.stack import Stack
from schemas import codec, topics
from tests.fixtures.infra import leaders
from tests.fixtures.pipeline import module_stack, wait_for_state

pytestmark = pytest.mark.e2e

PUBLISH_TIMEOUT_S = 2
STORED_JOB = re.compile(r"stored as job (\S+) ")


stack = module_stack(
    "outbox",
    "The four services on a Kafka of their own (the tests stop it) and their own database.",
    kafka=None,
    env={
        "SLUICE_EMBEDDING_PROVIDER": "local",
        "SLUICE_PUBLISH_TIMEOUT_S": str(PUBLISH_TIMEOUT_S),
        "SLUICE_RELAY_INTERVAL_S": "0.5",
        "SLUICE_RELAY_MIN_AGE_S": "1",
        "SLUICE_INSTANCE_TTL_S": "3",
    },
)


def _upload_while_kafka_is_down(stack: Stack, token: str, text: str) -> str:
    """Upload `text` with the broker stopped: 503 with Retry-After naming the stored job."""
    response = httpx.post(
        f"{stack.ingest_url}/v1/documents",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": ("note.txt", text.encode(), "text/plain")},
        timeout=60,
    )
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    found = STORED_JOB.search(response.json()["detail"])
    assert found, response.text
    return found.group(1)


def _unique() -> str:
    """A phrase no other upload has, so that each upload is a document of its own."""
    return uuid.uuid4().hex


def _start_kafka(stack: Stack) -> None:
    stack.kafka.start(detach=False)
    stack.kafka.wait_ready(timeout=120)


async def _uploaded_records(bootstrap: str, job_id: str) -> int:
    """How many `DocumentUploaded` records on the topic announce `job_id`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        partitions = await leaders(admin, [topics.DOCUMENTS_UPLOADED])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        count = 0
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                count += sum(codec.decode(r.value).job_id == job_id for r in records)
        return count
    finally:
        await consumer.stop()


def _relayed(stack: Stack) -> float:
    text = httpx.get(f"{stack.ingest_url}/metrics", timeout=30).text
    found = re.search(r"^sluice_uploads_relayed_total (\S+)$", text, re.MULTILINE)
    assert found, "ingest exposes sluice_uploads_relayed_total"
    return float(found.group(1))


def test_an_upload_taken_while_kafka_is_down_is_indexed_once_it_is_back(stack: Stack) -> None:
    token = stack.token(f"outbox-{uuid.uuid4().hex[:8]}")
    stack.kafka.stop()

    job_id = _upload_while_kafka_is_down(
        stack, token, f"written while the broker slept {_unique()}"
    )
    _start_kafka(stack)

    with httpx.Client(base_url=stack.status_url, timeout=60) as status:
        job = wait_for_state(status, job_id, token, timeout=240)
    assert job["state"] == "indexed", job
    assert asyncio.run(_uploaded_records(stack.bootstrap, job_id)) == 1


def test_an_upload_whose_process_died_is_relayed_by_the_next(stack: Stack) -> None:
    token = stack.token(f"relay-{uuid.uuid4().hex[:8]}")
    stack.kafka.stop()

    job_id = _upload_while_kafka_is_down(stack, token, f"its ingest died {_unique()}")
    stack.kill("ingest")  # its pending send dies with it; only the outbox row is left
    _start_kafka(stack)
    stack.start("ingest")  # a new process: another holder, whose relay finds the row

    with httpx.Client(base_url=stack.status_url, timeout=60) as status:
        job = wait_for_state(status, job_id, token, timeout=240)
    assert job["state"] == "indexed", job
    assert asyncio.run(_uploaded_records(stack.bootstrap, job_id)) == 1
    assert _relayed(stack) >= 1, "the new process's relay sent it"
