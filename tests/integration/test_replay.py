"""Replay on a broker of this module alone and a real Postgres: `sluice replay` rewinds the
parser's and the embedder's groups (stopping and restarting the stack's replicas) and the
status projection's (live); reprocessing changes no chunk and adds no job event, and a wiped
projection comes back the same."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from infra.local import REPO_ROOT
from infra.local.stack import Stack
from services.cli.exits import Exit
from services.common.auth import ADMIN_REPLAY
from services.common.kafka.replay import ReplayTarget
from services.common.settings import PipelineSettings, load_settings
from services.status.replay import REPLAYABLE, replay_service
from tests.fixtures.pipeline import TERMINAL, module_stack, wait_for_state

pytestmark = pytest.mark.integration

EXAMPLES = REPO_ROOT / "examples"
FILES = ("kafka-basics.txt", "sourdough.md", "photosynthesis.pdf", "bad/corrupt.pdf")


stack = module_stack(
    "replay",
    "The four services on the module's own broker and database (a replay of everything"
    " reaches only this module's records).",
    kafka="private_kafka",
)


@pytest.fixture(scope="module")
def jobs(stack: Stack) -> dict[str, str]:
    """Each file uploaded once and followed to its end: {job id: final state}."""
    token = stack.token("replay-tenant")
    states = {}
    with httpx.Client(timeout=30) as client:
        for name in FILES:
            data = (EXAMPLES / name).read_bytes()
            states[post_document(client, stack, token, Path(name).name, data)["job_id"]] = ""
        for job_id in states:
            job = wait_for_state(client, job_id, token, TERMINAL, status_url=stack.status_url)
            states[job_id] = job["state"]
    assert sorted(states.values()) == ["failed", "indexed", "indexed", "indexed"]
    return states


def post_document(
    client: httpx.Client, stack: Stack, token: str, filename: str, data: bytes
) -> dict[str, Any]:
    """Upload one file as the tenant of `token`; ingest's 202 body (its job and document)."""
    response = client.post(
        f"{stack.ingest_url}/v1/documents",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": (filename, data)},
    )
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


def sluice(stack: Stack, *args: str, local: bool = True) -> subprocess.CompletedProcess[str]:
    """`sluice ARGS --json`; `local`: as beside the running stack (its run folder), else with
    only its Kafka, Postgres and groups in the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    if local:
        env["SLUICE_RUN_DIR"] = str(stack.config.run_dir)
    else:
        service_env = stack.service_env("status")
        env |= {k: v for k, v in service_env.items() if k.endswith("_GROUP")}
        env |= {
            "SLUICE_RUN_DIR": str(stack.config.run_dir / "no-stack-here"),
            "SLUICE_KAFKA_BOOTSTRAP": stack.bootstrap,
            "SLUICE_DATABASE_URL": stack.database_url,
        }
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args, "--json"],
        cwd=REPO_ROOT,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def plan_of(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The replay's plan (--json), failing with its output when it did not succeed."""
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout}\n{run.stderr}"
    plan: dict[str, Any] = json.loads(run.stdout)
    return plan


def settle(stack: Stack, timeout: float = 180) -> None:
    """Wait until every consuming service has handled every record of its topics."""
    settings = load_settings(PipelineSettings, stack.service_env("status"))
    latest = ReplayTarget(to_offset="latest")

    async def behind() -> dict[str, int]:
        plans = [await replay_service(settings, s, latest, dry_run=True) for s in REPLAYABLE]
        return {p.service: p.skip for p in plans if p.skip}

    deadline = time.monotonic() + timeout
    while lag := asyncio.run(behind()):
        assert time.monotonic() < deadline, f"still behind after {timeout:.0f}s: {lag}"
        time.sleep(1)


def rows(stack: Stack, query: str) -> list[tuple[Any, ...]]:
    """The rows of `query` on the stack's database."""
    with psycopg.connect(stack.database_url) as conn:
        return conn.execute(query).fetchall()


CHUNKS = "SELECT document_id, chunk_index, text, embedding::text, source_event_id FROM chunks"
CHUNKS_WRITTEN = "SELECT document_id, chunk_index, updated_at FROM chunks"
EVENTS = "SELECT event_id, job_id, type FROM job_events"
JOBS = (
    "SELECT job_id, state, state_rank, attempt, filename, size, chunk_count, error_code,"
    " error_message, queued_at, parsing_at, parsed_at, embedding_at, indexed_at, failed_at"
    " FROM jobs"
)


