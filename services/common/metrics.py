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
CONSUMER_PAUSED = Gauge(
    "sluice_consumer_paused",
    "1 while a consumer holds its partitions paused: a configuration error (until a probe"
    " passes) or a spent provider budget (throttled)",
    ["group", "cause"],
)
PROVIDER_REQUESTS = Counter(
    "sluice_provider_requests_total",
    "Requests to a remote embedding provider by HTTP status (timeout, unreachable)",
    ["provider", "model", "status"],
)
PROVIDER_TOKENS = Counter(
    "sluice_provider_tokens_total",
    "Tokens sent in answered requests to a remote embedding provider",
    ["provider", "model"],
)
PROVIDER_SECONDS = Histogram(
    "sluice_provider_request_seconds",
    "Time of one request to a remote embedding provider",
    ["provider"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
EMBEDDING_TOKENS = Counter(
    "sluice_embedding_tokens_total",
    "Tokens embedded for indexed documents, per provider and tenant",
    ["provider", "tenant"],
)
EMBEDDING_REQUESTS = Counter(
    "sluice_embedding_requests_total",
    "Provider requests that carried a tenant's chunks (a request shared by two tenants counts"
    " for each)",
    ["provider", "tenant"],
)
EMBEDSERVER_REQUESTS = Counter(
    "sluice_embedserver_requests_total",
    "Embedding requests the embedding server answered, by HTTP status",
    ["status"],
)
EMBEDSERVER_INPUTS = Counter(
    "sluice_embedserver_inputs_total", "Inputs the embedding server embedded"
)
EMBEDSERVER_TOKENS = Counter(
    "sluice_embedserver_tokens_total", "Tokens of the inputs the embedding server embedded"
)
