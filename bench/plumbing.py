"""Plumbing: the pipeline with the benchmark-only hashing provider, and the projector alone."""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench import cpu
from bench.corpus import corpus
from bench.harness import bench_stack, upload_all, uploaded, wait_done, warm_up
from bench.report import Context, Outcome, Row, log
from infra.local.postgres import create_database
from schemas import codec, topics
from schemas.events import (
    AnyEvent,
    BlobRef,
    DocumentIndexed,
    DocumentParsed,
    Origin,
    Stage,
    StageStarted,
    caused_by,
)
from services.common.db import migrate, open_pool
from services.common.kafka.consumer import ConsumerLoop
from services.common.kafka.producer import KafkaPublisher, make_producer
from services.common.kafka.records import Delivery, Position
from services.status.adapters.projector import Projector
from services.status.config import StatusSettings

PROJECTOR_TARGET = 20_000.0
HASHING = {"SLUICE_EMBEDDING_PROVIDER": "hashing"}


def job_events(origin: Origin) -> list[tuple[str, AnyEvent]]:
    """One job's realistic happy path: uploaded, parse started, parsed, embed started, indexed."""
    sha = uuid.uuid4().hex * 2
    blob = BlobRef(sha256=sha, size=8123, media_type="text/markdown")
    upload = uploaded(
        origin, "bench-projector", blob, "quarterly-report.md", metadata={"source": "bench"}
    )
    parsed = DocumentParsed(
        text=BlobRef(sha256=sha[::-1], size=7900, media_type="text/plain; charset=utf-8"),
        title="Quarterly report",
        char_count=7900,
        source=upload.blob,
        **caused_by(upload, "parsed", origin),
    )
    return [
        (topics.DOCUMENTS_UPLOADED, upload),
        (
            topics.JOBS_PROGRESS,
            StageStarted(stage=Stage.PARSE, **caused_by(upload, "parse-started", origin)),
        ),
        (topics.DOCUMENTS_PARSED, parsed),
        (
            topics.JOBS_PROGRESS,
            StageStarted(stage=Stage.EMBED, **caused_by(parsed, "embed-started", origin)),
        ),
        (
            topics.DOCUMENTS_INDEXED,
            DocumentIndexed(
                chunk_count=9,
                embedding_model="all-MiniLM-L6-v2",
                dimensions=384,
                **caused_by(parsed, "indexed", origin),
            ),
        ),
    ]


