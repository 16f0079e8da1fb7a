"""Fixtures shared by the integration tests (the session's Kafka and Postgres come from
tests/fixtures/infra.py)."""

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer

from services.common.kafka.producer import make_producer


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """A started producer with the pipeline's durability settings."""
    started = make_producer(kafka_bootstrap, "integration-test")
    await started.start()
    try:
        yield started
    finally:
        await started.stop()
