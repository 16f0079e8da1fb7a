"""One builder for a stage worker: its ports, its consumer on the stage's topics, its probes."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from schemas import topics
from schemas.events import Stage
from services.common.blobstore import PostgresBlobStore
from services.common.bootstrap import Infra
from services.common.deletions import PostgresDeletedJobs
from services.common.http import Check, create_app
from services.common.kafka.consumer import ConsumerLoop
from services.common.kafka.isolation import BatchHandler
from services.common.kafka.retry import Retrier
from services.common.service import Service, readiness
from services.common.stage import StagePorts


def stage_worker(
    infra: Infra,
    stage: Stage,
    group: str,
    *,
    handler: Callable[[StagePorts], BatchHandler],
    max_records: int,
    concurrency: int = 0,
    max_poll_interval_ms: int = 300_000,
    checks: Callable[[], Mapping[str, Check]] | None = None,
) -> Service:
    """A stage's service: `handler(ports)` on the stage's input topic and its retry topic.

    `concurrency` 0 hands over polled batches (batch mode), N > 0 up to N records at once
    (per-record mode); the probes check Postgres, the consumer, and `checks`.
    """
    reads = topics.STAGE_INPUTS[stage]
    retrier = Retrier(infra.publisher, infra.origin, stage, group=group)
    consumer = ConsumerLoop(
        bootstrap=infra.bootstrap,
        group_id=group,
        topics=[reads, topics.retry(reads)],
        handler=handler(
            StagePorts(
                PostgresBlobStore(infra.pool),
                infra.publisher,
                retrier,
                PostgresDeletedJobs(infra.pool),
            )
        ),
        publisher=infra.publisher,
        origin=infra.origin,
        stage=stage,
        retrier=retrier,
        max_records=max_records,
        concurrency=concurrency,
        max_poll_interval_ms=max_poll_interval_ms,
        stall_after_s=infra.consumer_stall_s,
    )
    probes = readiness(infra.pool, {"consumer": consumer}, checks)
    return Service(app=create_app(infra.origin.service, probes), consumer=consumer)
