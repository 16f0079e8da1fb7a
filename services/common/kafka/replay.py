"""Rewinding a consumer group: where each partition is, where it will resume, what is redone.

Kafka lets a group's committed offsets be altered only while the group has no active member
(a commit with no generation is refused otherwise), so `KafkaGroupOffsets.alter` refuses with
`GroupActiveError` naming the members, and is safe against a member joining meanwhile: the
broker refuses the commit then too. Stores that keep their offsets elsewhere (the status
projector's Postgres table) implement the same `OffsetStore` protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal, Protocol

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    GroupCoordinatorNotAvailableError,
    IllegalGenerationError,
    KafkaError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)

from services.common.kafka.admin import admin_client

Position = Literal["earliest", "latest"]


class ReplayTarget(msgspec.Struct, frozen=True, kw_only=True):
    """Where to rewind to: a time (the first record at or after it) or an offset."""

    to_time: datetime | None = None
    to_offset: int | Position | None = None

    def __post_init__(self) -> None:
        if (self.to_time is None) == (self.to_offset is None):
            raise ValueError("give exactly one of to_time and to_offset")
        if isinstance(self.to_offset, int) and self.to_offset < 0:
            raise ValueError("to_offset must be earliest, latest or an offset >= 0")

    @property
    def text(self) -> str:
        """`to-time 2025-01-01T00:00:00+00:00` or `to-offset earliest`, for plans and audits."""
        if self.to_time is not None:
            return f"to-time {self.to_time.astimezone(UTC).isoformat()}"
        return f"to-offset {self.to_offset}"


class PartitionReplay(msgspec.Struct, frozen=True, kw_only=True):
    """One partition: where the group resumes now, where it will, and what that costs."""

    topic: str
    partition: int
    current: int  # the next record the group would read (committed, else the log start)
    new: int  # the next record it will read after the replay
    end: int  # the partition's end (the next offset to be written)
    redo: int  # records already handled that will be handled again
    skip: int  # records not yet handled that will be skipped (a rewind forward)


class ReplayPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What a replay of one service did, or would do (`applied` False: a dry run)."""

    service: str
    group: str
    target: str
    partitions: list[PartitionReplay]
    members: list[str]  # active members of the group when planned
    applied: bool
    redo: int
    skip: int


class GroupActiveError(RuntimeError):
    """The group has active members, so Kafka will not let its offsets be altered."""

    def __init__(self, group: str, members: Sequence[str]) -> None:
        who = ", ".join(members) if members else "a member that joined meanwhile"
        super().__init__(
            f"consumer group {group} has {len(members) or 'an'} active member(s) ({who}):"
            " Kafka alters a group's offsets only while it has none. Stop the service's"
            " replicas first (`sluice replay` does that for the local stack; on Kubernetes"
            " scale the Deployment to 0), replay, then start them again"
        )
        self.group = group
        self.members = list(members)


