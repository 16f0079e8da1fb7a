"""Prometheus metrics shared by every service (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECORDS_CONSUMED = Counter(
    "sluice_records_consumed_total", "Records read from Kafka", ["group", "topic"]
)
BATCH_SECONDS = Histogram(
    "sluice_batch_seconds",
    "Time to handle one polled batch",
    ["group"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
HANDLER_ERRORS = Counter(
    "sluice_handler_errors_total",
    "Outages (Kafka or Postgres unreachable) that made the loop retry the same records",
    ["group"],
)
DEAD_LETTERS = Counter(
    "sluice_dead_letters_total", "Records sent to a dead-letter topic", ["topic", "code"]
)
EVENTS_PRODUCED = Counter("sluice_events_produced_total", "Events produced", ["topic", "type"])
ASSIGNED_PARTITIONS = Gauge(
    "sluice_assigned_partitions", "Partitions currently assigned", ["group"]
)
STAGE_SECONDS = Histogram(
    "sluice_stage_seconds",
    "Work time per document and stage",
    ["stage", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
JOBS_FAILED = Counter("sluice_jobs_failed_total", "Documents that failed", ["stage", "code"])
UPLOADS = Counter("sluice_uploads_total", "Upload requests by outcome", ["outcome"])
DELETED_SKIPPED = Counter(
    "sluice_deleted_events_skipped_total",
    "Events skipped because their document was deleted",
    ["stage"],
)
