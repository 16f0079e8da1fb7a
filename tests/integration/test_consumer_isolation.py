"""Per-record failure isolation and per-record mode on a real broker (issues 8 and 13).

A record whose handler raises must cost only that record: the rest of its batch and its
partition go on, it is retried a bounded number of times and then dead-lettered with its job
failed `internal_error`. An outage (Postgres down) retries the same records instead. In
per-record mode each record is handed on as it finishes, and the committed offset never
passes a record still running.
"""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas import codec, topics
from schemas.events import AnyEvent, DocumentFailed, DocumentUploaded, RetryScheduled, Stage
from services.common import metrics
from services.common.kafka.admin import ensure_topics
from services.common.kafka.consumer import ConsumerLoop
from services.common.kafka.producer import KafkaPublisher
from services.common.kafka.records import Delivery, Position
from services.common.kafka.retry import Retrier, RetryPolicy
from tests.fixtures.infra import TopicFactory, leaders
from tests.integration.test_consumer_loop import ORIGIN, committed, event, run_until, sequence

pytestmark = pytest.mark.integration

MODES = [pytest.param(0, id="batch-mode"), pytest.param(3, id="per-record-mode")]
QUICK = RetryPolicy(max_retries=8, base_s=0.2, cap_s=0.5)


@pytest.fixture
async def topic(kafka_bootstrap: str, topic_factory: TopicFactory) -> str:
    """An input topic (1 partition) with its `.retry` and `.dlq`, deleted after the test."""
    await ensure_topics(kafka_bootstrap, [topics.DOCUMENTS_FAILED, topics.JOBS_PROGRESS])
    name = await topic_factory(partitions=1)
    await topic_factory(name=topics.retry(name))
    await topic_factory(name=topics.dlq(name))
    return name


@dataclass
class Outputs:
    """What the loop produced for our jobs: failed jobs, retry notices, dead letters."""

    reader: AIOKafkaConsumer
    dlq: str
    seen: list[tuple[str, AnyEvent, dict[str, str]]] = field(default_factory=list)

    async def read(self, seconds: float = 0.2) -> None:
        polled = await self.reader.getmany(timeout_ms=int(seconds * 1000))
        for record in (r for batch in polled.values() for r in batch):
            headers = {k: bytes(v).decode() for k, v in record.headers or ()}
            with contextlib.suppress(codec.EventDecodeError):
                self.seen.append((record.topic, codec.decode(record.value), headers))

    def of(self, topic: str, job_id: str, kind: type[Any] = object) -> list[Any]:
        return [
            e for t, e, _ in self.seen if t == topic and e.job_id == job_id and isinstance(e, kind)
        ]

    def dead_letters(self) -> list[tuple[AnyEvent, dict[str, str]]]:
        return [(e, h) for t, e, h in self.seen if t == self.dlq]


