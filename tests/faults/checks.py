"""What the fault drill asserts, computed from Postgres and the topics."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from psycopg.rows import dict_row

from schemas import codec, topics
from services.common.db import migrate, open_pool
from services.common.kafka.records import Delivery
from services.status.adapters.projector import Projector

EXPECTED_TYPES = {
    "DocumentUploaded": 1,
    "StageStarted": 2,
    "DocumentParsed": 1,
    "DocumentIndexed": 1,
}


def rows(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Run a query, return dict rows."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


async def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record on `topic` from the beginning to its current end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await partitions_of(bootstrap, topic)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[Any] = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, got in batch.items():
                records.extend(got)
                if got and got[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
            if not batch:
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
        return records
    finally:
        await consumer.stop()


async def partitions_of(bootstrap: str, topic: str) -> list[int]:
    """The partition numbers of `topic`, from the broker's metadata."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(p["partition"] for t in described for p in t["partitions"])


def header(record: Any, name: str) -> str | None:
    """A header value as text."""
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode()
    return None


async def dead_letters(bootstrap: str) -> set[tuple[str, int, int]]:
    """Distinct (original topic, partition, offset) of everything in the DLQs."""
    found: set[tuple[str, int, int]] = set()
    for topic in topics.PIPELINE_TOPICS:
        for record in await read_topic(bootstrap, topics.dlq(topic)):
            found.add(
                (
                    header(record, "sluice.original.topic") or "?",
                    int(header(record, "sluice.original.partition") or -1),
                    int(header(record, "sluice.original.offset") or -1),
                )
            )
    return found


async def rebuild_projection(bootstrap: str, admin_url: str, db_name: str) -> str:
    """Project every record of the pipeline topics into a new database; return its URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{db_name}"
    await migrate(url)
    pool = await open_pool(url, max_size=2, name="rebuild")
    try:
        projector = Projector(pool, "rebuild")
        for topic in topics.PIPELINE_TOPICS:
            batch = []
            for record in await read_topic(bootstrap, topic):
                try:
                    event = codec.decode(record.value)
                except codec.EventDecodeError:
                    continue
                batch.append(Delivery(record.topic, record.partition, record.offset, event))
            for start in range(0, len(batch), 500):
                async with pool.connection() as conn, conn.transaction():
                    await projector.apply(conn, batch[start : start + 500])
    finally:
        await pool.close()
    return url


JOB_SNAPSHOT = (
    "SELECT job_id, tenant_id, document_id, state, state_rank, attempt, filename, media_type,"
    " size, title, page_count, chunk_count, embedding_model, error_stage, error_code,"
    " error_message, queued_at, parsing_at, parsed_at, embedding_at, indexed_at, failed_at,"
    " retries FROM jobs ORDER BY job_id"
)


def wait_all(coros: list[Any]) -> list[Any]:
    """Run coroutines to completion in a fresh loop (tests here are synchronous)."""
    return asyncio.run(_gather(coros))


async def _gather(coros: list[Any]) -> list[Any]:
    return list(await asyncio.gather(*coros))
