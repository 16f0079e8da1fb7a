"""The one Kafka toolkit: durable producer, topic setup; the consumer loop is re-exported."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from schemas import topics
from services.common.consumer import ConsumerHealth, ConsumerLoop, StoredOffsets
from services.common.isolation import BatchHandler
from services.common.records import (
    RETRY_ATTEMPT,
    RETRY_NOT_BEFORE,
    Delivery,
    Position,
    header,
    send_event,
)

__all__ = [
    "RETRY_ATTEMPT",
    "RETRY_NOT_BEFORE",
    "BatchHandler",
    "ConsumerHealth",
    "ConsumerLoop",
    "Delivery",
    "Position",
    "StoredOffsets",
    "ensure_topics",
    "header",
    "make_producer",
    "send_event",
]

log = logging.getLogger(__name__)


def make_producer(bootstrap: str, client_id: str, **overrides: Any) -> AIOKafkaProducer:
    """A producer with the durability the pipeline relies on (acks=all, idempotent)."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "client_id": client_id,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "request_timeout_ms": 30_000,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


async def ensure_topics(
    bootstrap: str,
    names: Sequence[str] = topics.ALL_TOPICS,
    *,
    partitions: int = topics.DEFAULT_PARTITIONS,
    replication: int = 1,
    retention_ms: int = topics.DEFAULT_RETENTION_MS,
) -> list[str]:
    """Create the topics that do not exist yet; return the ones created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="sluice-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            config = {"retention.ms": str(retention_ms)}
            new = [NewTopic(n, partitions, replication, topic_configs=config) for n in missing]
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                log.info("topics created concurrently by another process")
        return missing
    finally:
        await admin.close()