async def produce_events(bootstrap: str, count: int) -> None:
    """Put `count` pipeline events (count/5 jobs) onto the pipeline topics."""
    origin = Origin(service="bench", instance="bench-1")
    producer = make_producer(bootstrap, "bench-preproduce")
    await producer.start()
    try:
        pending = []
        for _ in range(count // 5):
            for topic, event in job_events(origin):
                pending.append(
                    await producer.send(topic, codec.encode(event), key=event.document_id.encode())
                )
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def topic_total(bootstrap: str) -> int:
    """Records now in the pipeline topics (no transactions, so offsets count records)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [
            TopicPartition(t, p)
            for t in topics.PIPELINE_TOPICS
            for p in range(topics.DEFAULT_PARTITIONS)  # as ensure_topics created them
        ]
        ends = await consumer.end_offsets(parts)
        starts = await consumer.beginning_offsets(parts)
        return sum(ends[tp] - starts[tp] for tp in parts)
    finally:
        await consumer.stop()


async def project_all(bootstrap: str, db_url: str, total: int) -> tuple[float, float]:
    """Drain every pipeline event with Projector + ConsumerLoop into `db_url`.

    Returns (events/s from first batch to last commit, events/s including group join).
    """
    await migrate(db_url)
    pool = await open_pool(db_url, name="bench-projector")
    producer = make_producer(bootstrap, "bench-projector")
    await producer.start()
    projector = Projector(pool, f"bench-projector-{uuid.uuid4().hex[:6]}")
    done = asyncio.Event()
    marks = {"first": 0.0, "last": 0.0, "seen": 0}

    async def timed(batch: list[Delivery], positions: dict[Position, int]) -> None:
        if not marks["first"]:
            marks["first"] = time.perf_counter()
        await projector(batch, positions)
        marks["seen"] += len(batch)
        marks["last"] = time.perf_counter()
        if marks["seen"] >= total:
            done.set()

    consumer = ConsumerLoop(
        bootstrap=bootstrap,
        group_id=projector.group,
        topics=topics.PIPELINE_TOPICS,
        handler=timed,
        publisher=KafkaPublisher(producer),
        origin=Origin(service="bench", instance="projector"),
        stored_offsets=projector.stored_offsets,
        max_records=StatusSettings().projector_batch,
    )
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await asyncio.wait_for(done.wait(), timeout=600)
    finally:
        stop.set()
        await task
        await producer.stop()
        await pool.close()
    seen = float(marks["seen"])
    return seen / (marks["last"] - marks["first"]), seen / (marks["last"] - started)


def run(ctx: Context) -> Outcome:
    """End-to-end docs/s and events/s with hashing, then the projector alone on seeded events."""
    count, repeats, synthetic = (60, 2, 10_000) if ctx.quick else (200, 3, 20_000)
    docs = corpus(count)
    out = Outcome("plumbing")
    out.notes.append(
        "provider: `hashing` — BENCHMARK-ONLY feature hashing, no model: what is left is"
        " Kafka + Postgres + parsing + chunking + the services"
    )
    out.notes.append(
        "CPU per document: user+system CPU of each process tree (the parser's sandbox workers,"
        " Postgres's backends included) from /proc/<pid>/stat, from the first upload to the"
        " last job indexed, divided by the documents"
    )
    doc_rates: list[float] = []
    event_rates: list[float] = []
    chunk_rates: list[float] = []
    cpu_ms: dict[str, list[float]] = {}
    with bench_stack("plumbing", HASHING) as stack:
        warm_up(stack, corpus(2, seed=1))
        for rep in range(repeats):
            tenant = f"plumb-{rep}-{uuid.uuid4().hex[:6]}"
            log(f"plumbing: pipeline run {rep + 1}/{repeats} ({count} documents)")
            pids = stack.pids()
            before = cpu.snapshot(pids, own="bench (uploads, waits)")
            started = asyncio.run(upload_all(stack.ingest_url, tenant, docs))
            done = wait_done(stack.database_url, tenant, count)
            used = cpu.per_item(before, cpu.snapshot(pids, own="bench (uploads, waits)"), count)
            for label, seconds in used.items():
                cpu_ms.setdefault(label, []).append(seconds * 1000)
            wall = done.last_indexed - started
            doc_rates.append(done.indexed / wall)
            event_rates.append(done.events / wall)
            chunk_rates.append(done.chunks / wall)
            if done.failed:
                out.notes.append(f"run {rep + 1}: {done.failed} jobs failed")
        out.add(Row("pipeline (hashing) documents", doc_rates, "docs/s"))
        out.add(Row("pipeline (hashing) events projected", event_rates, "events/s"))
        out.add(Row("pipeline (hashing) chunks", chunk_rates, "chunks/s"))
        for label, values in cpu_ms.items():
            out.add(Row(f"pipeline (hashing) CPU per document: {label}", values, "ms"))
        every = [sum(run) for run in zip(*cpu_ms.values(), strict=True)]
        out.add(Row("pipeline (hashing) CPU per document: all processes", every, "ms"))
        ctx.shared["pipeline_events_per_s"] = out.rows[1].median
        ctx.shared["pipeline_docs_per_s"] = out.rows[0].median

        log("plumbing: stopping the services; pre-producing events for the projector alone")
        stack.stop_services()
        asyncio.run(produce_events(stack.bootstrap, synthetic))
        total = asyncio.run(topic_total(stack.bootstrap))
        steady: list[float] = []
        overall: list[float] = []
        for rep in range(repeats):
            log(f"plumbing: projector run {rep + 1}/{repeats} ({total} events)")
            db_url = create_database(stack.database_url, f"projector_{rep}")
            rate, with_join = asyncio.run(project_all(stack.bootstrap, db_url, total))
            steady.append(rate)
            overall.append(with_join)
    out.add(
        Row(
            "status projector alone (first batch → last commit)",
            steady,
            "events/s",
            target=f"≥ {PROJECTOR_TARGET:,.0f}",
            ok=Row("", steady, "").median >= PROJECTOR_TARGET,
        )
    )
    out.add(Row("status projector alone (incl. consumer group join)", overall, "events/s"))
    out.notes.append(
        f"projector: {total} events ({synthetic} synthetic, {total - synthetic} from the"
        f" pipeline runs) drained by `Projector` + `ConsumerLoop` (max_records"
        f" {StatusSettings().projector_batch}) into a fresh database, fresh group each run"
    )
    return out
