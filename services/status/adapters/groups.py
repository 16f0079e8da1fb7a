"""What Kafka says about the pipeline's consumer groups: members and their partitions (the
group description), committed and end offsets, lag and dead-letter depth.

Lag and depth are counted one way for the pipeline view and the Prometheus gauges
(`offsets.py`): the records after where a group resumes, which is its committed offset, else
the log start (the pipeline's consumers begin at the earliest record). A dead-letter topic's
group is `SLUICE_DLQ_ACK_GROUP`: records an operator acknowledged are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from services.common.kafka.admin import existing_partitions

CLIENT_ID = "sluice-status-pipeline"
TIMEOUT_MS = 10_000


class Instance(msgspec.Struct, frozen=True):
    """A live member of a stage's group and what it was assigned."""

    client_id: str
    host: str
    member_id: str
    partitions: list[str]  # "topic/partition"


@dataclass(frozen=True)
class GroupSample:
    """One group at one moment."""

    state: str
    instances: list[Instance]
    lag: dict[str, int]  # "topic/partition" -> records after where the group resumes
    committed: int  # the sum of the committed offsets
    dlq_depth: int = 0  # records in its dead-letter topics not acknowledged
    errors: list[str] = field(default_factory=list)


def _label(tp: TopicPartition) -> str:
    return f"{tp.topic}/{tp.partition}"


def committed_offset(found: object) -> int | None:
    """A committed offset (OffsetAndMetadata), None when there is none (-1 or missing)."""
    offset = getattr(found, "offset", -1)
    return int(offset) if isinstance(offset, int) and offset >= 0 else None


@dataclass(frozen=True)
class Ends:
    """The first and next offsets of some partitions, read at once."""

    starts: dict[TopicPartition, int]
    ends: dict[TopicPartition, int]

    def behind(self, tp: TopicPartition, committed: Mapping[TopicPartition, object]) -> int:
        """Records of `tp` after where its group resumes: the committed offset, else (none,
        or one the log start has passed) the log start."""
        at = committed_offset(committed.get(tp)) or 0
        return max(0, self.ends.get(tp, 0) - max(self.starts.get(tp, 0), at))


def members(described: Any) -> tuple[str, list[Instance]]:
    """The state and members of one group from a DescribeGroups response."""
    group = described.to_object()["groups"][0]
    found = []
    for member in group.get("members", []):
        raw = member.get("member_assignment") or b""
        parts: list[str] = []
        if raw:
            assignment = ConsumerProtocolMemberAssignment.decode(raw)
            parts = sorted(_label(tp) for tp in assignment.partitions())
        found.append(
            Instance(
                client_id=member.get("client_id", ""),
                host=member.get("client_host", ""),
                member_id=member.get("member_id", ""),
                partitions=parts,
            )
        )
    return str(group.get("group_state") or group.get("state") or ""), found


class GroupProbe:
    """Samples groups and topics with one admin client and one group-less consumer, kept
    between samples (opening them costs a connection and a metadata read of every topic)."""

    def __init__(self, bootstrap: str, *, ack_group: str, client_id: str = CLIENT_ID) -> None:
        self.bootstrap = bootstrap
        self.ack_group = ack_group  # its commits on a dead-letter topic acknowledge records
        self.client_id = client_id
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        """The admin client and the consumer, opened on first use or after `close`."""
        if self._admin is None or self._consumer is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                client_id=self.client_id,
                request_timeout_ms=TIMEOUT_MS,
            )
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                group_id=None,
                enable_auto_commit=False,
                client_id=self.client_id,
                request_timeout_ms=TIMEOUT_MS,
            )
            await admin.start()
            try:
                await consumer.start()
            except BaseException:
                await admin.close()
                raise
            self._admin, self._consumer = admin, consumer
        return self._admin, self._consumer

    async def close(self) -> None:
        """Close the clients (a later sample opens new ones)."""
        admin, consumer = self._admin, self._consumer
        self._admin = self._consumer = None
        if consumer is not None:
            await consumer.stop()
        if admin is not None:
            await admin.close()

    async def partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        """The partitions of those `topics` that exist."""
        admin, _ = await self.clients()
        return await existing_partitions(admin, list(topics))

    async def ends(self, parts: Sequence[TopicPartition]) -> Ends:
        """The first and next offsets of `parts`."""
        _, consumer = await self.clients()
        if not parts:
            return Ends({}, {})
        return Ends(await consumer.beginning_offsets(parts), await consumer.end_offsets(parts))

    async def committed(
        self, group: str, parts: Sequence[TopicPartition]
    ) -> Mapping[TopicPartition, object]:
        """`group`'s committed offsets on `parts` (OffsetAndMetadata; absent: none)."""
        admin, _ = await self.clients()
        found: Mapping[TopicPartition, object] = await admin.list_consumer_group_offsets(
            group, partitions=list(parts)
        )
        return found

    async def dead_letters(
        self, parts: Sequence[TopicPartition], ends: Ends | None = None
    ) -> dict[TopicPartition, int]:
        """Records in each dead-letter partition not acknowledged by the ack group."""
        if not parts:
            return {}
        ends = ends or await self.ends(parts)
        acked = await self.committed(self.ack_group, parts)
        return {tp: ends.behind(tp, acked) for tp in parts}

    async def sample(self, group: str, topics: Sequence[str], dlqs: Sequence[str]) -> GroupSample:
        """Members, lag per partition, committed total and dead-letter depth of `group`."""
        admin, _ = await self.clients()
        state, found = members((await admin.describe_consumer_groups([group]))[0])
        parts = await self.partitions(topics)
        committed = await self.committed(group, parts)
        ends = await self.ends(parts)
        lag = {_label(tp): ends.behind(tp, committed) for tp in parts}
        total = sum(committed_offset(m) or 0 for m in committed.values())
        depth = sum((await self.dead_letters(await self.partitions(dlqs))).values())
        return GroupSample(state, found, lag, total, depth)
