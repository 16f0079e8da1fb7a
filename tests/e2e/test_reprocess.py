"""`sluice reprocess|vector-sets|activate|prune` on the four services, real Kafka and Postgres.

A tenant's documents are indexed into its first vector set (the local model, 256/32 tokens
fitted to the model's limit), then reprocessed with the same model and a smaller chunking (64/8)
into a second set: search keeps reading the first set until `activate`, then reads only the
second (every hit is a row of that set, none of the first). A third set, written for one
document only, cannot be activated (it lacks the tenant's other documents) and is dropped by
`prune`; the active set is kept.
"""

from __future__ import annotations

import mimetypes
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from infra.local import REPO_ROOT
from services.common.auth import ADMIN_REPLAY
from tests.e2e.test_command_line import as_json, sluice
from tests.fixtures.pipeline import Pipeline, wait_for_state

pytestmark = pytest.mark.e2e

EXAMPLES = REPO_ROOT / "examples"
DOCUMENTS = ("kafka-basics.txt", "sourdough.md")
QUERY = "how does a consumer group share partitions"
SMALL = ("64", "8")  # tokens per chunk, overlap: the second set
ONE_DOC = ("96", "16")  # the third set, for one document only


class Tenant:
    """A fresh tenant with its documents indexed, and an admin's token."""

    def __init__(self, pipeline: Pipeline, status: httpx.Client) -> None:
        self.name = f"reprocess-{uuid.uuid4().hex[:8]}"
        self.token = pipeline.token(self.name)
        self.admin = pipeline.token(
            "ops", scopes=("documents:read", "documents:write", ADMIN_REPLAY)
        )
        self.pipeline = pipeline
        self.status = status
        self.documents: dict[str, str] = {}  # filename -> document id

    def search(self) -> dict[str, Any]:
        """The whole /v1/search answer for QUERY (waiting out the search model's load)."""
        deadline = time.monotonic() + 120
        while True:
            response = self.status.post(
                "/v1/search",
                headers={"Authorization": f"Bearer {self.token}"},
                json={"query": QUERY, "top_k": 5},
            )
            if response.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def admin_cli(self, *args: str) -> Any:
        """`sluice ARGS --json` with the admin token; its JSON answer (exit 0 asserted)."""
        run = sluice(self.pipeline, self.admin, *args, "--json")
        assert run.returncode == 0, (run.stdout, run.stderr)
        return as_json(run)

    def wait_for(self, jobs: list[dict[str, Any]]) -> None:
        for job in jobs:
            done = wait_for_state(self.status, job["job_id"], self.token, timeout=240)
            assert done["state"] == "indexed", done


@pytest.fixture(scope="module")
def status(pipeline: Pipeline) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=pipeline.status_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def tenant(pipeline: Pipeline, status: httpx.Client) -> Tenant:
    """The tenant with both documents indexed into its first set."""
    made = Tenant(pipeline, status)
    with httpx.Client(base_url=pipeline.ingest_url, timeout=60) as ingest:
        for name in DOCUMENTS:
            response = ingest.post(
                "/v1/documents",
                headers={"Authorization": f"Bearer {made.token}"},
                files={
                    "file": (name, (EXAMPLES / name).read_bytes(), mimetypes.guess_type(name)[0])
                },
            )
            assert response.status_code == 202, response.text
            body = response.json()
            made.documents[name] = body["document_id"]
            made.wait_for([body])
    return made


def rows_of_set(pipeline: Pipeline, set_id: int, tenant: str) -> dict[tuple[str, int], str]:
    """(document, chunk index) -> text of the tenant's rows in one set (the `chunks` view)."""
    with psycopg.connect(pipeline.database_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT document_id, chunk_index, text FROM chunks WHERE set_id = %s"
            " AND tenant_id = %s",
            (set_id, tenant),
        ).fetchall()
    return {(r["document_id"], r["chunk_index"]): r["text"] for r in rows}


