"""What the readiness probe knows about one consumer loop: polls, outages, progress, lag."""

from __future__ import annotations

import time

from aiokafka import TopicPartition


class ConsumerHealth:
    """What the readiness probe needs to know about one consumer loop."""

    def __init__(self, stall_after_s: float) -> None:
        self.started = False
        self.last_poll = 0.0
        self.last_progress = time.monotonic()
        self.assigned: set[TopicPartition] = set()
        self.consecutive_errors = 0  # outages in a row (a record's own failure is not one)
        self.stall_after_s = stall_after_s
        self.lag = 0

    def ready(self, max_silence: float = 30.0) -> tuple[bool, str]:
        """Healthy when polling, not failing repeatedly, and not stalled behind a growing lag."""
        now_ = time.monotonic()
        if not self.started:
            return False, "consumer not started"
        if now_ - self.last_poll > max_silence:
            return False, f"no poll for {now_ - self.last_poll:.0f}s"
        if self.consecutive_errors >= 5:
            return False, f"{self.consecutive_errors} consecutive failures (Kafka or Postgres?)"
        if self.lag > 0 and now_ - self.last_progress > self.stall_after_s:
            return False, f"lag {self.lag} and no commit for {now_ - self.last_progress:.0f}s"
        return True, f"{len(self.assigned)} partitions assigned, lag {self.lag}"
