"""`sluice` against the four services on real Kafka and Postgres: upload a folder and watch
it, list and inspect jobs, search with citations, dead letters, exit codes."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from infra.local import REPO_ROOT
from schemas import topics
from schemas.events import uuid7
from tests.fixtures.pipeline import TERMINAL, Pipeline
from tests.fixtures.tools import run_text

pytestmark = pytest.mark.e2e

EXAMPLES = REPO_ROOT / "examples"
GOOD = ("kafka-basics.txt", "sourdough.md", "photosynthesis.pdf")
EVENTS = REPO_ROOT / "tests" / "fixtures" / "events" / "v1"


def sluice(
    pipeline: Pipeline, token: str | None, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `sluice ARGS` (as `python -m services.cli`) against the pipeline."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in ("SLUICE_CONFIG", "SLUICE_TENANT", "SLUICE_TOKEN", "SLUICE_JWT_SECRET")
    }
    environ |= {
        "SLUICE_INGEST_URL": pipeline.ingest_url,
        "SLUICE_STATUS_URL": pipeline.status_url,
        "XDG_CONFIG_HOME": str(REPO_ROOT / ".run" / "no-such-config"),
        "COLUMNS": "200",
        **({"SLUICE_TOKEN": token} if token else {}),
        **env,
    }
    return run_text(
        [sys.executable, "-m", "services.cli", *args], cwd=REPO_ROOT, env=environ, timeout=400
    )


def as_json(run: subprocess.CompletedProcess[str]) -> Any:
    """The command's --json document (with its stderr when it is not one)."""
    try:
        return json.loads(run.stdout)
    except ValueError:
        pytest.fail(f"not JSON (exit {run.returncode}):\n{run.stdout}\n{run.stderr}")


@pytest.fixture(scope="module")
def tenant(pipeline: Pipeline) -> tuple[str, str]:
    """A fresh tenant and its token."""
    name = f"cli-{uuid.uuid4().hex[:8]}"
    return name, pipeline.token(name)


