"""The one Kafka toolkit: durable producer, topic setup, dead letters, and the consumer loop."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, Protocol

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, IllegalStateError, TopicAlreadyExistsError
from aiokafka.structs import ConsumerRecord

from schemas import codec, topics
from schemas.events import AnyEvent, DocumentFailed, Producer, Stage, derived_id, now
from services.common import metrics
from services.common.logs import ctx

log = logging.getLogger(__name__)
Position = tuple[str, int]
RETRY_ATTEMPT = "sluice.retry.attempt"
RETRY_NOT_BEFORE = "sluice.retry.not_before"


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


async def send_event(producer: AIOKafkaProducer, topic: str, event: AnyEvent) -> None:
    """Produce `event` keyed by document_id and wait for the broker's acknowledgement."""
    await producer.send_and_wait(topic, codec.encode(event), key=event.document_id.encode())
    metrics.EVENTS_PRODUCED.labels(topic, type(event).__name__).inc()


class Delivery(msgspec.Struct, frozen=True):
    """A decoded record with where it came from; `retries` counts earlier retry attempts."""

    topic: str
    partition: int
    offset: int
    event: AnyEvent
    retries: int = 0


class BatchHandler(Protocol):
    """Handles a batch; `positions` are the next offsets to resume from once it is durable."""

    async def __call__(self, batch: list[Delivery], positions: dict[Position, int]) -> None: ...


StoredOffsets = Callable[[list[TopicPartition]], Awaitable[dict[TopicPartition, int]]]


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    """A record header's value as text, or None."""
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode(errors="replace")
    return None


