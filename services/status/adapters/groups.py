"""What Kafka says about the pipeline's consumer groups: members and their partitions (the
group description), committed and end offsets, and dead-letter depth (end - beginning)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
    lag: dict[str, int]  # "topic/partition" -> end offset - committed offset
    committed: int  # the sum of the committed offsets
    dlq_depth: int = 0
    errors: list[str] = field(default_factory=list)


def _label(tp: TopicPartition) -> str:
    return f"{tp.topic}/{tp.partition}"


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

    def __init__(self, bootstrap: str, client_id: str = CLIENT_ID) -> None:
        self.bootstrap = bootstrap
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

    async def sample(self, group: str, topics: Sequence[str], dlqs: Sequence[str]) -> GroupSample:
        """Members, lag per partition, committed total and dead-letter depth of `group`."""
        admin, consumer = await self.clients()
        state, found = members((await admin.describe_consumer_groups([group]))[0])
        parts = await self.partitions(topics)
        committed = await admin.list_consumer_group_offsets(group, partitions=parts)
        ends = await consumer.end_offsets(parts) if parts else {}
        starts = await consumer.beginning_offsets(parts) if parts else {}
        lag: dict[str, int] = {}
        for tp in parts:
            meta = committed.get(tp)
            position = meta.offset if meta is not None and meta.offset >= 0 else starts[tp]
            lag[_label(tp)] = max(0, ends[tp] - position)
        total = sum(m.offset for m in committed.values() if m.offset >= 0)
        dlq_parts = await self.partitions(dlqs)
        depth = 0
        if dlq_parts:
            dlq_ends = await consumer.end_offsets(dlq_parts)
            dlq_starts = await consumer.beginning_offsets(dlq_parts)
            depth = sum(dlq_ends[tp] - dlq_starts[tp] for tp in dlq_parts)
        return GroupSample(state, found, lag, total, depth)
