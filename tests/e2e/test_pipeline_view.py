"""GET /v1/pipeline on the real stack, each verdict made true: ok (idle, all instances in their
groups), down (the parser stopped), waiting then stuck (the embedder blocked on a provider that
never answers), and ok again once the embedder is restored and the document indexed; the
windows come from pipestats (per stage and per tenant), and are unknown while it is away."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from infra.local.stack import Stack
from schemas import topics
from services.common.auth import ADMIN_PIPELINE
from tests.fixtures.pipeline import module_stack, wait_for_state

pytestmark = pytest.mark.e2e

RUN = uuid.uuid4().hex[:8]
STALL_S = 8.0  # SLUICE_PIPELINE_STALL_S: lag without a commit this long is stuck
ENV = {
    "SLUICE_JWT_SECRET": secrets.token_urlsafe(32),
    "SLUICE_EMBEDDING_PROVIDER": "hashing",
    "SLUICE_PIPELINE_SAMPLE_S": "0.5",
    "SLUICE_PIPELINE_STALL_S": str(STALL_S),
    "SLUICE_PIPESTATS_SNAPSHOT_S": "1",
    "SLUICE_PIPELINE_WINDOWS_MAX_AGE_S": "4",
}


stack = module_stack(
    "pipeview",
    "The four services and pipestats, sampling Kafka every 0.5 s, on their own groups and"
    " database.",
    env=ENV,
    group_suffix=RUN,
    replicas={"ingest": 1, "parser": 1, "embedder": 1, "status": 1, "pipestats": 1},
)


def _whole_view(stack: Stack) -> dict[str, Any]:
    token = stack.token("ops", scopes=(ADMIN_PIPELINE,))
    response = httpx.get(
        f"{stack.status_url}/v1/pipeline", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


def _view(stack: Stack) -> dict[str, dict[str, Any]]:
    return {stage["stage"]: stage for stage in _whole_view(stack)["stages"]}


def _until(
    stack: Stack, wanted: Callable[[dict[str, dict[str, Any]]], bool], timeout: float = 90
) -> dict[str, dict[str, Any]]:
    """Poll the view until `wanted` holds; the last view in the failure otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        view = _view(stack)
        if wanted(view):
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout:.0f}s; last view: {view}")
        time.sleep(0.25)


def _verdicts(view: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: stage["verdict"] for name, stage in view.items()}