@contextlib.asynccontextmanager
async def outputs(kafka_bootstrap: str, topic: str) -> AsyncIterator[Outputs]:
    """Reads sluice.documents.failed / jobs.progress from now on, and the topic's DLQ."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        tps = await leaders(admin, [topics.DOCUMENTS_FAILED, topics.JOBS_PROGRESS])
    finally:
        await admin.close()
    reader = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        dlq = TopicPartition(topics.dlq(topic), 0)
        reader.assign([*tps, dlq])
        await reader.seek_to_end(*tps)
        for tp in tps:
            await reader.position(tp)  # pin "the end before the test" now
        await reader.seek_to_beginning(dlq)
        yield Outputs(reader, dlq.topic)
    finally:
        await reader.stop()


def stage_consumer(
    kafka_bootstrap: str,
    topic: str,
    handler: Callable[[list[Delivery], dict[Position, int]], Awaitable[None]],
    producer: AIOKafkaProducer,
    *,
    concurrency: int,
    group: str | None = None,
    **options: Any,
) -> ConsumerLoop:
    """A parse-stage consumer on `topic` and its retry topic, with a quick retry policy."""
    group = group or f"isolation-{uuid.uuid4().hex[:8]}"
    publisher = KafkaPublisher(producer)
    return ConsumerLoop(
        bootstrap=kafka_bootstrap,
        group_id=group,
        topics=[topic, topics.retry(topic)],
        handler=handler,
        publisher=publisher,
        origin=ORIGIN,
        stage=Stage.PARSE,
        retrier=Retrier(publisher, ORIGIN, Stage.PARSE, QUICK, group=group),
        max_records=4,
        concurrency=concurrency,
        **options,
    )


async def run_reading(
    consumer: ConsumerLoop, out: Outputs, done: Callable[[], bool], timeout: float = 90
) -> None:
    """Run `consumer`, reading its outputs, until `done()`; then stop it (it commits and leaves)."""
    await run_until(consumer, done, timeout, step=out.read, seen=lambda: f"; saw {out.seen}")


async def produce(producer: AIOKafkaProducer, topic: str, count: int) -> list[DocumentUploaded]:
    """`count` uploads on partition 0, keyed by document id, in sequence."""
    sent = [event(n) for n in range(count)]
    for upload in sent:
        await producer.send_and_wait(
            topic, codec.encode(upload), key=upload.document_id.encode(), partition=0
        )
    return sent


@pytest.mark.parametrize("concurrency", MODES)
async def test_a_record_whose_handler_raises_is_dead_lettered_and_blocks_nothing(
    kafka_bootstrap: str, topic: str, producer: AIOKafkaProducer, concurrency: int
) -> None:
    uploads = await produce(producer, topic, 12)
    bad = uploads[2]
    handled: list[int] = []

    async def handler(batch: list[Delivery], positions: dict[Position, int]) -> None:
        if any(d.event.event_id == bad.event_id for d in batch):
            raise TypeError("Encoding objects of type TextStringObject is unsupported")
        handled.extend(sequence(d) for d in batch)

    consumer = stage_consumer(kafka_bootstrap, topic, handler, producer, concurrency=concurrency)
    async with outputs(kafka_bootstrap, topic) as out:
        await run_reading(
            consumer,
            out,
            lambda: len(handled) >= 11 and bool(out.of(topics.DOCUMENTS_FAILED, bad.job_id)),
        )

    assert sorted(handled) == [n for n in range(12) if n != 2], "every other record handled"
    (failed,) = out.of(topics.DOCUMENTS_FAILED, bad.job_id)
    assert isinstance(failed, DocumentFailed)
    assert (failed.code, failed.stage) == ("internal_error", Stage.PARSE)
    assert "TypeError: Encoding objects of type TextStringObject" in failed.message
    retries = out.of(topics.JOBS_PROGRESS, bad.job_id, RetryScheduled)
    assert [r.retry for r in retries] == [1, 2], "two trips through the retry topic"
    ((dead, headers),) = out.dead_letters()
    assert dead.event_id == bad.event_id
    assert headers["sluice.error.code"] == "internal_error"
    assert headers["sluice.error.type"] == "TypeError"
    assert "Encoding objects of type TextStringObject" in headers["sluice.error.message"]
    assert headers["sluice.original.topic"] == topics.retry(topic)
    assert headers["sluice.consumer.group"] == consumer.group_id
    assert await committed(kafka_bootstrap, consumer.group_id, [TopicPartition(topic, 0)]) == {
        0: 12
    }
    retry_tp = TopicPartition(topics.retry(topic), 0)
    assert await committed(kafka_bootstrap, consumer.group_id, [retry_tp]) == {0: 2}
    assert consumer.health.consecutive_errors == 0


@dataclass
class FailingRun:
    """Six uploads through a stage consumer whose handler raises on `failing` a few times."""

    consumer: ConsumerLoop
    out: Outputs
    failing: DocumentUploaded
    refusals: list[int]  # the size of each batch the handler raised on
    handled: list[int]
    outages: float  # outages the consumer counted (sluice_handler_errors_total)


async def run_failing(
    kafka_bootstrap: str,
    topic: str,
    producer: AIOKafkaProducer,
    concurrency: int,
    *,
    failing: int,
    error: BaseException,
    times: int,
) -> FailingRun:
    """Run until all six are handled, raising `error` for upload `failing` `times` times."""
    uploads = await produce(producer, topic, 6)
    refusals: list[int] = []
    handled: list[int] = []

    async def handler(batch: list[Delivery], positions: dict[Position, int]) -> None:
        fails = any(d.event.event_id == uploads[failing].event_id for d in batch)
        if fails and len(refusals) < times:
            refusals.append(len(batch))
            raise error
        handled.extend(sequence(d) for d in batch)

    consumer = stage_consumer(kafka_bootstrap, topic, handler, producer, concurrency=concurrency)
    outages_before = metrics.HANDLER_ERRORS.labels(
        consumer.origin.service, consumer.group_id
    )._value.get()
    async with outputs(kafka_bootstrap, topic) as out:
        await run_reading(consumer, out, lambda: len(handled) >= 6)
        for _ in range(5):  # anything set aside would show up now
            await out.read()
    outages = (
        metrics.HANDLER_ERRORS.labels(consumer.origin.service, consumer.group_id)._value.get()
        - outages_before
    )
    return FailingRun(consumer, out, uploads[failing], refusals, handled, outages)


@pytest.mark.parametrize("concurrency", MODES)
async def test_a_handler_that_raises_once_then_succeeds_costs_nothing(
    kafka_bootstrap: str, topic: str, producer: AIOKafkaProducer, concurrency: int
) -> None:
    race = RuntimeError("a race that one try loses")

    run = await run_failing(
        kafka_bootstrap, topic, producer, concurrency, failing=3, error=race, times=1
    )

    assert sorted(run.handled) == list(range(6)) and run.refusals
    assert run.out.dead_letters() == []
    assert run.out.of(topics.DOCUMENTS_FAILED, run.failing.job_id) == []
    assert run.out.of(topics.JOBS_PROGRESS, run.failing.job_id) == [], "retried in place"
    assert run.outages == 0, "one record's failure is not a consumer outage"


@pytest.mark.parametrize("concurrency", MODES)
async def test_an_outage_retries_the_same_records_and_dead_letters_nothing(
    kafka_bootstrap: str, topic: str, producer: AIOKafkaProducer, concurrency: int
) -> None:
    refused = psycopg.OperationalError("connection to server failed: Connection refused")

    run = await run_failing(
        kafka_bootstrap, topic, producer, concurrency, failing=1, error=refused, times=4
    )

    assert len(run.refusals) == 4, "the same record was tried again after each refusal"
    assert sorted(run.handled) == list(range(6))
    assert run.out.dead_letters() == []
    assert run.out.of(topics.DOCUMENTS_FAILED, run.failing.job_id) == []
    assert run.out.of(topics.JOBS_PROGRESS, run.failing.job_id) == [], "no retry-topic trip"
    group, partition = run.consumer.group_id, TopicPartition(topic, 0)
    assert await committed(kafka_bootstrap, group, [partition]) == {0: 6}


async def test_per_record_mode_hands_on_fast_records_and_never_commits_past_a_slow_one(
    kafka_bootstrap: str, topic: str, producer: AIOKafkaProducer
) -> None:
    uploads = await produce(producer, topic, 6)
    slow = uploads[1]
    release = asyncio.Event()  # never set: the slow record is still running at the "crash"
    finished: list[int] = []
    group = f"isolation-{uuid.uuid4().hex[:8]}"

    async def handler(batch: list[Delivery], positions: dict[Position, int]) -> None:
        for d in batch:
            if d.event.event_id == slow.event_id:
                await release.wait()
            finished.append(sequence(d))

    # max_poll_interval 4 s: a stop waits at most 2 s for the slow record, then leaves it
    consumer = stage_consumer(
        kafka_bootstrap,
        topic,
        handler,
        producer,
        concurrency=3,
        group=group,
        max_poll_interval_ms=4000,
    )
    tp = TopicPartition(topic, 0)
    async with outputs(kafka_bootstrap, topic) as out:
        offsets: dict[int, int] = {}

        def fast_ones_done_and_committed() -> bool:
            return sorted(finished) == [0, 2, 3, 4, 5] and offsets.get(0) is not None

        async def poll_commits() -> None:
            while True:
                offsets.update(await committed(kafka_bootstrap, group, [tp]))
                await asyncio.sleep(0.2)

        watcher = asyncio.create_task(poll_commits())
        try:
            await run_reading(consumer, out, fast_ones_done_and_committed)
        finally:
            watcher.cancel()
    assert 1 not in finished, "the slow record never finished"
    assert offsets == {0: 1}, "committed up to the slow record, not past it"
    assert await committed(kafka_bootstrap, group, [tp]) == {0: 1}, "the stop did not pass it"

    redelivered: list[int] = []

    async def after_restart(batch: list[Delivery], positions: dict[Position, int]) -> None:
        redelivered.extend(sequence(d) for d in batch)

    again = stage_consumer(
        kafka_bootstrap, topic, after_restart, producer, concurrency=3, group=group
    )
    async with outputs(kafka_bootstrap, topic) as out:
        await run_reading(again, out, lambda: len(redelivered) >= 5)
    assert sorted(redelivered) == [1, 2, 3, 4, 5], "the unfinished record came back, and after it"
    assert await committed(kafka_bootstrap, group, [tp]) == {0: 6}
