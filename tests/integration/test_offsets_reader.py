"""Status's offsets reader on a real broker: one pair of clients serves every reading, and a
reading after the clients were closed (what a failed reading does) opens new ones; it and the
pipeline view count lag and dead letters alike."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import RecordsToDelete
from aiokafka.errors import GroupCoordinatorNotAvailableError

from services.common.kafka.admin import ensure_topics
from services.status.adapters.groups import GroupProbe, GroupSample
from services.status.adapters.offsets import Offsets, OffsetsReader

pytestmark = pytest.mark.integration


async def first_reading(reader: OffsetsReader) -> Offsets:
    """A reading, once the broker has a group coordinator (a fresh one creates it first)."""
    for _ in range(60):
        try:
            return await reader.read()
        except GroupCoordinatorNotAvailableError:
            await reader.probe.close()
            await asyncio.sleep(0.5)
    return await reader.read()


def test_readings_share_their_clients_and_reopen_after_a_close(kafka_bootstrap: str) -> None:
    topic = f"offsets-reader-{secrets.token_hex(4)}"
    group = f"offsets-reader-{secrets.token_hex(4)}"

    async def scenario() -> None:
        await ensure_topics(kafka_bootstrap, [topic], partitions=2)
        reader = OffsetsReader(kafka_bootstrap, {group: (topic,)}, ack_group=f"{group}-ack")
        try:
            first = await first_reading(reader)
            clients = await reader.probe.clients()
            producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
            await producer.start()
            try:
                for n in range(3):
                    await producer.send_and_wait(topic, b"x", partition=n % 2)
            finally:
                await producer.stop()
            second = await reader.read()
            assert await reader.probe.clients() == clients  # no new connections per reading
            await reader.probe.close()
            third = await reader.read()
            assert await reader.probe.clients() != clients
        finally:
            await reader.probe.close()
        lag = {(r.topic, r.partition): r.lag for r in first.groups}
        assert lag == {(topic, 0): 0, (topic, 1): 0}
        for reading in (second, third):  # nothing committed: all three records are lag
            assert sorted((r.partition, r.committed, r.lag) for r in reading.groups) == [
                (0, None, 2),
                (1, None, 1),
            ]

    asyncio.run(scenario())


def test_the_gauges_and_the_pipeline_view_count_lag_and_dead_letters_alike(
    kafka_bootstrap: str,
) -> None:
    # Five records; the log start moved to offset 1 (retention); the ack group acknowledged
    # up to offset 3. A group that never committed resumes at the log start: 4 behind (the
    # gauges once counted from 0: 5). Unacknowledged: 2 (the view once counted 4, end - start).
    topic = f"offsets-alike-{secrets.token_hex(4)}"
    group, ack = f"alike-{secrets.token_hex(4)}", f"alike-ack-{secrets.token_hex(4)}"
    tp = TopicPartition(topic, 0)

    async def scenario() -> tuple[Offsets, GroupSample, dict[TopicPartition, int]]:
        await ensure_topics(kafka_bootstrap, [topic], partitions=1)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for _ in range(5):
                await producer.send_and_wait(topic, b"x", partition=0)
        finally:
            await producer.stop()
        acker = AIOKafkaConsumer(
            bootstrap_servers=kafka_bootstrap, group_id=ack, enable_auto_commit=False
        )
        await acker.start()
        try:
            acker.assign([tp])
            await acker.commit({tp: 3})
        finally:
            await acker.stop()
        reader = OffsetsReader(kafka_bootstrap, {group: (topic,)}, ack_group=ack)
        probe = GroupProbe(kafka_bootstrap, ack_group=ack)
        try:
            admin, _ = await probe.clients()
            await admin.delete_records({tp: RecordsToDelete(before_offset=1)})
            reading = await first_reading(reader)
            sample = await probe.sample(group, (topic,), (topic,))
            depth = await reader.probe.dead_letters([tp])
        finally:
            await reader.probe.close()
            await probe.close()
        return reading, sample, depth

    reading, sample, depth = asyncio.run(scenario())
    assert [(r.committed, r.lag) for r in reading.groups] == [(None, 4)]
    assert sample.lag == {f"{topic}/0": 4}
    assert (sample.dlq_depth, depth) == (2, {tp: 2})
