"""The pipeline's offsets as Kafka holds them: each group's lag and the dead-letter depth.

Read by the status service on its own (a groupless consumer and an admin client), not by the
consumers being judged: a group whose every member is wedged or gone still shows its lag
growing while its committed offset stands still, which is what SluiceConsumerStuck asks.
The dead-letter depth is end offset minus the acknowledged offset (the `dlq_ack_group`'s
commit, else the log start), so its alert stays on while records sit unhandled and does not
resolve by itself as an `increase()` would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

import msgspec
from aiokafka.errors import KafkaError

from schemas import topics
from services.common import metrics
from services.common.periodic import wait_or_stop
from services.status.adapters.groups import GroupProbe, committed_offset

log = logging.getLogger(__name__)
DLQ_TOPICS = tuple(topics.dlq(t) for t in topics.PIPELINE_TOPICS)


class GroupOffsets(msgspec.Struct, frozen=True):
    """One partition a group reads: where it committed and how far behind the end it is."""

    group: str
    topic: str
    partition: int
    committed: int | None  # None: the group never committed on it
    lag: int


class Offsets(msgspec.Struct, frozen=True):
    """One reading: every watched group's partitions and the depth of each dead-letter topic."""

    groups: list[GroupOffsets]
    dead_letters: dict[str, int]


def group_topics(parser: str, embedder: str, status: str) -> dict[str, tuple[str, ...]]:
    """The topics each pipeline group reads (stages: their input and its retry topic)."""
    return {
        parser: (topics.DOCUMENTS_UPLOADED, topics.retry(topics.DOCUMENTS_UPLOADED)),
        embedder: (topics.DOCUMENTS_PARSED, topics.retry(topics.DOCUMENTS_PARSED)),
        status: topics.STATUS_TOPICS,
    }


class OffsetsReader:
    """Reads end offsets and committed offsets; `run` exports them every `interval_s`."""

    def __init__(
        self,
        bootstrap: str,
        groups: Mapping[str, Sequence[str]],
        *,
        ack_group: str,
        interval_s: float = 15.0,
    ) -> None:
        self.groups = dict(groups)
        self.interval_s = interval_s
        # clients of its own, kept between readings (new ones every reading cost a connection
        # and a metadata read of every topic each time) and opened again after a failure; lag
        # and depth counted as the pipeline view counts them
        self.probe = GroupProbe(bootstrap, ack_group=ack_group, client_id="sluice-offsets")

    async def read(self) -> Offsets:
        """One reading of every watched group's partitions and of the dead-letter topics."""
        names = sorted({t for read in self.groups.values() for t in read} | set(DLQ_TOPICS))
        parts = await self.probe.partitions(names)
        ends = await self.probe.ends(parts)
        depths = await self.probe.dead_letters([p for p in parts if p.topic in DLQ_TOPICS], ends)
        depth = dict.fromkeys(DLQ_TOPICS, 0)
        for tp, n in depths.items():
            depth[tp.topic] += n
        found: list[GroupOffsets] = []
        for group, read in self.groups.items():
            mine = [p for p in parts if p.topic in read]
            committed = await self.probe.committed(group, mine)
            for tp in mine:
                at = committed_offset(committed.get(tp))
                found.append(
                    GroupOffsets(group, tp.topic, tp.partition, at, ends.behind(tp, committed))
                )
        return Offsets(groups=found, dead_letters=depth)

    def export(self, offsets: Offsets) -> None:
        """Set the gauges from a reading (`sluice_group_*`, `sluice_dead_letter_depth`)."""
        for row in offsets.groups:
            labels = (row.group, row.topic, str(row.partition))
            metrics.GROUP_LAG.labels(*labels).set(row.lag)
            if row.committed is not None:
                metrics.GROUP_COMMITTED.labels(*labels).set(row.committed)
        for topic, depth in offsets.dead_letters.items():
            metrics.DLQ_DEPTH.labels(topic).set(depth)

    async def run(self, stop: asyncio.Event) -> None:
        """Read and export every `interval_s` until `stop` is set; a failed reading is logged
        and tried again."""
        try:
            while not stop.is_set():
                try:
                    self.export(await self.read())
                except (KafkaError, OSError, TimeoutError) as error:
                    log.warning("could not read the pipeline's offsets: %s", error)
                    await self.probe.close()
                await wait_or_stop(stop, self.interval_s)
        finally:
            await self.probe.close()
