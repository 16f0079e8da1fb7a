"""`sluice rebuild-status`: the status projection rebuilt from the topics, then swapped in.

The events of every topic the projector reads (the pipeline's and the deletions') are read
from the log start (a reader of no group) and
projected, by the projector's own code, into fresh tables in the schema `sluice_rebuild`. Then,
in one transaction that holds the live tables (the running projector and readers wait), the
rebuild catches up to the live projector's stored offsets, is compared with the live tables,
and replaces them; the group's stored offsets move, under a new epoch, to where the rebuild
stopped, so the running projector goes on from there (services/status/adapters/projector.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Final

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from schemas import codec, topics
from services.common.db import migrate
from services.common.kafka.headers import retries as header_retries
from services.common.kafka.records import Delivery
from services.common.kafka.replay import partitions_of
from services.common.settings import PipelineSettings
from services.status.adapters.projector import project

REBUILD: Final = "sluice_rebuild"  # the schema the fresh tables are built in
REPLACED: Final = "sluice_replaced"  # where the live tables go before they are dropped
TABLES: Final = ("job_events", "jobs")  # the projection (in the order the projector locks)
IGNORED: Final = frozenset({"updated_at"})  # wall-clock bookkeeping, not compared
READ_TIMEOUT_S: Final = 300.0


class RebuildReport(msgspec.Struct, frozen=True, kw_only=True):
    """What `rebuild-status` read, built and found different from the live projection."""

    group: str
    records: int  # read from the topics
    undecodable: int  # records no event decodes from (the live projector dead-letters them)
    jobs: int
    job_events: int
    differing_jobs: int  # rows of either side that the other lacks (0: identical)
    differing_job_events: int
    swapped: bool  # False: --dry-run, the rebuilt tables were dropped


class _Reader:
    """Reads the pipeline topics in order, from the log start, up to given offsets."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer
        self.records = 0
        self.undecodable = 0

    async def project_until(
        self, conn: AsyncConnection[Any], until: dict[TopicPartition, int]
    ) -> dict[TopicPartition, int]:
        """Project every record before `until` into the rebuild; return the positions."""
        deadline = time.monotonic() + READ_TIMEOUT_S
        behind = {tp for tp, end in until.items() if await self.consumer.position(tp) < end}
        while behind:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(behind)} partitions not read within {READ_TIMEOUT_S}s")
            polled = await self.consumer.getmany(*behind, timeout_ms=500, max_records=2000)
            batch = []
            for tp, records in polled.items():
                for record in records:
                    if record.offset >= until[tp]:
                        self.consumer.seek(tp, record.offset)  # past the target: leave it
                        break
                    self.records += 1
                    try:
                        event = codec.decode(record.value)
                    except codec.EventDecodeError:
                        self.undecodable += 1
                        continue
                    retries = header_retries(record)
                    batch.append(
                        Delivery(record.topic, record.partition, record.offset, event, retries)
                    )
            await project(conn, batch, rebuilding=True)
            behind = {tp for tp in behind if await self.consumer.position(tp) < until[tp]}
        return {tp: await self.consumer.position(tp) for tp in until}


async def _forget_deleted(conn: AsyncConnection[Any]) -> None:
    """Drop the rebuilt rows of jobs deleted while the rebuild read (their tombstone may be
    past the projector's offsets yet): the live tables are locked, so no deletion runs now."""
    for table in TABLES:
        await conn.execute(
            sql.SQL(
                "DELETE FROM {} WHERE job_id IN (SELECT job_id FROM public.deleted_jobs)"
            ).format(sql.Identifier(REBUILD, table))
        )


async def _columns(conn: AsyncConnection[Any], table: str) -> list[str]:
    cur = await conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
        " AND table_name = %s ORDER BY ordinal_position",
        (table,),
    )
    return [row["column_name"] for row in await cur.fetchall() if row["column_name"] not in IGNORED]


async def _differing(conn: AsyncConnection[Any], table: str) -> int:
    """Rows of `table` in the rebuild or the live projection but not in both."""
    columns = sql.SQL(", ").join(map(sql.Identifier, await _columns(conn, table)))
    rebuilt, live = sql.Identifier(REBUILD, table), sql.Identifier("public", table)
    query = sql.SQL(
        "SELECT (SELECT count(*) FROM (SELECT {c} FROM {a} EXCEPT ALL SELECT {c} FROM {b}) x)"
        " + (SELECT count(*) FROM (SELECT {c} FROM {b} EXCEPT ALL SELECT {c} FROM {a}) y) AS n"
    ).format(c=columns, a=rebuilt, b=live)
    row = await (await conn.execute(query)).fetchone()
    return int(row["n"]) if row else 0


