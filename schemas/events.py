"""Pipeline events: one msgspec Struct per event type, sharing a common envelope."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

import msgspec

SCHEMA_VERSION: Final = 1  # the envelope's version; an event type that changed overrides it
PARSED_VERSION: Final = 2  # DocumentParsed v2 adds `layout`
ID_NAMESPACE: Final = uuid.UUID("6f1c1d52-3d55-4b8e-9a8f-5c3a1e0b7d21")


class Stage(StrEnum):
    """A pipeline stage that does work on a document."""

    INGEST = "ingest"
    PARSE = "parse"
    EMBED = "embed"


class BlobRef(msgspec.Struct, frozen=True):
    """A claim check: where the bytes are, not the bytes."""

    sha256: str
    size: int
    media_type: str


class VectorSetRef(msgspec.Struct, frozen=True):
    """A vector set by what makes it: the embedding model and the chunking (tokens per chunk,
    tokens shared with the next chunk). A reprocess job names the set its chunks go to."""

    embedding_model: str
    chunk_tokens: int
    chunk_overlap: int


class Origin(msgspec.Struct, frozen=True):
    """Which service (and which replica of it) emitted an event: the envelope's `producer`."""

    service: str
    instance: str
    version: str = "0.1.0"


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """The envelope every pipeline event carries."""

    event_id: str
    schema_version: int = SCHEMA_VERSION
    occurred_at: datetime
    tenant_id: str
    job_id: str
    document_id: str
    attempt: int = 1
    trace_id: str | None = None
    causation_id: str | None = None
    origin: Origin | None = msgspec.field(default=None, name="producer")  # wire name


class DocumentUploaded(Event, frozen=True, kw_only=True, tag="DocumentUploaded"):
    """An upload was accepted and stored; parsing may begin."""

    blob: BlobRef
    filename: str
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    # Additive (v1 keeps its version): the vector set to write, set by `sluice reprocess`;
    # None (every upload, and records of older producers): the tenant's active set.
    vector_set: VectorSetRef | None = None


class StageStarted(Event, frozen=True, kw_only=True, tag="StageStarted"):
    """A worker picked the job up for a stage."""

    stage: Stage


class DocumentParsed(Event, frozen=True, kw_only=True, tag="DocumentParsed"):
    """Text was extracted; the text itself (and its layout, if any) is in the blob store."""

    # v2 adds `layout`: a schemas.layout.Layout blob (where pages and headings start in the
    # text); None when the format has neither. A v1 record decodes with layout=None.
    # `parser` (additive, still v2): which parser read the document, "local" or "llamaparse";
    # None in records written before it existed.
    schema_version: int = PARSED_VERSION
    text: BlobRef
    title: str | None = None
    page_count: int | None = None
    char_count: int = 0
    source: BlobRef | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    layout: BlobRef | None = None
    parser: str | None = None
    # Additive (v2 keeps its version): copied from the DocumentUploaded that caused it.
    vector_set: VectorSetRef | None = None


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """What embedding one document took from its provider."""

    provider: str  # "local", "openai", "hashing"
    model: str
    tokens: int  # the document's chunks, in the model's tokens
    requests: int  # provider requests (model calls, locally) that carried its chunks


class DocumentIndexed(Event, frozen=True, kw_only=True, tag="DocumentIndexed"):
    """Chunks and vectors are stored and searchable."""

    chunk_count: int
    embedding_model: str
    dimensions: int
    usage: Usage | None = None  # added in v1 (additive): None from embedders before it
    # Additive (v1 keeps its version): the model and chunking the chunks were made with
    # (None in records of older producers).
    vector_set: VectorSetRef | None = None


class DocumentFailed(Event, frozen=True, kw_only=True, tag="DocumentFailed"):
    """A stage gave up on the document; `code` is machine-readable."""

    stage: Stage
    code: str
    message: str
    retryable: bool = False


class RetryScheduled(Event, frozen=True, kw_only=True, tag="RetryScheduled"):
    """A stage hit a retryable error and will try the document again at `not_before`."""

    stage: Stage
    code: str
    message: str
    retry: int
    not_before: datetime


class DocumentDeleted(Event, frozen=True, kw_only=True, tag="DocumentDeleted"):
    """A tenant's document was deleted: every event of a job in `deleted_jobs` is to be skipped.

    On `sluice.documents.deleted` (compacted, keyed by document id). `job_id` is the deletion's
    own id; `deleted_jobs` lists every job of the document deleted so far (the latest record
    per document is the one compaction keeps), so a later upload, a new job, is not in it.
    """

    deleted_jobs: list[str]


AnyEvent = (
    DocumentUploaded
    | StageStarted
    | DocumentParsed
    | DocumentIndexed
    | DocumentFailed
    | RetryScheduled
    | DocumentDeleted
)


def version_of(event_type: type[msgspec.Struct]) -> int:
    """The schema_version this release writes for `event_type`."""
    default = {f.name: f.default for f in msgspec.structs.fields(event_type)}["schema_version"]
    if not isinstance(default, int):
        raise TypeError(f"{event_type.__name__}.schema_version has no integer default")
    return default


_last_ms = 0
_seq = 0


def uuid7() -> str:
    """A new time-ordered UUIDv7 (RFC 9562), monotonic within this process."""
    global _last_ms, _seq  # noqa: PLW0603
    ms = time.time_ns() // 1_000_000
    if ms <= _last_ms:
        ms = _last_ms
        _seq = (_seq + 1) & 0xFFF
        if _seq == 0:
            ms += 1
    else:
        _seq = int.from_bytes(os.urandom(2), "big") & 0x3FF
    _last_ms = ms
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | _seq << 64 | 0b10 << 62 | rand
    return str(uuid.UUID(int=value))


def derived_id(cause_event_id: str, kind: str) -> str:
    """A deterministic id for an event caused by another: a redelivery yields the same id."""
    return str(uuid.uuid5(ID_NAMESPACE, f"{cause_event_id}/{kind}"))


def document_id_for(tenant_id: str, sha256: str) -> str:
    """The document id: the same bytes uploaded by the same tenant are one document."""
    return str(uuid.uuid5(ID_NAMESPACE, f"doc/{tenant_id}/{sha256}"))


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def caused_by(cause: Event, kind: str, origin: Origin | None = None) -> dict[str, Any]:
    """Envelope fields for an event that `cause` led to: same job, deterministic event id."""
    return {
        "event_id": derived_id(cause.event_id, kind),
        "occurred_at": now(),
        "tenant_id": cause.tenant_id,
        "job_id": cause.job_id,
        "document_id": cause.document_id,
        "attempt": cause.attempt,
        "trace_id": cause.trace_id,
        "causation_id": cause.event_id,
        "origin": origin,
    }
