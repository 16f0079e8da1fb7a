"""The status projection on a real Postgres: replay-safe, order-independent, monotonic, atomic."""

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
import pytest
from aiokafka import TopicPartition

from schemas import events as ev
from schemas import topics
from services.common.db import Pool
from services.common.kafka.records import Delivery, Position
from services.common.kafka.replay import KafkaGroupOffsets
from services.status.adapters.projector import Projector
from services.status.adapters.queries import JobError, StatusQueries
from services.status.replay import StoredGroupOffsets

pytestmark = pytest.mark.integration

GROUP = "test-status"
PARTITIONS = 3
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
TOPIC_OF: dict[type[Any], str] = {
    ev.DocumentUploaded: topics.DOCUMENTS_UPLOADED,
    ev.StageStarted: topics.JOBS_PROGRESS,
    ev.DocumentParsed: topics.DOCUMENTS_PARSED,
    ev.DocumentIndexed: topics.DOCUMENTS_INDEXED,
    ev.DocumentFailed: topics.DOCUMENTS_FAILED,
    ev.RetryScheduled: topics.JOBS_PROGRESS,
}
WORKER = ev.Origin(service="test", instance="test-1")


class Log:
    """Events as they would sit in Kafka: keyed by document onto partitions, offsets in order."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._next: dict[Position, int] = {}

    def append(self, event: ev.AnyEvent) -> Delivery:
        """Put `event` on its topic's partition for its document; return where it landed."""
        topic = TOPIC_OF[type(event)]
        partition = uuid.UUID(event.document_id).int % PARTITIONS
        offset = self._next.get((topic, partition), 0)
        self._next[(topic, partition)] = offset + 1
        delivery = Delivery(topic, partition, offset, event)
        self.deliveries.append(delivery)
        return delivery

    def positions(self, deliveries: list[Delivery] | None = None) -> dict[Position, int]:
        """The next offset per partition after `deliveries` (all by default)."""
        positions: dict[Position, int] = {}
        for d in deliveries if deliveries is not None else self.deliveries:
            key = (d.topic, d.partition)
            positions[key] = max(positions.get(key, 0), d.offset + 1)
        return positions


def at(cause: ev.AnyEvent, kind: str, seconds: float) -> dict[str, Any]:
    """Envelope for an event caused by `cause`, `seconds` after T0."""
    fields = ev.caused_by(cause, kind, WORKER)
    fields["occurred_at"] = T0 + timedelta(seconds=seconds)
    return fields


def upload(tenant: str, name: str, seconds: float) -> ev.DocumentUploaded:
    """A DocumentUploaded as ingest would announce it."""
    sha = uuid.uuid4().hex * 2
    return ev.DocumentUploaded(
        event_id=str(uuid.uuid4()),
        occurred_at=T0 + timedelta(seconds=seconds),
        tenant_id=tenant,
        job_id=str(uuid.uuid4()),
        document_id=ev.document_id_for(tenant, sha),
        origin=ev.Origin(service="ingest", instance="ingest-1"),
        blob=ev.BlobRef(sha256=sha, size=1234, media_type="application/pdf"),
        filename=name,
    )


def indexed_job(log: Log, tenant: str, name: str, start: float) -> list[ev.AnyEvent]:
    """Upload, parse and embed a document successfully."""
    up = upload(tenant, name, start)
    parsed = ev.DocumentParsed(
        text=ev.BlobRef(sha256="a" * 64, size=99, media_type="text/plain; charset=utf-8"),
        title=f"Title of {name}",
        page_count=2,
        char_count=99,
        parser="llamaparse",
        **at(up, "parsed", start + 2),
    )
    events: list[ev.AnyEvent] = [
        up,
        ev.StageStarted(stage=ev.Stage.PARSE, **at(up, "parse-started", start + 1)),
        parsed,
        ev.StageStarted(stage=ev.Stage.EMBED, **at(parsed, "embed-started", start + 3)),
        ev.DocumentIndexed(
            chunk_count=4,
            embedding_model="all-MiniLM-L6-v2",
            dimensions=384,
            **at(parsed, "indexed", start + 4),
        ),
    ]
    for event in events:
        log.append(event)
    return events


