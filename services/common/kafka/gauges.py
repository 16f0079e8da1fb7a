"""The consumer loop's metrics, bound to its service and group (defined in metrics.py)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from services.common import metrics
from services.common.kafka.headers import RETRY_NOT_BEFORE, header, number


def ready_at(record: ConsumerRecord[bytes, bytes]) -> float:
    """When a record could first be handled (epoch seconds): its timestamp, or for a retry
    its due time (`sluice.retry.not_before`), whichever is later."""
    due = number(header(record, RETRY_NOT_BEFORE))
    stamp = float(record.timestamp) / 1000
    return max(stamp, due / 1000) if due is not None else stamp


class LoopMetrics:
    """Counters and gauges of one consumer loop."""

    def __init__(self, service: str, group: str) -> None:
        self.service = service
        self.group = group

    def consumed(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """A record was read (again, after a rewind, it counts again)."""
        metrics.RECORDS_CONSUMED.labels(self.service, self.group, record.topic).inc()

    def picked_up(self, records: Iterable[ConsumerRecord[bytes, bytes]]) -> None:
        """Their handler starts now: observe how long each waited since it was ready."""
        now = time.time()
        for record in records:
            wait = max(0.0, now - ready_at(record))
            metrics.PICKUP_SECONDS.labels(self.service, self.group, record.topic).observe(wait)

    def failed(self, topic: str, reason: str, count: int = 1) -> None:
        """`count` tries at records of `topic` raised (`record` or `outage`)."""
        metrics.RECORDS_FAILED.labels(self.service, self.group, topic, reason).inc(count)

    def outage(self, records: Iterable[ConsumerRecord[bytes, bytes]]) -> None:
        """A batch hit an outage: every record of it failed this try."""
        metrics.HANDLER_ERRORS.labels(self.service, self.group).inc()
        for record in records:
            self.failed(record.topic, "outage")

    def batch(self, seconds: float) -> None:
        """A batch was handled and committed in `seconds`."""
        metrics.BATCH_SECONDS.labels(self.service, self.group).observe(seconds)

    def assignment(self, assigned: int, change: str, count: int) -> None:
        """After a rebalance (`assigned` or `revoked` of `count` partitions): `assigned` held."""
        metrics.ASSIGNED_PARTITIONS.labels(self.service, self.group).set(assigned)
        if count:
            metrics.REBALANCES.labels(self.service, self.group, change).inc()

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        """Drop the lag of partitions this member no longer owns."""
        for tp in partitions:
            metrics.forget_partition(self.service, self.group, tp.topic, tp.partition)

    def lag(self, behind: dict[TopicPartition, int]) -> None:
        """Records behind the end, per partition this member reads."""
        for tp, lag in behind.items():
            metrics.CONSUMER_LAG.labels(self.service, self.group, tp.topic, str(tp.partition)).set(
                lag
            )

    def commit_failed(self, reason: str) -> None:
        """A commit was refused: `rebalance` or `kafka`."""
        metrics.COMMIT_FAILURES.labels(self.service, self.group, reason).inc()
