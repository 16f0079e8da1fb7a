"""The API bodies `sluice` reads in a shape of its own, as msgspec Structs (unknown fields are
ignored, so a newer service with more fields still decodes); those it reads as the service
writes them are in services/common/api_bodies.py and services/common/vectors/admin.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from services.common.api_bodies import SearchHit

TERMINAL = frozenset({"indexed", "failed"})
STAGES = ("queued", "parsing", "parsed", "embedding", "indexed")  # the order a job moves in


class JobError(msgspec.Struct, frozen=True):
    """Why a job failed (or why its last attempt did)."""

    stage: str | None = None
    code: str | None = None
    message: str | None = None


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """GET /v1/jobs/{id}."""

    job_id: str
    document_id: str
    state: str
    attempt: int = 1
    filename: str | None = None
    media_type: str | None = None
    size: int | None = None
    title: str | None = None
    page_count: int | None = None
    chunk_count: int | None = None
    embedding_model: str | None = None
    error: JobError | None = None
    timestamps: dict[str, datetime] = msgspec.field(default_factory=dict)
    updated_at: datetime | None = None
    retries: int = 0
    next_retry_at: datetime | None = None
    last_error: JobError | None = None


class JobPage(msgspec.Struct, frozen=True):
    """GET /v1/jobs."""

    jobs: list[Job]
    next_cursor: str | None = None


class SearchResult(msgspec.Struct, frozen=True):
    """POST /v1/search."""

    results: list[SearchHit]
    embedding_model: str = ""


def to_builtins(value: Any) -> Any:
    """A Struct (or a list of them) as plain JSON types, for --json."""
    return msgspec.to_builtins(value)
