"""What the consumer loop hands a stage, the retry headers, and acknowledged event sends."""

from __future__ import annotations

import msgspec
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from schemas import codec
from schemas.events import AnyEvent
from services.common import metrics

Position = tuple[str, int]
RETRY_ATTEMPT = "sluice.retry.attempt"
RETRY_NOT_BEFORE = "sluice.retry.not_before"


class Delivery(msgspec.Struct, frozen=True):
    """A decoded record with where it came from; `retries` counts earlier retry attempts."""

    topic: str
    partition: int
    offset: int
    event: AnyEvent
    retries: int = 0


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    """A record header's value as text, or None."""
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode(errors="replace")
    return None


async def send_event(producer: AIOKafkaProducer, topic: str, event: AnyEvent) -> None:
    """Produce `event` keyed by document_id and wait for the broker's acknowledgement."""
    await producer.send_and_wait(topic, codec.encode(event), key=event.document_id.encode())
    metrics.EVENTS_PRODUCED.labels(topic, type(event).__name__).inc()
