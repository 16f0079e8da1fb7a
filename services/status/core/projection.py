"""How an event moves a job: states, their order, and the row fields it sets."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

import msgspec

from schemas.events import (
    AnyEvent,
    DocumentFailed,
    DocumentIndexed,
    DocumentParsed,
    DocumentUploaded,
    RetryScheduled,
    Stage,
    StageStarted,
)

T = TypeVar("T")


class JobState(StrEnum):
    """Where a job is."""

    QUEUED = "queued"
    PARSING = "parsing"
    PARSED = "parsed"
    EMBEDDING = "embedding"
    INDEXED = "indexed"
    FAILED = "failed"


RANK: dict[JobState, int] = {
    JobState.QUEUED: 1,
    JobState.PARSING: 2,
    JobState.PARSED: 3,
    JobState.EMBEDDING: 4,
    JobState.INDEXED: 5,
    JobState.FAILED: 5,
}
TERMINAL = frozenset({JobState.INDEXED, JobState.FAILED})
_STARTED = {Stage.PARSE: JobState.PARSING, Stage.EMBED: JobState.EMBEDDING}
_TIMESTAMP = {
    JobState.QUEUED: "queued_at",
    JobState.PARSING: "parsing_at",
    JobState.PARSED: "parsed_at",
    JobState.EMBEDDING: "embedding_at",
    JobState.INDEXED: "indexed_at",
    JobState.FAILED: "failed_at",
}


def state_of(event: AnyEvent) -> JobState:
    """The state an event announces."""
    match event:
        case DocumentUploaded():
            return JobState.QUEUED
        case StageStarted(stage=stage):
            return _STARTED.get(stage, JobState.QUEUED)
        case DocumentParsed():
            return JobState.PARSED
        case DocumentIndexed():
            return JobState.INDEXED
        case DocumentFailed():
            return JobState.FAILED
        case RetryScheduled():
            return JobState.QUEUED
    raise TypeError(f"not a pipeline event: {type(event).__name__}")


def rank_of(event: AnyEvent) -> int:
    """How far along the job the event puts it; 0 for events that only annotate (retries)."""
    if isinstance(event, RetryScheduled):
        return 0
    return RANK[state_of(event)]


def wins(new: tuple[int, int], current: tuple[int, int] | None) -> bool:
    """Monotonic: a later attempt, or a further state in the same attempt, replaces the current."""
    return current is None or new > current


def fields_of(event: AnyEvent) -> dict[str, Any]:
    """The job columns an event fills in (besides state and its timestamp)."""
    match event:
        case DocumentUploaded():
            return {
                "filename": event.filename,
                "media_type": event.blob.media_type,
                "size": event.blob.size,
            }
        case DocumentParsed():
            return {"title": event.title, "page_count": event.page_count, "parser": event.parser}
        case DocumentIndexed():
            usage = msgspec.to_builtins(event.usage) if event.usage is not None else None
            return {
                "chunk_count": event.chunk_count,
                "embedding_model": event.embedding_model,
                "usage": usage,
            }
        case DocumentFailed():
            return {
                "error_stage": str(event.stage),
                "error_code": event.code,
                "error_message": event.message,
            }
        case RetryScheduled():
            return {
                "retries": event.retry,
                "next_retry_at": event.not_before,
                "last_error_code": event.code,
                "last_error_message": event.message,
            }
    return {}


def in_rounds(rows: Iterable[T], key: Callable[[T], str]) -> list[list[T]]:
    """`rows` split into rounds in which each key appears at most once: a key's n-th row goes
    to round n, so applying the rounds one after another applies each key's rows in order."""
    rounds: list[list[T]] = []
    seen: dict[str, int] = {}
    for row in rows:
        n = seen.get(key(row), 0)
        seen[key(row)] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(row)
    return rounds


def timestamp_column(state: JobState) -> str:
    """The per-stage timestamp column for `state`."""
    return _TIMESTAMP[state]


def occurred(event: AnyEvent) -> datetime:
    """When the event happened."""
    return event.occurred_at