def failed_job(log: Log, tenant: str, name: str, start: float) -> list[ev.AnyEvent]:
    """Upload a document whose parse fails."""
    up = upload(tenant, name, start)
    events: list[ev.AnyEvent] = [
        up,
        ev.StageStarted(stage=ev.Stage.PARSE, **at(up, "parse-started", start + 1)),
        ev.DocumentFailed(
            stage=ev.Stage.PARSE,
            code="corrupt_file",
            message="the PDF is damaged",
            **at(up, "parse-failed", start + 2),
        ),
    ]
    for event in events:
        log.append(event)
    return events


def in_progress_job(log: Log, tenant: str, name: str, start: float) -> list[ev.AnyEvent]:
    """A document parsed but not embedded yet."""
    events = indexed_job(Log(), tenant, name, start)[:3]
    for event in events:
        log.append(event)
    return events


def redriven_job(log: Log, tenant: str, name: str, start: float) -> list[ev.AnyEvent]:
    """Embedding fails; POST /v1/jobs/{id}/retry re-sends DocumentParsed as attempt 2."""
    first = indexed_job(Log(), tenant, name, start)[:4]
    parsed = first[2]
    failed = ev.DocumentFailed(
        stage=ev.Stage.EMBED,
        code="model_error",
        message="boom",
        **at(parsed, "embed-failed", start + 4),
    )
    again = msgspec.structs.replace(
        parsed,
        event_id=ev.derived_id(parsed.event_id, "redrive-2"),
        occurred_at=T0 + timedelta(seconds=start + 10),
        attempt=2,
        causation_id=parsed.event_id,
    )
    events: list[ev.AnyEvent] = [
        *first,
        failed,
        again,
        ev.StageStarted(stage=ev.Stage.EMBED, **at(again, "embed-started", start + 11)),
        ev.DocumentIndexed(
            chunk_count=3, embedding_model="m", dimensions=384, **at(again, "indexed", start + 12)
        ),
    ]
    for event in events:
        log.append(event)
    return events


def retried_job(log: Log, tenant: str, name: str, start: float) -> list[ev.AnyEvent]:
    """The parser times out twice (two RetryScheduled), then parses the document."""
    up = upload(tenant, name, start)

    def retry(number: int, seconds: float) -> ev.RetryScheduled:
        return ev.RetryScheduled(
            stage=ev.Stage.PARSE,
            code="parse_timeout",
            message=f"parsing took longer than 30s (try {number})",
            retry=number,
            not_before=T0 + timedelta(seconds=start + seconds + 1.5),
            **at(up, f"parse-retry-{number}", start + seconds),
        )

    events: list[ev.AnyEvent] = [
        up,
        ev.StageStarted(stage=ev.Stage.PARSE, **at(up, "parse-started", start + 1)),
        retry(1, 2),
        retry(2, 4),
        ev.DocumentParsed(
            text=ev.BlobRef(sha256="b" * 64, size=9, media_type="text/plain; charset=utf-8"),
            **at(up, "parsed", start + 7),
        ),
    ]
    for event in events:
        log.append(event)
    return events


@pytest.fixture
def log() -> Log:
    """Two tenants' jobs: two indexed, one failed, one still embedding."""
    events = Log()
    indexed_job(events, "tenant-a", "one.pdf", 0)
    indexed_job(events, "tenant-a", "two.pdf", 1)
    failed_job(events, "tenant-b", "bad.pdf", 2)
    in_progress_job(events, "tenant-b", "slow.pdf", 3)
    return events


async def snapshot(pool: Pool) -> dict[str, list[dict[str, Any]]]:
    """Everything the projection wrote, except wall-clock bookkeeping (updated_at)."""
    async with pool.connection() as conn:
        jobs = await (await conn.execute("SELECT * FROM jobs ORDER BY job_id")).fetchall()
        events = await (await conn.execute("SELECT * FROM job_events ORDER BY event_id")).fetchall()
    for row in jobs:
        row.pop("updated_at")
    return {"jobs": jobs, "job_events": events}


