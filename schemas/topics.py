"""Kafka topic names and their layout: the one place a topic name is spelled."""

from __future__ import annotations

from typing import Final

PREFIX: Final = "sluice"

DOCUMENTS_UPLOADED: Final = f"{PREFIX}.documents.uploaded"
DOCUMENTS_PARSED: Final = f"{PREFIX}.documents.parsed"
DOCUMENTS_INDEXED: Final = f"{PREFIX}.documents.indexed"
DOCUMENTS_FAILED: Final = f"{PREFIX}.documents.failed"
JOBS_PROGRESS: Final = f"{PREFIX}.jobs.progress"
DOCUMENTS_DELETED: Final = f"{PREFIX}.documents.deleted"
"""Deletions (`DocumentDeleted`), keyed by document id, compacted: the latest per document stays."""

PIPELINE_TOPICS: Final = (
    DOCUMENTS_UPLOADED,
    DOCUMENTS_PARSED,
    DOCUMENTS_INDEXED,
    DOCUMENTS_FAILED,
    JOBS_PROGRESS,
)

STATUS_TOPICS: Final = (*PIPELINE_TOPICS, DOCUMENTS_DELETED)
"""What the status projector reads (and `rebuild-status` and a status replay re-read): the
pipeline's events and the deletions."""

STAGE_INPUTS: Final = {"parse": DOCUMENTS_UPLOADED, "embed": DOCUMENTS_PARSED}
"""The topic each stage consumes, by its `schemas.events.Stage` value (beside its `retry()`)."""

DEFAULT_PARTITIONS: Final = 12
DEFAULT_RETENTION_MS: Final = 14 * 24 * 3600 * 1000


def dlq(topic: str) -> str:
    """Name of the dead-letter topic for `topic`."""
    return f"{topic}.dlq"


def retry(topic: str) -> str:
    """Name of the delayed-retry topic for a stage's input `topic`."""
    return f"{topic}.retry"


def base(topic: str) -> str:
    """The pipeline topic a retry topic belongs to (itself for any other topic)."""
    return topic.removesuffix(".retry")


RETRY_TOPICS: Final = tuple(retry(topic) for topic in STAGE_INPUTS.values())
ALL_TOPICS: Final = (
    PIPELINE_TOPICS
    + RETRY_TOPICS
    + tuple(dlq(t) for t in PIPELINE_TOPICS)
    + (DOCUMENTS_DELETED, dlq(DOCUMENTS_DELETED))
)

TOPIC_CONFIGS: Final = {DOCUMENTS_DELETED: {"cleanup.policy": "compact"}}
"""Topic settings beyond the defaults, by topic: a deletion must outlive every retention window,
so its topic keeps the latest record per document instead of expiring records by age."""
