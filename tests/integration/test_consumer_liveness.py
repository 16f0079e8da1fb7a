"""ConsumerLoop liveness on a real broker: the aiokafka failure modes users hit, as regressions.

- work that outlives `max_poll_interval_ms` with the loop's keep-alive polls off (aiokafka
  #848: the consumer is dropped from the group, its commit is refused; it must neither crash
  nor lose the records);
- more consumers than partitions (aiokafka #1187 and friends: the idle ones must stay up and
  ready, and take over when an active one leaves);
- graceful stop (SIGTERM in the services): finish the batch, commit, leave the group at once so
  the partitions move without waiting for the session timeout.
"""

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from services.common.kafka.records import Delivery, Position
from tests.fixtures.infra import TopicFactory
from tests.integration.test_consumer_loop import (
    Handler,
    committed,
    consumer_for,
    produce,
    run_until,
)

pytestmark = pytest.mark.integration


async def wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout:.0f}s")
        await asyncio.sleep(0.05)


async def test_work_longer_than_max_poll_interval_loses_nothing_and_the_loop_goes_on(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    producer: AIOKafkaProducer,
) -> None:
    """aiokafka #848: the slow member is dropped, its peer redoes the batch, nobody loops."""
    count = 8
    topic = await topic_factory(partitions=1)
    group = f"liveness-{uuid.uuid4().hex[:8]}"
    calls: list[tuple[int, list[int]]] = []  # (consumer number, offsets)

    def handler_for(number: int) -> Handler:
        async def handler(batch: list[Delivery], positions: dict[Position, int]) -> None:
            calls.append((number, [d.offset for d in batch]))
            if len(calls) == 1:
                await asyncio.sleep(8)  # far past max_poll_interval_ms (2 s)

        return handler

    consumers = [
        consumer_for(
            kafka_bootstrap, topic, handler_for(n), producer, group=group, max_poll_interval_ms=2000
        )
        for n in range(2)
    ]
    for consumer in consumers:
        # No keep-alive polls during a batch (test_consumer_loop.py has them keep the member):
        # a member dropped anyway (its keep-alive polls failing, the process stalled) is the
        # case here.
        consumer.keepalive_s = 3600
    stops = [asyncio.Event() for _ in consumers]
    tasks = [asyncio.create_task(c.run(s)) for c, s in zip(consumers, stops, strict=True)]
    tp = TopicPartition(topic, 0)
    try:
        await wait(lambda: sum(len(c.health.assigned) for c in consumers) == 1, 60, "assigned")
        await produce(producer, topic, count, 1)
        await wait(lambda: len(calls) >= 1, 30, "first batch")
        slow_one, slow_batch = calls[0]
        # The slow member is dropped from the group; the other takes the partition over and
        # re-reads from the last commit, while the slow one is still busy.
        await wait(
            lambda: {o for n, c in calls if n != slow_one for o in c} == set(range(count)),
            60,
            "the peer handled every record",
        )
        await wait(lambda: len(calls) >= 2 and not tasks[slow_one].done(), 5, "slow one alive")
        await asyncio.sleep(8)  # the slow batch ends; its commit is refused; it rejoins
        assert not any(t.done() for t in tasks), "no consumer crashed"
        assert await committed(kafka_bootstrap, group, [tp]) == {0: count}
    finally:
        for stop in stops:
            stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)

    handled = Counter(o for _, c in calls for o in c)
    assert set(handled) == set(range(count)), "every record was handed over"
    assert all(handled[o] == 2 for o in slow_batch), calls  # redelivered, not lost
    assert all(handled[o] == 1 for o in range(count) if o not in slow_batch), calls
    assert await committed(kafka_bootstrap, group, [tp]) == {0: count}


async def test_more_consumers_than_partitions_idle_ones_stay_ready_and_take_over(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    producer: AIOKafkaProducer,
) -> None:
    partitions = 2
    topic = await topic_factory(partitions=partitions)
    group = f"liveness-{uuid.uuid4().hex[:8]}"
    handled: Counter[tuple[int, int]] = Counter()

    async def handler(batch: list[Delivery], positions: dict[Position, int]) -> None:
        handled.update((d.partition, d.offset) for d in batch)

    consumers = [
        consumer_for(kafka_bootstrap, topic, handler, producer, group=group) for _ in range(4)
    ]
    stops = [asyncio.Event() for _ in consumers]
    tasks = [asyncio.create_task(c.run(s)) for c, s in zip(consumers, stops, strict=True)]
    try:
        await wait(
            lambda: (
                sum(len(c.health.assigned) for c in consumers) == partitions
                and all(c.health.started for c in consumers)
            ),
            60,
            "group balanced",
        )
        active = [c for c in consumers if c.health.assigned]
        idle = [c for c in consumers if not c.health.assigned]
        assert len(active) == partitions and len(idle) == 2
        await asyncio.sleep(1.5)  # a few empty polls: the idle ones must not crash or go unready
        for c in idle:
            ok, detail = c.health.ready()
            assert ok, detail
            assert detail.startswith("0 partitions assigned")
        assert not any(t.done() for t in tasks)

        await produce(producer, topic, 20, partitions)
        await wait(lambda: len(handled) == 20, 60, "first 20 handled")

        # An active one leaves gracefully: an idle one takes its partition over.
        leaving = consumers.index(active[0])
        stops[leaving].set()
        await asyncio.wait_for(tasks[leaving], 30)
        await wait(lambda: sum(len(c.health.assigned) for c in idle) == 1, 60, "idle one took over")
        await produce(producer, topic, 20, partitions)
        await wait(lambda: len(handled) == 40, 60, "next 20 handled")
    finally:
        for stop in stops:
            stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)

    assert set(handled) == {(p, o) for p in range(partitions) for o in range(20)}
    assert max(handled.values()) == 1, "nothing handled twice: every hand-over was committed"
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    assert await committed(kafka_bootstrap, group, tps) == dict.fromkeys(range(partitions), 20)


