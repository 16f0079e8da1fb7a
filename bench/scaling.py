"""Scaling: pipeline throughput with 1, 2 and 3 embedder replicas (the real model, then the
hashing provider), and peak RSS per process."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

from bench.corpus import corpus
from bench.harness import bench_stack, peak_rss_mb, ready_detail, upload_all, wait_done, warm_up
from bench.report import Context, Outcome, Row, log

# The real model, one thread per replica: the replicas, not the backend's own threads, are
# what spreads the work over the cores (on 2 cores, expect a gain up to 2 replicas, not beyond).
ENV = {
    "SLUICE_EMBEDDING_PROVIDER": "local",
    "SLUICE_EMBEDDING_THREADS": "1",
    "SLUICE_EMBEDDING_LANES": "1",
}


def _assigned(port: int) -> int:
    detail = ready_detail(f"http://127.0.0.1:{port}/health/ready")
    text = detail.get("checks", {}).get("consumer", {}).get("detail", "")
    head = text.split(" ", 1)[0]
    return int(head) if head.isdigit() else 0


def wait_balanced(ports: list[int], timeout: float = 120) -> None:
    """Wait until every embedder holds partitions and together they hold all 24."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = [_assigned(p) for p in ports]
        if all(counts) and sum(counts) == 2 * 12:
            return
        time.sleep(0.5)
    raise TimeoutError(f"embedders not balanced: {[_assigned(p) for p in ports]}")


def _series(
    ctx: Context, out: Outcome, provider: str, env: dict[str, str], *, parsers: bool = False
) -> None:
    """The same corpus per replica count (1, 2, 3 embedders, and as many parsers with
    `parsers`), a new tenant each run."""
    count, repeats = (40, 1) if ctx.quick else (120, 2)
    docs = corpus(count)
    with bench_stack(f"scaling-{provider}", env) as stack:
        ports = [stack.replica("embedder").port]
        rates: dict[int, float] = {}
        warm_up(stack, corpus(2, seed=1))
        for replicas in (1, 2, 3):
            if replicas > 1:
                ports.append(stack.start("embedder", wait=False).port)
                if parsers:
                    stack.start("parser", wait=False)
            wait_balanced(ports)
            docs_s: list[float] = []
            chunks_s: list[float] = []
            for rep in range(repeats):
                tenant = f"scale{replicas}-{rep}-{uuid.uuid4().hex[:6]}"
                log(f"scaling ({provider}): {replicas} embedder(s), run {rep + 1}/{repeats}")
                started = asyncio.run(upload_all(stack.ingest_url, tenant, docs))
                done = wait_done(stack.database_url, tenant, count)
                docs_s.append(done.indexed / (done.last_indexed - started))
                chunks_s.append(done.chunks / (done.last_indexed - started))
            name = f"{provider}, {replicas} {'parser(s) and ' if parsers else ''}embedder(s)"
            out.add(Row(f"{name}: documents", docs_s, "docs/s"))
            out.add(Row(f"{name}: chunks", chunks_s, "chunks/s"))
            rates[replicas] = Row("", chunks_s, "").median
        for replicas in (2, 3):
            speed_up = [rates[replicas] / rates[1]]
            out.add(Row(f"{provider}: speed-up {replicas} vs 1 embedder", speed_up, "x"))
        if provider == "local":
            for name, pid in sorted(stack.pids().items()):
                out.add(Row(f"peak RSS {name}", [peak_rss_mb(pid)], "MiB"))


def run(ctx: Context) -> Outcome:
    """Throughput per embedder count with the real model, then with the hashing provider
    (where the model is not the limit: what the rest of the pipeline allows)."""
    count, repeats = (40, 1) if ctx.quick else (120, 2)
    out = Outcome("scaling")
    backend = os.getenv("SLUICE_EMBEDDING_BACKEND", "auto")
    out.notes.append(
        f"provider local all-MiniLM-L6-v2 (backend {backend}), one lane of one thread per"
        " replica, then"
        f" provider hashing (no model); {os.cpu_count()} CPUs; {count} documents per run,"
        f" {repeats} run(s) per replica count; replicas are extra `python -m services.embedder`"
        " processes (own port and SLUICE_INSTANCE_ID) in the same consumer group; with"
        " hashing, each step adds a parser replica too (the parser is then the first limit)"
    )
    _series(ctx, out, "local", ENV)
    _series(ctx, out, "hashing", {"SLUICE_EMBEDDING_PROVIDER": "hashing"}, parsers=True)
    out.notes.append(
        "peak RSS = VmHWM of each service's main process (parser sandbox workers and"
        " Postgres backends are separate processes, not included)"
    )
    return out
