"""Every service's /metrics on the running pipeline: a document indexed, one failed, one upload
refused; each metric the alerts and the rollout analysis read exists afterwards and the ones
the traffic drives moved (scraped before and after, over HTTP, like Prometheus)."""

from __future__ import annotations

import secrets
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra.local.stack import Stack
from schemas import topics
from tests.e2e.test_pipeline import accepted, bearer, new_tenant, upload
from tests.fixtures.pipeline import SERVICES, module_stack, wait_for_state

pytestmark = pytest.mark.e2e

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


stack = module_stack(
    "scrape",
    "The four services, self-checking readiness and reading offsets every second.",
    database="pipeline_database",
    own_database=False,
    env={
        "SLUICE_EMBEDDING_PROVIDER": "local",
        "SLUICE_HEALTH_INTERVAL_S": "1",
        "SLUICE_OFFSETS_INTERVAL_S": "1",
    },
)


def scrape(stack: Stack, service: str) -> Samples:
    """One scrape of `service`'s /metrics: (sample name, labels) -> value."""
    response = httpx.get(f"{stack.url(service)}/metrics", timeout=30)
    assert response.status_code == 200, response.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float | None:
    """The sum of `name`'s samples carrying `labels` (None: no such sample at all)."""
    wanted = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and wanted <= ls]
    return sum(found) if found else None


# Driven by the traffic of the test: (service, sample, labels) must be higher afterwards.
MOVED = [
    ("ingest", "sluice_http_requests_total", {"route": "/v1/documents", "status": "202"}),
    ("ingest", "sluice_http_request_duration_seconds_count", {"route": "/v1/documents"}),
    ("ingest", "sluice_uploads_total", {"outcome": "accepted"}),
    ("ingest", "sluice_uploads_total", {"outcome": "rejected"}),
    ("ingest", "sluice_records_produced_total", {"topic": topics.DOCUMENTS_UPLOADED}),
    ("ingest", "sluice_db_query_seconds_count", {}),
    ("parser", "sluice_records_consumed_total", {"topic": topics.DOCUMENTS_UPLOADED}),
    ("parser", "sluice_records_produced_total", {"topic": topics.DOCUMENTS_PARSED}),
    ("parser", "sluice_pickup_seconds_count", {}),
    ("parser", "sluice_stage_seconds_count", {"stage": "parse", "outcome": "ok"}),
    ("parser", "sluice_stage_seconds_count", {"stage": "parse", "outcome": "failed"}),
    ("parser", "sluice_jobs_failed_total", {"stage": "parse"}),
    ("embedder", "sluice_records_consumed_total", {"topic": topics.DOCUMENTS_PARSED}),
    ("embedder", "sluice_stage_seconds_count", {"stage": "embed", "outcome": "ok"}),
    ("embedder", "sluice_embedding_batch_size_count", {}),
    ("embedder", "sluice_embedding_batch_tokens_sum", {}),
    ("embedder", "sluice_pickup_seconds_count", {}),
    ("embedder", "sluice_batch_seconds_count", {}),  # the parser hands over record by record
    ("status", "sluice_http_requests_total", {"route": "/v1/jobs/{job_id}"}),
    ("status", "sluice_records_consumed_total", {}),
    ("status", "sluice_stage_seconds_count", {"stage": "project"}),
    ("status", "sluice_jobs_finished_total", {"outcome": "indexed"}),
    ("status", "sluice_jobs_finished_total", {"outcome": "failed"}),
    ("status", "sluice_upload_to_indexed_seconds_count", {}),
    ("status", "sluice_db_query_seconds_count", {}),
]
# Present on every service (state, not traffic).
EVERYWHERE = [
    "sluice_service_info",
    "sluice_ready",
    "sluice_readiness_failures_in_a_row",
    "sluice_event_loop_lag_seconds",
    "sluice_db_pool_size",
    "sluice_db_pool_requests_waiting",
]
CONSUMER_STATE = [
    "sluice_assigned_partitions",
    "sluice_consumer_lag",
    "sluice_rebalances_total",
]
STATUS_STATE = ["sluice_group_lag", "sluice_group_committed_offset", "sluice_dead_letter_depth"]


def test_every_service_exports_what_the_alerts_read_and_it_moves(stack: Stack) -> None:
    before = {service: scrape(stack, service) for service in SERVICES}
    tenant = new_tenant("metrics")
    token = stack.token(tenant)
    with (
        httpx.Client(base_url=stack.ingest_url, timeout=60) as ingest,
        httpx.Client(base_url=stack.status_url, timeout=60) as status,
    ):
        good = accepted(upload(ingest, token, "kafka-basics.txt"))
        bad = accepted(upload(ingest, token, "broken.pdf", data=b"%PDF-1.7\n not a pdf"))
        refused = upload(ingest, token, "noise.bin", data=secrets.token_bytes(256))
        assert 400 <= refused.status_code < 500, refused.text
        assert wait_for_state(status, good["job_id"], token, timeout=600)["state"] == "indexed"
        assert wait_for_state(status, bad["job_id"], token, timeout=600)["state"] == "failed"
        assert status.get("/v1/jobs", headers=bearer(token)).status_code == 200

    # status reads offsets and self-checks every second: let one more round land
    deadline = time.monotonic() + 60
    while True:
        after = {service: scrape(stack, service) for service in SERVICES}
        lag = total(after["status"], "sluice_group_committed_offset")
        if (lag is not None and lag > 0) or time.monotonic() > deadline:
            break
        time.sleep(1)

    still = [
        f"{service} {name}{labels}: {total(before[service], name, **labels)} -> "
        f"{total(after[service], name, **labels)}"
        for service, name, labels in MOVED
        if (total(after[service], name, **labels) or 0)
        <= (total(before[service], name, **labels) or 0)
    ]
    assert not still, "did not move:\n" + "\n".join(still)
    for service in SERVICES:
        expected = EVERYWHERE + (CONSUMER_STATE if service != "ingest" else [])
        expected += STATUS_STATE if service == "status" else []
        missing = [name for name in expected if total(after[service], name) is None]
        assert not missing, f"{service} does not export {missing}"
        ready = {
            dict(ls)["check"]: v for (n, ls), v in after[service].items() if n == "sluice_ready"
        }
        assert ready and all(v == 1 for v in ready.values()), f"{service}: {ready}"
    assert (total(after["parser"], "sluice_assigned_partitions") or 0) > 0
    assert total(after["status"], "sluice_jobs_finished_total", tenant=tenant) == 2
    assert total(after["ingest"], "sluice_uploads_total", tenant=tenant) == 3