def test_reprocess_writes_a_second_set_that_search_reads_only_once_activated(
    pipeline: Pipeline, tenant: Tenant
) -> None:
    before = tenant.search()
    first = before["vector_set"]
    assert first["chunk_tokens"] > int(SMALL[0])  # the configured 256, fitted to the model
    assert before["results"], "the first set answers the query"

    started = tenant.admin_cli(
        "reprocess",
        "--tenant",
        tenant.name,
        "--embedding-model",
        "all-MiniLM-L6-v2",
        "--chunk-size",
        SMALL[0],
        "--chunk-overlap",
        SMALL[1],
    )
    second = started["vector_set"]
    assert second["set_id"] != first["set_id"]
    assert sorted(j["document_id"] for j in started["jobs"]) == sorted(tenant.documents.values())
    tenant.wait_for(started["jobs"])

    still = tenant.search()  # indexed beside it: search has not moved
    assert still["vector_set"] == first
    assert still["results"] == before["results"]
    listed = tenant.admin_cli("vector-sets", "--tenant", tenant.name)["sets"]
    mine = {s["vector_set"]["set_id"]: s for s in listed}
    assert mine[first["set_id"]]["active"] and not mine[second["set_id"]]["active"]
    assert mine[second["set_id"]]["documents"] == len(DOCUMENTS)
    assert mine[second["set_id"]]["chunks"] > mine[first["set_id"]]["chunks"]  # smaller chunks

    switched = tenant.admin_cli(
        "activate",
        "--tenant",
        tenant.name,
        "--model",
        "all-MiniLM-L6-v2",
        "--chunk-size",
        SMALL[0],
        "--chunk-overlap",
        SMALL[1],
    )
    assert switched["active"]["set_id"] == second["set_id"]
    assert switched["previous"]["set_id"] == first["set_id"]

    after = tenant.search()
    assert after["vector_set"]["set_id"] == second["set_id"]
    assert (after["vector_set"]["chunk_tokens"], after["vector_set"]["chunk_overlap"]) == (64, 8)
    in_second = rows_of_set(pipeline, second["set_id"], tenant.name)
    in_first = rows_of_set(pipeline, first["set_id"], tenant.name)
    hits = {(h["document_id"], h["chunk_index"]): h["text"] for h in after["results"]}
    assert hits, "the second set answers the query"
    assert all(in_second.get(key) == text for key, text in hits.items()), "a hit of another set"
    assert not any(in_first.get(key) == text for key, text in hits.items()), "a mix of sets"


def test_a_set_lacking_documents_is_refused_and_prune_drops_it_but_not_the_active_one(
    pipeline: Pipeline, tenant: Tenant
) -> None:
    only = tenant.documents[DOCUMENTS[0]]
    started = tenant.admin_cli(
        "reprocess",
        "--tenant",
        tenant.name,
        "--document",
        only,
        "--embedding-model",
        "all-MiniLM-L6-v2",
        "--chunk-size",
        ONE_DOC[0],
        "--chunk-overlap",
        ONE_DOC[1],
    )
    partial = started["vector_set"]
    assert [j["document_id"] for j in started["jobs"]] == [only]
    tenant.wait_for(started["jobs"])
    active = tenant.search()["vector_set"]

    refused = sluice(
        pipeline,
        tenant.admin,
        "activate",
        "--tenant",
        tenant.name,
        "--model",
        "all-MiniLM-L6-v2",
        "--set",
        str(partial["set_id"]),
    )
    assert refused.returncode != 0
    assert "lacks 1 of the tenant's documents" in refused.stderr, refused.stderr
    assert tenant.search()["vector_set"] == active

    dry = tenant.admin_cli("prune", "--dry-run")
    assert partial["set_id"] in [s["set_id"] for s in dry["dropped"]]
    assert rows_of_set(pipeline, partial["set_id"], tenant.name), "a dry run drops nothing"

    pruned = tenant.admin_cli("prune")
    assert partial["set_id"] in [s["set_id"] for s in pruned["dropped"]]
    kept = {k["vector_set"]["set_id"]: k["reason"] for k in pruned["kept"]}
    assert "searched by" in kept[active["set_id"]]
    assert rows_of_set(pipeline, partial["set_id"], tenant.name) == {}
    listed = tenant.admin_cli("vector-sets", "--tenant", tenant.name)["sets"]
    assert partial["set_id"] not in [s["vector_set"]["set_id"] for s in listed]
    after = tenant.search()
    assert after["vector_set"] == active and after["results"]


def test_reprocess_with_a_model_this_deployment_lacks_is_refused_with_the_choices(
    pipeline: Pipeline, tenant: Tenant
) -> None:
    run = sluice(
        pipeline,
        tenant.admin,
        "reprocess",
        "--tenant",
        tenant.name,
        "--embedding-model",
        "no-such-model",
    )
    assert run.returncode != 0
    assert "no-such-model" in run.stderr and "all-MiniLM-L6-v2" in run.stderr, run.stderr
