"""Scaling out on a broker of this module alone: the same corpus through one parser and one
embedder, then through two parsers and three embedders with an embedder added and one removed
mid-run, ends the same: the same chunks and job events per document, 0 duplicates, and every
partition held by exactly one replica (what `sluice ps` shows)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from infra.local.scale import assignment, scale
from infra.local.stack import Stack
from schemas import topics
from tests.fixtures.pipeline import TERMINAL, module_stack, wait_for_state

pytestmark = pytest.mark.integration

DOCUMENTS = 36
WORDS = ("kafka", "partition", "replica", "offset", "broker", "consumer", "vector", "chunk")


def corpus() -> dict[str, bytes]:
    """Small distinct text documents, a few paragraphs each (several chunks)."""
    files = {}
    for n in range(DOCUMENTS):
        paragraphs = [
            " ".join(f"{WORDS[(n + p + w) % len(WORDS)]}{n}-{p}-{w}" for w in range(60))
            for p in range(1 + n % 4)
        ]
        files[f"doc-{n:02d}.txt"] = "\n\n".join(paragraphs).encode()
    return files


stack = module_stack(
    "scaling",
    "One replica of each service on the module's own broker and database.",
    kafka="private_kafka",
)


def run_corpus(stack: Stack, tenant: str, midway: Callable[[], None] = lambda: None) -> None:
    """Upload the corpus as `tenant` (8 at a time), call `midway` after half is accepted
    (uploads go on meanwhile), and wait until every job has ended."""
    token = stack.token(tenant)
    files = list(corpus().items())
    with httpx.Client(timeout=60) as client, ThreadPoolExecutor(8) as pool:

        def upload(name: str, body: bytes) -> str:
            for _ in range(20):  # as a client should: a full replica says when to come back
                response = client.post(
                    f"{stack.ingest_url}/v1/documents",
                    headers={"Authorization": f"Bearer {token}"},
                    files={"file": (name, body, "text/plain")},
                )
                if response.status_code not in (429, 503):
                    break
                time.sleep(float(response.headers.get("Retry-After", "1")))
            assert response.status_code == 202, response.text
            job_id: str = response.json()["job_id"]
            return job_id

        first: list[Future[str]] = [pool.submit(upload, n, b) for n, b in files[: len(files) // 2]]
        job_ids = [f.result() for f in first]
        rest = [pool.submit(upload, n, b) for n, b in files[len(files) // 2 :]]
        midway()
        job_ids += [f.result() for f in rest]
        for job_id in job_ids:
            job = wait_for_state(client, job_id, token, TERMINAL, status_url=stack.status_url)
            assert job["state"] == "indexed", job


def final_state(stack: Stack, tenant: str) -> dict[str, Any]:
    """Per file: its job states and event types (with counts), and its chunks."""
    with psycopg.connect(stack.database_url) as conn:
        jobs = conn.execute(
            "SELECT filename, state, chunk_count, attempt FROM jobs WHERE tenant_id = %s",
            (tenant,),
        ).fetchall()
        events = conn.execute(
            "SELECT j.filename, e.type, e.payload->>'stage' FROM job_events e"
            " JOIN jobs j USING (job_id)"
            " WHERE e.tenant_id = %s",
            (tenant,),
        ).fetchall()
        chunks = conn.execute(
            "SELECT j.filename, c.chunk_index, c.text, c.embedding::text FROM chunks c"
            " JOIN jobs j USING (document_id) WHERE c.tenant_id = %s",
            (tenant,),
        ).fetchall()
    return {
        "jobs": sorted(jobs),
        "events": Counter(events),
        "chunks": Counter(chunks),
    }


def test_one_and_three_embedders_with_two_parsers_end_the_same(stack: Stack) -> None:
    run_corpus(stack, "one-each")
    alone = final_state(stack, "one-each")
    assert len(alone["jobs"]) == DOCUMENTS
    assert max(alone["chunks"].values()) == 1 and max(alone["events"].values()) == 1

    scale(stack, {"parser": 2, "embedder": 3})
    labels = []

    def add_one_remove_one() -> None:
        labels.append(stack.start("embedder").label)  # a fourth joins while work runs
        stack.stop("embedder-2")  # and one leaves (SIGTERM: finish, commit, leave)

    run_corpus(stack, "scaled", add_one_remove_one)
    scaled = final_state(stack, "scaled")
    assert labels == ["embedder-4"]
    assert len(scaled["jobs"]) == DOCUMENTS
    assert max(scaled["chunks"].values()) == 1, "0 duplicate chunks"
    assert max(scaled["events"].values()) == 1, "0 duplicate job events"
    assert scaled == alone

    # Each partition of each consumer group's input is held by exactly one replica.
    deadline = time.monotonic() + 60
    for service, topic in (("parser", "parse"), ("embedder", "embed")):
        wanted = {topics.STAGE_INPUTS[topic], topics.retry(topics.STAGE_INPUTS[topic])}
        while True:
            held = [assignment(r) for r in stack.replicas(service)]
            parts = [(p.topic, p.partition) for a in held if a for p in a.partitions]
            whole = {t for t, _ in parts} == wanted and len(parts) == len(set(parts)) == 2 * 12
            if (whole and all(a and a.partitions for a in held)) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert len(held) == (2 if service == "parser" else 3)
        assert all(a is not None and a.partitions for a in held), held
        assert len(parts) == len(set(parts)) == 2 * 12, parts
