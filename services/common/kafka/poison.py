"""Undecodable records: copied to the dead-letter topic by the one consumer that owns it."""

from __future__ import annotations

import logging
from collections.abc import Collection

import msgspec
from aiokafka.structs import ConsumerRecord

from schemas import codec, topics
from schemas.events import DocumentFailed, Origin, Stage, derived_id, now
from services.common.kafka.deadletter import DeadLetters
from services.common.kafka.headers import retries
from services.common.ports import EventPublisher

log = logging.getLogger(__name__)


class Poison:
    """Dead-letters records that do not decode; fails their job when the record names it.

    Only the consumer owning a topic (`owned`) dead-letters its poison: the others skip it.
    """

    def __init__(
        self,
        dead_letters: DeadLetters,
        *,
        publisher: EventPublisher,
        origin: Origin,
        stage: Stage | None,
        owned: Collection[str],
    ) -> None:
        self.dead_letters = dead_letters
        self.publisher = publisher
        self.origin = origin
        self.stage = stage
        self.owned = set(owned)

    async def handle(
        self, record: ConsumerRecord[bytes, bytes], error: codec.EventDecodeError
    ) -> None:
        """Dead-letter it if this consumer owns its topic (and fail its job), else skip it."""
        if record.topic not in self.owned:
            log.warning(
                "skipped undecodable %s[%d]@%d (%s): its owning stage dead-letters it",
                record.topic,
                record.partition,
                record.offset,
                error.code,
            )
            return
        await self.dead_letters.write(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            attempts=retries(record) + 1,
            code=error.code,
            message=error.message,
            error_type=type(error).__name__,
        )
        await self._fail_if_identifiable(record, error)

    async def _fail_if_identifiable(
        self, record: ConsumerRecord[bytes, bytes], error: codec.EventDecodeError
    ) -> None:
        """A poison record that still names its job makes that job fail visibly."""
        if self.stage is None or not record.value:
            return
        try:
            raw = msgspec.json.decode(record.value)
        except msgspec.DecodeError:
            return
        if not isinstance(raw, dict):
            return
        ids = {k: raw.get(k) for k in ("event_id", "tenant_id", "job_id", "document_id")}
        if not all(isinstance(v, str) and v for v in ids.values()):
            return
        failed = DocumentFailed(
            event_id=derived_id(str(ids["event_id"]), f"dead-letter/{self.stage}"),
            occurred_at=now(),
            tenant_id=str(ids["tenant_id"]),
            job_id=str(ids["job_id"]),
            document_id=str(ids["document_id"]),
            causation_id=str(ids["event_id"]),
            origin=self.origin,
            stage=self.stage,
            code=error.code,
            message=f"the pipeline could not read this job's event: {error.message}",
        )
        await self.publisher.publish(topics.DOCUMENTS_FAILED, failed)
