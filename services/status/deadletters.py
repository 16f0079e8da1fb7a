"""Dead letters for people: the newest records of the `<topic>.dlq` topics, and one by its
place, read with a consumer of no group (nothing committed, no member of any group).

A caller with `admin:pipeline` sees every record (audited); any other caller sees the records
whose event names its tenant (a record that does not decode as an event names none).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Annotated

import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from litestar import Controller, Response, get
from litestar.params import Parameter

from schemas import topics
from services.common.access import SECURITY, ok_responses, requires
from services.common.api_bodies import DeadLetterPage, DeadLetterView
from services.common.auth import ADMIN_PIPELINE, READ, Principal
from services.common.http import Problem, problem
from services.common.kafka import headers
from services.common.kafka.admin import admin_client, existing_partitions
from services.status.adapters.audit import AuditLog

DLQ_TOPICS = tuple(topics.dlq(t) for t in topics.PIPELINE_TOPICS)
SCAN_PER_PARTITION = 1000  # a listing reads at most the newest this many of each partition
READ_TIMEOUT_S = 10.0
VALUE_CHARS = 64 * 1024  # of a record's payload shown by `one`


class _Envelope(msgspec.Struct, frozen=True):
    type: str | None = None
    tenant_id: str | None = None
    job_id: str | None = None
    document_id: str | None = None


class DeadLettersUnavailableError(Exception):
    """Kafka did not answer."""


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")


def view(record: ConsumerRecord[bytes, bytes], *, with_value: bool = False) -> DeadLetterView:
    """A record of a dead-letter topic as the API shows it."""
    found = {name: _text(raw) for name, raw in record.headers or ()}
    try:
        envelope = msgspec.json.decode(record.value or b"", type=_Envelope)
    except msgspec.DecodeError:
        envelope = _Envelope()
    value = _text(record.value)
    return DeadLetterView(
        ref=f"{record.topic}/{record.partition}/{record.offset}",
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC),
        code=found.get(headers.ERROR_CODE),
        message=found.get(headers.ERROR_MESSAGE),
        error_type=found.get(headers.ERROR_TYPE) or None,
        stage=found.get(headers.ERROR_STAGE),
        original_topic=found.get(headers.ORIGINAL_TOPIC),
        original_partition=headers.number(found.get(headers.ORIGINAL_PARTITION)),
        original_offset=headers.number(found.get(headers.ORIGINAL_OFFSET)),
        attempts=headers.number(found.get(headers.ATTEMPTS)),
        consumer_group=found.get(headers.CONSUMER_GROUP),
        event_type=envelope.type,
        tenant_id=envelope.tenant_id,
        job_id=envelope.job_id,
        document_id=envelope.document_id,
        key=_text(record.key),
        value=value[:VALUE_CHARS] if with_value and value is not None else None,
    )


class DeadLetterReader:
    """Reads dead-letter topics on demand; each call uses a short-lived consumer."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            client_id="sluice-status-dead-letters",
            request_timeout_ms=int(READ_TIMEOUT_S * 1000),
        )

    async def _partitions(self, names: Sequence[str]) -> list[TopicPartition]:
        """The partitions of those of `names` that exist."""
        async with admin_client(self.bootstrap, "sluice-status-dead-letters") as admin:
            return await existing_partitions(admin, names)

    async def newest(
        self, names: Sequence[str], limit: int, tenant: str | None
    ) -> list[DeadLetterView]:
        """The newest `limit` records of `names` that `tenant` may see (None: all)."""
        consumer = self._consumer()
        try:
            parts = await self._partitions(names)
            await consumer.start()
            records = await _read_tail(consumer, parts) if parts else []
        except KafkaError as error:
            raise DeadLettersUnavailableError(str(error) or type(error).__name__) from error
        finally:
            await consumer.stop()
        shown = [view(r) for r in records]
        mine = [v for v in shown if tenant is None or v.tenant_id == tenant]
        mine.sort(key=lambda v: (v.timestamp, v.ref), reverse=True)
        return mine[:limit]

    async def one(
        self, topic: str, partition: int, offset: int, tenant: str | None
    ) -> DeadLetterView | None:
        """The record at that place, with its payload, if `tenant` may see it."""
        if topic not in DLQ_TOPICS:
            return None
        consumer = self._consumer()
        part = TopicPartition(topic, partition)
        try:
            if part not in await self._partitions([topic]):
                return None
            await consumer.start()
            consumer.assign([part])
            first = (await consumer.beginning_offsets([part]))[part]
            end = (await consumer.end_offsets([part]))[part]
            if not first <= offset < end:
                return None
            consumer.seek(part, offset)
            record = await asyncio.wait_for(consumer.getone(part), READ_TIMEOUT_S)
        except (KafkaError, TimeoutError) as error:
            raise DeadLettersUnavailableError(str(error) or type(error).__name__) from error
        finally:
            await consumer.stop()
        found = view(record, with_value=True)
        return found if tenant is None or found.tenant_id == tenant else None