async def offsets(pool: Pool) -> dict[Position, int]:
    """The stored consumer positions of GROUP."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT topic, kafka_partition, next_offset FROM consumer_offsets"
            " WHERE consumer_group = %s",
            (GROUP,),
        )
        rows = await cur.fetchall()
    return {(r["topic"], r["kafka_partition"]): r["next_offset"] for r in rows}


async def clear(pool: Pool) -> None:
    """Empty the projection, as if the status service started on a new database."""
    async with pool.connection() as conn:
        await conn.execute("TRUNCATE jobs, job_events, consumer_offsets")
        await conn.commit()


async def reprojected(
    pool: Pool, projector: Projector, log: Log, seed: int, batch_size: int = 1
) -> dict[str, list[dict[str, Any]]]:
    """Clear the tables and project `log` again in the order `seed` shuffles it, `batch_size`
    deliveries at a time; the snapshot."""
    await clear(pool)
    shuffled = list(log.deliveries)
    random.Random(seed).shuffle(shuffled)  # noqa: S311 - a reproducible order, not a secret
    for start in range(0, len(shuffled), batch_size):
        batch = shuffled[start : start + batch_size]
        await projector(batch, log.positions(batch))
    return await snapshot(pool)


async def test_the_projection_reflects_each_jobs_events(pool: Pool, log: Log) -> None:
    projector = Projector(pool, GROUP)
    await projector(log.deliveries, log.positions())

    jobs = {row["filename"]: row for row in (await snapshot(pool))["jobs"]}
    assert set(jobs) == {"one.pdf", "two.pdf", "bad.pdf", "slow.pdf"}
    one = jobs["one.pdf"]
    assert (one["state"], one["chunk_count"], one["title"], one["page_count"]) == (
        "indexed",
        4,
        "Title of one.pdf",
        2,
    )
    assert one["embedding_model"] == "all-MiniLM-L6-v2"
    assert one["error_code"] is None
    assert one["parser"] == "llamaparse"
    stamps = [one[c] for c in ("queued_at", "parsing_at", "parsed_at", "embedding_at")]
    assert stamps == [T0 + timedelta(seconds=s) for s in range(4)]
    assert one["indexed_at"] == T0 + timedelta(seconds=4)
    assert one["failed_at"] is None

    bad = jobs["bad.pdf"]
    assert bad["state"] == "failed"
    assert (bad["error_stage"], bad["error_code"], bad["error_message"]) == (
        "parse",
        "corrupt_file",
        "the PDF is damaged",
    )
    assert bad["failed_at"] == T0 + timedelta(seconds=4)
    assert bad["chunk_count"] is None
    assert bad["parser"] is None, "never parsed"
    assert jobs["slow.pdf"]["state"] == "parsed"
    assert jobs["slow.pdf"]["tenant_id"] == "tenant-b"

    async with pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM job_events")
        assert (await cur.fetchone())["n"] == len(log.deliveries)
    assert await offsets(pool) == log.positions()


async def test_replays_and_reorderings_project_identically(pool: Pool, log: Log) -> None:
    projector = Projector(pool, GROUP)
    await projector(log.deliveries, log.positions())
    expected = await snapshot(pool)

    # A replay (e.g. after a crash before the Kafka commit) changes nothing.
    async with pool.connection() as conn, conn.transaction():
        assert await projector.apply(conn, log.deliveries) == 0
    await projector(log.deliveries, log.positions())
    assert await snapshot(pool) == expected

    # Topics interleave arbitrarily: any order, in any batch sizes, yields the same rows.
    for seed in range(5):
        batch_size = [len(log.deliveries), 1, 2, 3, 7][seed]
        projected = await reprojected(pool, projector, log, seed, batch_size)
        assert projected == expected, f"seed {seed}"


async def test_a_late_event_never_moves_a_job_back(pool: Pool, log: Log) -> None:
    projector = Projector(pool, GROUP)
    indexed = indexed_job(log, "tenant-c", "late.pdf", 10)
    failed = failed_job(log, "tenant-c", "late-bad.pdf", 20)
    await projector(log.deliveries, log.positions())
    before = {row["job_id"]: row for row in (await snapshot(pool))["jobs"]}

    # A redelivered ev.StageStarted from another topic (new event id) arrives after the outcome.
    late = [
        log.append(ev.StageStarted(stage=ev.Stage.PARSE, **at(indexed[0], "parse-again", 30))),
        log.append(ev.StageStarted(stage=ev.Stage.EMBED, **at(indexed[2], "embed-again", 31))),
        log.append(ev.StageStarted(stage=ev.Stage.PARSE, **at(failed[0], "parse-again", 32))),
    ]
    await projector(late, log.positions(late))

    after = {row["job_id"]: row for row in (await snapshot(pool))["jobs"]}
    for job_id in (indexed[0].job_id, failed[0].job_id):
        assert after[job_id] == before[job_id]
    assert after[indexed[0].job_id]["state"] == "indexed"
    assert after[failed[0].job_id]["state"] == "failed"
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) AS n FROM job_events WHERE event_id = ANY(%s)",
            ([d.event.event_id for d in late],),
        )
        assert (await cur.fetchone())["n"] == 3  # recorded in the history, state untouched


async def test_offsets_commit_with_the_rows_or_not_at_all(pool: Pool, log: Log) -> None:
    projector = Projector(pool, GROUP)
    empty = {"jobs": [], "job_events": []}

    # An error after apply inside the transaction leaves no rows behind.
    with pytest.raises(RuntimeError, match="crash"):
        async with pool.connection() as conn, conn.transaction():
            assert await projector.apply(conn, log.deliveries) == len(log.deliveries)
            raise RuntimeError("crash after apply")
    assert await snapshot(pool) == empty
    assert await offsets(pool) == {}

    # The offset write failing rolls back the rows the same call applied.
    broken = {**log.positions(), ("sluice.documents.uploaded", 2**40): 1}
    with pytest.raises(psycopg.Error):
        await projector(log.deliveries, broken)
    assert await snapshot(pool) == empty
    assert await offsets(pool) == {}

    # A clean call stores rows and positions together; a restart resumes from them.
    first, rest = log.deliveries[:5], log.deliveries[5:]
    await projector(first, log.positions(first))
    assert await offsets(pool) == log.positions(first)
    assignment = [TopicPartition(t, p) for t in topics.PIPELINE_TOPICS for p in range(PARTITIONS)]
    resumed = await projector.stored_offsets(assignment)
    assert {(tp.topic, tp.partition): o for tp, o in resumed.items()} == log.positions(first)
    await projector(rest, log.positions(rest))
    assert await offsets(pool) == log.positions()
    assert len((await snapshot(pool))["job_events"]) == len(log.deliveries)


async def test_a_redriven_job_projects_its_latest_attempt_in_any_order(pool: Pool) -> None:
    log = Log()
    events = redriven_job(log, "tenant-r", "again.pdf", 0)
    projector = Projector(pool, GROUP)
    await projector(log.deliveries, log.positions())
    (expected,) = (await snapshot(pool))["jobs"]
    assert (expected["state"], expected["attempt"], expected["chunk_count"]) == ("indexed", 2, 3)
    assert expected["error_code"] is None  # the re-drive cleared the failure
    # The new attempt's timeline replaced the old one's.
    assert expected["parsed_at"] == events[-3].occurred_at
    assert expected["embedding_at"] == events[-2].occurred_at
    assert expected["indexed_at"] == events[-1].occurred_at
    assert expected["queued_at"] is None
    assert expected["failed_at"] is None

    # A rebuild reads the topics in another interleaving; late attempt-1 events change nothing.
    for seed in range(8):
        (row,) = (await reprojected(pool, projector, log, seed))["jobs"]
        assert row == expected, f"seed {seed}"


async def test_a_jobs_retries_are_projected_and_shown_in_any_order(pool: Pool) -> None:
    log = Log()
    events = retried_job(log, "tenant-q", "slow.pdf", 0)
    last = events[3]
    assert isinstance(last, ev.RetryScheduled)
    projector = Projector(pool, GROUP)
    await projector(log.deliveries, log.positions())
    (expected,) = (await snapshot(pool))["jobs"]
    assert (expected["state"], expected["retries"]) == ("parsed", 2)
    assert expected["next_retry_at"] == last.not_before
    assert (expected["last_error_code"], expected["last_error_message"]) == (
        "parse_timeout",
        "parsing took longer than 30s (try 2)",
    )

    job = await StatusQueries(pool).job("tenant-q", events[0].job_id)
    assert job is not None
    assert (job.retries, job.next_retry_at) == (2, last.not_before)
    assert job.last_error == JobError(None, "parse_timeout", "parsing took longer than 30s (try 2)")

    # Retry 2 may be projected before retry 1 (and before or after the outcome): same row.
    for seed in range(6):
        (row,) = (await reprojected(pool, projector, log, seed))["jobs"]
        assert row == expected, f"seed {seed}"


async def test_a_replay_rewinds_the_running_projector_and_wins_over_its_batch_in_hand(
    pool: Pool, log: Log, fresh_database: str
) -> None:
    projector = Projector(pool, GROUP)
    rewound: list[bool] = []
    projector.on_rewound = lambda: rewound.append(True)
    assignment = [TopicPartition(t, p) for t in topics.PIPELINE_TOPICS for p in range(PARTITIONS)]
    first, rest = log.deliveries[:5], log.deliveries[5:]
    await projector.stored_offsets(assignment)
    await projector(first, log.positions(first))
    assert not await projector.rewound()

    # A replay (`sluice replay --service status`) rewinds every partition while it runs.
    store = StoredGroupOffsets(fresh_database, GROUP, KafkaGroupOffsets("unused:9092", GROUP))
    await store.alter(dict.fromkeys(assignment, 0))
    assert await projector.rewound()  # an idle projector finds out

    # The batch it read before the replay stores nothing: its rows roll back, it reseeks.
    before = await snapshot(pool)
    await projector(rest, log.positions(rest))
    assert rewound == [True]
    assert await snapshot(pool) == before
    assert set((await offsets(pool)).values()) == {0}
    await projector(rest, log.positions(rest))  # until it has reseeked, batches are ignored
    assert await snapshot(pool) == before

    # Reseeked, it reprojects everything from the start: the same rows, offsets at the end.
    resumed = await projector.stored_offsets(assignment)
    assert set(resumed.values()) == {0}
    assert not await projector.rewound()
    await projector(log.deliveries, log.positions())
    empty = {(tp.topic, tp.partition): 0 for tp in assignment}
    assert await offsets(pool) == {**empty, **log.positions()}
    assert len((await snapshot(pool))["job_events"]) == len(log.deliveries)


async def history(pool: Pool) -> dict[str, list[tuple[Any, ...]]]:
    """Each job's changes as the event streams read them (`job_changes`, in commit order)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT job_id, state, attempt, retries, error_stage, error_code, error_message"
            " FROM job_changes ORDER BY tx, id"
        )
        rows = await cur.fetchall()
    changes: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        changes.setdefault(row.pop("job_id"), []).append(tuple(row.values()))
    return changes


