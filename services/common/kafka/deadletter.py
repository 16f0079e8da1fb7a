"""The one dead-letter writer: a record the pipeline gives up on, copied to `<topic>.dlq`."""

from __future__ import annotations

import logging

from schemas import codec, topics
from services.common import metrics
from services.common.kafka import headers as h
from services.common.kafka.records import Delivery
from services.common.logs import ctx
from services.common.ports import RecordSender

log = logging.getLogger(__name__)


class DeadLetters:
    """Copies records to their pipeline topic's `.dlq` with the cause in headers.

    Every dead letter, whoever gives up on it (the loop's poison check, its isolation, a
    stage's `Retrier`), is written here, with the header names of `services.common.kafka.headers`.
    """

    def __init__(self, sender: RecordSender, *, stage: str, group: str, service: str = "") -> None:
        self.sender = sender
        self.stage = stage
        self.group = group
        self.service = service

    async def write(
        self,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        attempts: int,
        code: str,
        message: str,
        error_type: str = "",
    ) -> None:
        """Copy the record (value and key unchanged) and wait for the acknowledgement.

        `error_type` names the exception behind the failure (empty when a stage decided to
        give up without one); a retry topic's record goes to its pipeline topic's `.dlq`.
        """
        headers = [
            (h.ERROR_CODE, code.encode()),
            (h.ERROR_MESSAGE, message[: h.MESSAGE_LIMIT].encode()),
            (h.ERROR_TYPE, error_type.encode()),
            (h.ERROR_STAGE, self.stage.encode()),
            (h.ORIGINAL_TOPIC, topic.encode()),
            (h.ORIGINAL_PARTITION, str(partition).encode()),
            (h.ORIGINAL_OFFSET, str(offset).encode()),
            (h.ATTEMPTS, str(attempts).encode()),
            (h.CONSUMER_GROUP, self.group.encode()),
        ]
        base = topics.base(topic)
        await self.sender.send(topics.dlq(base), value, key=key, headers=headers)
        metrics.DEAD_LETTERS.labels(self.service, base, code).inc()
        log.warning(
            "dead-lettered %s[%d]@%d: %s",
            topic,
            partition,
            offset,
            code,
            extra=ctx(topic=topic, stage=self.stage),
        )

    async def write_delivery(
        self,
        delivery: Delivery,
        *,
        code: str,
        message: str,
        error_type: str = "",
        attempts: int | None = None,
    ) -> None:
        """Copy a decoded record; `attempts` defaults to one more than its retries."""
        await self.write(
            topic=delivery.topic,
            partition=delivery.partition,
            offset=delivery.offset,
            key=delivery.event.document_id.encode(),
            value=codec.encode(delivery.event),
            attempts=attempts if attempts is not None else delivery.retries + 1,
            code=code,
            message=message,
            error_type=error_type,
        )