async def _count(conn: AsyncConnection[Any], table: str) -> int:
    query = sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(REBUILD, table))
    row = await (await conn.execute(query)).fetchone()
    return int(row["n"]) if row else 0


async def _fresh_tables(conn: AsyncConnection[Any]) -> None:
    """Empty copies of the projection's tables (columns, defaults, indexes) in REBUILD."""
    await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(REBUILD)))
    await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(REBUILD)))
    for table in TABLES:
        await conn.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                sql.Identifier(REBUILD, table), sql.Identifier("public", table)
            )
        )
    await conn.commit()


async def _live_offsets(
    conn: AsyncConnection[Any], group: str, partitions: Sequence[TopicPartition]
) -> dict[TopicPartition, int]:
    cur = await conn.execute(
        "SELECT topic, kafka_partition, next_offset FROM public.consumer_offsets"
        " WHERE consumer_group = %s",
        (group,),
    )
    stored = {
        TopicPartition(r["topic"], r["kafka_partition"]): r["next_offset"]
        for r in await cur.fetchall()
    }
    return {tp: stored.get(tp, 0) for tp in partitions}


async def _swap(
    conn: AsyncConnection[Any], group: str, positions: dict[TopicPartition, int]
) -> None:
    """Put the rebuilt tables in place of the live ones; move the group's offsets to where
    the rebuild stopped, under a new epoch (the running projector reseeks to them)."""
    replaced = sql.Identifier(REPLACED)
    await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(replaced))
    await conn.execute(sql.SQL("CREATE SCHEMA {}").format(replaced))
    for table in TABLES:
        await conn.execute(
            sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                sql.Identifier("public", table), replaced
            )
        )
        await conn.execute(
            sql.SQL("ALTER TABLE {} SET SCHEMA public").format(sql.Identifier(REBUILD, table))
        )
    await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(replaced))
    # LIKE copies no triggers: the rebuilt `jobs` gets the one that writes the job-change
    # history the event streams read (migration 010), or the streams would go quiet.
    await conn.execute(
        "CREATE TRIGGER jobs_changed AFTER INSERT OR UPDATE ON public.jobs"
        " FOR EACH ROW EXECUTE FUNCTION sluice_job_changed()"
    )
    keys = list(positions)
    await conn.execute(
        "INSERT INTO public.consumer_offsets (consumer_group, topic, kafka_partition,"
        " next_offset, epoch) SELECT %s, t, p, o, (SELECT coalesce(max(epoch), 0) + 1 FROM"
        " public.consumer_offsets WHERE consumer_group = %s) FROM unnest(%s::text[], %s::int[],"
        " %s::bigint[]) AS u(t, p, o) ON CONFLICT (consumer_group, topic, kafka_partition)"
        " DO UPDATE SET next_offset = EXCLUDED.next_offset, epoch = EXCLUDED.epoch,"
        " updated_at = now()",
        (
            group,
            group,
            [tp.topic for tp in keys],
            [tp.partition for tp in keys],
            [positions[tp] for tp in keys],
        ),
    )


async def rebuild_status(settings: PipelineSettings, *, dry_run: bool = False) -> RebuildReport:
    """Rebuild the status projection from the topics, compare it with the live one and
    (unless `dry_run`) swap it in."""
    await migrate(settings.database_url)
    group = settings.status_group
    partitions = await partitions_of(settings.kafka_bootstrap, topics.STATUS_TOPICS)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        client_id="sluice-rebuild-status",
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        async with await AsyncConnection.connect(
            settings.database_url, row_factory=dict_row
        ) as conn:
            await _fresh_tables(conn)
            await conn.execute(
                sql.SQL("SET search_path TO {}, public").format(sql.Identifier(REBUILD))
            )
            reader = _Reader(consumer)
            await reader.project_until(conn, ends)  # the bulk, while the projector runs
            await conn.commit()
            async with conn.transaction():
                live = ", ".join(f"public.{t}" for t in TABLES)
                await conn.execute(f"LOCK TABLE {live}, public.consumer_offsets IN EXCLUSIVE MODE")
                until = await _live_offsets(conn, group, partitions)
                positions = await reader.project_until(conn, until)
                await _forget_deleted(conn)
                report = RebuildReport(
                    group=group,
                    records=reader.records,
                    undecodable=reader.undecodable,
                    jobs=await _count(conn, "jobs"),
                    job_events=await _count(conn, "job_events"),
                    differing_jobs=await _differing(conn, "jobs"),
                    differing_job_events=await _differing(conn, "job_events"),
                    swapped=not dry_run,
                )
                if not dry_run:
                    await _swap(conn, group, positions)
                await conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(REBUILD))
                )
    finally:
        await consumer.stop()
    return report
