"""Per-record failure isolation: one record's exception costs that record, never its batch.

`classify` (services/common/kafka/failures.py) decides per exception class; this module acts on it:
an outage pauses and retries the same records, a record's own failure is retried a bounded
number of times (in place, then through `<topic>.retry`) and then dead-lettered with its job
failed `internal_error`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Protocol

from schemas import topics
from schemas.events import Stage
from services.common.errors import INTERNAL_ERROR, RetryableError
from services.common.kafka.deadletter import DeadLetters
from services.common.kafka.failures import Failure, classify, describe, error_type
from services.common.kafka.gauges import LoopMetrics
from services.common.kafka.records import Delivery, Position
from services.common.kafka.retry import Retrier
from services.common.logs import ctx

log = logging.getLogger(__name__)

IN_PLACE_BACKOFF_S = 0.25  # before the 2nd in-place try; doubles for each further one
OUTAGE_BACKOFF_S = 0.5  # first wait of an outage; doubles to OUTAGE_BACKOFF_MAX_S
OUTAGE_BACKOFF_MAX_S = 30.0


class BatchHandler(Protocol):
    """Handles a batch; `positions` are the next offsets to resume from once it is durable."""

    async def __call__(self, batch: list[Delivery], positions: dict[Position, int]) -> None: ...


class Outages(Protocol):
    """Where an outage is counted (the loop's health) and reset by the next success."""

    consecutive_errors: int


def positions_of(batch: Sequence[Delivery]) -> dict[Position, int]:
    """The next offset per partition after the records of `batch`."""
    positions: dict[Position, int] = {}
    for d in batch:
        where = (d.topic, d.partition)
        positions[where] = max(positions.get(where, 0), d.offset + 1)
    return positions


class Isolation:
    """Runs a handler so that a failure is paid by the record that caused it.

    `in_place_attempts` tries per delivery (a short backoff between them), then up to
    `record_retries` trips through `<topic>.retry` when the loop reads that topic and has a
    `retrier`, then the dead-letter topic (and `DocumentFailed(internal_error)` with a retrier).
    """

    def __init__(
        self,
        *,
        handler: BatchHandler,
        group: str,
        stage: Stage | None,
        topics_read: Collection[str],
        retrier: Retrier | None,
        dead_letters: DeadLetters,
        outages: Outages,
        loop_metrics: LoopMetrics | None = None,
        in_place_attempts: int = 2,
        record_retries: int = 2,
    ) -> None:
        self.handler = handler
        self.metrics = loop_metrics or LoopMetrics("", group)
        self.group = group
        self.stage = stage
        self.topics_read = set(topics_read)
        self.retrier = retrier
        self.dead_letters = dead_letters
        self.outages = outages
        self.in_place_attempts = max(1, in_place_attempts)
        self.record_retries = record_retries

    async def hand_over(self, batch: list[Delivery], positions: dict[Position, int]) -> bool:
        """Batch mode: the handler over `batch`; on a record's failure, halves until it is alone.

        An outage propagates (the loop rewinds and retries the whole batch). Returns True when
        the batch had to be split, so the caller can hand over `positions` once more.
        """
        try:
            await self.handler(batch, positions)
        except Exception as error:
            if not batch or classify(error) is Failure.INFRASTRUCTURE:
                raise
            caught = error
        else:
            return False
        if len(batch) == 1:
            await self.settle(batch[0], first_error=caught, wait_out_outages=False)
            return True
        log.warning(
            "a batch of %d failed (%s); handing it over in halves to isolate the record",
            len(batch),
            describe(caught),
            extra=ctx(stage=self.stage),
        )
        half = len(batch) // 2
        for part in (batch[:half], batch[half:]):
            await self.hand_over(part, positions_of(part))
        return True

    async def settle(
        self,
        delivery: Delivery,
        *,
        first_error: BaseException | None = None,
        wait_out_outages: bool,
    ) -> None:
        """Handle one record until it is done or set aside (retry topic or dead letter).

        `first_error`: it already failed alone once. With `wait_out_outages` an outage is
        waited out here (per-record mode); else it propagates to the loop (batch mode).
        """
        error = first_error
        tries = 0
        outage_wait = OUTAGE_BACKOFF_S
        while True:
            if error is None:
                try:
                    await self.handler([delivery], positions_of([delivery]))
                except Exception as caught:  # noqa: BLE001 - classified below
                    error = caught
                else:
                    self.outages.consecutive_errors = 0
                    return
            failure = classify(error)
            if failure is Failure.INFRASTRUCTURE:
                if not wait_out_outages:
                    raise error
                self.metrics.failed(delivery.topic, "outage")
                outage_wait = await self.outage(error, outage_wait)
                error = None
                continue
            tries += 1
            self.metrics.failed(delivery.topic, "record")
            if failure is Failure.RECORD and tries < self.in_place_attempts:
                log.warning(
                    "try %d of %d failed (%s); trying again in place",
                    tries,
                    self.in_place_attempts,
                    describe(error),
                    extra=_ctx(delivery, self.stage),
                )
                await asyncio.sleep(IN_PLACE_BACKOFF_S * 2 ** (tries - 1))
                error = None
                continue
            set_aside = functools.partial(self._set_aside, delivery, error, tries)
            await self.persist(set_aside, wait_out_outages)
            return

    async def persist(self, action: Callable[[], Awaitable[None]], wait_out_outages: bool) -> None:
        """Run `action` (setting a record aside) until it succeeds, or raise when not waiting."""
        outage_wait = OUTAGE_BACKOFF_S
        while True:
            try:
                await action()
            except Exception as error:
                if not wait_out_outages:
                    raise
                outage_wait = await self.outage(error, outage_wait)
            else:
                return

    async def outage(self, error: BaseException, wait_s: float) -> float:
        """Count and log an outage, wait `wait_s` (with jitter); return the next wait."""
        self.outages.consecutive_errors += 1
        self.metrics.outage(())
        log.warning(
            "outage (%s); retrying the same record in %.1fs",
            describe(error),
            wait_s,
            exc_info=error,
        )
        await asyncio.sleep(wait_s * (1 + random.random() / 2))  # noqa: S311 - jitter
        return min(wait_s * 2, OUTAGE_BACKOFF_MAX_S)

    def _can_retry_later(self, delivery: Delivery) -> bool:
        retry_topic = topics.retry(topics.base(delivery.topic))
        return self.retrier is not None and retry_topic in self.topics_read

    async def _set_aside(self, delivery: Delivery, error: BaseException, tries: int) -> None:
        """Through the retry topic while the budget lasts, else the dead-letter topic."""
        retry_later = self._can_retry_later(delivery)
        if retry_later and self.retrier is not None:
            if isinstance(error, RetryableError):
                await self.retrier.retry_later(
                    delivery, error.code, error.message, retry_after_s=error.retry_after_s
                )
                return
            if delivery.retries < self.record_retries:
                await self.retrier.retry_later(delivery, INTERNAL_ERROR, describe(error))
                return
        cause = describe(error)
        runs = tries + delivery.retries * self.in_place_attempts
        stage = str(self.stage or "status")
        dlq = topics.dlq(topics.base(delivery.topic))
        log.error(
            "giving up after %d tries: %s",
            runs,
            cause,
            exc_info=error,
            extra=_ctx(delivery, self.stage),
        )
        if self.retrier is None:
            await self.dead_letters.write_delivery(
                delivery, code=INTERNAL_ERROR, message=cause, error_type=error_type(error)
            )
            return
        await self.retrier.dead_letter(
            delivery,
            INTERNAL_ERROR,
            cause,
            kind=f"{stage}-internal-error",
            failure=(
                f"the {stage} stage failed on this document with an unexpected error"
                f" ({runs} tries): {cause}. This is a fault in Sluice, not a verdict on the file;"
                f" the record is kept in {dlq}. Report it with this job's id, and retry the job"
                f" (POST /v1/jobs/{delivery.event.job_id}/retry) once the fault is fixed."
            ),
            retryable=True,
            error_type=error_type(error),
        )


def _ctx(delivery: Delivery, stage: Stage | None) -> dict[str, object]:
    event = delivery.event
    return ctx(job_id=event.job_id, document_id=event.document_id, stage=stage)
