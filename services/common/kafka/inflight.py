"""Per-record mode's bookkeeping: records in flight as tasks, per-key order, commit watermarks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiokafka.structs import TopicPartition

from services.common.kafka.watermark import Ticket, Watermarks

log = logging.getLogger(__name__)


class InFlight:
    """Up to `limit` records at once; each finishes on its own, commits wait for the lowest.

    Records with the same key (a document's events) run one after the other, in offset order,
    so a reprocess never overtakes the original.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.marks = Watermarks()
        self.running: set[asyncio.Task[None]] = set()
        self._by_partition: dict[TopicPartition, set[asyncio.Task[None]]] = {}
        self._tails: dict[bytes, asyncio.Task[None]] = {}

    @property
    def full(self) -> bool:
        """No room for another record."""
        return len(self.running) >= self.limit

    @property
    def room(self) -> int:
        """How many more records may start now."""
        return max(0, self.limit - len(self.running))

    def start(
        self,
        tp: TopicPartition,
        offset: int,
        key: bytes | None,
        work: Callable[[], Awaitable[None]],
    ) -> None:
        """Run `work` for the record at `tp`@`offset`; it no longer holds commits once done."""
        ticket = self.marks.begin(tp, offset)
        after = self._tails.get(key) if key is not None else None
        task = asyncio.create_task(self._run(ticket, after, work))
        self.running.add(task)
        self._by_partition.setdefault(tp, set()).add(task)
        if key is not None:
            self._tails[key] = task
        task.add_done_callback(lambda t: self._done(t, tp, key))

    async def _run(
        self, ticket: Ticket, after: asyncio.Task[None] | None, work: Callable[[], Awaitable[None]]
    ) -> None:
        if after is not None and not after.done():
            await asyncio.wait({after})
        await work()
        self.marks.finish(ticket)  # not on cancellation or error: the record is then redone

    def _done(self, task: asyncio.Task[None], tp: TopicPartition, key: bytes | None) -> None:
        self.running.discard(task)
        tasks = self._by_partition.get(tp)
        if tasks is not None:
            tasks.discard(task)
            if not tasks:
                del self._by_partition[tp]
        if key is not None and self._tails.get(key) is task:
            del self._tails[key]
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "a record's task failed; its partition commits no further until it is redone",
                exc_info=task.exception(),
            )

    async def drain(self, tps: Iterable[TopicPartition] | None, timeout_s: float) -> bool:
        """Wait (at most `timeout_s`) for the records of `tps` (or all); True when none is left."""
        if tps is None:
            tasks = set(self.running)
        else:
            tasks = {t for tp in tps for t in self._by_partition.get(tp, ())}
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        return not pending

    async def cancel(self) -> None:
        """Cancel every record still running (they will be redone by the next owner)."""
        tasks = set(self.running)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        """Revoked partitions: their records still running no longer count for commits."""
        self.marks.forget(tps)
