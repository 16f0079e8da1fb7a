"""What a stage tells the pipeline about a job: that it started on it, or that the job failed."""

from __future__ import annotations

import logging

from schemas import topics
from schemas.events import DocumentFailed, Event, Origin, Stage, StageStarted, caused_by
from services.common import metrics
from services.common.logs import ctx
from services.common.ports import EventPublisher

log = logging.getLogger(__name__)


async def announce_start(
    publisher: EventPublisher, cause: Event, *, stage: Stage, origin: Origin
) -> None:
    """`StageStarted` for `cause`'s job (event kind `<stage>-started`)."""
    started = StageStarted(stage=stage, **caused_by(cause, f"{stage}-started", origin))
    await publisher.publish(topics.JOBS_PROGRESS, started)


async def fail_job(
    publisher: EventPublisher,
    origin: Origin,
    stage: Stage,
    cause: Event,
    reason: tuple[str, str],
    *,
    kind: str | None = None,
    retryable: bool = False,
) -> None:
    """Fail `cause`'s job at `stage`: `DocumentFailed` acknowledged, counted and logged.

    `reason` is the machine-readable code and a message that tells a person what to do;
    `kind` names the failure in its derived event id (default `<stage>-failed`);
    `retryable` says whether a re-drive may succeed.
    """
    code, message = reason
    failed = DocumentFailed(
        stage=stage,
        code=code,
        message=message,
        retryable=retryable,
        **caused_by(cause, kind or f"{stage}-failed", origin),
    )
    await publisher.publish(topics.DOCUMENTS_FAILED, failed)
    metrics.JOBS_FAILED.labels(str(stage), code).inc()
    log.warning(
        "%s failed: %s",
        stage,
        code,
        extra=ctx(job_id=cause.job_id, document_id=cause.document_id, stage=str(stage)),
    )
