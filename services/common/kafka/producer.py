"""Producing: the durable producer, topic setup, and the event publisher the stages talk to."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from schemas import codec, topics
from schemas.events import AnyEvent
from services.common import metrics
from services.common.ports import Headers

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


class KafkaPublisher:
    """`EventPublisher` and `RecordSender` over a started producer: every send is acknowledged."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer

    async def publish(self, topic: str, event: AnyEvent, *, headers: Headers = ()) -> None:
        """Produce `event` keyed by document_id and wait for the broker's acknowledgement."""
        await self.send(topic, codec.encode(event), key=event.document_id.encode(), headers=headers)
        metrics.EVENTS_PRODUCED.labels(topic, type(event).__name__).inc()

    async def send(
        self, topic: str, value: bytes | None, *, key: bytes | None, headers: Headers = ()
    ) -> None:
        """Produce a raw record (a copy for a retry or dead-letter topic) and wait for the ack."""
        await self.producer.send_and_wait(topic, value, key=key, headers=list(headers) or None)

    def brokers_known(self) -> int:
        """How many brokers the producer's metadata knows (0 until it reached the cluster)."""
        return len(self.producer.client.cluster.brokers())


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
            new = [
                NewTopic(
                    n,
                    partitions,
                    replication,
                    topic_configs={**config, **topics.TOPIC_CONFIGS.get(n, {})},
                )
                for n in missing
            ]
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                log.info("topics created concurrently by another process")
        return missing
    finally:
        await admin.close()