async def test_graceful_stop_finishes_the_batch_commits_and_hands_over_at_once(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    producer: AIOKafkaProducer,
) -> None:
    topic = await topic_factory(partitions=1)
    group = f"liveness-{uuid.uuid4().hex[:8]}"
    await produce(producer, topic, 4, 1)
    started = asyncio.Event()
    first_done: list[int] = []

    async def slow(batch: list[Delivery], positions: dict[Position, int]) -> None:
        started.set()
        await asyncio.sleep(2)  # the stop arrives in the middle of this batch
        first_done.extend(d.offset for d in batch)

    second_seen: list[int] = []

    async def fast(batch: list[Delivery], positions: dict[Position, int]) -> None:
        second_seen.extend(d.offset for d in batch)

    # session timeout 30 s: a hand-over faster than that can only come from leaving the group
    first = consumer_for(
        kafka_bootstrap, topic, slow, producer, group=group, session_timeout_ms=30_000
    )
    stop = asyncio.Event()
    task = asyncio.create_task(first.run(stop))
    await asyncio.wait_for(started.wait(), 60)
    second = consumer_for(
        kafka_bootstrap, topic, fast, producer, group=group, session_timeout_ms=30_000
    )
    stop.set()  # what the services do on SIGTERM
    await asyncio.wait_for(task, 30)
    assert first_done == [0, 1, 2, 3], "the batch in hand was finished"
    assert await committed(kafka_bootstrap, group, [TopicPartition(topic, 0)]) == {0: 4}

    await produce(producer, topic, 2, 1)
    began = time.monotonic()
    await run_until(second, lambda: len(second_seen) == 2, timeout=25)
    assert second_seen == [4, 5], "the next owner starts after the committed batch"
    assert time.monotonic() - began < 25


@pytest.mark.parametrize(
    "concurrency", [pytest.param(0, id="batch-mode"), pytest.param(4, id="per-record-mode")]
)
async def test_a_rebalance_waits_for_the_batch_in_hand_and_its_commit(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    producer: AIOKafkaProducer,
    concurrency: int,
) -> None:
    """Commit on revocation: a member joining mid-batch does not make anyone redo the batch.

    In per-record mode the records in flight are waited for, and committed, the same way.
    """
    partitions, count = 2, 16
    topic = await topic_factory(partitions=partitions)
    group = f"liveness-{uuid.uuid4().hex[:8]}"
    await produce(producer, topic, count, partitions)
    handled: Counter[tuple[int, int]] = Counter()
    in_batch = asyncio.Event()

    async def slow(batch: list[Delivery], positions: dict[Position, int]) -> None:
        in_batch.set()
        await asyncio.sleep(3)  # the second member joins during this
        handled.update((d.partition, d.offset) for d in batch)

    async def fast(batch: list[Delivery], positions: dict[Position, int]) -> None:
        handled.update((d.partition, d.offset) for d in batch)

    first = consumer_for(
        kafka_bootstrap, topic, slow, producer, group=group, concurrency=concurrency
    )
    second = consumer_for(
        kafka_bootstrap, topic, fast, producer, group=group, concurrency=concurrency
    )
    stops = [asyncio.Event(), asyncio.Event()]
    tasks = [asyncio.create_task(first.run(stops[0]))]
    try:
        await asyncio.wait_for(in_batch.wait(), 60)
        tasks.append(asyncio.create_task(second.run(stops[1])))
        await wait(lambda: len(handled) == count, 90, "all records handled")
        await wait(lambda: bool(second.health.assigned), 30, "second member assigned")
    finally:
        for stop in stops:
            stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)

    assert set(handled) == {(p, o) for p in range(partitions) for o in range(count // partitions)}
    assert max(handled.values()) == 1, f"redone after the rebalance: {handled}"
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    assert await committed(kafka_bootstrap, group, tps) == dict.fromkeys(
        range(partitions), count // partitions
    )