def test_replaying_the_parser_and_the_embedder_reprocesses_everything_and_duplicates_nothing(
    stack: Stack, jobs: dict[str, str]
) -> None:
    settle(stack)
    chunks, events, written = rows(stack, CHUNKS), rows(stack, EVENTS), rows(stack, CHUNKS_WRITTEN)
    before = max(at for _, _, at in written)
    assert chunks and events

    for service in ("parser", "embedder"):
        plan = plan_of(sluice(stack, "replay", "--service", service, "--to-offset", "earliest"))
        assert plan["applied"] and plan["redo"] > 0, plan
    settle(stack)

    again = rows(stack, CHUNKS_WRITTEN)
    assert all(at > before for _, _, at in again), "every chunk is written again"
    assert sorted(rows(stack, CHUNKS)) == sorted(chunks)  # 0 duplicates, nothing changed
    assert sorted(rows(stack, EVENTS)) == sorted(events)
    assert dict(rows(stack, "SELECT job_id, state FROM jobs")) == jobs


def test_a_wiped_projection_comes_back_the_same_from_a_replay_of_the_running_status(
    stack: Stack, jobs: dict[str, str]
) -> None:
    settle(stack)
    projected, events = sorted(rows(stack, JOBS)), sorted(rows(stack, EVENTS))
    with psycopg.connect(stack.database_url) as conn:
        conn.execute("DELETE FROM job_events")
        conn.execute("DELETE FROM jobs")

    plan = plan_of(sluice(stack, "replay", "--service", "status", "--to-offset", "earliest"))
    assert plan["applied"] and plan["redo"] >= len(events), plan
    assert plan["members"], "status kept running: it follows the replay"

    deadline = time.monotonic() + 120
    while len(rows(stack, EVENTS)) < len(events) and time.monotonic() < deadline:
        time.sleep(0.5)
    settle(stack)
    assert sorted(rows(stack, JOBS)) == projected
    assert sorted(rows(stack, EVENTS)) == events


def test_a_replay_to_a_time_after_everything_redoes_nothing(stack: Stack) -> None:
    settle(stack)
    now = datetime.now(UTC).isoformat()
    plan = plan_of(sluice(stack, "replay", "--service", "embedder", "--to-time", now))
    assert plan["applied"] and plan["redo"] == 0 and plan["skip"] == 0, plan


def test_an_active_group_is_refused_and_a_dry_run_changes_nothing(
    stack: Stack, jobs: dict[str, str]
) -> None:
    settle(stack)
    refused = sluice(stack, "replay", "--service", "embedder", "--to-offset", "0", local=False)
    assert refused.returncode == Exit.REFUSED, refused.stdout + refused.stderr
    assert "active member" in refused.stderr and "sluice-embedder-" in refused.stderr

    dry = sluice(
        stack, "replay", "--service", "embedder", "--to-offset", "0", "--dry-run", local=False
    )
    plan = plan_of(dry)
    assert not plan["applied"] and plan["redo"] > 0 and plan["members"], plan
    again = plan_of(
        sluice(stack, "replay", "--service", "embedder", "--to-offset", "latest", "--dry-run")
    )
    assert again["redo"] == 0 and again["skip"] == 0, again


def test_the_admin_api_replays_with_admin_replay_only_and_audits_each_replay(
    stack: Stack, jobs: dict[str, str]
) -> None:
    settle(stack)
    admin = {"Authorization": f"Bearer {stack.token('ops', scopes=(ADMIN_REPLAY,))}"}
    reader = {"Authorization": f"Bearer {stack.token('ops')}"}
    url = f"{stack.status_url}/v1/admin/replay"
    rewind = {"service": "embedder", "to_offset": 0}
    with httpx.Client(timeout=60) as client:
        assert client.post(url, json=rewind, headers=reader).status_code == 403
        both = client.post(url, json={**rewind, "to_time": "2025-01-01T00:00:00Z"}, headers=admin)
        assert both.status_code == 400 and "exactly one" in both.json()["detail"]

        dry = client.post(url, json={**rewind, "dry_run": True}, headers=admin)
        assert dry.status_code == 200, dry.text
        assert not dry.json()["applied"] and dry.json()["redo"] > 0
        ancient = {"service": "embedder", "to_time": "0452-12-26T11:12:43Z", "dry_run": True}
        before_all = client.post(url, json=ancient, headers=admin)  # before 1970: earliest
        assert before_all.status_code == 200, before_all.text
        assert before_all.json()["redo"] == dry.json()["redo"]

        active = client.post(url, json=rewind, headers=admin)  # the embedder is running
        assert active.status_code == 409, active.text
        assert "active member" in active.json()["detail"]

        status = {"service": "status", "to_offset": "latest"}
        live = client.post(url, json=status, headers=admin)
        assert live.status_code == 200, live.text
        assert live.json()["applied"] and live.json()["redo"] == live.json()["skip"] == 0

        rebuild = f"{stack.status_url}/v1/admin/rebuild-status"
        assert client.post(rebuild, json={}, headers=reader).status_code == 403
        compared = client.post(rebuild, json={"dry_run": True}, headers=admin)
        assert compared.status_code == 200, compared.text
        assert compared.json()["differing_jobs"] == compared.json()["differing_job_events"] == 0

    audited = rows(stack, "SELECT actor_tenant, scope, action, tenant_id, target FROM audit_log")
    assert sorted(audited) == [
        ("ops", ADMIN_REPLAY, "replay.embedder", "*", "to-offset 0"),
        ("ops", ADMIN_REPLAY, "replay.status", "*", "to-offset latest"),
    ]


