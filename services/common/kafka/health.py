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
        self.in_hand = 0  # records handed to the handler and not yet committed
        self.busy_since = 0.0  # when the loop last took records in hand after holding none

    def handling(self, records: int) -> None:
        """Say how many records the loop has in hand now (0: none)."""
        if records and not self.in_hand:
            self.busy_since = time.monotonic()
        self.in_hand = records

    def ready(self, max_silence: float = 30.0) -> tuple[bool, str]:
        """Healthy when polling, not failing repeatedly, and not stalled behind a growing lag."""
        now_ = time.monotonic()
        if not self.started:
            return False, "consumer not started"
        if self.in_hand:  # a batch mode loop polls no more while its handler works
            since = max(self.last_progress, self.busy_since)
            if now_ - since > self.stall_after_s:
                held = f"{self.in_hand} records in hand"
                return False, f"stalled: {held} and no commit for {now_ - since:.0f}s"
        elif now_ - self.last_poll > max_silence:
            return False, f"no poll for {now_ - self.last_poll:.0f}s"
        if self.consecutive_errors >= 5:
            return False, f"{self.consecutive_errors} consecutive failures (Kafka or Postgres?)"
        quiet = now_ - self.last_progress
        if self.lag > 0 and quiet > self.stall_after_s:
            return False, f"stalled: lag {self.lag} and no commit for {quiet:.0f}s"
        return True, f"{len(self.assigned)} partitions assigned, lag {self.lag}"
