"""The shared ConsumerLoop on a real broker: ordered hand-over, commit after, poison to the DLQ."""

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

import msgspec
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas import codec, topics
from schemas.events import BlobRef, DocumentUploaded, Origin
from services.common.kafka.consumer import ConsumerLoop
from services.common.kafka.headers import RETRY_ATTEMPT, RETRY_NOT_BEFORE
from services.common.kafka.producer import KafkaPublisher
from services.common.kafka.records import Delivery, Position
from tests.fixtures.infra import TopicFactory

pytestmark = pytest.mark.integration

ORIGIN = Origin(service="test", instance="consumer-test")
Handler = Callable[[list[Delivery], dict[Position, int]], Awaitable[None]]


def event(n: int) -> DocumentUploaded:
    """A valid pipeline event whose filename carries its sequence number."""
    return DocumentUploaded(
        event_id=str(uuid.uuid4()),
        occurred_at=datetime.now(UTC),
        tenant_id="t",
        job_id=str(uuid.uuid4()),
        document_id=str(uuid.uuid4()),
        blob=BlobRef(sha256="0" * 64, size=1, media_type="text/plain"),
        filename=f"doc-{n}.txt",
    )


def consumer_for(
    kafka_bootstrap: str,
    topic: str,
    handler: Handler,
    producer: AIOKafkaProducer,
    *,
    group: str | None = None,
    **options: int,
) -> ConsumerLoop:
    """A ConsumerLoop on `topic` in `group` (default: a fresh one) with small batches
    (`options` added)."""
    return ConsumerLoop(
        bootstrap=kafka_bootstrap,
        group_id=group or f"consumer-test-{uuid.uuid4().hex[:8]}",
        topics=[topic],
        handler=handler,
        publisher=KafkaPublisher(producer),
        origin=ORIGIN,
        **({"max_records": 4} | options),
    )


async def run_until(
    consumer: ConsumerLoop,
    done: Callable[[], bool],
    timeout: float = 60,
    *,
    step: Callable[[], Awaitable[None]] = lambda: asyncio.sleep(0.05),
    seen: Callable[[], object] = lambda: "",
) -> None:
    """Run `consumer` until `done()` holds (calling `step` in between), then stop it cleanly:
    it commits and leaves. A timeout quotes `seen()`."""
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    deadline = time.monotonic() + timeout
    try:
        while not done():
            if task.done():
                task.result()
                raise AssertionError("the consumer loop stopped by itself")
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met after {timeout:.0f}s {seen()}")
            await step()
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def committed(kafka_bootstrap: str, group: str, tps: list[TopicPartition]) -> dict[int, int]:
    """The group's committed offset per partition, read by an outside client."""
    reader = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
    await reader.start()
    try:
        return {tp.partition: await reader.committed(tp) for tp in tps}
    finally:
        await reader.stop()


async def produce(producer: AIOKafkaProducer, topic: str, count: int, partitions: int) -> None:
    """`count` events spread round-robin over the partitions, in sequence within each."""
    for n in range(count):
        await producer.send_and_wait(topic, codec.encode(event(n)), partition=n % partitions)


async def filled_topic(
    topic_factory: TopicFactory, producer: AIOKafkaProducer, count: int, partitions: int
) -> str:
    """A new topic of `partitions` holding `count` events (see `produce`)."""
    topic = await topic_factory(partitions=partitions)
    await produce(producer, topic, count, partitions)
    return topic


async def all_committed(
    kafka_bootstrap: str, consumer: ConsumerLoop, topic: str, partitions: int, offset: int
) -> None:
    """Assert that `consumer`'s group committed `offset` on every partition of `topic`."""
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    positions = await committed(kafka_bootstrap, consumer.group_id, tps)
    assert positions == dict.fromkeys(range(partitions), offset)


def sequence(delivery: Delivery) -> int:
    """The number `event(n)` put in the filename."""
    assert isinstance(delivery.event, DocumentUploaded)
    return int(delivery.event.filename.removeprefix("doc-").removesuffix(".txt"))