def test_rebuild_status_equals_the_live_projection_and_repairs_a_damaged_one(
    stack: Stack, jobs: dict[str, str]
) -> None:
    settle(stack)
    projected, events = sorted(rows(stack, JOBS)), sorted(rows(stack, EVENTS))
    check = plan_of(sluice(stack, "rebuild-status", "--dry-run"))
    assert (check["differing_jobs"], check["differing_job_events"]) == (0, 0), check
    assert check["jobs"] == len(projected) and check["job_events"] == len(events)
    assert not check["swapped"]

    failed = next(job_id for job_id, state in jobs.items() if state == "failed")
    with psycopg.connect(stack.database_url) as conn:
        conn.execute("UPDATE jobs SET error_message = 'tampered' WHERE job_id = %s", (failed,))
        conn.execute("DELETE FROM job_events WHERE event_id = %s", (events[0][0],))
    report = plan_of(sluice(stack, "rebuild-status"))
    assert report["swapped"]
    assert (report["differing_jobs"], report["differing_job_events"]) == (2, 1), report
    assert sorted(rows(stack, JOBS)) == projected
    assert sorted(rows(stack, EVENTS)) == events

    # The running projector goes on with the swapped-in tables.
    token = stack.token("replay-tenant")
    with httpx.Client(timeout=30) as client:
        data = b"Projected after the rebuild swapped tables."
        job_id = post_document(client, stack, token, "after-rebuild.txt", data)["job_id"]
        job = wait_for_state(client, job_id, token, TERMINAL, status_url=stack.status_url)
    assert job["state"] == "indexed"
    assert len(rows(stack, JOBS)) == len(projected) + 1
    # ... and its changes still reach the job-change history the event streams read.
    with psycopg.connect(stack.database_url) as conn:
        states = [
            row[0]
            for row in conn.execute(
                "SELECT state FROM job_changes WHERE job_id = %s ORDER BY tx, id", (job_id,)
            )
        ]
    assert states and states[-1] == "indexed", states


def test_rebuild_status_keeps_a_deleted_document_out(stack: Stack, jobs: dict[str, str]) -> None:
    """The rebuild reads the deletions topic too: the deleted job's events, still on the
    pipeline topics, are not projected into the rebuilt tables (last: it deletes a document)."""
    token = stack.token("replay-tenant")
    with httpx.Client(timeout=30) as client:
        data = b"A document deleted before the rebuild."
        accepted = post_document(client, stack, token, "to-delete.txt", data)
        job_id, document_id = accepted["job_id"], accepted["document_id"]
        job = wait_for_state(client, job_id, token, TERMINAL, status_url=stack.status_url)
        assert job["state"] == "indexed"
        deleted = client.delete(
            f"{stack.status_url}/v1/documents/{document_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert deleted.status_code == 200, deleted.text
    settle(stack)
    projected, events = sorted(rows(stack, JOBS)), sorted(rows(stack, EVENTS))
    assert job_id not in {row[0] for row in projected}

    report = plan_of(sluice(stack, "rebuild-status"))

    assert (report["differing_jobs"], report["differing_job_events"]) == (0, 0), report
    assert sorted(rows(stack, JOBS)) == projected and sorted(rows(stack, EVENTS)) == events
    assert rows(stack, f"SELECT 1 FROM jobs WHERE job_id = '{job_id}'") == []
