"""Bounce workers, broker and database mid-run; then prove nothing was lost or done twice.

Modelled on Kafka's own system test (kafkatest transactions_test): faults while the pipeline
works, then input set == output set and zero duplicates. `make test` runs a bounded drill;
`make test-faults` (SLUICE_FAULTS_FULL=1) the long one.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from infra.local import REPO_ROOT
from infra.local.stack import Stack
from schemas import topics
from tests.faults import checks
from tests.faults.cluster import drill_stack, terminate_backends
from tests.faults.corpus import document
from tests.fixtures.infra import unavailable

pytestmark = pytest.mark.faults
FULL = os.environ.get("SLUICE_FAULTS_FULL") == "1"
DOCS = int(os.environ.get("SLUICE_FAULTS_DOCS", "300" if FULL else "60"))
FEED_SECONDS = float(os.environ.get("SLUICE_FAULTS_FEED_S", "300" if FULL else "120"))
TENANT = f"drill-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Stack]:
    """The drill's own stack; its stop fails when any process it started is left behind."""
    if shutil.which("java") is None or shutil.which("mvn") is None:
        unavailable("the fault drill needs Java and Maven to run its own Kafka broker")
    run_dir = REPO_ROOT / ".run" / f"faults-{uuid.uuid4().hex[:8]}"
    cluster = drill_stack(run_dir, provider=os.environ.get("SLUICE_FAULTS_PROVIDER", "local"))
    try:
        cluster.up()
        yield cluster
    finally:
        cluster.down()  # raises (after killing them) when processes outlived the stop
    if not os.environ.get("SLUICE_KEEP_RUN"):
        shutil.rmtree(run_dir, ignore_errors=True)


class Feeder(threading.Thread):
    """Uploads the corpus at a steady pace, retrying each with its Idempotency-Key until 202."""

    def __init__(self, cluster: Stack) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.accepted: dict[str, str] = {}  # job_id -> document_id
        self.rejections = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._feed()
        except BaseException as error:  # noqa: BLE001 - surfaced by the test
            self.error = error

    def _feed(self) -> None:
        headers = {"Authorization": f"Bearer {self.cluster.token(TENANT)}"}
        gap = FEED_SECONDS / DOCS
        with httpx.Client(timeout=30) as client:
            for i in range(DOCS):
                name, data, _ = document(i)
                deadline = time.monotonic() + 240
                while True:
                    try:
                        response = client.post(
                            f"{self.cluster.ingest_url}/v1/documents",
                            headers={**headers, "Idempotency-Key": f"drill-{i}"},
                            files={"file": (name, data)},
                        )
                        if response.status_code == 202:
                            body = response.json()
                            self.accepted[body["job_id"]] = body["document_id"]
                            break
                    except httpx.HTTPError:
                        pass
                    self.rejections += 1
                    assert time.monotonic() < deadline, f"upload {i} never accepted"
                    time.sleep(0.5)
                time.sleep(gap)


