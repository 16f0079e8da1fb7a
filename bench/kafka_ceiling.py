"""Kafka client ceiling: raw aiokafka produce/consume msgs/s, the pipeline's sizes and settings."""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from bench.harness import bench_stack, uploaded
from bench.report import Context, Outcome, Row, log
from schemas import codec, topics
from schemas.events import BlobRef, Origin
from services.common.kafka.admin import ensure_topics
from services.common.kafka.producer import make_producer

BENCH_TOPIC = f"{topics.PREFIX}.bench.ceiling"  # benchmark-only topic, never used by services


def messages(count: int) -> list[tuple[bytes, bytes]]:
    """`count` encoded DocumentUploaded events (key, value), as ingest produces them."""
    origin = Origin(service="ingest", instance="ingest-bench")
    out = []
    for i in range(count):
        blob = BlobRef(sha256=uuid.uuid4().hex * 2, size=4000 + i, media_type="text/plain")
        event = uploaded(origin, "acme", blob, f"report-{i:06d}.txt")
        out.append((event.document_id.encode(), codec.encode(event)))
    return out


async def produce(
    bootstrap: str,
    topic: str,
    batch: list[tuple[bytes, bytes]],
    *,
    wait_each: bool,
    linger_ms: int = 5,
) -> float:
    """Produce with `make_producer`; pipelined (send) or one at a time (send_and_wait). msgs/s."""
    producer = make_producer(bootstrap, "bench-ceiling", linger_ms=linger_ms)
    await producer.start()
    try:
        await producer.send_and_wait(topic, batch[0][1], key=batch[0][0])  # metadata, connection
        started = time.perf_counter()
        if wait_each:
            for key, value in batch:
                await producer.send_and_wait(topic, value, key=key)
        else:
            futures = [await producer.send(topic, value, key=key) for key, value in batch]
            await asyncio.gather(*futures)
        return len(batch) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def consume(bootstrap: str, topic: str, count: int) -> float:
    """Read `count` records from the start with the ConsumerLoop's consumer settings. msgs/s."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-ceiling-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        seen = 0
        started = 0.0
        while seen < count:
            polled = await consumer.getmany(timeout_ms=500, max_records=500)
            got = sum(len(v) for v in polled.values())
            if got and not started:
                started = time.perf_counter()
            seen += got
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def wait_for_leaders(bootstrap: str, topic: str, within_s: float = 30) -> None:
    """Block until every partition of a new topic has a leader (metadata has caught up)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + within_s
        while True:
            (described,) = await admin.describe_topics([topic])
            parts = described.get("partitions", [])
            if len(parts) == topics.DEFAULT_PARTITIONS and all(p["leader"] >= 0 for p in parts):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: partitions without a leader after {within_s:.0f}s")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def one_run(
    bootstrap: str, rep: int, count: int, sequential: int
) -> tuple[float, float, float, float]:
    """Produce pipelined, one at a time (linger 5 ms, then 0), consume: msgs/s of each."""
    topic = f"{BENCH_TOPIC}.{rep}"
    await ensure_topics(bootstrap, [topic])
    await wait_for_leaders(bootstrap, topic)
    batch = messages(count)
    pipelined = await produce(bootstrap, topic, batch, wait_each=False)
    one_by_one = await produce(bootstrap, topic, batch[:sequential], wait_each=True)
    no_linger = await produce(bootstrap, topic, batch[:sequential], wait_each=True, linger_ms=0)
    consumed = await consume(bootstrap, topic, count + 2 * sequential)
    return pipelined, one_by_one, no_linger, consumed


def run(ctx: Context) -> Outcome:
    """Several runs on an infrastructure-only stack (no services competing)."""
    count, sequential, repeats = (20_000, 1_000, 3) if ctx.quick else (50_000, 2_000, 3)
    sample = messages(1)[0][1]
    out = Outcome("kafka_ceiling")
    out.notes.append(
        f"{count} encoded DocumentUploaded events ({len(sample)} B each) per run to a"
        f" {topics.DEFAULT_PARTITIONS}-partition topic, producer = `make_producer` (acks=all,"
        " idempotent, linger 5 ms: a lone send_and_wait waits out the linger); consumer = the"
        " ConsumerLoop's settings, getmany(500);"
        " Kafka + Postgres only, no services running"
    )
    results: list[tuple[float, float, float, float]] = []
    with bench_stack("kafka", services=False) as stack:
        for rep in range(repeats):
            log(f"kafka_ceiling: run {rep + 1}/{repeats}")
            results.append(asyncio.run(one_run(stack.bootstrap, rep, count, sequential)))
    out.add(Row("produce, pipelined (send + gather)", [r[0] for r in results], "msgs/s"))
    out.add(Row("produce, send_and_wait one at a time", [r[1] for r in results], "msgs/s"))
    out.add(
        Row(
            "produce, send_and_wait one at a time, linger 0 (ingest's producer)",
            [r[2] for r in results],
            "msgs/s",
        )
    )
    out.add(Row("consume (getmany, no processing)", [r[3] for r in results], "msgs/s"))
    pipeline = ctx.shared.get("pipeline_events_per_s")
    if pipeline is not None:
        out.add(Row("pipeline events/s (from plumbing, this run)", [pipeline], "events/s"))
        out.add(Row("pipeline / pipelined produce ceiling", [pipeline / out.rows[0].median], "x"))
    else:
        out.notes.append("plumbing did not run in this invocation: no pipeline events/s beside it")
    return out