async def _read_tail(
    consumer: AIOKafkaConsumer, parts: list[TopicPartition]
) -> list[ConsumerRecord[bytes, bytes]]:
    """The last SCAN_PER_PARTITION records of each partition."""
    consumer.assign(parts)
    first = await consumer.beginning_offsets(parts)
    ends = await consumer.end_offsets(parts)
    waiting = {p for p in parts if ends[p] > first[p]}
    for part in parts:
        if part in waiting:
            consumer.seek(part, max(first[part], ends[part] - SCAN_PER_PARTITION))
        else:
            consumer.pause(part)
    records: list[ConsumerRecord[bytes, bytes]] = []
    deadline = asyncio.get_running_loop().time() + READ_TIMEOUT_S
    while waiting:
        if asyncio.get_running_loop().time() > deadline:
            raise DeadLettersUnavailableError("dead-letter topics not read in time")
        batches = await consumer.getmany(*waiting, timeout_ms=500)
        for part, batch in batches.items():
            records += [r for r in batch if r.offset < ends[part]]
        for part in list(waiting):
            if await consumer.position(part) >= ends[part]:
                waiting.discard(part)
                consumer.pause(part)
    return records


async def _scope(principal: Principal, audit: AuditLog, action: str, target: str) -> str | None:
    """The tenant whose records the caller may see; None (every tenant, audited) for a token
    with `admin:pipeline`."""
    if ADMIN_PIPELINE in principal.scopes:
        await audit.record(principal, ADMIN_PIPELINE, action, "*", target)
        return None
    return principal.tenant


def _topics(topic: str | None) -> Iterable[str] | None:
    if topic is None:
        return DLQ_TOPICS
    name = topic if topic.endswith(".dlq") else topics.dlq(topic)
    return (name,) if name in DLQ_TOPICS else None


# A pipeline topic or its `.dlq`: in the OpenAPI document, so a client sees the choices.
TOPIC_PATTERN = (
    "^(?:" + "|".join(re.escape(name) for name in topics.PIPELINE_TOPICS) + r")(?:\.dlq)?$"
)


class DeadLetterController(Controller):
    """GET /v1/dead-letters[/{topic}/{partition}/{offset}] (`dead_letters`: the reader)."""

    path = "/v1/dead-letters"
    security = SECURITY

    @get(
        "/",
        guards=[requires(READ, ADMIN_PIPELINE)],
        responses=ok_responses(DeadLetterPage, "The newest dead letters the caller may see"),
    )
    async def list_dead_letters(
        self,
        principal: Principal,
        dead_letters: DeadLetterReader,
        audit: AuditLog,
        topic: Annotated[
            str | None, Parameter(pattern=TOPIC_PATTERN, description="One pipeline topic")
        ] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
    ) -> Response[DeadLetterPage] | Response[Problem]:
        """The newest dead letters the caller may see, newest first."""
        tenant = await _scope(principal, audit, "dead_letters.list", topic or "*")
        names = _topics(topic)
        if names is None:
            known = ", ".join(topics.PIPELINE_TOPICS)
            return problem(400, "Bad Request", f"topic must be one of: {known}")
        try:
            records = await dead_letters.newest(tuple(names), limit, tenant)
        except DeadLettersUnavailableError as error:
            return problem(503, "Service Unavailable", f"Kafka did not answer: {error}")
        return Response(DeadLetterPage(records=records))

    @get(
        "/{topic:str}/{partition:int}/{offset:int}",
        guards=[requires(READ, ADMIN_PIPELINE)],
        responses=ok_responses(DeadLetterView, "One dead letter with its payload", 404),
    )
    async def get_dead_letter(
        self,
        *,
        topic: str,
        partition: int,
        offset: int,
        principal: Principal,
        dead_letters: DeadLetterReader,
        audit: AuditLog,
    ) -> Response[DeadLetterView] | Response[Problem]:
        """One dead letter with its payload."""
        tenant = await _scope(
            principal, audit, "dead_letters.show", f"{topic}/{partition}/{offset}"
        )
        try:
            found = await dead_letters.one(topic, partition, offset, tenant)
        except DeadLettersUnavailableError as error:
            return problem(503, "Service Unavailable", f"Kafka did not answer: {error}")
        if found is None:
            return problem(404, "Not Found", f"no dead letter {topic}/{partition}/{offset}")
        return Response(found)
