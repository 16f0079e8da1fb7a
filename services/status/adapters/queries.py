"""Tenant-scoped reads of jobs, documents and chunks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from services.common.api_bodies import SearchHit
from services.common.db import Pool, from_row
from services.common.vectors.registry import VectorSets
from services.common.vectors.search import VectorHit
from services.common.vectors.store import VectorStore
from services.status.core.ports import RedriveSource


class JobError(msgspec.Struct, frozen=True):
    """Why a job failed."""

    stage: str | None
    code: str | None
    message: str | None


class JobTimestamps(msgspec.Struct, frozen=True, omit_defaults=True):
    """When the job reached each state."""

    queued_at: datetime | None = None
    parsing_at: datetime | None = None
    parsed_at: datetime | None = None
    embedding_at: datetime | None = None
    indexed_at: datetime | None = None
    failed_at: datetime | None = None


class JobUsage(msgspec.Struct, frozen=True):
    """What embedding the job's document took from its provider."""

    provider: Annotated[str, msgspec.Meta(description="local | openai | hashing")]
    model: str
    tokens: Annotated[int, msgspec.Meta(description="the chunks' tokens, in the model's tokens")]
    requests: Annotated[
        int, msgspec.Meta(description="provider requests (local: model calls) with its chunks")
    ]


class JobView(msgspec.Struct, frozen=True):
    """A job as the API shows it."""

    job_id: str
    document_id: str
    state: str
    attempt: int
    filename: str | None
    media_type: str | None
    size: int | None
    title: str | None
    page_count: int | None
    chunk_count: int | None
    embedding_model: str | None
    error: JobError | None
    timestamps: JobTimestamps
    updated_at: datetime
    retries: int = 0
    next_retry_at: datetime | None = None
    last_error: JobError | None = None
    usage: JobUsage | None = None
    parser: Annotated[
        str | None,
        msgspec.Meta(description="the parser that read the document: local or llamaparse"),
    ] = None


class JobPage(msgspec.Struct, frozen=True):
    """One page of jobs, newest first."""

    jobs: list[JobView]
    next_cursor: str | None


class JobSummary(msgspec.Struct, frozen=True):
    """A job of a document, in brief."""

    job_id: str
    state: str
    updated_at: datetime


class DocumentView(msgspec.Struct, frozen=True):
    """A document and the jobs that processed it (`chunk_count`: its chunks in the vector set
    the tenant searches)."""

    document_id: str
    state: str
    filename: str | None
    media_type: str | None
    size: int | None
    title: str | None
    chunk_count: int
    latest_job_id: str
    jobs: list[JobSummary]


def search_hit(hit: VectorHit) -> SearchHit:
    """A ranked chunk as the API shows it (its fields, the offsets named for the API)."""
    fields = msgspec.structs.asdict(hit)
    return from_row(SearchHit, fields, char_start=hit.start_char, char_end=hit.end_char)


_JOB_COLUMNS = (
    "job_id, document_id, state, attempt, filename, media_type, size, title, page_count,"
    " chunk_count, embedding_model, error_stage, error_code, error_message, queued_at,"
    " parsing_at, parsed_at, embedding_at, indexed_at, failed_at, updated_at, retries,"
    " next_retry_at, last_error_code, last_error_message, parser, usage"
)


def _job(row: dict[str, Any]) -> JobView:
    error = None
    if row["state"] == "failed":
        error = JobError(row["error_stage"], row["error_code"], row["error_message"])
    return from_row(
        JobView,
        row,
        error=error,
        timestamps=from_row(JobTimestamps, row),
        next_retry_at=row["next_retry_at"] if row["state"] not in ("indexed", "failed") else None,
        last_error=(
            JobError(None, row["last_error_code"], row["last_error_message"])
            if row["last_error_code"]
            else None
        ),
        usage=msgspec.convert(row["usage"], JobUsage) if row["usage"] else None,
    )


class StatusQueries:
    """Every query takes the tenant: nothing crosses tenants."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.sets = VectorSets(pool)
        self.vectors = VectorStore(pool, self.sets)

    async def job(self, tenant_id: str, job_id: str) -> JobView | None:
        """A job, or an accepted upload not projected yet (state queued), or None."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE tenant_id = %s AND job_id = %s",
                (tenant_id, job_id),
            )
            row = await cur.fetchone()
            if row is None:
                cur = await conn.execute(
                    "SELECT job_id, document_id, filename, media_type, size, created_at"
                    " FROM uploads WHERE tenant_id = %s AND job_id = %s"
                    " AND published_at IS NOT NULL",
                    (tenant_id, job_id),
                )
                upload = await cur.fetchone()
                return None if upload is None else _pending(upload)
        return _job(row)

    async def jobs(
        self, tenant_id: str, *, state: str | None, limit: int, cursor: str | None
    ) -> JobPage:
        """Newest first (job ids are time-ordered UUIDv7), keyset-paginated."""
        clauses = ["tenant_id = %s"]
        params: list[Any] = [tenant_id]
        if state:
            clauses.append("state = %s")
            params.append(state)
        if cursor:
            clauses.append("job_id < %s")
            params.append(cursor)
        params.append(limit + 1)
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE {' AND '.join(clauses)}"
                " ORDER BY job_id DESC LIMIT %s",
                params,
            )
            rows = await cur.fetchall()
        jobs = [_job(r) for r in rows[:limit]]
        more = len(rows) > limit
        return JobPage(jobs=jobs, next_cursor=jobs[-1].job_id if more and jobs else None)

    async def document(self, tenant_id: str, document_id: str) -> DocumentView | None:
        """The document's newest job and its chunk count."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE tenant_id = %s AND document_id = %s"
                " ORDER BY job_id DESC LIMIT 50",
                (tenant_id, document_id),
            )
            rows = await cur.fetchall()
            if not rows:
                return None
        active = (await self.sets.active([tenant_id])).get(tenant_id)
        chunks = 0
        if active is not None:  # what search sees of the document: its chunks in that set
            chunks, _ = await self.vectors.count(active, tenant_id, document_id)
        latest = rows[0]
        return from_row(
            DocumentView,
            latest,
            document_id=document_id,
            chunk_count=chunks,
            latest_job_id=latest["job_id"],
            jobs=[JobSummary(r["job_id"], r["state"], r["updated_at"]) for r in rows],
        )

    async def redrive_source(self, tenant_id: str | None, job_id: str) -> RedriveSource | None:
        """A job with the payloads of its input events (`tenant_id` None: any tenant's)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT state, attempt, error_stage FROM jobs"
                " WHERE job_id = %s AND (%s::text IS NULL OR tenant_id = %s)",
                (job_id, tenant_id, tenant_id),
            )
            job = await cur.fetchone()
            if job is None:
                return None
            cur = await conn.execute(
                "SELECT type, payload FROM job_events WHERE job_id = %s"
                " AND type IN ('DocumentUploaded', 'DocumentParsed') ORDER BY occurred_at DESC",
                (job_id,),
            )
            inputs = {row["type"]: row["payload"] for row in await cur.fetchall()}
        return RedriveSource(job["state"], int(job["attempt"]), job["error_stage"], inputs)


def _pending(upload: dict[str, Any]) -> JobView:
    return JobView(
        job_id=upload["job_id"],
        document_id=upload["document_id"],
        state="queued",
        attempt=1,
        filename=upload["filename"],
        media_type=upload["media_type"],
        size=upload["size"],
        title=None,
        page_count=None,
        chunk_count=None,
        embedding_model=None,
        error=None,
        timestamps=JobTimestamps(queued_at=upload["created_at"]),
        updated_at=upload["created_at"],
    )
