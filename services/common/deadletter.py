"""The one dead-letter writer: a record the pipeline gives up on, copied to `<topic>.dlq`."""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaProducer

from schemas import topics
from services.common import metrics
from services.common.logs import ctx

log = logging.getLogger(__name__)

# The header names, the same for every dead letter (docs/architecture.md, Failures).
CODE = "sluice.error.code"
MESSAGE = "sluice.error.message"
TYPE = "sluice.error.type"
STAGE = "sluice.error.stage"
TOPIC = "sluice.original.topic"
PARTITION = "sluice.original.partition"
OFFSET = "sluice.original.offset"
ATTEMPTS = "sluice.attempts"
GROUP = "sluice.consumer.group"


class DeadLetters:
    """Copies records to their pipeline topic's `.dlq` with the cause in headers."""

    def __init__(self, producer: AIOKafkaProducer, *, stage: str, group: str) -> None:
        self.producer = producer
        self.stage = stage
        self.group = group

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
            (CODE, code.encode()),
            (MESSAGE, message[:1000].encode()),
            (TYPE, error_type.encode()),
            (STAGE, self.stage.encode()),
            (TOPIC, topic.encode()),
            (PARTITION, str(partition).encode()),
            (OFFSET, str(offset).encode()),
            (ATTEMPTS, str(attempts).encode()),
            (GROUP, self.group.encode()),
        ]
        base = topics.base(topic)
        await self.producer.send_and_wait(topics.dlq(base), value, key=key, headers=headers)
        metrics.DEAD_LETTERS.labels(base, code).inc()
        log.warning(
            "dead-lettered %s[%d]@%d: %s",
            topic,
            partition,
            offset,
            code,
            extra=ctx(topic=topic, stage=self.stage),
        )
