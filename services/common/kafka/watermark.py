"""Commit positions for records finishing out of order: the lowest unfinished one per partition."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from aiokafka.structs import TopicPartition

Ticket = tuple[TopicPartition, int, int]  # (partition, epoch, offset)


class _Partition:
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.open: deque[int] = deque()  # begun offsets, in order
        self.done: set[int] = set()  # finished offsets still behind an unfinished one
        self.next: int | None = None  # the offset to commit: all before it are finished
        self.committed: int | None = None


class Watermarks:
    """Tracks the records handed out per partition; `committable()` never passes one unfinished.

    Offsets of one partition begin in increasing order (as polled) and may finish in any
    order; the safe position is the lowest unfinished offset, or one past the last finished
    when none is open. `forget()` on revocation makes later `finish()` calls of that
    partition's old records no-ops, even when the partition comes back.
    """

    def __init__(self) -> None:
        self._parts: dict[TopicPartition, _Partition] = {}
        self._epochs: dict[TopicPartition, int] = {}

    def begin(self, tp: TopicPartition, offset: int) -> Ticket:
        """A record of `tp` was handed out; its ticket finishes it."""
        part = self._parts.get(tp)
        if part is None:
            part = self._parts[tp] = _Partition(self._epochs.get(tp, 0))
        part.open.append(offset)
        return (tp, part.epoch, offset)

    def finish(self, ticket: Ticket) -> None:
        """The record's effects are durable (or it was set aside): it no longer holds commits."""
        tp, epoch, offset = ticket
        part = self._parts.get(tp)
        if part is None or part.epoch != epoch:
            return
        part.done.add(offset)
        while part.open and part.open[0] in part.done:
            first = part.open.popleft()
            part.done.discard(first)
            part.next = first + 1

    def in_flight(self, tps: Iterable[TopicPartition] | None = None) -> int:
        """Records begun and not finished, on `tps` or on every partition."""
        wanted = self._parts.keys() if tps is None else tps
        total = 0
        for tp in wanted:
            part = self._parts.get(tp)
            if part is not None:
                total += len(part.open) - len(part.done)
        return total

    def committable(self, tps: Iterable[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Positions that moved since the last `committed()`, on `tps` or every partition."""
        wanted = self._parts.keys() if tps is None else tps
        out: dict[TopicPartition, int] = {}
        for tp in wanted:
            part = self._parts.get(tp)
            if part is not None and part.next is not None and part.next != part.committed:
                out[tp] = part.next
        return out

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        """Record that `offsets` were committed."""
        for tp, offset in offsets.items():
            part = self._parts.get(tp)
            if part is not None:
                part.committed = offset

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        """Drop revoked partitions; their records still running finish into nothing."""
        for tp in tps:
            part = self._parts.pop(tp, None)
            if part is not None:
                self._epochs[tp] = part.epoch + 1
