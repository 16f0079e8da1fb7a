"""Batch mode's commit behind the next batch (services/common/kafka/behind.py), with a fake
commit in place of the broker's."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError

from services.common.kafka.behind import CommitBehind, Offsets

P0, P1 = TopicPartition("t", 0), TopicPartition("t", 1)


class FakeBroker:
    """Commits held until the test releases them (every one from then on lands at once), or
    failing as told."""

    def __init__(self) -> None:
        self.started: list[Offsets] = []
        self.landed: list[Offsets] = []
        self.gate = asyncio.Event()
        self.fail_next: BaseException | None = None
        self.refuse_next = False
        self.errors = 0

    async def commit(self, offsets: Offsets) -> bool:
        self.started.append(dict(offsets))
        await self.gate.wait()
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        if self.refuse_next:  # the group rebalanced: refused, as ConsumerLoop._commit says
            self.refuse_next = False
            return False
        self.landed.append(dict(offsets))
        return True

    def release(self) -> None:
        self.gate.set()

    def on_error(self) -> None:
        self.errors += 1


@pytest.fixture
def broker() -> FakeBroker:
    return FakeBroker()


@pytest.fixture
def behind(broker: FakeBroker) -> CommitBehind:
    return CommitBehind(broker.commit, broker.on_error)


async def settled(broker: FakeBroker, behind: CommitBehind) -> None:
    broker.release()
    assert await behind.settle(1.0)


async def test_start_returns_before_the_commit_lands_and_the_next_waits_for_it(
    broker: FakeBroker, behind: CommitBehind
) -> None:

    await behind.start({P0: 10})
    await asyncio.sleep(0)
    assert broker.started == [{P0: 10}] and broker.landed == []
    assert behind.in_flight

    second = asyncio.create_task(behind.start({P0: 20}))
    await asyncio.sleep(0.05)
    assert not second.done(), "a second commit must wait for the one in flight"
    assert broker.started == [{P0: 10}]

    broker.release()
    await second
    await settled(broker, behind)
    assert broker.landed == [{P0: 10}, {P0: 20}], "commits land in the order they started"
    assert not behind.in_flight


async def test_a_failed_commit_hands_its_offsets_to_the_next(
    broker: FakeBroker, behind: CommitBehind
) -> None:
    broker.fail_next = KafkaConnectionError("broker gone")

    await behind.start({P0: 10, P1: 5})
    broker.release()
    await behind.start({P0: 12})  # P1 is not in this batch: its 5 must still be committed

    await settled(broker, behind)
    assert broker.landed == [{P0: 12, P1: 5}]
    assert broker.errors == 1


async def test_a_refused_commit_is_not_carried(broker: FakeBroker, behind: CommitBehind) -> None:
    broker.refuse_next = True

    await behind.start({P1: 5})
    broker.release()
    await behind.start({P0: 12})

    await settled(broker, behind)
    assert broker.landed == [{P0: 12}]
    assert broker.errors == 0


async def test_forgotten_partitions_are_not_carried(
    broker: FakeBroker, behind: CommitBehind
) -> None:
    broker.fail_next = KafkaConnectionError("broker gone")

    await behind.start({P0: 10, P1: 5})
    await settled(broker, behind)
    behind.forget([P1])  # revoked: its next owner may be ahead of 5
    await behind.start({P0: 12})

    await settled(broker, behind)
    assert broker.landed == [{P0: 12}]


async def test_settle_gives_up_on_a_hung_commit_and_drops_its_offsets(
    broker: FakeBroker, behind: CommitBehind
) -> None:
    await behind.start({P0: 10})
    assert not await behind.settle(0.05)
    assert not behind.in_flight

    await behind.start({P1: 3})
    await settled(broker, behind)
    assert broker.landed == [{P1: 3}]


async def test_a_bug_surfaces_at_settle(broker: FakeBroker, behind: CommitBehind) -> None:
    broker.fail_next = RuntimeError("a bug, not an outage")
    broker.release()
    await behind.start({P0: 10})
    with pytest.raises(RuntimeError, match="a bug"):
        await behind.settle()
