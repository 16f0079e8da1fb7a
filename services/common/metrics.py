"""Prometheus metrics of every service: the one place they are defined (one registry per process).

Names and labels are the contract of infra/prometheus/alerts.yaml, infra/grafana/ and the
analysis in infra/k8s/components/rollouts: tests/unit/test_infra_files.py checks that every
query there names a metric registered here. `service` is the process's service name
(ingest, parser, embedder, status); docs/operations.md lists each metric and what moves it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["REGISTRY"]

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5)
_HTTP = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5, 10, 30)
_WORK = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_WAIT = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)
_JOURNEY = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)
_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_TOKENS = (16, 64, 256, 1024, 4096, 16384, 65536)

# --- the process ---------------------------------------------------------------------------
SERVICE_INFO = Gauge(
    "sluice_service_info", "1 while the service runs (absent: no live instance)", ["service"]
)
READY = Gauge(
    "sluice_ready",
    "Readiness per check at the last self-check: 1 ok, 0 failing",
    ["service", "check"],
)
READINESS_FAILURES = Gauge(
    "sluice_readiness_failures_in_a_row",
    "Readiness self-checks failed in a row (0 after one passes)",
    ["service"],
)
LOOP_LAG = Gauge(
    "sluice_event_loop_lag_seconds",
    "Age of the event loop's heartbeat as the watchdog thread last saw it",
    ["service"],
)

# --- HTTP (ingest, status): rate, errors, duration ------------------------------------------
HTTP_REQUESTS = Counter(
    "sluice_http_requests_total",
    "HTTP requests answered, by route template and status",
    ["service", "method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "sluice_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer",
    ["service", "method", "route"],
    buckets=_HTTP,
)
HTTP_IN_FLIGHT = Gauge(
    "sluice_http_requests_in_flight",
    "HTTP requests being handled now",
    ["service", "method", "route"],
)

# --- records through Kafka ------------------------------------------------------------------
RECORDS_CONSUMED = Counter(
    "sluice_records_consumed_total", "Records read from Kafka", ["service", "group", "topic"]
)
RECORDS_PRODUCED = Counter(
    "sluice_records_produced_total",
    "Records produced and acknowledged (events, retry and dead-letter copies)",
    ["service", "topic"],
)
RECORDS_FAILED = Counter(
    "sluice_records_failed_total",
    "Tries at a record that raised: `record` its own failure, `outage` Kafka or Postgres down",
    ["service", "group", "topic", "reason"],
)
RECORDS_RETRIED = Counter(
    "sluice_records_retried_total",
    "Records sent through <topic>.retry for a later try",
    ["service", "topic", "code"],
)
DEAD_LETTERS = Counter(
    "sluice_dead_letters_total",
    "Records copied to a dead-letter topic",
    ["service", "topic", "code"],
)
RETRIES_FINISHED = Counter(
    "sluice_retries_finished_total",
    "Retried records that finished: `succeeded` on a later try or `gave_up`",
    ["service", "stage", "outcome"],
)
PICKUP_SECONDS = Histogram(
    "sluice_pickup_seconds",
    "From a record's timestamp (or its retry's due time) to its handler's start",
    ["service", "group", "topic"],
    buckets=_WAIT,
)
BATCH_SECONDS = Histogram(
    "sluice_batch_seconds",
    "Time to handle one polled batch, commit included",
    ["service", "group"],
    buckets=_WORK,
)
HANDLER_ERRORS = Counter(
    "sluice_handler_errors_total",
    "Outages (Kafka or Postgres unreachable) that made the loop retry the same records",
    ["service", "group"],
)
ASSIGNED_PARTITIONS = Gauge(
    "sluice_assigned_partitions", "Partitions assigned to this member", ["service", "group"]
)
CONSUMER_LAG = Gauge(
    "sluice_consumer_lag",
    "Records behind the partition's end, as this member last saw it",
    ["service", "group", "topic", "partition"],
)
REBALANCES = Counter(
    "sluice_rebalances_total",
    "Partition assignments and revocations this member took part in",
    ["service", "group", "change"],
)
COMMIT_FAILURES = Counter(
    "sluice_commit_failures_total",
    "Offset commits refused: `rebalance` (redelivered elsewhere) or `kafka` (retried)",
    ["service", "group", "reason"],
)

# --- the pipeline as the status service sees it (its own reads of Kafka) ----------------------
GROUP_LAG = Gauge(
    "sluice_group_lag",
    "End offset minus the group's committed offset, read by status every few seconds",
    ["group", "topic", "partition"],
)
GROUP_COMMITTED = Gauge(
    "sluice_group_committed_offset",
    "The group's committed offset, read by status",
    ["group", "topic", "partition"],
)
DLQ_DEPTH = Gauge(
    "sluice_dead_letter_depth",
    "Records in a dead-letter topic past its acknowledged offset (from end offsets)",
    ["topic"],
)

# --- documents and jobs ---------------------------------------------------------------------
STAGE_SECONDS = Histogram(
    "sluice_stage_seconds",
    "Time one document spent in a stage (parse, embed, project), per document",
    ["stage", "outcome"],
    buckets=_WORK,
)
DELETED_SKIPPED = Counter(
    "sluice_deleted_events_skipped_total",
    "Events skipped because their document was deleted",
    ["stage"],
)
UPLOAD_TO_INDEXED = Histogram(
    "sluice_upload_to_indexed_seconds",
    "From the upload's event to its DocumentIndexed event (event timestamps)",
    buckets=_JOURNEY,
)
EMBED_BATCH_SIZE = Histogram(
    "sluice_embedding_batch_size", "Texts per embedding provider call", buckets=_SIZES
)
EMBED_BATCH_TOKENS = Histogram(
    "sluice_embedding_batch_tokens", "Tokens per embedding provider call", buckets=_TOKENS
)
JOBS_FAILED = Counter(
    "sluice_jobs_failed_total", "Documents failed, by the stage that failed them", ["stage", "code"]
)
JOBS_FINISHED = Counter(
    "sluice_jobs_finished_total",
    "Jobs that reached a terminal state (per attempt), counted once by the projector",
    ["tenant", "outcome"],
)
UPLOADS = Counter(
    "sluice_uploads_total",
    "Upload requests: accepted, rejected (the input), kafka_unavailable or failed (ours)",
    ["tenant", "outcome"],
)

DOCUMENTS_PARSED = Counter(
    "sluice_parser_documents_total", "Documents parsed, by the parser that read them", ["parser"]
)
PARSER_FAILOVERS = Counter(
    "sluice_parser_failovers_total",
    "Documents routed to a remote parser (LlamaParse) but parsed locally, by why",
    ["reason"],
)
UPLOADS_IN_FLIGHT = Gauge(
    "sluice_uploads_in_flight", "Uploads this ingest process is serving now (its cap's count)"
)
UPLOADS_RELAYED = Counter(
    "sluice_uploads_relayed_total",
    "Unpublished uploads the outbox relay took over (their process died, their send failed)",
)

# --- remote embedding providers and the embedding server ---------------------------------
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

# --- pipestats (the pipeline view's windows) -------------------------------------------------
PIPESTATS_SNAPSHOTS = Counter(
    "sluice_pipestats_snapshots_total",
    "Snapshots of the windows written to Postgres: `ok` or `failed`",
    ["outcome"],
)
PIPESTATS_SNAPSHOT_AT = Gauge(
    "sluice_pipestats_snapshot_timestamp_seconds", "When the last snapshot was written (epoch s)"
)
PIPESTATS_PENDING = Gauge(
    "sluice_pipestats_pending_timings", "Stage starts or ends waiting for their other half"
)
PIPESTATS_EXPIRED = Counter(
    "sluice_pipestats_timings_expired_total",
    "Halves dropped after SLUICE_PIPESTATS_TIMING_KEEP_S without their other half",
)

# --- Postgres -------------------------------------------------------------------------------
DB_SECONDS = Histogram(
    "sluice_db_query_seconds",
    "Time of one statement (execute or executemany), by its first SQL word",
    ["service", "verb"],
    buckets=_FAST,
)


class PoolStats(Collector):
    """psycopg pool statistics of the process's pools, read when Prometheus scrapes."""

    def __init__(self) -> None:
        self.pools: dict[str, Any] = {}  # service -> AsyncConnectionPool (get_stats())

    def watch(self, service: str, pool: Any) -> None:
        """Report `pool`'s statistics as `service`'s pool (until `forget`)."""
        self.pools[service] = pool

    def forget(self, service: str) -> None:
        """Stop reporting `service`'s pool (it is closed)."""
        self.pools.pop(service, None)

    def describe(self) -> Iterator[Any]:
        """The families `collect` yields (so the registry knows their names up front)."""
        return self._families({})

    def collect(self) -> Iterator[Any]:
        """The current statistics of every watched pool."""
        pools = {s: pool for s, pool in self.pools.items() if not pool.closed}
        return self._families({s: pool.get_stats() for s, pool in pools.items()})

    @staticmethod
    def _families(stats: dict[str, dict[str, int]]) -> Iterator[Any]:
        gauges = {
            "sluice_db_pool_size": ("Connections open in the pool", "pool_size"),
            "sluice_db_pool_available": ("Idle connections in the pool", "pool_available"),
            "sluice_db_pool_requests_waiting": (
                "Requests waiting for a connection now",
                "requests_waiting",
            ),
        }
        for name, (text, key) in gauges.items():
            gauge = GaugeMetricFamily(name, text, labels=["service"])
            for service, values in stats.items():
                gauge.add_metric([service], values.get(key, 0))
            yield gauge
        waited = CounterMetricFamily(
            "sluice_db_pool_wait_seconds",
            "Time requests spent waiting for a connection",
            labels=["service"],
        )
        timeouts = CounterMetricFamily(
            "sluice_db_pool_timeouts",
            "Requests that got no connection in time",
            labels=["service"],
        )
        for service, values in stats.items():
            waited.add_metric([service], values.get("requests_wait_ms", 0) / 1000)
            timeouts.add_metric([service], values.get("requests_errors", 0))
        yield waited
        yield timeouts


POOLS = PoolStats()
REGISTRY.register(POOLS)


def running(service: str) -> None:
    """Mark this process as a live instance of `service` (`sluice_service_info`)."""
    SERVICE_INFO.labels(service).set(1)


def forget_partition(service: str, group: str, topic: str, partition: int) -> None:
    """Drop a revoked partition's lag series (its new owner reports it)."""
    try:
        CONSUMER_LAG.remove(service, group, topic, str(partition))
    except KeyError:
        return