def _upload(stack: Stack, tenant: str) -> str:
    response = httpx.post(
        f"{stack.ingest_url}/v1/documents",
        headers={"Authorization": f"Bearer {stack.token(tenant)}"},
        files={"file": ("note.txt", f"a note {uuid.uuid4()}".encode(), "text/plain")},
        timeout=60,
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


async def _send_poison(bootstrap: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topics.DOCUMENTS_UPLOADED, b"not an event", key=b"poison")
    finally:
        await producer.stop()


def test_an_idle_pipeline_is_ok_with_every_partition_assigned(stack: Stack) -> None:
    view = _until(stack, lambda v: set(_verdicts(v).values()) == {"ok"})
    parse = view["parse"]
    assigned = [p for instance in parse["instances"] for p in instance["partitions"]]
    assert len(parse["instances"]) == 1 and len(assigned) == len(set(assigned)), parse
    assert {p.rsplit("/", 1)[0] for p in assigned} == {
        topics.DOCUMENTS_UPLOADED,
        topics.retry(topics.DOCUMENTS_UPLOADED),
    }
    assert all(s["lag"] == 0 for s in view.values()), view
    # a record the parser cannot decode: one more in its dead-letter topic (others may be
    # there already: the topics are the session's, earlier modules' records fail here)
    before = view["parse"]["dlq_depth"]
    asyncio.run(_send_poison(stack.bootstrap))
    _until(stack, lambda v: v["parse"]["dlq_depth"] == before + 1)
    # a document through: the windows count it, with a stage time
    tenant = f"ops-{RUN}"
    job_id = _upload(stack, tenant)
    with httpx.Client(base_url=stack.status_url, timeout=30) as client:
        wait_for_state(client, job_id, stack.token(tenant), {"indexed"})
    view = _until(stack, lambda v: tenant in v["embed"]["tenant_windows"])
    for name in ("parse", "embed"):
        minute, five = view[name]["windows"]
        assert (minute["seconds"], five["seconds"]) == (60, 300)
        assert minute["done"] >= 1 and 0 <= minute["failure_rate"] < 1, view[name]
        assert minute["p95_stage_s"] is not None and minute["p95_stage_s"] >= 0, view[name]
        mine, _ = view[name]["tenant_windows"][tenant]
        assert (mine["done"], mine["failed"]) == (1, 0), view[name]
        assert mine["p95_stage_s"] is not None, view[name]
    assert view["parse"]["oldest_unfinished"] is None


def test_the_windows_are_unknown_while_pipestats_is_away(stack: Stack) -> None:
    assert _whole_view(stack)["windows_at"] is not None
    stack.stop("pipestats")
    try:
        deadline = time.monotonic() + 60
        while (view := _whole_view(stack))["windows_at"] is not None:
            assert time.monotonic() < deadline, view
            time.sleep(0.5)
        assert all(s["windows"] == [] and s["tenant_windows"] == {} for s in view["stages"])
    finally:
        stack.start("pipestats")
    _until(stack, lambda v: len(v["parse"]["windows"]) == 2)


def test_a_stopped_stage_is_down_and_ok_when_it_is_back(stack: Stack) -> None:
    stack.stop("parser")
    view = _until(stack, lambda v: v["parse"]["verdict"] == "down")
    assert view["parse"]["instances"] == []
    assert _verdicts(view)["embed"] == "ok"
    stack.start("parser")
    _until(stack, lambda v: v["parse"]["verdict"] == "ok")


def test_a_blocked_stage_is_waiting_then_stuck(stack: Stack) -> None:
    # a provider that accepts connections and never answers: the embedder's call hangs (30 s)
    with socket.create_server(("127.0.0.1", 0), backlog=64) as silent:
        port = silent.getsockname()[1]
        normal = stack.config
        stack.stop("embedder")
        stack.config = dataclasses.replace(
            normal,
            env={
                **normal.env,
                "SLUICE_EMBEDDING_PROVIDER": "openai",
                "SLUICE_EMBEDDING_BASE_URL": f"http://127.0.0.1:{port}/v1",
                "SLUICE_CONSUMER_STALL_S": str(STALL_S),  # its own readiness: stalled
            },
        )
        try:
            stack.start("embedder")
        finally:
            stack.config = normal
        _until(stack, lambda v: v["embed"]["verdict"] == "ok")
        # a tenant of its own: the earlier test's tenant has a vector set of the normal model,
        # which the openai provider does not serve (its job would fail, not hang)
        tenant = f"blocked-{RUN}"
        job_id = _upload(stack, tenant)

        waiting = _until(stack, lambda v: v["embed"]["verdict"] != "ok", timeout=60)
        assert waiting["embed"]["verdict"] == "waiting", waiting["embed"]
        assert waiting["embed"]["lag"] >= 1 and waiting["embed"]["stalled_s"] < STALL_S
        stuck = _until(stack, lambda v: v["embed"]["verdict"] == "stuck", timeout=STALL_S + 15)
        assert stuck["embed"]["stalled_s"] >= STALL_S and len(stuck["embed"]["instances"]) == 1
        assert stuck["embed"]["oldest_unfinished"]["job_id"] == job_id, stuck["embed"]
        assert _verdicts(stuck)["parse"] == "ok"
        # the stuck embedder's own readiness fails too, saying why (Kubernetes stops routing
        # to it; the pipeline view above is what tells an operator which stage)
        ready = _until_ready_fails(stack.url("embedder"), timeout=STALL_S + 15)
        assert str(ready["consumer"]["detail"]).startswith("stalled: "), ready["consumer"]

        stack.kill("embedder")  # restore: the embedder with the normal provider
    stack.start("embedder")
    with httpx.Client(base_url=stack.status_url, timeout=30) as client:
        wait_for_state(client, job_id, stack.token(tenant), {"indexed"}, timeout=180)
    _until(stack, lambda v: v["embed"]["verdict"] == "ok" and v["embed"]["retry_lag"] == 0)


def _until_ready_fails(url: str, timeout: float) -> dict[str, dict[str, object]]:
    """The checks of `url`'s /health/ready once it answers 503 (AssertionError after timeout)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=10) as client:
        while True:
            response = client.get(f"{url}/health/ready")
            if response.status_code == 503:
                checks: dict[str, dict[str, object]] = response.json()["checks"]
                return checks
            assert time.monotonic() < deadline, f"still ready: {response.text}"
            time.sleep(0.5)
