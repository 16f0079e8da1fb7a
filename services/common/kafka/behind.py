"""Batch mode's commit behind the next batch: the broker writes one batch's offsets while the
loop polls and hands over the next."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)
Offsets = dict[TopicPartition, int]


class CommitBehind:
    """At most one commit in flight; commits land in the order they were started.

    An offset commit takes a broker 5-20 ms (the group coordinator batches its writes for
    `group.coordinator.append.linger.ms`, then appends them). A batch-mode loop that waited
    for it before polling again spent a fifth of the status projector's time there
    (docs/benchmarks.md). `start` returns at once instead; the next `start`, the rebalance
    listener and the loop's stop wait for the commit before it (`settle`). Nothing is
    committed that was not handled, so delivery stays at-least-once: a crash before the
    commit lands redoes the batch, as a crash before a commit always did.

    A commit that fails on a Kafka error (`commit` raises it) hands its offsets to the next
    one, so a partition the next batches do not touch still gets its progress committed; one
    the group refused after a rebalance (`commit` returns) is not carried.
    """

    def __init__(
        self, commit: Callable[[Offsets], Awaitable[object]], on_error: Callable[[], None]
    ) -> None:
        self._commit = commit
        self._on_error = on_error
        self._task: asyncio.Task[None] | None = None
        self._carried: Offsets = {}

    async def start(self, offsets: Offsets) -> None:
        """Wait for the commit in flight, then start committing `offsets` (and any carried)."""
        await self.settle()
        pending = {**self._carried, **offsets}  # a later offset of a partition wins
        self._carried = {}
        self._task = asyncio.create_task(self._run(pending), name="sluice-commit")

    async def _run(self, offsets: Offsets) -> None:
        try:
            await self._commit(offsets)
        except KafkaError as error:  # an outage: the next commit takes these offsets along
            self._on_error()
            self._carried = offsets
            log.warning("commit failed (%s); its offsets go with the next one", error)

    @property
    def in_flight(self) -> bool:
        """Whether a commit was started and has not finished."""
        return self._task is not None and not self._task.done()

    async def settle(self, wait_s: float | None = None) -> bool:
        """Wait for the commit in flight, if any; False if it outlived `wait_s` (it is then
        cancelled, and its offsets dropped: their records will be redone)."""
        task, self._task = self._task, None
        if task is None:
            return True
        if wait_s is None:
            await task
            return True
        done, _ = await asyncio.wait({task}, timeout=wait_s)
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return False
        task.result()  # an unexpected error surfaces here, as an outage of the loop
        return True

    def forget(self, partitions: Collection[TopicPartition]) -> None:
        """Drop carried offsets of `partitions` (revoked: their next owner may be ahead)."""
        for tp in partitions:
            self._carried.pop(tp, None)