class Monitor(threading.Thread):
    """Samples (attempt, state_rank) of every job and records any step backwards."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.seen: dict[str, tuple[int, int]] = {}
        self.backwards: list[str] = []
        self.samples = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                for row in checks.rows(
                    self.url,
                    "SELECT job_id, attempt, state_rank, state FROM jobs WHERE tenant_id = %s",
                    (TENANT,),
                ):
                    now = (row["attempt"], row["state_rank"])
                    before = self.seen.get(row["job_id"])
                    if before is not None and now < before:
                        self.backwards.append(f"{row['job_id']}: {before} -> {now}")
                    self.seen[row["job_id"]] = max(now, before or now)
                self.samples += 1
            except Exception:  # noqa: BLE001, S110 - Postgres is being restarted on purpose
                pass
            time.sleep(0.3)


def indexed_fraction(cluster: Stack) -> float:
    try:
        n = checks.rows(
            cluster.database_url,
            "SELECT count(*) AS n FROM jobs WHERE tenant_id = %s AND state = 'indexed'",
            (TENANT,),
        )[0]["n"]
    except Exception:  # noqa: BLE001 - Postgres may be restarting
        return 0.0
    return float(n) / DOCS


def when(cluster: Stack, fraction: float, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while indexed_fraction(cluster) < fraction:
        assert time.monotonic() < deadline, f"progress stuck below {fraction:.0%}"
        time.sleep(0.3)


async def inject_poison(bootstrap: str) -> set[tuple[str, int, int]]:
    """Random bytes and an unknown-version event into every pipeline topic."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    positions = set()
    try:
        for topic in topics.PIPELINE_TOPICS:
            fake = str(uuid.uuid4())
            future_event = json.dumps(
                {
                    "type": "DocumentUploaded",
                    "schema_version": 99,
                    "event_id": str(uuid.uuid4()),
                    "occurred_at": "2030-01-01T00:00:00Z",
                    "tenant_id": f"{TENANT}-poison",
                    "job_id": fake,
                    "document_id": fake,
                }
            ).encode()
            for value in (os.urandom(64), future_event):
                meta = await producer.send_and_wait(topic, value, key=fake.encode())
                positions.add((topic, meta.partition, meta.offset))
    finally:
        await producer.stop()
    return positions


