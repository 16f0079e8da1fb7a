"""Bodies the ingest and status APIs answer and `sluice` reads: one definition for the service that
encodes them and the client that decodes them (msgspec ignores fields it does not know, so a
newer service with more fields still decodes). The vector-set admin bodies are in
services/common/vectors/admin.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec


class UploadAccepted(msgspec.Struct, frozen=True):
    """The 202 body of POST /v1/documents: where to follow the job."""

    job_id: str
    document_id: str
    status: str
    links: dict[str, str]


class Deletion(msgspec.Struct, frozen=True, kw_only=True):
    """What DELETE /v1/documents/{id} removed (repeated on a deleted document: nothing more)."""

    tenant_id: str
    document_id: str
    deleted_at: datetime
    deleted_jobs: list[str]
    """Every job of the document deleted so far: their events are skipped from now on."""
    jobs: int
    chunks: int
    blobs: int


class Redrive(msgspec.Struct, frozen=True):
    """What POST /v1/jobs/{id}/retry answers."""

    job_id: str
    state: str
    attempt: int
    restarted_stage: str


class SearchHit(msgspec.Struct, frozen=True, kw_only=True):
    """A ranked chunk and where it is in its document."""

    document_id: str
    chunk_index: int
    text: str
    score: Annotated[float, msgspec.Meta(description="cosine similarity to the query")]
    filename: str | None = None
    page: Annotated[
        int | None,
        msgspec.Meta(description="1-based page (PDF) or slide (PPTX) the chunk starts on"),
    ]
    heading: Annotated[
        str | None, msgspec.Meta(description="title of the nearest heading above the chunk")
    ]
    char_start: Annotated[
        int, msgspec.Meta(description="offset of the chunk's first character in the parsed text")
    ]
    char_end: Annotated[
        int, msgspec.Meta(description="offset just past the chunk's last character")
    ]


class DeadLetterView(msgspec.Struct, frozen=True, kw_only=True):
    """A dead-lettered record: where it is, why it is there, whose it is."""

    ref: str  # TOPIC/PARTITION/OFFSET: GET /v1/dead-letters/{ref}
    topic: str
    partition: int
    offset: int
    timestamp: datetime
    code: str | None
    message: str | None
    error_type: str | None
    stage: str | None
    original_topic: str | None
    original_partition: int | None
    original_offset: int | None
    attempts: int | None
    consumer_group: str | None
    event_type: str | None
    tenant_id: str | None
    job_id: str | None
    document_id: str | None
    key: str | None
    value: str | None = None  # the payload, in GET /v1/dead-letters/{ref} only


class DeadLetterPage(msgspec.Struct, frozen=True):
    """GET /v1/dead-letters."""

    records: list[DeadLetterView]
