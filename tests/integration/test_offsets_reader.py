"""Status's offsets reader on a real broker: one pair of clients serves every reading, and a
reading after the clients were closed (what a failed reading does) opens new ones."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import GroupCoordinatorNotAvailableError

from services.common.kafka.admin import ensure_topics
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
