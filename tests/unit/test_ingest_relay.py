"""Nothing lost at the door, over in-memory ports: an upload Kafka did not acknowledge in time
is answered 503 and still published once, by its pending send or by a relay."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass

import pytest
from aiokafka.errors import KafkaConnectionError

from schemas import topics
from schemas.events import Origin
from services.common.auth import Principal
from services.ingest.core.ports import UploadRecord
from services.ingest.core.uploads import UploadRejectedError
from services.ingest.relay import Deliveries, Relay
from services.ingest.service import IngestService
from tests.fixtures.fakes import MemoryUploadsStore, RecordingPublisher

pytestmark = pytest.mark.unit

ALICE = Principal("alice", "acme", frozenset({"documents:write"}))
TEXT = b"Photosynthesis turns light into chemical energy."


class Replica:
    """One ingest process: its sends, its relay, its request path, over shared ports."""

    def __init__(self, name: str, uploads: MemoryUploadsStore, publisher: RecordingPublisher):
        origin = Origin(service="ingest", instance=name)
        self.deliveries = Deliveries(uploads=uploads, publisher=publisher, origin=origin)
        self.relay = Relay(
            uploads=uploads,
            deliveries=self.deliveries,
            holder=name,
            interval_s=0.01,
            min_age_s=5,
            batch=10,
        )
        self.ingest = IngestService(
            uploads=uploads,
            deliveries=self.deliveries,
            holder=name,
            max_upload_bytes=1024,
            status_base_url="http://status.test",
            publish_timeout_s=0.05,
        )

    async def upload(self, data: bytes = TEXT) -> None:
        await self.ingest.accept(
            ALICE, data=data, filename="notes.txt", metadata_json=None, idempotency_key=None
        )


async def _refused_while_kafka_is_silent(replica: Replica) -> UploadRejectedError:
    with pytest.raises(UploadRejectedError) as refused:
        await replica.upload()
    return refused.value


async def test_kafka_silent_past_the_timeout_is_a_503_and_the_pending_send_publishes_once() -> None:
    uploads, publisher = MemoryUploadsStore(), RecordingPublisher(held=asyncio.Event())
    replica = Replica("ingest-a", uploads, publisher)

    refused = await _refused_while_kafka_is_silent(replica)

    (stored,) = uploads.records.values()
    assert (refused.status, refused.retry_after_s) == (503, 5)
    assert f"stored as job {stored.job_id}" in refused.detail
    assert stored.holder == "ingest-a" and stored.published_at is None
    uploads.age(stored.job_id, 60)
    assert await replica.relay.relay_once() == 0, "its own pending send is not taken twice"

    assert publisher.held is not None
    publisher.held.set()  # the broker is back
    await replica.ingest.drain()

    (event,) = publisher.events(topics.DOCUMENTS_UPLOADED)
    assert event.event_id == stored.event_id
    assert uploads.records[stored.job_id].published_at is not None
    assert await replica.relay.relay_once() == 0


async def test_a_dead_processes_upload_is_relayed_by_another_with_its_stored_event() -> None:
    uploads, kafka = MemoryUploadsStore(), RecordingPublisher()
    dead = Replica("ingest-a", uploads, RecordingPublisher(held=asyncio.Event()))
    alive = Replica("ingest-b", uploads, kafka)
    await _refused_while_kafka_is_silent(dead)
    (stored,) = uploads.records.values()
    uploads.age(stored.job_id, 60)

    assert await alive.relay.relay_once() == 0, "its holder is alive: its send is pending"
    uploads.gone.add("ingest-a")  # its heartbeat stopped: its pending send died with it
    assert await alive.relay.relay_once() == 1
    await alive.ingest.drain()

    (event,) = kafka.events(topics.DOCUMENTS_UPLOADED)
    assert (event.event_id, event.job_id) == (stored.event_id, stored.job_id)
    assert event.origin.instance == "ingest-b"
    assert uploads.records[stored.job_id].published_at is not None


async def test_a_failed_send_is_released_and_any_relay_sends_it() -> None:
    uploads, publisher = MemoryUploadsStore(), RecordingPublisher()
    publisher.fail_next.append(KafkaConnectionError())
    first, second = Replica("ingest-a", uploads, publisher), Replica("ingest-b", uploads, publisher)

    refused = await _refused_while_kafka_is_silent(first)
    (stored,) = uploads.records.values()

    assert refused.status == 503
    assert stored.holder is None, "no send pending: released to every relay"
    assert await second.relay.relay_once() == 0, "too young: a request may still be sending it"
    uploads.age(stored.job_id, 60)
    assert await second.relay.relay_once() == 1
    await second.ingest.drain()

    assert [e.event_id for e in publisher.events(topics.DOCUMENTS_UPLOADED)] == [stored.event_id]
    assert uploads.records[stored.job_id].published_at is not None


async def test_a_lost_published_mark_makes_the_relay_send_the_same_event_again() -> None:
    uploads, publisher = MemoryUploadsStore(fail_marking=True), RecordingPublisher()
    replica = Replica("ingest-a", uploads, publisher)
    await replica.upload()
    await replica.ingest.drain()
    (stored,) = uploads.records.values()
    uploads.age(stored.job_id, 60)
    uploads.fail_marking = False

    assert await replica.relay.relay_once() == 1
    await replica.ingest.drain()

    events = publisher.events(topics.DOCUMENTS_UPLOADED)
    assert [e.event_id for e in events] == [stored.event_id] * 2  # downstream: one, by event_id
    assert uploads.records[stored.job_id].published_at is not None


@dataclass
class DownOnce(MemoryUploadsStore):
    """The database is down for the relay's first round."""

    rounds: int = 0

    async def claim_unpublished(
        self, holder: str, *, pending: Collection[str], limit: int, min_age_s: float
    ) -> list[UploadRecord]:
        self.rounds += 1
        if self.rounds == 1:
            raise ConnectionError("the database went away")
        return await super().claim_unpublished(
            holder, pending=pending, limit=limit, min_age_s=min_age_s
        )


async def test_the_relay_outlives_a_failing_round_and_stops_when_told() -> None:
    uploads, publisher = DownOnce(), RecordingPublisher(fail_next=[KafkaConnectionError()])
    replica = Replica("ingest-a", uploads, publisher)
    await _refused_while_kafka_is_silent(replica)
    (stored,) = uploads.records.values()
    uploads.age(stored.job_id, 60)

    stop = asyncio.Event()
    running = asyncio.create_task(replica.relay.run(stop))
    while uploads.records[stored.job_id].published_at is None:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(running, 5)

    assert uploads.rounds >= 2
    assert [e.event_id for e in publisher.events(topics.DOCUMENTS_UPLOADED)] == [stored.event_id]