async def test_one_batch_projects_what_its_events_one_by_one_project(pool: Pool) -> None:
    # Several events of each job in one batch, out of order, some delivered twice (the same
    # record again, and the same event at another offset, as a producer retry writes it).
    log = Log()
    redriven_job(log, "tenant-r", "again.pdf", 0)
    retried_job(log, "tenant-q", "slow.pdf", 20)
    indexed_job(log, "tenant-a", "one.pdf", 40)
    failed_job(log, "tenant-b", "bad.pdf", 60)
    batch = list(log.deliveries)
    random.Random(7).shuffle(batch)  # noqa: S311 - a reproducible order, not a secret
    copies = [log.append(d.event) for d in batch[::4]]  # the same events at new offsets
    batch = [*batch, *batch[1::5], *copies]
    random.Random(8).shuffle(batch)  # noqa: S311 - a reproducible order, not a secret
    projector = Projector(pool, GROUP)

    for delivery in batch:
        await projector([delivery], log.positions([delivery]))
    one_by_one, changes = await snapshot(pool), await history(pool)
    assert len(one_by_one["job_events"]) == len(log.deliveries) - len(copies)
    assert sum(map(len, changes.values())) > 2 * len(changes), "jobs pass through states"

    async with pool.connection() as conn:
        await conn.execute("TRUNCATE jobs, job_events, job_changes, consumer_offsets")
        await conn.commit()
    await projector(batch, log.positions(batch))
    assert await snapshot(pool) == one_by_one
    assert await history(pool) == changes  # every state a job passed through, in order
