"""DELETE /v1/documents/{id} and `sluice delete` on the four services, real Kafka and Postgres:
another tenant cannot delete a document (404); after a deletion and a replay of every stage
from the earliest offsets the document stays gone (no chunks, jobs or dead letters of it,
search does not return it) while the other documents keep exactly their chunks and events;
uploading the same bytes again indexes it again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from infra.local import REPO_ROOT
from infra.local.stack import Stack
from schemas import topics
from tests.faults.checks import partitions_of, read_topic
from tests.fixtures.pipeline import module_stack, search, wait_for_state
from tests.fixtures.tools import run_text

pytestmark = pytest.mark.e2e

WATCHED = (
    topics.DOCUMENTS_PARSED,
    topics.DOCUMENTS_INDEXED,
    topics.DOCUMENTS_FAILED,
    topics.JOBS_PROGRESS,
    *(topics.dlq(t) for t in topics.PIPELINE_TOPICS),
)
STAGE_TOPICS = {
    "parser": (topics.DOCUMENTS_UPLOADED, topics.retry(topics.DOCUMENTS_UPLOADED)),
    "embedder": (topics.DOCUMENTS_PARSED, topics.retry(topics.DOCUMENTS_PARSED)),
    "status": (*topics.PIPELINE_TOPICS, topics.DOCUMENTS_DELETED),
}


stack = module_stack(
    "delete", "The four services (hashing embeddings: the model is not what this tests)."
)


def upload(stack: Stack, token: str, body: bytes, name: str) -> dict[str, Any]:
    with httpx.Client(base_url=stack.ingest_url, timeout=60) as ingest:
        response = ingest.post(
            "/v1/documents",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": (name, body, "text/plain")},
        )
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


def indexed(stack: Stack, token: str, job_id: str) -> dict[str, Any]:
    with httpx.Client(base_url=stack.status_url, timeout=60) as status:
        job = wait_for_state(status, job_id, token, timeout=180)
    assert job["state"] == "indexed", job
    return job


def rows(stack: Stack, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(stack.database_url) as conn:
        return conn.execute(query, params).fetchall()


def snapshot(stack: Stack, document_id: str) -> dict[str, Any]:
    """What Postgres holds of a document: its chunks, job rows and projected events."""
    return {
        "chunks": sorted(
            rows(
                stack,
                "SELECT chunk_index, text, embedding_model FROM chunks WHERE document_id = %s",
                document_id,
            )
        ),
        "jobs": rows(stack, "SELECT job_id, state FROM jobs WHERE document_id = %s", document_id),
        "events": sorted(
            rows(
                stack,
                "SELECT event_id, type FROM job_events WHERE payload->>'document_id' = %s",
                document_id,
            )
        ),
        "uploads": rows(stack, "SELECT job_id FROM uploads WHERE document_id = %s", document_id),
    }


async def _partitions(bootstrap: str, names: tuple[str, ...]) -> list[TopicPartition]:
    return [TopicPartition(name, p) for name in names for p in await partitions_of(bootstrap, name)]


@contextlib.asynccontextmanager
async def _group_consumer(bootstrap: str, group: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer in `group` that commits only when told; stopped after."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def rewind_to_earliest(bootstrap: str, group: str, names: tuple[str, ...]) -> None:
    """Commit the earliest offset of every partition for `group` (its members are stopped)."""
    async with _group_consumer(bootstrap, group) as consumer:
        earliest = await consumer.beginning_offsets(await _partitions(bootstrap, names))
        consumer.assign(list(earliest))
        await consumer.commit(dict(earliest))


async def lag(bootstrap: str, group: str, names: tuple[str, ...]) -> int:
    """Records `group` has not committed yet, over `names`."""
    async with _group_consumer(bootstrap, group) as consumer:
        ends = await consumer.end_offsets(await _partitions(bootstrap, names))
        behind = 0
        for tp, end in ends.items():
            behind += end - (await consumer.committed(tp) or 0)
        return behind


def replay_everything(stack: Stack) -> None:
    """Stop the services, rewind the three consumer groups (and the projector's stored
    offsets) to the earliest offsets, start them again and wait until they caught up."""
    groups = {name: f"sluice-{name}-{stack.config.group_suffix}" for name in STAGE_TOPICS}
    stack.stop_services()
    for name, group in groups.items():
        asyncio.run(rewind_to_earliest(stack.bootstrap, group, STAGE_TOPICS[name]))
    with psycopg.connect(stack.database_url) as conn:
        conn.execute("DELETE FROM consumer_offsets WHERE consumer_group = %s", (groups["status"],))
    stack.up()
    deadline, quiet = time.monotonic() + 240, 0
    while quiet < 2:  # caught up twice in a row: replayed records' own effects are in too
        assert time.monotonic() < deadline, "the replay did not catch up"
        behind = sum(
            asyncio.run(lag(stack.bootstrap, group, STAGE_TOPICS[name]))
            for name, group in groups.items()
        )
        quiet = quiet + 1 if behind == 0 else 0
        time.sleep(2)


def records_by_key(bootstrap: str, names: tuple[str, ...]) -> Counter[tuple[str, bytes]]:
    """How many records each (topic, key) has on `names`, from the beginning."""

    async def read() -> Counter[tuple[str, bytes]]:
        found: Counter[tuple[str, bytes]] = Counter()
        for name in names:
            found.update((name, r.key) for r in await read_topic(bootstrap, name) if r.key)
        return found

    return asyncio.run(read())


def sluice_delete(stack: Stack, token: str, document_id: str) -> Any:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    environ |= {
        "SLUICE_INGEST_URL": stack.ingest_url,
        "SLUICE_STATUS_URL": stack.status_url,
        "SLUICE_TOKEN": token,
        "XDG_CONFIG_HOME": str(REPO_ROOT / ".run" / "no-such-config"),
    }
    run = run_text(
        [sys.executable, "-m", "services.cli", "delete", document_id, "--json"],
        cwd=REPO_ROOT,
        env=environ,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(run.stdout)


def hits_of(stack: Stack, token: str, query: str) -> set[str]:
    with httpx.Client(base_url=stack.status_url, timeout=60) as status:
        return {hit["document_id"] for hit in search(status, token, query, top_k=20)}


def test_a_deleted_document_stays_gone_through_a_replay_until_uploaded_again(
    stack: Stack,
) -> None:
    run = uuid.uuid4().hex[:8]
    acme, globex = f"acme-{run}", f"globex-{run}"
    token, other = stack.token(acme), stack.token(globex)
    gone = f"tombstone {run}: the lighthouse keeper logs every passing ship.\n".encode() * 20
    kept = f"keeper {run}: sourdough wants a warm kitchen and patience.\n".encode() * 20
    first = upload(stack, token, gone, "gone.txt")
    stays = upload(stack, token, kept, "kept.txt")
    twin = upload(stack, other, gone, "twin.txt")  # the same bytes, another tenant's document
    for job, who in ((first, token), (stays, token), (twin, other)):
        indexed(stack, who, job["job_id"])
    document = first["document_id"]
    kept_before = snapshot(stack, stays["document_id"])
    twin_before = snapshot(stack, twin["document_id"])
    assert kept_before["chunks"] and twin_before["chunks"]

    with httpx.Client(base_url=stack.status_url, timeout=60) as status:
        refused = status.delete(
            f"/v1/documents/{document}", headers={"Authorization": f"Bearer {other}"}
        )
        assert refused.status_code == 404, refused.text
        assert snapshot(stack, document)["chunks"], "another tenant's DELETE removed nothing"

        deletion = sluice_delete(stack, token, document)

        assert deletion["deleted_jobs"] == [first["job_id"]]
        assert deletion["jobs"] == 1 and deletion["chunks"] > 0
        auth = {"Authorization": f"Bearer {token}"}
        assert status.get(f"/v1/documents/{document}", headers=auth).status_code == 404
        assert status.get(f"/v1/jobs/{first['job_id']}", headers=auth).status_code == 404
    empty = {"chunks": [], "jobs": [], "events": [], "uploads": []}
    assert snapshot(stack, document) == empty
    assert rows(
        stack,
        "SELECT 1 FROM blobs WHERE sha256 = (SELECT sha256 FROM uploads WHERE job_id = %s)",
        twin["job_id"],
    ), "the twin still needs the bytes"

    before = records_by_key(stack.bootstrap, WATCHED)

    replay_everything(stack)

    after = records_by_key(stack.bootstrap, WATCHED)
    assert snapshot(stack, document) == empty, "the replay brought the document back"
    assert document not in hits_of(stack, token, "lighthouse keeper passing ship")
    key = document.encode()
    assert {t: after[t, key] - before[t, key] for t in WATCHED} == dict.fromkeys(WATCHED, 0), (
        "a stage announced, failed or dead-lettered the deleted document in the replay"
    )
    replayed = (topics.DOCUMENTS_PARSED, stays["document_id"].encode())
    assert after[replayed] > before[replayed], "the parser re-parsed the kept document"
    assert snapshot(stack, stays["document_id"]) == kept_before, "0 duplicates, 0 lost"
    assert snapshot(stack, twin["document_id"]) == twin_before

    again = upload(stack, token, gone, "gone.txt")  # the same bytes, after the deletion

    assert again["document_id"] == document and again["job_id"] != first["job_id"]
    indexed(stack, token, again["job_id"])
    assert document in hits_of(stack, token, "lighthouse keeper passing ship")
    assert [job for job, _ in snapshot(stack, document)["jobs"]] == [again["job_id"]]
