"""Per-record mode's bookkeeping: per-key order, room, drain, and commit positions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from aiokafka.structs import TopicPartition

from services.common.kafka.inflight import InFlight

pytestmark = pytest.mark.unit

P0 = TopicPartition("t", 0)


async def test_records_of_one_key_run_in_order_and_others_overtake() -> None:
    flight = InFlight(4)
    gates = {n: asyncio.Event() for n in range(3)}
    order: list[str] = []

    def work(name: str, gate: asyncio.Event) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            order.append(f"{name} start")
            await gate.wait()
            order.append(f"{name} end")

        return run

    flight.start(P0, 0, b"doc-a", work("a1", gates[0]))
    flight.start(P0, 1, b"doc-b", work("b", gates[1]))
    flight.start(P0, 2, b"doc-a", work("a2", gates[2]))
    assert flight.room == 1
    await asyncio.sleep(0.01)
    assert order == ["a1 start", "b start"], "a2 waits for a1, the same document"

    gates[1].set()
    gates[2].set()
    await asyncio.sleep(0.01)
    assert order == ["a1 start", "b start", "b end"]
    assert flight.marks.committable() == {}, "offset 0 is still running"

    gates[0].set()
    assert await flight.drain(None, 1.0)
    assert order[-3:] == ["a1 end", "a2 start", "a2 end"]
    assert flight.marks.committable() == {P0: 3}
    assert flight.room == 4 and not flight.full


async def test_a_cancelled_or_failed_record_holds_its_partitions_commits() -> None:
    flight = InFlight(2)
    stuck = asyncio.Event()

    async def hang() -> None:
        await stuck.wait()

    async def done() -> None:
        return None

    flight.start(P0, 0, None, hang)
    flight.start(P0, 1, None, done)
    assert not await flight.drain([P0], 0.05), "the first never finishes"
    await flight.cancel()
    assert flight.running == set()
    assert flight.marks.committable() == {}, "nothing past the cancelled record"
