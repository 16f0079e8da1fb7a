"""The faust app: an agent over the status topics, a windowed table of stage figures, a table of
job timings, a timer that writes the windows to Postgres, and the health pages.

`figures` is a tumbling table of BUCKET_S-second windows (by the records' timestamps), keyed
"stage<TAB>tenant", each value a `Bucket`; `timings` holds, per "stage<TAB>job", the stage's
start or end until the other half arrives. Both are faust tables with changelog topics, so a
restarted worker recovers them. Run as one instance: a second would hold half the partitions,
and its snapshot would overwrite the first's with half the figures.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
import msgspec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas import codec, topics
from schemas.codec import EventDecodeError
from services.common import metrics
from services.common.kafka.admin import TopicSpec
from services.common.logs import setup_logging
from services.pipestats.adapters.snapshots import Snapshots
from services.pipestats.config import PipestatsSettings
from services.pipestats.core.observe import TIMED, Observation, Timing, observations, stale
from services.pipestats.core.windows import BUCKET_S, WINDOWS_S, Bucket, fold

log = logging.getLogger(__name__)
SERVICE = "pipestats"
SEP = "\t"
EXPIRES_S = max(WINDOWS_S) + 2 * BUCKET_S  # a bucket of `figures` is dropped this long after


def changelog_topics(config: PipestatsSettings, replication: int) -> list[TopicSpec]:
    """The tables' changelog topics, as faust names and configures them. pipestats creates
    them before the worker starts: a changelog faust creates itself can be missing from its
    metadata when its agent starts (a slow broker), and the agent then crashes on every record
    with PartitionsMismatch ("the changelog topic has 0 partitions") and counts nothing.
    Each keeps a record as long as its table can use it (compaction keeps the latest per key)."""

    def expiring(seconds: float) -> dict[str, str]:
        return {"cleanup.policy": "compact,delete", "retention.ms": str(int(seconds * 1000))}

    tables = (("figures", EXPIRES_S), ("timings", config.pipestats_timing_keep_s))
    return [
        TopicSpec(
            name=f"{config.pipestats_group}-{table}-changelog",
            partitions=config.topic_partitions,
            replication_factor=replication,
            configs=expiring(seconds),
        )
        for table, seconds in tables
    ]


class Pipestats:
    """The app and its state: build with settings, then `worker()` runs it."""

    def __init__(self, config: PipestatsSettings, instance: str) -> None:
        self.config = config
        self.snapshots = Snapshots(config.database_url, instance)
        self.snapshot_ok = False
        self.app = faust.App(
            config.pipestats_group,
            broker=f"kafka://{config.kafka_bootstrap}",
            value_serializer="raw",
            key_serializer="raw",
            topic_partitions=config.topic_partitions,
            topic_replication_factor=config.topic_replication_factor,
            consumer_auto_offset_reset="earliest",
            store="memory://",
            web_enabled=True,
            web_host=config.http_host,
            web_bind=config.http_host,
            web_port=config.pipestats_port,
            web_in_thread=False,
        )
        inputs = self.app.topic(*topics.STATUS_TOPICS, partitions=config.topic_partitions)
        # keys and values go to the changelogs as JSON (faust's default for a table)
        self.figures = self.app.Table("figures", default=dict).tumbling(
            BUCKET_S, expires=max(WINDOWS_S) + 2 * BUCKET_S
        )
        self.timings = self.app.Table("timings", default=dict)
        self.app.agent(inputs, name="observe")(self._observe)
        self.app.timer(config.pipestats_snapshot_s)(self._snapshot)
        self._pages()

    async def _observe(self, stream: Any) -> None:
        consumed = metrics.RECORDS_CONSUMED
        async for record in stream.events():
            consumed.labels(SERVICE, self.config.pipestats_group, record.message.topic).inc()
            try:
                event = codec.decode(record.value)
            except EventDecodeError:
                continue  # the projector dead-letters it; it is no stage's work
            for seen in observations(event):
                self._note(seen)

    def _add(self, stage: str, tenant: str, bucket: Bucket) -> None:
        key = f"{stage}{SEP}{tenant}"
        now = msgspec.convert(self.figures[key].current(), Bucket)
        self.figures[key] = msgspec.to_builtins(now.merged(bucket))

    def _note(self, seen: Observation) -> None:
        if seen.kind == "failed":
            self._add(seen.stage, seen.tenant_id, Bucket(failed=1))
            self._forget(f"{seen.stage}{SEP}{seen.job_id}")
            return
        if seen.kind == "done":
            self._add(seen.stage, seen.tenant_id, Bucket(done=1))
        if seen.stage not in TIMED:
            return
        key = f"{seen.stage}{SEP}{seen.job_id}"
        timing = msgspec.convert(self.timings.get(key) or {}, Timing)
        timing.noted = timing.noted or time.time()
        if seen.kind == "start":
            timing.start = seen.at
        else:
            timing.end, timing.tenant_id = seen.at, seen.tenant_id
        took = timing.took()
        if took is None:
            self.timings[key] = msgspec.to_builtins(timing)
            return
        self._forget(key)
        self._add(seen.stage, timing.tenant_id, Bucket(took=[took]))

    def _forget(self, key: str) -> None:
        if key in self.timings:  # a faust table's pop(key, default) raises KeyError all the same
            del self.timings[key]

    def rows(self) -> list[tuple[str, str, float, Bucket]]:
        """Every bucket the figures table holds: (stage, tenant, start, bucket)."""
        found = []
        for (key, (start, _end)), value in list(self.figures.table.data.items()):
            stage, _, tenant = str(key).partition(SEP)
            found.append((stage, tenant, float(start), msgspec.convert(value, Bucket)))
        return found

    def expire(self, now: float) -> int:
        """Drop the timings noted more than SLUICE_PIPESTATS_TIMING_KEEP_S ago (their other
        half never came); how many."""
        # From the store itself: faust refuses a table write outside a stream's iteration (the
        # timer's), so no tombstone goes to the changelog; its retention (`changelog_topics`)
        # drops the same halves there, so a restarted worker does not bring them back for long.
        store = self.timings.data
        held = [(str(key), msgspec.convert(value, Timing)) for key, value in store.items()]
        gone = stale(held, now, self.config.pipestats_timing_keep_s)
        for key in gone:
            del store[key]
        metrics.PIPESTATS_EXPIRED.inc(len(gone))
        metrics.PIPESTATS_PENDING.set(len(held) - len(gone))
        return len(gone)

    async def _snapshot(self) -> None:
        now = time.time()
        self.expire(now)
        try:
            await self.snapshots.write(fold(self.rows(), now))
        except Exception:  # Postgres away: keep counting, try again next period
            log.exception("pipestats snapshot failed")
            self.snapshot_ok = False
            metrics.PIPESTATS_SNAPSHOTS.labels("failed").inc()
        else:
            self.snapshot_ok = True
            metrics.PIPESTATS_SNAPSHOTS.labels("ok").inc()
            metrics.PIPESTATS_SNAPSHOT_AT.set(now)
        metrics.READY.labels(SERVICE, "snapshot").set(int(self.snapshot_ok))

    def _pages(self) -> None:
        """/health/ready (a snapshot was written last period), /health/live and /metrics;
        plain functions, as faust makes each handler a view's method."""

        @self.app.page("/health/ready")
        async def ready(web: Any, request: Any) -> Any:
            return web.json({"ready": self.snapshot_ok}, status=200 if self.snapshot_ok else 503)

        @self.app.page("/health/live")
        async def live(web: Any, request: Any) -> Any:
            return web.json({"live": True})

        @self.app.page("/metrics")
        async def scrape(web: Any, request: Any) -> Any:
            body = generate_latest(metrics.REGISTRY)
            return web.bytes(body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def worker(self) -> None:
        """Run the worker in this process until SIGTERM or SIGINT (exits the process); its logs,
        faust's own included, are the services' JSON lines on stdout (`setup_logging`'s root
        handler, which faust is told to leave alone), without faust's banner."""
        setup_logging(SERVICE, self.config.log_level)
        metrics.running(SERVICE)
        worker = faust.Worker(self.app, quiet=True, override_logging=False)
        worker.spinner = None  # as faust does below WARN: its terminal spinner writes escapes
        worker.execute_from_commandline()
