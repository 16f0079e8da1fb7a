"""Topics as settings on a real broker of this module alone: `sluice topics create|list`, a
production service that refuses to start without its topics, a development one that creates them.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from infra.local import REPO_ROOT
from infra.local.ports import free_port, http_ok
from schemas import topics
from services.common.kafka.admin import (
    MIN_INSYNC,
    RETENTION,
    admin_client,
    topic_specs,
    topic_states,
)
from services.common.settings import PipelineSettings

pytestmark = pytest.mark.integration
DAY_MS = 24 * 3600 * 1000


def _env(bootstrap: str, **more: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    return {**environ, "SLUICE_KAFKA_BOOTSTRAP": bootstrap, "COLUMNS": "200", **more}


def sluice(bootstrap: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`sluice ARGS` (as `python -m services.cli`) against the broker."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=REPO_ROOT,
        env=_env(bootstrap, **env),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


async def _on_cluster(bootstrap: str) -> dict[str, Any]:
    """Each sluice topic on the cluster: (partitions, replicas, retention, min.insync)."""
    async with admin_client(bootstrap) as admin:
        states = await topic_states(admin, topic_specs(PipelineSettings()))
    return {
        s.name: (s.partitions, s.replication_factor, s.configs[RETENTION], s.configs[MIN_INSYNC])
        for s in states
        if s.exists
    }


async def _drop_all(bootstrap: str) -> None:
    """Delete every topic but Kafka's own, and wait until they are gone."""
    async with admin_client(bootstrap) as admin:
        names = [n for n in await admin.list_topics() if not n.startswith("__")]
        if names:
            await admin.delete_topics(names)
        deadline = time.monotonic() + 60
        while set(names) & set(await admin.list_topics()):
            assert time.monotonic() < deadline, "topics not deleted after 60 s"
            await asyncio.sleep(0.2)


async def test_topics_create_uses_the_settings_and_refuses_too_many_replicas(
    private_kafka: str,
) -> None:
    await _drop_all(private_kafka)
    settings = {"SLUICE_TOPIC_PARTITIONS": "2", "SLUICE_TOPIC_RETENTION_MS": str(3 * DAY_MS)}

    refused = sluice(private_kafka, "topics", "create", **settings)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "replication factor 3 needs 3 brokers; the cluster has 1" in refused.stderr
    assert "--replication-factor 1" in refused.stderr
    assert await _on_cluster(private_kafka) == {}  # nothing half-created

    created = sluice(
        private_kafka, "topics", "create", "--replication-factor", "1", "--json", **settings
    )
    assert created.returncode == 0, created.stdout + created.stderr
    body = json.loads(created.stdout)["topics"]
    assert {t["topic"]: t["state"] for t in body} == dict.fromkeys(topics.ALL_TOPICS, "created")
    found = await _on_cluster(private_kafka)
    assert set(found) == set(topics.ALL_TOPICS)
    assert found[topics.DOCUMENTS_UPLOADED] == (2, 1, str(3 * DAY_MS), "1")
    assert found[topics.retry(topics.DOCUMENTS_UPLOADED)] == (2, 1, str(7 * DAY_MS), "1")
    assert found[topics.dlq(topics.DOCUMENTS_FAILED)] == (2, 1, str(30 * DAY_MS), "1")

    again = sluice(private_kafka, "topics", "create", "--replication-factor", "1", "--json")
    assert again.returncode == 0, again.stderr
    states = {t["topic"]: t for t in json.loads(again.stdout)["topics"]}
    assert {name: t["state"] for name, t in states.items()} == dict.fromkeys(
        topics.ALL_TOPICS, "differs"
    )  # left as they are: 2 partitions and 3 days beside the defaults 12 and 14 days
    assert "partitions 2 (settings: 12)" in states[topics.DOCUMENTS_PARSED]["differences"]

    same = {**settings, "SLUICE_TOPIC_REPLICATION_FACTOR": "1"}
    listed = sluice(private_kafka, "topics", "list", "--json", **same)
    assert listed.returncode == 0, listed.stderr
    assert {t["state"] for t in json.loads(listed.stdout)["topics"]} == {"ok"}
    table = sluice(private_kafka, "topics", "list", **same)
    assert f"{topics.JOBS_PROGRESS} " in table.stdout and "3d" in table.stdout


def _ingest(bootstrap: str, database_url: str, env: str) -> tuple[subprocess.Popen[str], int]:
    """`python -m services.ingest` in mode `env` on the broker; the process and its port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.ingest"],
        cwd=REPO_ROOT,
        env=_env(
            bootstrap,
            SLUICE_ENV=env,
            SLUICE_JWT_SECRET=secrets.token_hex(32),
            SLUICE_DATABASE_URL=database_url,
            SLUICE_INGEST_PORT=str(port),
            SLUICE_TOPIC_PARTITIONS="3",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, port


async def test_production_refuses_to_start_without_topics_and_development_creates_them(
    private_kafka: str, fresh_database: str
) -> None:
    await _drop_all(private_kafka)
    production, _ = _ingest(private_kafka, fresh_database, "production")
    try:
        _, stderr = production.communicate(timeout=120)
    finally:
        production.kill()
    assert production.returncode == 2, stderr
    assert "Kafka topics missing: sluice.documents.uploaded" in stderr
    assert "`sluice topics create`" in stderr
    assert await _on_cluster(private_kafka) == {}

    development, port = _ingest(private_kafka, fresh_database, "development")
    try:
        deadline = time.monotonic() + 120
        while not http_ok(f"http://127.0.0.1:{port}/health/ready"):
            assert development.poll() is None, development.communicate()[1]
            assert time.monotonic() < deadline, "development ingest not ready after 120 s"
            time.sleep(0.3)
    finally:
        development.send_signal(signal.SIGTERM)
        development.communicate(timeout=60)
    found = await _on_cluster(private_kafka)
    assert set(found) == set(topics.ALL_TOPICS)
    # Settings ask for 3 replicas; one broker: development caps it (and min.insync with it).
    assert found[topics.DOCUMENTS_UPLOADED] == (3, 1, str(14 * DAY_MS), "1")
