"""Replay: how fast the embedder reprocesses everything after a rewind, how fast the running
status projection re-reads the topics, and how long `rebuild-status` takes (hashing provider:
the pipeline's own cost, not the model's)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import psycopg

from bench.corpus import corpus
from bench.harness import bench_stack, upload_all, wait_done
from bench.report import Context, Outcome, Row, log
from infra.local.stack import Stack
from services.common.kafka.replay import ReplayTarget
from services.common.settings import PipelineSettings, load_settings
from services.status.rebuild import rebuild_status
from services.status.replay import replay_service

EARLIEST = ReplayTarget(to_offset="earliest")
LATEST = ReplayTarget(to_offset="latest")


def _count(stack: Stack, query: str, *args: object) -> int:
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        row = conn.execute(query, args).fetchone()
    return int(row[0]) if row else 0


def _caught_up(settings: PipelineSettings, service: str, timeout: float = 900) -> None:
    """Wait until `service`'s group has read every record of its topics."""
    deadline = time.monotonic() + timeout
    while asyncio.run(replay_service(settings, service, LATEST, dry_run=True)).skip:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{service} still behind after {timeout:.0f}s")
        time.sleep(0.25)


def _embedder(stack: Stack, settings: PipelineSettings, docs: int, chunks: int) -> list[Row]:
    """Stop the embedders, rewind their group to the start, start them, time the re-embedding."""
    replicas = stack.replicas("embedder")
    stack.stop_replicas(replicas)
    since = datetime.now(UTC)
    started = time.monotonic()
    plan = asyncio.run(replay_service(settings, "embedder", EARLIEST, dry_run=False))
    stack.wait_ready(
        [stack.start("embedder", index=r.index, port=r.port, wait=False) for r in replicas]
    )
    while _count(stack, "SELECT count(*) FROM chunks WHERE updated_at < %s", since):
        time.sleep(0.25)
    seconds = time.monotonic() - started
    again = _count(stack, "SELECT count(*) FROM chunks")
    return [
        Row("embedder replay: documents", [docs / seconds], "docs/s"),
        Row("embedder replay: records redone", [plan.redo], "records"),
        Row("embedder replay: duplicate chunks", [again - chunks], "rows", "0", again == chunks),
    ]


def run(ctx: Context) -> Outcome:
    """One corpus indexed, then each kind of replay over all of it."""
    count = 40 if ctx.quick else 200
    out = Outcome("replay")
    with bench_stack("replay", {"SLUICE_EMBEDDING_PROVIDER": "hashing"}) as stack:
        settings = load_settings(PipelineSettings, stack.service_env("status"))
        tenant = f"replay-{uuid.uuid4().hex[:6]}"
        asyncio.run(upload_all(stack.ingest_url, tenant, corpus(count)))
        done = wait_done(stack.database_url, tenant, count)
        _caught_up(settings, "status")

        log("replay: the embedder over everything")
        for row in _embedder(stack, settings, done.indexed, done.chunks):
            out.add(row)
        _caught_up(settings, "status")

        log("replay: the running status projection over every topic")
        started = time.monotonic()
        plan = asyncio.run(replay_service(settings, "status", EARLIEST, dry_run=False))
        _caught_up(settings, "status")
        seconds = time.monotonic() - started
        out.add(Row("status replay: records", [plan.redo / seconds], "records/s"))

        log("replay: rebuild-status")
        started = time.monotonic()
        report = asyncio.run(rebuild_status(settings))
        seconds = time.monotonic() - started
        out.add(Row("rebuild-status: records", [report.records / seconds], "records/s"))
        out.add(Row("rebuild-status: wall time", [seconds], "s"))
        differing = report.differing_jobs + report.differing_job_events
        out.add(
            Row(
                "rebuild-status: rows differing from live", [differing], "rows", "0", differing == 0
            )
        )
    out.notes.append(
        f"provider hashing; {count} documents ({done.chunks} chunks); one replica per service;"
        " embedder replay = stop, rewind to earliest, start, until every chunk is rewritten;"
        " status replay = rewound while running, until its stored offsets reach the end;"
        " rebuild-status = read every pipeline topic, project into fresh tables, compare, swap"
    )
    return out
