"""Retryable failures: delayed retry through `<topic>.retry`, then dead letter when exhausted."""

from __future__ import annotations

import logging
import random
import time
from datetime import UTC, datetime

import msgspec

from schemas import codec, topics
from schemas.events import Origin, RetryScheduled, Stage, caused_by
from services.common import metrics
from services.common.errors import RETRIES_EXHAUSTED
from services.common.jobs import fail_job
from services.common.kafka import headers as h
from services.common.kafka.deadletter import DeadLetters
from services.common.kafka.records import Delivery
from services.common.logs import ctx
from services.common.ports import Publisher

log = logging.getLogger(__name__)


class RetryPolicy(msgspec.Struct, frozen=True):
    """Exponential backoff with jitter: base * 2^(n-1), capped, times 0.5..1."""

    max_retries: int = 8
    base_s: float = 1.0
    cap_s: float = 60.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        ceiling: float = min(self.cap_s, self.base_s * 2 ** (retry - 1))
        return float(ceiling * (0.5 + random.random() / 2))  # noqa: S311 - jitter, not crypto


class Retrier:
    """Sends a document back through its stage's retry topic, or dead-letters it.

    `group` is the consumer group of the loop the stage runs in (a dead-letter header).
    """

    def __init__(
        self,
        publisher: Publisher,
        origin: Origin,
        stage: Stage,
        policy: RetryPolicy | None = None,
        *,
        group: str = "",
    ) -> None:
        self.publisher = publisher
        self.origin = origin
        self.stage = stage
        self.policy = policy or RetryPolicy()
        self.dead_letters = DeadLetters(
            publisher, stage=str(stage), group=group, service=origin.service
        )

    async def retry_later(
        self,
        delivery: Delivery,
        code: str,
        message: str,
        *,
        retry_after_s: float | None = None,
    ) -> None:
        """Schedule the next attempt; after the last one the job fails and the record is a DLQ.

        The wait is the policy's backoff, or `retry_after_s` when that is longer.
        """
        event = delivery.event
        retry = delivery.retries + 1
        base_topic = topics.base(delivery.topic)
        if retry > self.policy.max_retries:
            await self._exhausted(delivery, code, message)
            return
        delay = self.policy.delay(retry)
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        due_ms = int((time.time() + delay) * 1000)
        await self.publisher.send(
            topics.retry(base_topic),
            codec.encode(event),
            key=event.document_id.encode(),
            headers=[
                (h.RETRY_ATTEMPT, str(retry).encode()),
                (h.RETRY_NOT_BEFORE, str(due_ms).encode()),
                (h.ERROR_CODE, code.encode()),
                (h.ERROR_MESSAGE, message[: h.MESSAGE_LIMIT].encode()),
            ],
        )
        scheduled = RetryScheduled(
            stage=self.stage,
            code=code,
            message=message,
            retry=retry,
            not_before=datetime.fromtimestamp(due_ms / 1000, UTC),
            **caused_by(event, f"{self.stage}-retry-{retry}", self.origin),
        )
        await self.publisher.publish(topics.JOBS_PROGRESS, scheduled)
        metrics.RECORDS_RETRIED.labels(self.origin.service, base_topic, code).inc()
        log.warning(
            "retry %d in %.1fs: %s",
            retry,
            delay,
            code,
            extra=ctx(job_id=event.job_id, document_id=event.document_id, stage=self.stage),
        )

    async def _exhausted(self, delivery: Delivery, code: str, message: str) -> None:
        attempts = delivery.retries + 1
        await self.dead_letter(
            delivery,
            RETRIES_EXHAUSTED,
            f"{code}: {message}",
            failure=f"gave up after {attempts} attempts; last error {code}: {message}",
            kind=f"{self.stage}-exhausted",
            retryable=True,
            error_type="RetryableError",
        )

    def finished(self, retries: int, *, succeeded: bool) -> None:
        """A record that had been retried (`retries` > 0) finished: it succeeded or we gave up.

        Called where a stage reaches its outcome; first tries (`retries` 0) are not counted.
        """
        if retries > 0:
            outcome = "succeeded" if succeeded else "gave_up"
            metrics.RETRIES_FINISHED.labels(self.origin.service, str(self.stage), outcome).inc()

    async def dead_letter(
        self,
        delivery: Delivery,
        code: str,
        message: str,
        *,
        kind: str,
        failure: str | None = None,
        retryable: bool = False,
        error_type: str = "",
        attempts: int | None = None,
    ) -> None:
        """Give up on a decodable record: copy it to `<topic>.dlq` with the cause, fail the job.

        For failures on the pipeline's side (retries exhausted, a provider that refuses the
        input, bytes gone from the blob store, an unexpected exception). A file that is itself
        bad (corrupt, encrypted, no text) only fails its job: see docs/architecture.md.
        `failure` is the job's message when it should differ from the header's `message`;
        `attempts` defaults to one more than the record's retries.
        """
        await self.dead_letters.write_delivery(
            delivery, code=code, message=message, error_type=error_type, attempts=attempts
        )
        self.finished(delivery.retries, succeeded=False)
        reason = (code, failure or message)
        await fail_job(
            self.publisher,
            self.origin,
            self.stage,
            delivery.event,
            reason,
            kind=kind,
            retryable=retryable,
        )
