"""Replaying a consumer service: which group and topics, where its offsets live, the rewind.

The parser and the embedder keep their offsets in Kafka: they can be rewound only while their
group has no member (`GroupActiveError` otherwise). The status projector keeps them in
Postgres with its rows, under an epoch: a replay rewrites them under a higher epoch while the
projector runs, and the projector seeks to them (services/status/adapters/projector.py).
Used by `POST /v1/admin/replay` and by `sluice replay`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Literal

from aiokafka import TopicPartition
from psycopg import AsyncConnection

from schemas import topics
from services.common.kafka.replay import (
    KafkaGroupOffsets,
    OffsetStore,
    ReplayPlan,
    ReplayTarget,
    replay,
)
from services.common.settings import PipelineSettings

ReplayService = Literal["parser", "embedder", "status"]
REPLAYABLE: Final[dict[str, tuple[str, ...]]] = {
    "parser": (topics.STAGE_INPUTS["parse"],),
    "embedder": (topics.STAGE_INPUTS["embed"],),
    "status": topics.STATUS_TOPICS,
}
"""The topics each service's replay rewinds: its input (not its `.retry` topic, whose records
are copies of input records already on the input topic)."""


class StoredGroupOffsets:
    """The status projector's offsets: `consumer_offsets` rows in Postgres, with an epoch."""

    def __init__(self, database_url: str, group: str, kafka: KafkaGroupOffsets) -> None:
        self.database_url = database_url
        self.group = group
        self.kafka = kafka  # the fallback for partitions with no row, and who is a member

    async def members(self) -> list[str]:
        """The projector replicas now running (they follow a replay while they run)."""
        return await self.kafka.members()

    async def committed(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The stored offsets; Kafka's committed ones for partitions with no row."""
        async with await AsyncConnection.connect(self.database_url) as conn:
            cur = await conn.execute(
                "SELECT topic, kafka_partition, next_offset FROM consumer_offsets"
                " WHERE consumer_group = %s",
                (self.group,),
            )
            stored = {TopicPartition(t, p): o for t, p, o in await cur.fetchall()}
        missing = [tp for tp in partitions if tp not in stored]
        fallback = await self.kafka.committed(missing) if missing else {}
        return {
            tp: stored.get(tp, fallback.get(tp, 0))
            for tp in partitions
            if tp in stored or tp in fallback
        }

    async def alter(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Store `offsets` under a new epoch, in one transaction that waits for the batch in
        progress (a projector transaction) to end and keeps the next from storing under the old."""
        async with await AsyncConnection.connect(self.database_url) as conn, conn.transaction():
            await conn.execute("LOCK TABLE consumer_offsets IN SHARE ROW EXCLUSIVE MODE")
            cur = await conn.execute(
                "SELECT coalesce(max(epoch), 0) + 1 FROM consumer_offsets"
                " WHERE consumer_group = %s",
                (self.group,),
            )
            row = await cur.fetchone()
            epoch = row[0] if row else 1
            keys = list(offsets)
            await conn.execute(
                "INSERT INTO consumer_offsets (consumer_group, topic, kafka_partition,"
                " next_offset, epoch) SELECT %s, * FROM unnest(%s::text[], %s::int[],"
                " %s::bigint[], %s::bigint[]) ON CONFLICT (consumer_group, topic,"
                " kafka_partition) DO UPDATE SET next_offset = EXCLUDED.next_offset,"
                " epoch = EXCLUDED.epoch, updated_at = now()",
                (
                    self.group,
                    [tp.topic for tp in keys],
                    [tp.partition for tp in keys],
                    [offsets[tp] for tp in keys],
                    [epoch] * len(keys),
                ),
            )


def offset_store(settings: PipelineSettings, service: str) -> OffsetStore:
    """Where `service`'s group keeps its offsets."""
    group = settings.groups[service]
    kafka = KafkaGroupOffsets(settings.kafka_bootstrap, group)
    if service == "status":
        return StoredGroupOffsets(settings.database_url, group, kafka)
    return kafka


async def replay_service(
    settings: PipelineSettings, service: str, target: ReplayTarget, *, dry_run: bool
) -> ReplayPlan:
    """Rewind `service`'s group to `target` (or, with `dry_run`, say what that would do)."""
    if service not in REPLAYABLE:
        raise ValueError(f"no replayable service {service!r}: one of {', '.join(REPLAYABLE)}")
    store = offset_store(settings, service)
    return await replay(
        service, store, settings.kafka_bootstrap, REPLAYABLE[service], target, dry_run=dry_run
    )
