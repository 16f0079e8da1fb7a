"""Producing: the durable producer and the event publisher the stages talk to."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

from schemas import codec
from schemas.events import AnyEvent
from services.common import metrics
from services.common.ports import Headers


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

    def __init__(self, producer: AIOKafkaProducer, *, service: str = "") -> None:
        self.producer = producer
        self.service = service  # the `service` label of what it produces

    async def publish(self, topic: str, event: AnyEvent, *, headers: Headers = ()) -> None:
        """Produce `event` keyed by document_id and wait for the broker's acknowledgement."""
        await self.send(topic, codec.encode(event), key=event.document_id.encode(), headers=headers)

    async def send(
        self, topic: str, value: bytes | None, *, key: bytes | None, headers: Headers = ()
    ) -> None:
        """Produce a raw record (a copy for a retry or dead-letter topic) and wait for the ack."""
        await self.producer.send_and_wait(topic, value, key=key, headers=list(headers) or None)
        metrics.RECORDS_PRODUCED.labels(self.service, topic).inc()

    def brokers_known(self) -> int:
        """How many brokers the producer's metadata knows (0 until it reached the cluster)."""
        return len(self.producer.client.cluster.brokers())
