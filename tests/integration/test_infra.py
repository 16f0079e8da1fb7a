"""The session's Kafka and Postgres are real: a message round-trips, pgvector answers."""

import uuid

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.fixtures.infra import TopicFactory

pytestmark = pytest.mark.integration


async def test_message_round_trips_through_the_broker(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory(partitions=3)
    payload = uuid.uuid4().bytes
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, payload, key=b"k")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert (record.partition, record.offset, record.key, record.value) == (
        sent.partition,
        sent.offset,
        b"k",
        payload,
    )


def test_pgvector_cosine_distance_orders_nearest_first(fresh_database: str) -> None:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("CREATE TABLE items (name text PRIMARY KEY, embedding vector(3))")
        conn.execute(
            "INSERT INTO items VALUES ('x', '[1,0,0]'), ('y', '[0,1,0]'), ('xy', '[1,1,0]')"
        )
        rows = conn.execute(
            "SELECT name, embedding <=> '[1,0.1,0]' AS d FROM items ORDER BY d"
        ).fetchall()
    assert [name for name, _ in rows] == ["x", "xy", "y"]
    assert rows[0][1] == pytest.approx(1 - 1 / (1.01**0.5), abs=1e-6)


def test_database_url_points_at_the_sluice_database(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("sluice",)