async def test_records_arrive_in_partition_order_and_commit_after_the_handler(
    kafka_bootstrap: str, topic_factory: TopicFactory, producer: AIOKafkaProducer
) -> None:
    partitions, count = 3, 30
    topic = await filled_topic(topic_factory, producer, count, partitions)
    seen: dict[int, list[int]] = {p: [] for p in range(partitions)}
    early_commits: list[str] = []

    async def handler(batch: list[Delivery], positions: dict[Position, int]) -> None:
        for delivery in batch:
            assert delivery.topic == topic
            assert sequence(delivery) % partitions == delivery.partition
            seen[delivery.partition].append(delivery.offset)
        for _, partition in positions:
            first = min(d.offset for d in batch if d.partition == partition)
            done = await consumer.client.committed(TopicPartition(topic, partition))
            if done is not None and done > first:
                early_commits.append(f"p{partition}: committed {done} before handling {first}")

    consumer = consumer_for(kafka_bootstrap, topic, handler, producer)
    await run_until(consumer, lambda: sum(map(len, seen.values())) == count)

    assert early_commits == []
    for partition, offsets in seen.items():
        assert offsets == list(range(count // partitions)), partition
    await all_committed(kafka_bootstrap, consumer, topic, partitions, count // partitions)


async def test_the_next_batch_is_handled_while_the_last_commit_is_in_flight(
    kafka_bootstrap: str, topic_factory: TopicFactory, producer: AIOKafkaProducer
) -> None:
    """Batch mode does not wait for the broker to write a batch's offsets before handing over
    the next (services/common/kafka/behind.py); stopping still commits everything handled."""
    partitions, count = 2, 16
    topic = await filled_topic(topic_factory, producer, count, partitions)
    timeline: list[str] = []
    handled: list[int] = []

    async def handler(batch: list[Delivery], positions: dict[Position, int]) -> None:
        await asyncio.sleep(0.05)  # some work: the last batch's commit starts meanwhile
        timeline.append("batch")
        handled.extend(d.offset for d in batch)

    consumer = consumer_for(kafka_bootstrap, topic, handler, producer)
    commit = consumer.client.commit

    async def slow_commit(offsets: dict[TopicPartition, int]) -> None:
        timeline.append("commit started")
        await asyncio.sleep(0.5)  # a slow broker
        await commit(offsets)
        timeline.append("commit landed")

    consumer.client.commit = slow_commit  # type: ignore[method-assign]
    await run_until(consumer, lambda: len(handled) == count)

    first_landed = timeline.index("commit landed")
    assert timeline.index("batch", timeline.index("commit started")) < first_landed, timeline
    assert timeline[-1] == "commit landed", "stopping waits for the last commit"
    await all_committed(kafka_bootstrap, consumer, topic, partitions, count // partitions)


async def test_a_gathering_loop_takes_a_trickle_in_one_batch(
    kafka_bootstrap: str, topic_factory: TopicFactory, producer: AIOKafkaProducer
) -> None:
    """With `gather_ms` the broker holds the fetch to gather records (the status projector's
    `projector_gather_ms`): two records sent 0.3 s apart come in one batch, where a loop
    without it (`gather_ms=0`) takes the first as soon as it is there."""
    topic = await topic_factory(partitions=1)
    batches: list[list[int]] = []

    async def handler(batch: list[Delivery], positions: dict[Position, int]) -> None:
        batches.append([d.offset for d in batch])

    # gather_ms=0 fails this test: [[0], [1]]
    consumer = consumer_for(kafka_bootstrap, topic, handler, producer, gather_ms=5000)

    async def trickle() -> None:
        if consumer.health.assigned and not sent:
            sent.append(True)
            await produce(producer, topic, 1, 1)
            await asyncio.sleep(0.3)
            await produce(producer, topic, 1, 1)
        await asyncio.sleep(0.05)

    sent: list[bool] = []
    await run_until(consumer, lambda: sum(map(len, batches)) == 2, step=trickle, timeout=60)
    assert batches == [[0, 1]]


async def test_a_batch_longer_than_max_poll_interval_keeps_its_place_in_the_group(
    kafka_bootstrap: str, topic_factory: TopicFactory, producer: AIOKafkaProducer
) -> None:
    """A batch may outlast `max_poll_interval_ms` (16 documents of 5 million characters take
    the embedder longer than its 10 minutes on 2 cores). The client leaves the group when no
    poll comes in that time: its partitions go to another replica, which redoes the batch
    and, taking as long, leaves in turn. The loop keeps polling, every partition paused, while
    a batch runs: the member stays, and each record is handled once and committed."""
    partitions, count = 2, 4
    topic = await filled_topic(topic_factory, producer, count, partitions)
    handled: list[tuple[int, int]] = []
    left: list[str] = []  # what the group took back while the loop ran

    async def handler(batch: list[Delivery], positions: dict[Position, int]) -> None:
        if not handled:
            await asyncio.sleep(9)  # three times max_poll_interval_ms
        handled.extend((d.partition, d.offset) for d in batch)

    consumer = consumer_for(
        kafka_bootstrap, topic, handler, producer, max_poll_interval_ms=3000, max_records=count
    )
    revoked = consumer.metrics.revoked

    def record_revoked(tps: Iterable[TopicPartition]) -> None:
        left.extend(f"{tp.topic}/{tp.partition}" for tp in tps)
        revoked(tps)

    consumer.metrics.revoked = record_revoked  # type: ignore[method-assign]
    running: list[str] = []

    def done() -> bool:
        if len(handled) < count:
            return False
        running.extend(left)  # before stopping, which gives every partition back
        return True

    await run_until(consumer, done)
    # without the polls: ['test-…/0', 'test-…/1'], taken back after 3 s, mid-batch
    assert running == []
    assert sorted(handled) == [(p, o) for p in range(partitions) for o in range(2)]
    await all_committed(kafka_bootstrap, consumer, topic, partitions, count // partitions)


async def test_a_batch_hit_by_an_outage_is_redelivered_and_nothing_is_skipped(
    kafka_bootstrap: str, topic_factory: TopicFactory, producer: AIOKafkaProducer
) -> None:
    partitions, count = 2, 20
    topic = await filled_topic(topic_factory, producer, count, partitions)
    calls: list[tuple[bool, list[tuple[int, int]]]] = []
    handled: dict[int, list[int]] = {p: [] for p in range(partitions)}

    async def handler(batch: list[Delivery], positions: dict[Position, int]) -> None:
        records = [(d.partition, d.offset) for d in batch]
        if not calls:
            calls.append((False, records))
            raise psycopg.OperationalError("the database went away during the first batch")
        calls.append((True, records))
        for partition, offset in records:
            handled[partition].append(offset)

    consumer = consumer_for(kafka_bootstrap, topic, handler, producer)
    await run_until(consumer, lambda: all(len(v) >= count // partitions for v in handled.values()))

    failed = calls[0][1]
    assert failed, "the first call had records"
    redelivered = [r for ok, records in calls[1:] for r in records if ok]
    assert set(failed) <= set(redelivered)
    for partition, offsets in handled.items():
        # Handled exactly once each, in order: the failed batch was re-read from its start.
        assert offsets == list(range(count // partitions)), partition
    await all_committed(kafka_bootstrap, consumer, topic, partitions, count // partitions)
    assert consumer.health.consecutive_errors == 0


async def test_poison_records_go_to_the_dead_letter_topic_and_the_loop_goes_on(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    producer: AIOKafkaProducer,
) -> None:
    topic = await topic_factory(partitions=1)
    dead_letters = await topic_factory(name=topics.dlq(topic))
    newer = msgspec.json.decode(codec.encode(event(1)))
    newer["schema_version"] = 99  # a newer producer: structurally valid, version unknown
    future = {**newer, "type": "DocumentUploadedV9", "schema_version": 9}
    values = [
        codec.encode(event(0)),
        b"\xff" + os.urandom(63),
        msgspec.json.encode(newer),
        msgspec.json.encode(future),
        codec.encode(event(2)),
    ]
    for value in values:
        await producer.send_and_wait(topic, value, key=b"k", partition=0)
    handled: list[int] = []

    async def handler(batch: list[Delivery], positions: dict[Position, int]) -> None:
        handled.extend(sequence(d) for d in batch)

    consumer = consumer_for(kafka_bootstrap, topic, handler, producer)
    await run_until(consumer, lambda: len(handled) >= 2)

    assert handled == [0, 2]
    assert await committed(kafka_bootstrap, consumer.group_id, [TopicPartition(topic, 0)]) == {
        0: len(values)
    }
    reader = AIOKafkaConsumer(
        dead_letters, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await reader.start()
    records = []
    try:
        deadline = time.monotonic() + 30
        while len(records) < 3 and time.monotonic() < deadline:
            fetched = await reader.getmany(timeout_ms=1000, max_records=10)
            records.extend(r for batch in fetched.values() for r in batch)
    finally:
        await reader.stop()
    assert [r.value for r in records] == values[1:4]
    assert all(r.key == b"k" for r in records)
    headers = [{k: bytes(v).decode() for k, v in r.headers} for r in records]
    assert [h["sluice.error.code"] for h in headers] == [
        "not_json",
        "unknown_schema_version",
        "unknown_schema_version",
    ]
    assert [h["sluice.original.offset"] for h in headers] == ["1", "2", "3"]
    assert all(h["sluice.original.topic"] == topic for h in headers)
    assert all(h["sluice.error.message"] for h in headers)


async def test_headers_anyone_can_write_do_not_wedge_the_partition(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    producer: AIOKafkaProducer,
) -> None:
    # A retry count int() refuses raised out of the loop; the record came back and raised
    # again, and nothing behind it on the partition was handled.
    topic = await topic_factory(partitions=1)
    hostile = [
        [(RETRY_ATTEMPT, b"x")],
        [(RETRY_ATTEMPT, "\u00b2".encode())],
        [(RETRY_NOT_BEFORE, b"1" * 30)],
        [],
    ]
    for n, headers in enumerate(hostile):
        await producer.send_and_wait(topic, codec.encode(event(n)), partition=0, headers=headers)
    handled: list[tuple[int, int]] = []

    async def handler(batch: list[Delivery], positions: dict[Position, int]) -> None:
        handled.extend((sequence(d), d.retries) for d in batch)

    consumer = consumer_for(kafka_bootstrap, topic, handler, producer)
    await run_until(consumer, lambda: len(handled) >= len(hostile), seen=lambda: handled)
    assert handled == [(n, 0) for n in range(len(hostile))]
