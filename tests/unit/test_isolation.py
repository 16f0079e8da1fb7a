"""Per-record failure isolation with fakes: one record's exception costs only that record."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
import pytest

from schemas import topics
from schemas.events import DocumentFailed, DocumentUploaded, Origin, RetryScheduled, Stage
from services.common.errors import RetryableError
from services.common.kafka import isolation
from services.common.kafka.deadletter import DeadLetters
from services.common.kafka.isolation import Isolation
from services.common.kafka.records import Delivery, Position
from services.common.kafka.retry import Retrier
from tests.fixtures.fakes import RecordingPublisher, upload

pytestmark = pytest.mark.unit

ORIGIN = Origin(service="parser", instance="unit")
TOPIC = topics.DOCUMENTS_UPLOADED
RETRY = topics.retry(TOPIC)
DLQ = topics.dlq(TOPIC)


@dataclass
class Health:
    consecutive_errors: int = 0


@dataclass
class Handler:
    """Raises `error` while a record named in `bad` is in the batch (`times` times each)."""

    bad: set[int] = field(default_factory=set)
    error: BaseException = field(
        default_factory=lambda: TypeError("cannot encode TextStringObject")
    )
    times: int = 1_000
    calls: list[list[int]] = field(default_factory=list)
    handled: list[int] = field(default_factory=list)
    raised: int = 0

    async def __call__(self, batch: list[Delivery], positions: dict[Position, int]) -> None:
        numbers = [number(d) for d in batch]
        self.calls.append(numbers)
        if self.bad & set(numbers) and self.raised < self.times:
            self.raised += 1
            raise self.error
        self.handled.extend(numbers)


def number(delivery: Delivery) -> int:
    assert isinstance(delivery.event, DocumentUploaded)
    return int(delivery.event.filename.removeprefix("doc-").removesuffix(".txt"))


def deliveries(count: int, *, retries: int = 0, topic: str = TOPIC) -> list[Delivery]:
    return [Delivery(topic, 0, n, upload(n), retries) for n in range(count)]


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation, "IN_PLACE_BACKOFF_S", 0.001)
    monkeypatch.setattr(isolation, "OUTAGE_BACKOFF_S", 0.001)


def isolate(
    handler: Handler, publisher: RecordingPublisher, *, read: tuple[str, ...] = (TOPIC, RETRY)
) -> tuple[Isolation, Health]:
    health = Health()
    retrier = Retrier(publisher, ORIGIN, Stage.PARSE, group="sluice-parser")
    runner = Isolation(
        handler=handler,
        group="sluice-parser",
        stage=Stage.PARSE,
        topics_read=read,
        retrier=retrier,
        dead_letters=retrier.dead_letters,
        outages=health,
        in_place_attempts=2,
        record_retries=2,
    )
    return runner, health


async def test_a_failing_record_is_isolated_and_the_rest_of_its_batch_handled() -> None:
    handler, publisher = Handler(bad={5}), RecordingPublisher()
    runner, health = isolate(handler, publisher)
    batch = deliveries(8)

    assert await runner.hand_over(batch, {(TOPIC, 0): 8}) is True

    assert sorted(handler.handled) == [0, 1, 2, 3, 4, 6, 7]
    assert handler.calls.count([5]) == 2, "tried twice in place once alone"
    (retry,) = publisher.to(RETRY)
    assert retry.event.event_id == batch[5].event.event_id
    assert retry.headers["sluice.retry.attempt"] == "1"
    assert retry.headers["sluice.error.code"] == "internal_error"
    (scheduled,) = publisher.events(topics.JOBS_PROGRESS)
    assert isinstance(scheduled, RetryScheduled) and scheduled.code == "internal_error"
    assert publisher.to(DLQ) == [] and publisher.to(topics.DOCUMENTS_FAILED) == []
    assert health.consecutive_errors == 0, "a record's failure is not an outage"


async def test_after_its_retry_budget_the_record_is_dead_lettered_and_its_job_failed() -> None:
    handler, publisher = Handler(bad={0}), RecordingPublisher()
    runner, _ = isolate(handler, publisher)
    (last,) = deliveries(1, retries=2, topic=RETRY)  # came back through the retry topic twice

    await runner.hand_over([last], {(RETRY, 0): 1})

    (dead,) = publisher.to(DLQ)
    assert dead.value is not None and dead.event == last.event
    assert dead.headers["sluice.error.code"] == "internal_error"
    assert dead.headers["sluice.error.type"] == "TypeError"
    assert dead.headers["sluice.error.message"] == "TypeError: cannot encode TextStringObject"
    assert dead.headers["sluice.original.topic"] == RETRY
    assert dead.headers["sluice.attempts"] == "3"
    assert dead.headers["sluice.consumer.group"] == "sluice-parser"
    (failed,) = publisher.events(topics.DOCUMENTS_FAILED)
    assert isinstance(failed, DocumentFailed)
    assert (failed.code, failed.stage, failed.retryable) == ("internal_error", Stage.PARSE, True)
    assert "TypeError: cannot encode TextStringObject" in failed.message
    assert f"/v1/jobs/{last.event.job_id}/retry" in failed.message
    assert publisher.to(RETRY) == []


async def test_without_a_retry_topic_the_record_goes_to_the_dlq_after_its_tries_in_place() -> None:
    handler, publisher = Handler(bad={1}), RecordingPublisher()
    runner, _ = isolate(handler, publisher, read=(TOPIC,))
    batch = deliveries(3)

    await runner.hand_over(batch, {(TOPIC, 0): 3})

    assert sorted(handler.handled) == [0, 2]
    assert handler.calls.count([1]) == 2
    assert [s.event.event_id for s in publisher.to(DLQ)] == [batch[1].event.event_id]
    assert [e.code for e in publisher.events(topics.DOCUMENTS_FAILED)] == ["internal_error"]


async def test_a_record_that_fails_once_and_then_passes_costs_nothing() -> None:
    handler, publisher = Handler(bad={2}, times=1), RecordingPublisher()
    runner, _ = isolate(handler, publisher)

    await runner.hand_over(deliveries(4), {(TOPIC, 0): 4})

    assert sorted(handler.handled) == [0, 1, 2, 3]
    assert publisher.sent == [], "no retry, no dead letter, no failed job"


async def test_a_retryable_error_goes_through_the_retry_topic_with_its_code() -> None:
    error = RetryableError("provider_unavailable", "503", retry_after_s=0.5)
    handler, publisher = Handler(bad={0}, error=error), RecordingPublisher()
    runner, _ = isolate(handler, publisher)

    await runner.hand_over(deliveries(2), {(TOPIC, 0): 2})

    assert handler.handled == [1]
    assert handler.calls.count([0]) == 1, "no in-place tries for a retryable error"
    assert [s.headers["sluice.error.code"] for s in publisher.to(RETRY)] == ["provider_unavailable"]


async def test_an_outage_in_batch_mode_propagates_and_sets_nothing_aside() -> None:
    handler = Handler(bad={3}, error=psycopg.OperationalError("connection refused"))
    publisher = RecordingPublisher()
    runner, _ = isolate(handler, publisher)

    with pytest.raises(psycopg.OperationalError):
        await runner.hand_over(deliveries(6), {(TOPIC, 0): 6})

    assert handler.calls == [[0, 1, 2, 3, 4, 5]], "not split: the loop retries the same records"
    assert publisher.sent == []


async def test_an_outage_in_per_record_mode_is_waited_out_in_place() -> None:
    handler = Handler(bad={0}, error=psycopg.OperationalError("connection refused"), times=3)
    publisher = RecordingPublisher()
    runner, health = isolate(handler, publisher)
    (record,) = deliveries(1)
    seen: list[int] = []
    original = runner.outage

    async def counting(error: BaseException, wait_s: float) -> float:
        seen.append(health.consecutive_errors)
        return await original(error, wait_s)

    runner.outage = counting  # type: ignore[method-assign]
    await runner.settle(record, wait_out_outages=True)

    assert handler.handled == [0] and len(handler.calls) == 4
    assert seen == [0, 1, 2], "each outage counted for the readiness probe"
    assert health.consecutive_errors == 0, "reset by the success"
    assert publisher.sent == []


async def test_a_dead_letter_write_during_an_outage_is_retried_not_lost() -> None:
    handler = Handler(bad={0})
    publisher = RecordingPublisher(fail_next=[psycopg.OperationalError("down")])
    runner, _ = isolate(handler, publisher, read=(TOPIC,))
    (record,) = deliveries(1)

    await runner.settle(record, wait_out_outages=True)

    assert len(publisher.to(DLQ)) == 1
    assert [e.code for e in publisher.events(topics.DOCUMENTS_FAILED)] == ["internal_error"]


async def test_a_loop_without_a_stage_dead_letters_without_failing_a_job() -> None:
    handler, publisher = Handler(bad={0}), RecordingPublisher()
    writer = DeadLetters(publisher, stage="status", group="sluice-status")
    runner = Isolation(
        handler=handler,
        group="sluice-status",
        stage=None,
        topics_read=(topics.DOCUMENTS_INDEXED,),
        retrier=None,
        dead_letters=writer,
        outages=Health(),
    )
    (record,) = deliveries(1, topic=topics.DOCUMENTS_INDEXED)

    await runner.hand_over([record], {(topics.DOCUMENTS_INDEXED, 0): 1})

    (dead,) = publisher.to(topics.dlq(topics.DOCUMENTS_INDEXED))
    assert dead.headers["sluice.error.stage"] == "status"
    assert dead.headers["sluice.error.type"] == "TypeError"
    assert publisher.to(topics.DOCUMENTS_FAILED) == []
