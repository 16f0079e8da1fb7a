"""Shared benchmark plumbing: an isolated stack on free ports, uploads, waits, stats, results."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.corpus import Document
from bench.report import log
from infra.local import REPO_ROOT
from infra.local.stack import SERVICES, Stack, StackConfig
from schemas.events import BlobRef, DocumentUploaded, Origin, now, uuid7
from services.common.auth import issue_token
from services.common.kafka.admin import ensure_topics
from services.common.retry_after import retry_after_s
from services.common.settings import DEV_JWT_SECRET

Out = Callable[[str], None]


# --- the stack ---------------------------------------------------------------------------


@contextlib.contextmanager
def bench_stack(
    label: str, env: dict[str, str] | None = None, *, services: bool = True
) -> Iterator[Stack]:
    """Kafka + Postgres (+ the four services, unless `services` is False) on free ports under
    `.run/bench-<label>-<id>`, with `env` for every service; removed after (kept on error)."""
    for name in ("SLUICE_KAFKA_BOOTSTRAP", "SLUICE_DATABASE_URL"):
        if os.environ.pop(name, None) is not None:
            log(f"ignoring {name}: a benchmark runs its own isolated stack")
    run_dir = REPO_ROOT / ".run" / f"bench-{label}-{uuid.uuid4().hex[:8]}"
    replicas = dict.fromkeys(SERVICES, 1 if services else 0)
    stack = Stack(StackConfig.on_free_ports(run_dir, env=dict(env or {}), replicas=replicas))
    log(f"{label}: starting an isolated stack in {run_dir.relative_to(REPO_ROOT)}")
    keep = True
    try:
        stack.up()
        if not services:  # the services would create the topics
            asyncio.run(ensure_topics(stack.bootstrap))
        yield stack
        keep = False
    finally:
        try:
            stack.down()
        finally:
            if keep:
                log(f"{label}: kept {run_dir} for its logs")
            else:
                shutil.rmtree(run_dir, ignore_errors=True)


def other_tree(rev: str, into: Path) -> Path:
    """The source tree of commit `rev` extracted into `into` (`git archive`), sharing this
    tree's Kafka jars, to run another commit's services beside this one's."""
    archive = subprocess.run(
        ["git", "archive", rev], cwd=REPO_ROOT, capture_output=True, check=True
    )
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    jars = REPO_ROOT / "infra" / "kafka" / "target"
    if jars.is_dir():
        (into / "infra" / "kafka" / "target").symlink_to(jars, target_is_directory=True)
    return into


def ready_detail(url: str) -> dict[str, Any]:
    """The JSON body of a /health/ready answer (any status); {} while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local URL
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as error:
        return dict(json.loads(error.read()))
    except OSError:  # not listening yet (a replica still loading its model)
        return {}


def token(tenant: str) -> str:
    """A development JWT for `tenant`, signed with the services' secret."""
    return issue_token(tenant, os.environ.get("SLUICE_JWT_SECRET", DEV_JWT_SECRET))


# --- uploads and waiting -----------------------------------------------------------------


async def upload_all(
    ingest_url: str, tenant: str, docs: Sequence[Document], *, concurrency: int = 8
) -> float:
    """Upload every document as fast as `concurrency` allows; return the wall time of the first.

    A 503 or 429 is waited out as its Retry-After says, as any client of ingest should: with
    `concurrency` equal to ingest's SLUICE_MAX_UPLOADS_IN_FLIGHT, a worker's next upload can
    reach the process before the one just answered has let go of its place."""
    headers = {"Authorization": f"Bearer {token(tenant)}"}
    queue: asyncio.Queue[Document] = asyncio.Queue()
    for doc in docs:
        queue.put_nowait(doc)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            doc = queue.get_nowait()
            files = {"file": (doc.filename, doc.data, doc.media_type)}
            for _ in range(100):
                response = await client.post(
                    f"{ingest_url}/v1/documents", headers=headers, files=files
                )
                if response.status_code not in (429, 503):
                    break
                await asyncio.sleep(retry_after_s(response.headers.get("Retry-After")) or 1.0)
            response.raise_for_status()

    async with httpx.AsyncClient(timeout=60) as client:
        started = time.time()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return started