@pytest.fixture(scope="module")
def watched(
    pipeline: Pipeline, tenant: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`sluice upload FOLDER --watch --json` of three good files, a corrupt PDF and a hidden one."""
    folder = tmp_path_factory.mktemp("upload")
    for name in GOOD:
        shutil.copy(EXAMPLES / name, folder / name)
    (folder / "bad").mkdir()
    shutil.copy(EXAMPLES / "bad" / "corrupt.pdf", folder / "bad" / "corrupt.pdf")
    (folder / ".hidden.txt").write_text("not uploaded\n")
    run = sluice(
        pipeline, tenant[1], "upload", str(folder), "--watch", "--json", "--metadata", "via=cli"
    )
    return run, as_json(run)


def test_a_watched_folder_upload_ends_every_job_and_gives_failure_reasons(
    watched: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    run, summary = watched
    assert run.returncode == 1, (run.stdout, run.stderr)  # one job failed
    jobs = {Path(job["path"]).name: job for job in summary["jobs"]}
    assert sorted(jobs) == sorted([*GOOD, "corrupt.pdf"]), "hidden files are not uploaded"
    assert summary["followed"] == "events", "the status service streams job changes"
    assert all(job["state"] in TERMINAL for job in jobs.values()), jobs
    for name in GOOD:
        assert jobs[name]["state"] == "indexed", jobs[name]
        assert jobs[name]["chunk_count"] >= 1
        assert jobs[name]["error"] is None
    failed = jobs["corrupt.pdf"]
    assert failed["state"] == "failed"
    assert failed["error"]["stage"] == "parse"
    assert failed["error"]["code"] == "corrupt_file"
    assert failed["error"]["message"]


def test_jobs_lists_the_failed_ones_and_status_shows_one(
    pipeline: Pipeline,
    tenant: tuple[str, str],
    watched: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    by_name = {Path(job["path"]).name: job for job in watched[1]["jobs"]}
    failed = sluice(pipeline, tenant[1], "jobs", "--state", "failed", "--json")
    assert failed.returncode == 0, failed.stderr
    listed = as_json(failed)["jobs"]
    assert [job["job_id"] for job in listed] == [by_name["corrupt.pdf"]["job_id"]]
    assert listed[0]["error"]["code"] == "corrupt_file"

    table = sluice(pipeline, tenant[1], "jobs")
    assert table.returncode == 0, table.stderr
    for name in (*GOOD, "corrupt.pdf"):
        assert name in table.stdout
    assert "corrupt_file" in table.stdout

    indexed = sluice(pipeline, tenant[1], "status", by_name["sourdough.md"]["job_id"], "--json")
    assert indexed.returncode == 0, indexed.stderr
    job = as_json(indexed)
    assert job["state"] == "indexed"
    assert {"queued_at", "parsing_at", "parsed_at", "embedding_at", "indexed_at"} <= set(
        job["timestamps"]
    )

    broken = sluice(pipeline, tenant[1], "status", by_name["corrupt.pdf"]["job_id"])
    assert broken.returncode == 1, "a failed job's status exits 1"
    assert "corrupt_file" in broken.stdout
    assert "reason:" in broken.stdout


def test_search_cites_file_page_and_heading(
    pipeline: Pipeline,
    tenant: tuple[str, str],
    watched: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    assert watched[1]["jobs"]
    run = sluice(pipeline, tenant[1], "search", "chlorophyll molecules capture sunlight", "--json")
    assert run.returncode == 0, run.stderr
    best = as_json(run)["results"][0]
    assert (best["filename"], best["page"]) == ("photosynthesis.pdf", 1), best

    run = sluice(
        pipeline, tenant[1], "search", "a bubbly starter that doubles in four to six hours"
    )
    assert run.returncode == 0, run.stderr
    headings = [
        line.lstrip("#").strip()
        for line in (EXAMPLES / "sourdough.md").read_text().splitlines()
        if line.startswith("#")
    ]
    assert "sourdough.md" in run.stdout
    assert any(f"§ {heading}" in run.stdout for heading in headings), run.stdout


async def test_dead_letters_are_listed_shown_and_retried_per_tenant(
    pipeline: Pipeline, tenant: tuple[str, str]
) -> None:
    # An upload event whose bytes are not in the blob store: the parser dead-letters it.
    name, token = tenant
    event = json.loads((EVENTS / "DocumentUploaded.minimal.json").read_text())
    job_id = uuid7()
    event |= {
        "event_id": uuid7(),
        "tenant_id": name,
        "job_id": job_id,
        "document_id": str(uuid.uuid4()),
        "blob": {**event["blob"], "sha256": secrets.token_hex(32)},
    }
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.DOCUMENTS_UPLOADED, json.dumps(event).encode(), key=event["document_id"].encode()
        )
    finally:
        await producer.stop()
    ended = sluice(pipeline, token, "status", job_id, "--watch", "--timeout", "120", "--json")
    assert ended.returncode == 1, (ended.stdout, ended.stderr)
    assert as_json(ended)["error"]["code"] == "blob_missing"

    listed = sluice(pipeline, token, "dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    mine = [r for r in as_json(listed)["records"] if r["job_id"] == job_id]
    assert len(mine) == 1, as_json(listed)
    record = mine[0]
    assert record["topic"] == topics.dlq(topics.DOCUMENTS_UPLOADED)
    assert (record["code"], record["stage"]) == ("blob_missing", "parse")
    assert all(r["tenant_id"] == name for r in as_json(listed)["records"])

    stranger = sluice(pipeline, pipeline.token("someone-else"), "dlq", "list", "--json")
    assert job_id not in stranger.stdout
    hidden = sluice(pipeline, pipeline.token("someone-else"), "dlq", "show", record["ref"])
    assert hidden.returncode == 5, "another tenant's dead letter is not found"

    shown = sluice(pipeline, token, "dlq", "show", record["ref"], "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(as_json(shown)["value"])["job_id"] == job_id

    retried = sluice(pipeline, token, "dlq", "retry", record["ref"], "--json")
    assert retried.returncode == 0, retried.stderr
    assert as_json(retried) | {"state": None} == {
        "job_id": job_id,
        "state": None,
        "attempt": 2,
        "restarted_stage": "parse",
    }
    again = sluice(pipeline, token, "dlq", "retry", job_id)
    assert again.returncode in (0, 6), again.stderr  # 6 (409) unless attempt 2 failed already


def test_exit_codes_say_what_went_wrong(pipeline: Pipeline, tenant: tuple[str, str]) -> None:
    missing = sluice(pipeline, tenant[1], "status", str(uuid.uuid4()))
    assert missing.returncode == 5, missing.stderr
    refused = sluice(pipeline, "not-a-token", "jobs")
    assert refused.returncode == 4, refused.stderr
    assert "401" in refused.stderr
    closed = f"http://127.0.0.1:{_closed_port()}"
    down = sluice(pipeline, tenant[1], "jobs", SLUICE_STATUS_URL=closed)
    assert down.returncode == 3, down.stderr
    assert "did not answer" in down.stderr
    usage = sluice(pipeline, tenant[1], "upload", "/no/such/file")
    assert usage.returncode == 2


def test_the_upload_shows_progress_and_a_summary_table(
    pipeline: Pipeline, tenant: tuple[str, str]
) -> None:
    run = sluice(pipeline, tenant[1], "upload", str(EXAMPLES / "tea.docx"), "--watch")
    assert run.returncode == 0, run.stderr
    assert "tea.docx" in run.stderr and "overall" in run.stderr, "progress bars on stderr"
    assert "indexed" in run.stdout and "tea.docx" in run.stdout, "the summary on stdout"


def test_ingest_accepts_the_consoles_origin_only(pipeline: Pipeline) -> None:
    def preflight(origin: str) -> httpx.Response:
        return httpx.options(
            f"{pipeline.ingest_url}/v1/documents",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )

    console = preflight(pipeline.status_url)
    assert console.status_code == 204, console.text
    assert console.headers["access-control-allow-origin"] == pipeline.status_url
    stranger = preflight("http://evil.example")
    assert "access-control-allow-origin" not in stranger.headers


def _closed_port() -> int:
    from infra.local.ports import free_port

    return free_port()