def test_faults_lose_nothing_and_do_nothing_twice(cluster: Stack) -> None:  # noqa: PLR0915
    feeder = Feeder(cluster)
    monitor = Monitor(cluster.database_url)
    feeder.start()
    monitor.start()
    log: list[str] = []

    def step(label: str, action: Callable[[], object]) -> None:
        started = time.monotonic()
        action()
        log.append(f"{label} ({time.monotonic() - started:.1f}s, {indexed_fraction(cluster):.0%})")

    when(cluster, 0.2)
    step("SIGKILL parser #1", lambda: cluster.restart("parser"))
    step("SIGKILL embedder #1", lambda: cluster.restart("embedder"))
    poison = asyncio.run(inject_poison(cluster.bootstrap))
    log.append(f"injected {len(poison)} poison records")
    when(cluster, 0.3)
    parser_replica = cluster.start("parser")
    embedder_replica = cluster.start("embedder")
    log.append(f"added parser + embedder replicas ({indexed_fraction(cluster):.0%})")
    when(cluster, 0.4)
    step(
        "pg_terminate_backend status + embedder",
        lambda: (
            terminate_backends(cluster.database_url, "status"),
            terminate_backends(cluster.database_url, "embedder"),
        ),
    )
    step("SIGKILL parser #2", lambda: cluster.restart("parser"))
    step("SIGKILL embedder #2", lambda: cluster.restart("embedder"))
    when(cluster, 0.55)
    step("broker SIGKILL + restart", lambda: cluster.crash_restart("kafka"))
    step(
        "removed replicas (SIGTERM)",
        lambda: (
            cluster.stop(parser_replica.label, timeout=60),
            cluster.stop(embedder_replica.label, timeout=60),
        ),
    )
    when(cluster, 0.7)
    step("Postgres SIGKILL + restart", lambda: cluster.crash_restart("postgres"))
    step("SIGKILL parser #3", lambda: cluster.restart("parser"))
    step("SIGKILL embedder #3", lambda: cluster.restart("embedder"))

    feeder.join(timeout=FEED_SECONDS + 600)
    assert feeder.error is None, feeder.error
    assert len(feeder.accepted) == DOCS

    deadline = time.monotonic() + (900 if FULL else 420)
    url = cluster.database_url
    while True:
        pending = checks.rows(
            url,
            "SELECT count(*) AS n FROM jobs WHERE tenant_id = %s AND state NOT IN"
            " ('indexed', 'failed')",
            (TENANT,),
        )[0]["n"]
        projected = checks.rows(
            url, "SELECT count(*) AS n FROM jobs WHERE tenant_id = %s", (TENANT,)
        )[0]["n"]
        if pending == 0 and projected == DOCS:
            break
        assert time.monotonic() < deadline, f"{pending} jobs not terminal, {projected} projected"
        time.sleep(1)
    monitor.done.set()
    monitor.join(timeout=5)

    jobs = checks.rows(
        url,
        "SELECT job_id, document_id, state, chunk_count, error_code FROM jobs WHERE tenant_id = %s",
        (TENANT,),
    )
    indexed = {j["document_id"] for j in jobs if j["state"] == "indexed"}
    failed = [j for j in jobs if j["state"] == "failed"]
    chunk_rows = checks.rows(
        url,
        "SELECT document_id, count(*) AS n, count(DISTINCT (chunk_index, embedding_model)) AS d,"
        " max(chunk_index) AS hi FROM chunks WHERE tenant_id = %s GROUP BY document_id",
        (TENANT,),
    )
    per_doc = {r["document_id"]: r for r in chunk_rows}
    duplicate_chunks = sum(r["n"] - r["d"] for r in chunk_rows)
    gaps = [d for d, r in per_doc.items() if r["hi"] + 1 != r["n"]]
    miscounted = [
        j["job_id"]
        for j in jobs
        if j["state"] == "indexed"
        and per_doc.get(j["document_id"], {}).get("n") != j["chunk_count"]
    ]
    event_counts = checks.rows(
        url,
        "SELECT job_id, type, count(*) AS n FROM job_events WHERE tenant_id = %s"
        " GROUP BY job_id, type",
        (TENANT,),
    )
    duplicate_events = [
        f"{e['job_id']} {e['type']} x{e['n']}"
        for e in event_counts
        if e["n"] != checks.EXPECTED_TYPES.get(e["type"], 0)
    ]
    dlq = asyncio.run(checks.dead_letters(cluster.bootstrap))
    live = checks.rows(url, checks.JOB_SNAPSHOT)
    per_tenant = ", ".join(
        f"{r['tenant_id']} {r['n']}"
        for r in checks.rows(
            url, "SELECT tenant_id, count(*) AS n FROM jobs GROUP BY tenant_id ORDER BY tenant_id"
        )
    )
    rebuilt_url = asyncio.run(
        checks.rebuild_projection(cluster.bootstrap, url, f"rebuild_{uuid.uuid4().hex[:8]}")
    )
    rebuilt = checks.rows(rebuilt_url, checks.JOB_SNAPSHOT)

    report = [
        f"documents accepted {len(feeder.accepted)} (upload retries {feeder.rejections})",
        f"indexed {len(indexed)}, failed {len(failed)}",
        f"duplicate chunks {duplicate_chunks}, chunk index gaps {len(gaps)},"
        f" chunk_count mismatches {len(miscounted)}",
        f"duplicate/missing job events {len(duplicate_events)}",
        f"jobs moved backwards {len(monitor.backwards)} ({monitor.samples} samples)",
        f"poison injected {len(poison)}, dead letters {len(dlq)}, matching {len(poison & dlq)}",
        f"projection rows live {len(live)}, rebuilt {len(rebuilt)}, equal {live == rebuilt}"
        f" (jobs per tenant: {per_tenant})",
        *log,
    ]
    print("\nfault drill:\n  " + "\n  ".join(report))
    _record(report)

    assert set(feeder.accepted.values()) == indexed, "indexed set != accepted uploads"
    assert not failed, f"failed jobs: {failed[:3]}"
    assert duplicate_chunks == 0
    assert not gaps, f"chunk index gaps in {gaps[:3]}"
    assert not miscounted, f"chunk_count != stored chunks for {miscounted[:3]}"
    assert not duplicate_events, duplicate_events[:5]
    assert not monitor.backwards, monitor.backwards[:5]
    assert dlq == poison, f"DLQ {sorted(dlq)} != poison {sorted(poison)}"
    assert live == rebuilt, "projection differs from a rebuild from the topics"


def _record(report: list[str]) -> None:
    out = os.environ.get("SLUICE_FAULTS_REPORT")
    if out:
        Path(out).write_text("\n".join(report) + "\n")
