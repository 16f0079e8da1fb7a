"""Probe: does a faust-streaming worker, as its own process, count our records on the local broker?

`python -m bench.faust_probe` starts a Kafka of its own (infra/local/kafka.py), creates the
pipeline topics (12 partitions), produces `DocumentParsed` records with our producer and codec,
runs `python -m bench.faust_probe worker` (a faust app: an agent over `sluice.documents.parsed`,
a tumbling table of counts per tenant) as a subprocess, and waits until the worker's printed
counts reach what was produced. It prints what happened and exits 0 when every record was counted.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas import codec, topics
from schemas.events import BlobRef, DocumentParsed

RECORDS = 10
TENANTS = ("t-a", "t-b")


def worker() -> None:
    """Run the faust app as a worker in this process (`faust -A` would do the same)."""
    import faust

    bootstrap = os.environ["PROBE_BOOTSTRAP"]
    app = faust.App(
        f"faust-probe-{os.environ['PROBE_RUN']}",
        broker=f"kafka://{bootstrap}",
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=topics.DEFAULT_PARTITIONS,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        store="memory://",
    )
    parsed = app.topic(topics.DOCUMENTS_PARSED, partitions=topics.DEFAULT_PARTITIONS)
    counts = app.Table("parsed_counts", default=int).tumbling(60.0, expires=600.0)

    @app.agent(parsed)
    async def count(stream: Any) -> None:
        async for value in stream:
            event = codec.decode(value)
            counts[event.tenant_id] += 1
            now = {tenant: counts[tenant].now() for tenant in TENANTS}
            print(f"COUNTS {sum(now.values())} {now}", flush=True)

    worker_ = faust.Worker(app, loglevel="INFO")
    worker_.execute_from_commandline()


async def produce(bootstrap: str) -> None:
    """Create the topics and produce RECORDS parsed events over two tenants."""
    from services.common.kafka.admin import ensure_topics
    from services.common.kafka.producer import KafkaPublisher, make_producer

    await ensure_topics(bootstrap, topics.PIPELINE_TOPICS)
    producer = make_producer(bootstrap, "faust-probe")
    await producer.start()
    try:
        publisher = KafkaPublisher(producer)
        for i in range(RECORDS):
            event = DocumentParsed(
                event_id=str(uuid.uuid4()),
                occurred_at=datetime.now(UTC),
                tenant_id=TENANTS[i % 2],
                job_id=str(uuid.uuid4()),
                document_id=str(uuid.uuid4()),
                text=BlobRef(sha256="0" * 64, size=1, media_type="text/plain"),
            )
            await publisher.publish(topics.DOCUMENTS_PARSED, event)
    finally:
        await producer.stop()


def probe(deadline_s: float = 120.0) -> int:
    """Start Kafka, produce, run the worker until it counted every record; 0 on success."""
    from infra.local.kafka import KafkaRunner
    from infra.local.ports import free_port

    run_dir = Path(tempfile.mkdtemp(prefix="faust-probe-"))
    kafka = KafkaRunner(run_dir / "kafka", free_port(), free_port(), run_dir / "kafka.log")
    kafka.start()
    try:
        kafka.wait_ready(90)
        asyncio.run(produce(kafka.bootstrap))
        env = {**os.environ, "PROBE_BOOTSTRAP": kafka.bootstrap, "PROBE_RUN": uuid.uuid4().hex}
        log = run_dir / "worker.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.faust_probe", "worker"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
            started = time.monotonic()
            counted = 0
            while time.monotonic() - started < deadline_s and proc.poll() is None:
                # faust routes a worker's stdout through its logger: "[...] COUNTS n {...}"
                lines = [ln for ln in log.read_text().splitlines() if " COUNTS " in ln]
                counted = int(lines[-1].split(" COUNTS ")[1].split()[0]) if lines else 0
                if counted >= RECORDS:
                    break
                time.sleep(0.5)
            took = time.monotonic() - started
            proc.terminate()
            proc.wait(30)
        print(f"counted {counted} of {RECORDS} in {took:.1f} s; worker log: {log}")
        if counted < RECORDS:
            print(log.read_text()[-6000:])
        return 0 if counted >= RECORDS else 1
    finally:
        kafka.stop()


if __name__ == "__main__":
    if sys.argv[1:] == ["worker"]:
        worker()
    else:
        sys.exit(probe())