class ConsumerHealth:
    """What the readiness probe needs to know about one consumer loop."""

    def __init__(self, stall_after_s: float) -> None:
        self.started = False
        self.last_poll = 0.0
        self.last_progress = time.monotonic()
        self.assigned: set[TopicPartition] = set()
        self.consecutive_errors = 0
        self.stall_after_s = stall_after_s
        self.lag = 0

    def ready(self, max_silence: float = 30.0) -> tuple[bool, str]:
        """Healthy when polling, not failing repeatedly, and not stalled behind a growing lag."""
        now_ = time.monotonic()
        if not self.started:
            return False, "consumer not started"
        if now_ - self.last_poll > max_silence:
            return False, f"no poll for {now_ - self.last_poll:.0f}s"
        if self.consecutive_errors >= 5:
            return False, f"{self.consecutive_errors} consecutive batch failures"
        if self.lag > 0 and now_ - self.last_progress > self.stall_after_s:
            return False, f"lag {self.lag} and no commit for {now_ - self.last_progress:.0f}s"
        return True, f"{len(self.assigned)} partitions assigned, lag {self.lag}"


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: ConsumerLoop) -> None:
        self.loop = loop

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Commit on revocation: let the batch in hand finish and commit (its generation is
        # still valid while the group prepares the rebalance), so the next owner starts after
        # it instead of redoing it. Bounded: a stuck batch must not hold the group forever.
        if not self.loop.batch_done.is_set():
            try:
                await asyncio.wait_for(self.loop.batch_done.wait(), self.loop.revoke_wait_s)
            except TimeoutError:
                log.warning(
                    "rebalance: batch still running after %.0fs; its records will be redone",
                    self.loop.revoke_wait_s,
                )
        self.loop.health.assigned -= set(revoked)
        metrics.ASSIGNED_PARTITIONS.labels(self.loop.group_id).set(len(self.loop.health.assigned))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.loop.health.assigned |= set(assigned)
        self.loop.health.last_progress = time.monotonic()
        metrics.ASSIGNED_PARTITIONS.labels(self.loop.group_id).set(len(self.loop.health.assigned))
        if self.loop.stored_offsets is not None and assigned:
            stored = await self.loop.stored_offsets(list(assigned))
            for tp, offset in stored.items():
                self.loop.consumer.seek(tp, offset)
            log.info("resumed %d partitions from stored offsets", len(stored))


class ConsumerLoop:
    """Poll a batch, decode it (poison to the DLQ), hand it over, then commit: at-least-once.

    Records on a retry topic carry `sluice.retry.not_before`; until then their partition is
    paused (not slept on), so heartbeats and other partitions keep going.
    """

    def __init__(
        self,
        *,
        bootstrap: str,
        group_id: str,
        topics: Sequence[str],
        handler: BatchHandler,
        producer: AIOKafkaProducer,
        identity: Producer,
        stage: Stage | None = None,
        stored_offsets: StoredOffsets | None = None,
        dead_letter_topics: Collection[str] | None = None,
        max_records: int = 64,
        max_poll_interval_ms: int = 300_000,
        session_timeout_ms: int = 10_000,
        stall_after_s: float = 300.0,
    ) -> None:
        self.group_id = group_id
        self.topics = list(topics)
        self.handler = handler
        self.producer = producer
        self.identity = identity
        self.stage = stage
        self.stored_offsets = stored_offsets
        self.dead_letter_topics = set(dead_letter_topics or self.topics)
        self.max_records = max_records
        self.health = ConsumerHealth(stall_after_s)
        self.batch_done = asyncio.Event()  # clear while a batch is handled and committed
        self.batch_done.set()
        self.revoke_wait_s = min(60.0, max_poll_interval_ms / 2000)
        self._resume_handles: dict[TopicPartition, asyncio.TimerHandle] = {}
        self._seen: dict[TopicPartition, int] = {}
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group_id,
            client_id=f"{group_id}-{identity.instance}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_interval_ms=max_poll_interval_ms,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=max(1000, session_timeout_ms // 3),
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, then commit and leave the group."""
        self.consumer.subscribe(self.topics, listener=_Listener(self))
        await self.consumer.start()
        self.health.started = True
        backoff = 0.5
        try:
            while not stop.is_set():
                self.health.last_poll = time.monotonic()
                polled = await self.consumer.getmany(timeout_ms=500, max_records=self.max_records)
                records = [r for batch in polled.values() for r in batch]
                self._update_lag()
                if not records:
                    continue
                self.batch_done.clear()
                try:
                    await self._process(records)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self.health.consecutive_errors += 1
                    metrics.HANDLER_ERRORS.labels(self.group_id).inc()
                    log.exception("batch failed; will re-poll it after %.1fs", backoff)
                    self._rewind(records)
                    self.batch_done.set()  # nothing in hand while backing off
                    await _sleep_or_stop(stop, backoff * (1 + random.random() / 2))  # noqa: S311
                    backoff = min(backoff * 2, 30.0)
                else:
                    self.health.consecutive_errors = 0
                    backoff = 0.5
                finally:
                    self.batch_done.set()
        finally:
            self.health.started = False
            for handle in self._resume_handles.values():
                handle.cancel()
            await self.consumer.stop()

    async def _process(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        started = time.perf_counter()
        batch: list[Delivery] = []
        positions: dict[Position, int] = {}
        delayed: set[Position] = set()
        for record in records:
            where = (record.topic, record.partition)
            if where in delayed or self._delay(record):
                delayed.add(where)
                continue
            metrics.RECORDS_CONSUMED.labels(self.group_id, record.topic).inc()
            positions[where] = record.offset + 1
            self._seen[TopicPartition(*where)] = record.offset + 1
            try:
                event = codec.decode(record.value)
            except codec.EventDecodeError as error:
                await self._poison(record, error)
                continue
            retries = int(header(record, RETRY_ATTEMPT) or 0)
            batch.append(Delivery(record.topic, record.partition, record.offset, event, retries))
        await self.handler(batch, positions)
        await self._commit(positions)
        metrics.BATCH_SECONDS.labels(self.group_id).observe(time.perf_counter() - started)

    def _delay(self, record: ConsumerRecord[bytes, bytes]) -> bool:
        """Pause the partition if this retry record is not due yet; True if it was."""
        due = header(record, RETRY_NOT_BEFORE)
        if due is None:
            return False
        wait_s = (int(due) - time.time() * 1000) / 1000
        if wait_s <= 0:
            return False
        tp = TopicPartition(record.topic, record.partition)
        self.consumer.seek(tp, record.offset)
        self.consumer.pause(tp)
        loop = asyncio.get_running_loop()
        old = self._resume_handles.pop(tp, None)
        if old is not None:
            old.cancel()
        self._resume_handles[tp] = loop.call_later(wait_s, self._resume, tp)
        return True

    def _resume(self, tp: TopicPartition) -> None:
        self._resume_handles.pop(tp, None)
        if tp in self.consumer.assignment():
            self.consumer.resume(tp)

    async def _commit(self, positions: dict[Position, int]) -> None:
        assigned = self.consumer.assignment()
        offsets = {
            tp: offset
            for (t, p), offset in positions.items()
            if (tp := TopicPartition(t, p)) in assigned
        }
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:
            # The group rebalanced while we worked (e.g. work outlived max_poll_interval_ms):
            # the new owner re-reads these records, and every effect is idempotent.
            log.warning(
                "commit rejected after a rebalance (%s); records will be redelivered", error
            )
            return
        self.health.last_progress = time.monotonic()

    def _update_lag(self) -> None:
        """Records behind the partition ends, for partitions this loop has read from."""
        lag = 0
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            seen = self._seen.get(tp)
            if high is not None and seen is not None:
                lag += max(0, high - seen)
        self.health.lag = lag

    def _rewind(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        first: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            first[tp] = min(first.get(tp, record.offset), record.offset)
        for tp, offset in first.items():
            if tp in self.consumer.assignment():
                self.consumer.seek(tp, offset)

    async def _poison(
        self, record: ConsumerRecord[bytes, bytes], error: codec.EventDecodeError
    ) -> None:
        if record.topic in self.dead_letter_topics:
            await self._dead_letter(record, error)
        else:
            log.warning(
                "skipped undecodable %s[%d]@%d (%s): its owning stage dead-letters it",
                record.topic,
                record.partition,
                record.offset,
                error.code,
            )

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], error: codec.EventDecodeError
    ) -> None:
        headers = [
            ("sluice.error.code", error.code.encode()),
            ("sluice.error.message", error.message[:1000].encode()),
            ("sluice.error.stage", (self.stage or "status").encode()),
            ("sluice.original.topic", record.topic.encode()),
            ("sluice.original.partition", str(record.partition).encode()),
            ("sluice.original.offset", str(record.offset).encode()),
            ("sluice.attempts", str(int(header(record, RETRY_ATTEMPT) or 0) + 1).encode()),
            ("sluice.consumer.group", self.group_id.encode()),
        ]
        await self.producer.send_and_wait(
            topics.dlq(topics.base(record.topic)), record.value, key=record.key, headers=headers
        )
        metrics.DEAD_LETTERS.labels(record.topic, error.code).inc()
        log.warning(
            "dead-lettered %s[%d]@%d: %s",
            record.topic,
            record.partition,
            record.offset,
            error.code,
            extra=ctx(topic=record.topic),
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
            producer=self.identity,
            stage=self.stage,
            code=error.code,
            message=f"the pipeline could not read this job's event: {error.message}",
        )
        await send_event(self.producer, topics.DOCUMENTS_FAILED, failed)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return