@dataclass(frozen=True)
class Finished:
    """How a tenant's jobs ended, from the projection in Postgres."""

    indexed: int
    failed: int
    first_queued: float
    last_indexed: float
    chunks: int
    events: int


def wait_done(db_url: str, tenant: str, count: int, *, timeout: float = 900) -> Finished:
    """Wait until `count` jobs of `tenant` are indexed or failed, then summarise them."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(db_url, autocommit=True) as conn:
        while True:
            indexed, failed = conn.execute(
                "SELECT count(*) FILTER (WHERE state = 'indexed'),"
                " count(*) FILTER (WHERE state = 'failed') FROM jobs WHERE tenant_id = %s",
                (tenant,),
            ).fetchone() or (0, 0)
            if indexed + failed >= count:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{tenant}: {indexed} indexed, {failed} failed of {count}")
            time.sleep(0.25)
        first, last = conn.execute(
            "SELECT min(queued_at), max(indexed_at) FROM jobs WHERE tenant_id = %s", (tenant,)
        ).fetchone() or (None, None)
        (chunks,) = conn.execute(
            "SELECT count(*) FROM chunks WHERE tenant_id = %s", (tenant,)
        ).fetchone() or (0,)
        (events,) = conn.execute(
            "SELECT count(*) FROM job_events WHERE tenant_id = %s", (tenant,)
        ).fetchone() or (0,)
    return Finished(
        indexed=indexed,
        failed=failed,
        first_queued=first.timestamp() if first else float("nan"),
        last_indexed=last.timestamp() if last else float("nan"),
        chunks=chunks,
        events=events,
    )


def job_latencies(db_url: str, tenant: str) -> dict[str, list[float]]:
    """Per-job stage delays in ms: parse pickup, embed pickup, upload→indexed."""
    query = (
        "SELECT extract(epoch FROM parsing_at - queued_at) * 1000,"
        " extract(epoch FROM embedding_at - parsed_at) * 1000,"
        " extract(epoch FROM indexed_at - queued_at) * 1000"
        " FROM jobs WHERE tenant_id = %s AND state = 'indexed'"
    )
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute(query, (tenant,)).fetchall()
    return {
        "parse_pickup": [float(r[0]) for r in rows if r[0] is not None],
        "embed_pickup": [float(r[1]) for r in rows if r[1] is not None],
        "indexed": [float(r[2]) for r in rows if r[2] is not None],
    }


WARM_S = 75.0  # a fresh broker's JIT settles in about a minute (measured: 11 % → 5 % of a core)


def warm_up(stack: Stack, docs: Sequence[Document]) -> None:
    """Pay first-call costs (model, pools, groups) and let the fresh stack settle.

    Pushes `docs` through, then waits until the stack has run for `WARM_S`: a broker that was
    started a moment ago spends a core's tenth on JIT compilation, which a long-running
    deployment does not, and which would be charged to the pipeline.
    """
    tenant = f"warmup-{uuid.uuid4().hex[:6]}"
    asyncio.run(upload_all(stack.ingest_url, tenant, docs, concurrency=2))
    wait_done(stack.database_url, tenant, len(docs), timeout=300)
    rest = WARM_S - (time.monotonic() - stack.started)
    if rest > 0:
        log(f"{stack.config.run_dir.name}: letting the fresh stack settle for {rest:.0f}s")
        time.sleep(rest)


# --- processes and the machine -----------------------------------------------------------


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process in MiB; NaN if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def uploaded(
    origin: Origin, tenant: str, blob: BlobRef, filename: str, **extra: Any
) -> DocumentUploaded:
    """A `DocumentUploaded` for a new job of a new document, as ingest announces it."""
    job = uuid7()
    return DocumentUploaded(
        event_id=uuid7(),
        occurred_at=now(),
        tenant_id=tenant,
        job_id=job,
        document_id=str(uuid.uuid4()),
        trace_id=job,
        origin=origin,
        blob=blob,
        filename=filename,
        **extra,
    )