class OffsetStore(Protocol):
    """Where a consumer group's positions live."""

    group: str

    async def members(self) -> list[str]:
        """The group's active members (client id @ host), [] when none."""

    async def committed(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The stored next offset of each partition that has one."""

    async def alter(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Make the group resume each partition at its offset."""


class KafkaGroupOffsets:
    """A group whose offsets Kafka keeps (the parser's, the embedder's)."""

    def __init__(self, bootstrap: str, group: str) -> None:
        self.bootstrap = bootstrap
        self.group = group

    async def members(self) -> list[str]:
        """Active members from the group coordinator (retried while it is being elected)."""
        async with admin_client(self.bootstrap, "sluice-replay") as admin:
            for attempt in range(20):
                try:
                    (response,) = await admin.describe_consumer_groups([self.group])
                    break
                except GroupCoordinatorNotAvailableError:
                    if attempt == 19:
                        raise
                    await asyncio.sleep(0.5)
        (group,) = response.to_object()["groups"]
        return [f"{m['client_id']}@{m['client_host']}" for m in group["members"]]

    async def committed(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The group's committed offsets (partitions never committed are left out)."""
        async with admin_client(self.bootstrap, "sluice-replay") as admin:
            found = await admin.list_consumer_group_offsets(self.group, partitions=list(partitions))
        return {tp: meta.offset for tp, meta in found.items() if meta.offset >= 0}

    async def alter(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit `offsets` for the group as a client outside it (no generation): the broker
        accepts that only while the group has no member. GroupActiveError otherwise."""
        members = await self.members()
        if members:
            raise GroupActiveError(self.group, members)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            client_id="sluice-replay",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            consumer.assign(list(offsets))
            await consumer.commit(dict(offsets))
        except (
            CommitFailedError,
            IllegalGenerationError,
            UnknownMemberIdError,
            RebalanceInProgressError,
        ) as error:
            raise GroupActiveError(self.group, await self.members()) from error
        finally:
            await consumer.stop()


async def partitions_of(bootstrap: str, names: Sequence[str]) -> list[TopicPartition]:
    """Every partition of the topics `names` (KafkaError naming a missing topic)."""
    async with admin_client(bootstrap, "sluice-replay") as admin:
        described = await admin.describe_topics(list(names))
    found = []
    for topic in described:
        if topic.get("error_code"):
            raise KafkaError(f"topic {topic['topic']} is not available: run `sluice topics create`")
        found += [TopicPartition(topic["topic"], p["partition"]) for p in topic["partitions"]]
    return sorted(found)


async def _positions(
    bootstrap: str, partitions: list[TopicPartition], target: ReplayTarget
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int], dict[TopicPartition, int]]:
    """(log start, end, the target offset) of each partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        if target.to_time is not None:
            # a time before 1970 is before every record (Kafka reads negative times as its
            # special -1/-2 and refuses others): the earliest one
            at = max(0, int(target.to_time.timestamp() * 1000))
            found = await consumer.offsets_for_times(dict.fromkeys(partitions, at))
            goal = {tp: ends[tp] if hit is None else hit.offset for tp, hit in found.items()}
        elif target.to_offset == "earliest":
            goal = dict(starts)
        elif target.to_offset == "latest":
            goal = dict(ends)
        else:
            offset = int(target.to_offset or 0)
            goal = {tp: min(max(offset, starts[tp]), ends[tp]) for tp in partitions}
    finally:
        await consumer.stop()
    return starts, ends, goal


async def plan_replay(
    service: str,
    store: OffsetStore,
    bootstrap: str,
    names: Sequence[str],
    target: ReplayTarget,
) -> tuple[ReplayPlan, dict[TopicPartition, int]]:
    """The plan for rewinding `store`'s group on the topics `names`, and the offsets to set."""
    partitions = await partitions_of(bootstrap, names)
    starts, ends, goal = await _positions(bootstrap, partitions, target)
    committed = await store.committed(partitions)
    rows = []
    for tp in partitions:
        current = min(max(committed.get(tp, starts[tp]), starts[tp]), ends[tp])
        new = goal[tp]
        rows.append(
            PartitionReplay(
                topic=tp.topic,
                partition=tp.partition,
                current=current,
                new=new,
                end=ends[tp],
                redo=max(0, current - new),
                skip=max(0, new - current),
            )
        )
    plan = ReplayPlan(
        service=service,
        group=store.group,
        target=target.text,
        partitions=rows,
        members=await store.members(),
        applied=False,
        redo=sum(r.redo for r in rows),
        skip=sum(r.skip for r in rows),
    )
    return plan, goal


async def replay(
    service: str,
    store: OffsetStore,
    bootstrap: str,
    names: Sequence[str],
    target: ReplayTarget,
    *,
    dry_run: bool,
) -> ReplayPlan:
    """Plan the rewind and, unless `dry_run`, apply it (GroupActiveError: members are active)."""
    plan, goal = await plan_replay(service, store, bootstrap, names, target)
    if dry_run:
        return plan
    await store.alter(goal)
    return msgspec.structs.replace(plan, applied=True)
