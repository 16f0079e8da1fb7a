"""The one consumer loop: poll, decode, hand over, commit; batch or per-record mode."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import ConsumerRecord

from schemas import codec
from schemas.events import Origin, Stage
from services.common.errors import ConfigurationError, ThrottledError
from services.common.kafka.behind import CommitBehind
from services.common.kafka.deadletter import DeadLetters
from services.common.kafka.gate import Gate
from services.common.kafka.gauges import LoopMetrics
from services.common.kafka.headers import RETRY_NOT_BEFORE, header, number
from services.common.kafka.headers import retries as header_retries
from services.common.kafka.health import ConsumerHealth
from services.common.kafka.inflight import InFlight
from services.common.kafka.isolation import BatchHandler, Isolation
from services.common.kafka.poison import Poison
from services.common.kafka.records import Delivery, Position
from services.common.kafka.retry import Retrier
from services.common.periodic import wait_or_stop
from services.common.ports import Publisher
from services.common.retry_after import MAX_WAIT_S

__all__ = ["ConsumerHealth", "ConsumerLoop", "OffsetsMoved", "StoredOffsets"]
log = logging.getLogger(__name__)
StoredOffsets = Callable[[list[TopicPartition]], Awaitable[dict[TopicPartition, int]]]
OffsetsMoved = Callable[[], Awaitable[bool]]
MOVED_CHECK_S = 2.0  # how often an idle loop with stored offsets asks whether they moved


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """The rebalance listener: hands back revoked work, resumes assigned partitions."""

    def __init__(self, consumer: ConsumerLoop) -> None:
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Commit on revocation: let the work in hand finish and commit (its generation is
        # still valid while the group prepares the rebalance), so the next owner starts after
        # it instead of redoing it. Bounded: stuck work must not hold the group forever.
        if self.consumer.in_flight is not None:
            await self.consumer.hand_back(revoked)
        else:
            await self.consumer.settle_batch(revoked)
        self.consumer.health.assigned -= set(revoked)
        self.consumer.metrics.revoked(revoked)
        self.consumer.metrics.assignment(
            len(self.consumer.health.assigned), "revoked", len(revoked)
        )

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if self.consumer.gate.closed and assigned:
            self.consumer.client.pause(*assigned)  # held: new partitions wait too
        self.consumer.health.assigned |= set(assigned)
        self.consumer.health.last_progress = time.monotonic()
        self.consumer.metrics.assignment(
            len(self.consumer.health.assigned), "assigned", len(assigned)
        )
        if self.consumer.stored_offsets is not None and assigned:
            stored = await self.consumer.stored_offsets(list(assigned))
            for tp, offset in stored.items():
                self.consumer.client.seek(tp, offset)
            log.info("resumed %d partitions from stored offsets", len(stored))


GATHER_BYTES = 64 * 1024  # a gathering fetch is answered at once when this much is there


def _gathering(gather_ms: int) -> dict[str, int]:
    """The fetch settings for `gather_ms`: 0 answers a fetch as soon as one record is there
    (an empty one after 500 ms, aiokafka's default); N > 0 lets the broker hold it up to N ms
    to gather `GATHER_BYTES`, so a trickle of records comes in fewer, larger batches (and
    fewer fetch requests for the broker to answer), each record up to N ms later."""
    if gather_ms <= 0:
        return {"fetch_max_wait_ms": 500, "fetch_min_bytes": 1}
    return {"fetch_max_wait_ms": gather_ms, "fetch_min_bytes": GATHER_BYTES}


class ConsumerLoop:
    """Poll, decode (poison to the DLQ), hand over, then commit: at-least-once.

    Batch mode (`concurrency=0`): each polled batch goes to the handler at once, and is
    committed when the handler returns, while the next batch is handled (`behind.py`).
    Per-record mode (`concurrency=N`): up to N records are handled at once, each as a
    one-record batch, and each partition is committed up to its lowest record still in
    flight. Either way a record's own failure is isolated (see
    `services/common/kafka/isolation.py`) and an outage retries the same records.

    Records on a retry topic carry `sluice.retry.not_before`; until then their partition is
    paused (not slept on), so heartbeats and other partitions keep going. A configuration
    error or a spent budget closes the `gate` (services/common/kafka/gate.py): every partition
    is paused and the records in hand are handed over again once it opens.
    """

    def __init__(
        self,
        *,
        bootstrap: str,
        group_id: str,
        topics: Sequence[str],
        handler: BatchHandler,
        publisher: Publisher,
        origin: Origin,
        stage: Stage | None = None,
        retrier: Retrier | None = None,
        stored_offsets: StoredOffsets | None = None,
        offsets_moved: OffsetsMoved | None = None,
        dead_letter_topics: Collection[str] | None = None,
        max_records: int = 64,
        concurrency: int = 0,
        in_place_attempts: int = 2,
        record_retries: int = 2,
        max_poll_interval_ms: int = 300_000,
        session_timeout_ms: int = 10_000,
        stall_after_s: float = 300.0,
        gather_ms: int = 0,
    ) -> None:
        self.group_id = group_id
        self.topics = list(topics)
        self.handler = handler
        self.publisher = publisher
        self.origin = origin
        self.stage = stage
        self.stored_offsets = stored_offsets
        self.offsets_moved = offsets_moved  # idle: did a replay rewrite the stored offsets?
        self.max_records = max_records
        self.health = ConsumerHealth(stall_after_s)
        self.metrics = LoopMetrics(origin.service, group_id)
        self.gate = Gate(group_id, self.health.hold, self._release)
        if retrier is None and stage is not None:
            retrier = Retrier(publisher, origin, stage, group=group_id)
        self.dead_letters = (
            retrier.dead_letters
            if retrier is not None
            else DeadLetters(
                publisher, stage=str(stage or "status"), group=group_id, service=origin.service
            )
        )
        self.poison = Poison(
            self.dead_letters,
            publisher=publisher,
            origin=origin,
            stage=stage,
            owned=set(dead_letter_topics or self.topics),
        )
        self.isolation = Isolation(
            handler=handler,
            group=group_id,
            stage=stage,
            topics_read=self.topics,
            retrier=retrier,
            dead_letters=self.dead_letters,
            outages=self.health,
            gate=self.gate,
            loop_metrics=self.metrics,
            in_place_attempts=in_place_attempts,
            record_retries=record_retries,
        )
        self.in_flight = InFlight(concurrency) if concurrency > 0 else None
        self.batch_done = asyncio.Event()  # clear while a batch is handled
        self.batch_done.set()
        self.behind = CommitBehind(self._commit, self._commit_error)  # its commit after it
        self.revoke_wait_s = min(60.0, max_poll_interval_ms / 2000)
        self.keepalive_s = max_poll_interval_ms / 3000  # batch mode: see `_poll_paused`
        self._kept_paused: set[TopicPartition] = set()
        self._resume_handles: dict[TopicPartition, asyncio.TimerHandle] = {}
        self._seen: dict[TopicPartition, int] = {}
        self._held = False  # per-record mode: every partition paused, no room for more
        self._reseek = False  # batch mode: seek to the stored offsets before the next poll
        self._moved_check = 0.0  # when an idle loop last asked `offsets_moved`
        self.client = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group_id,
            client_id=f"{group_id}-{origin.instance}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_interval_ms=max_poll_interval_ms,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=max(1000, session_timeout_ms // 3),
            max_partition_fetch_bytes=4 * 1024 * 1024,
            **_gathering(gather_ms),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, then commit and leave the group."""
        self.client.subscribe(self.topics, listener=_Listener(self))
        await self.client.start()
        self.health.started = True
        try:
            if self.in_flight is not None:
                await self._run_records(stop, self.in_flight)
            else:
                await self._run_batches(stop)
        finally:
            self.health.started = False
            self.gate.stop()
            for handle in self._resume_handles.values():
                handle.cancel()
            try:
                if not await self.behind.settle(self.revoke_wait_s):
                    log.warning("stopping with a commit in flight; its records will be redone")
            finally:
                await self.client.stop()

    def reseek(self) -> None:
        """Batch mode with stored offsets: before the next poll, seek every assigned partition
        to its stored offset (the store was rewound: a replay of the status projection)."""
        self._reseek = True

    async def _seek_stored(self) -> None:
        self._reseek = False
        assigned = list(self.client.assignment())
        if self.stored_offsets is None or not assigned:
            return
        stored = await self.stored_offsets(assigned)
        for tp, offset in stored.items():
            self.client.seek(tp, offset)
            self._seen.pop(tp, None)
        log.info("sought %d partitions to their stored offsets", len(stored))

    async def _check_moved(self) -> None:
        """Idle, with stored offsets: every few seconds, reseek if a replay rewrote them."""
        if self.offsets_moved is None or time.monotonic() - self._moved_check < MOVED_CHECK_S:
            return
        self._moved_check = time.monotonic()
        try:
            if await self.offsets_moved():
                self._reseek = True
        except Exception:  # an outage: the next check (or batch) tries again
            log.warning("could not check the stored offsets", exc_info=True)

    async def _run_batches(self, stop: asyncio.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            if self.gate.closed:
                self.client.pause(*self.client.assignment())
            if self._reseek:
                await self._seek_stored()
            self.health.last_poll = time.monotonic()
            polled = await self.client.getmany(timeout_ms=500, max_records=self.max_records)
            records = [r for batch in polled.values() for r in batch]
            self._update_lag()
            if not records:
                await self._check_moved()
                continue
            self.batch_done.clear()
            self.health.handling(len(records))
            keepalive = asyncio.create_task(self._poll_paused(), name="sluice-keepalive")
            try:
                await self._process(records)
            except asyncio.CancelledError:
                raise
            except (ConfigurationError, ThrottledError) as error:
                self._rewind(records)  # held, not failed: the same records once it opens
                self.gate.close(error)
                self.client.pause(*self.client.assignment())
            except Exception:
                # An outage (see services/common/kafka/failures.py): retry the same records.
                self.health.consecutive_errors += 1
                self.metrics.outage(records)
                log.exception("batch failed; will re-poll it after %.1fs", backoff)
                self._rewind(records)
                self.batch_done.set()  # nothing in hand while backing off
                await wait_or_stop(stop, backoff * (1 + random.random() / 2))  # noqa: S311
                backoff = min(backoff * 2, 30.0)
            else:
                self.health.consecutive_errors = 0
                backoff = 0.5
            finally:
                await self._end_keepalive(keepalive)
                self.health.handling(0)
                self.batch_done.set()

    async def _poll_paused(self) -> None:
        """While a batch runs, poll now and then with every partition paused: the client
        leaves the group when no poll comes within `max_poll_interval_ms`, and a batch may
        take longer (a large document's model calls). Its partitions would go to another
        member, which redoes the batch and leaves in turn; this member's commit would be
        refused. Nothing is fetched: the partitions it paused are resumed by `_end_keepalive`.
        """
        while True:
            await asyncio.sleep(self.keepalive_s)
            paused = self.client.paused()
            mine = [tp for tp in self.client.assignment() if tp not in paused]
            self._kept_paused.update(mine)
            self.client.pause(*mine)
            try:
                stray = await self.client.getmany(timeout_ms=0)
            except Exception:  # the next poll of the loop meets any lasting error
                log.warning("a keep-alive poll failed", exc_info=True)
                continue
            records = [r for batch in stray.values() for r in batch]
            if records:  # not expected with every partition paused: read them again later
                self._rewind(records)

    async def _end_keepalive(self, keepalive: asyncio.Task[None]) -> None:
        """Stop the keep-alive polls; resume the partitions they paused (unless held since)."""
        keepalive.cancel()
        await asyncio.gather(keepalive, return_exceptions=True)
        kept, self._kept_paused = self._kept_paused, set()
        if not self.gate.closed:
            assigned = self.client.assignment()
            self.client.resume(
                *(tp for tp in kept if tp in assigned and tp not in self._resume_handles)
            )

    async def _process(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        started = time.perf_counter()
        batch: list[Delivery] = []
        positions: dict[Position, int] = {}
        delayed: set[TopicPartition] = set()
        taken: list[ConsumerRecord[bytes, bytes]] = []
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            if tp in delayed or self._delay(record):
                delayed.add(tp)
                continue
            self._consumed(record)
            taken.append(record)
            positions[(record.topic, record.partition)] = record.offset + 1
            try:
                event = codec.decode(record.value)
            except codec.EventDecodeError as error:
                await self.poison.handle(record, error)
                continue
            retries = header_retries(record)
            batch.append(Delivery(record.topic, record.partition, record.offset, event, retries))
        self.metrics.picked_up(taken)
        if await self.isolation.hand_over(batch, positions):
            await self.handler([], positions)  # split: a handler storing offsets gets them all
        await self.behind.start({TopicPartition(t, p): o for (t, p), o in positions.items()})
        self.metrics.batch(time.perf_counter() - started)

    async def settle_batch(self, revoked: list[TopicPartition]) -> None:
        """Batch mode, on revocation: let the batch in hand finish and its commit land
        (each bounded), then forget what was carried for `revoked`."""
        wait_s = self.revoke_wait_s
        if not self.batch_done.is_set():
            try:
                await asyncio.wait_for(self.batch_done.wait(), wait_s)
            except TimeoutError:
                log.warning(
                    "rebalance: batch still running after %.0fs; its records will be redone", wait_s
                )
        try:
            if not await self.behind.settle(wait_s):
                log.warning("rebalance: commit in flight after %.0fs; records redone", wait_s)
        except Exception:  # a bug in the commit must not break the rebalance
            log.exception("rebalance: the last commit failed; its records will be redone")
        self.behind.forget(revoked)

    async def _run_records(self, stop: asyncio.Event, flight: InFlight) -> None:
        try:
            while not stop.is_set():
                full = flight.full
                self._hold(full)
                if full:
                    await asyncio.wait(
                        flight.running, timeout=0.5, return_when=asyncio.FIRST_COMPLETED
                    )
                self.health.last_poll = time.monotonic()
                polled = await self.client.getmany(
                    timeout_ms=0 if full else (200 if flight.running else 500),
                    max_records=max(1, min(self.max_records, flight.room)),
                )
                self._update_lag()
                delayed: set[TopicPartition] = set()
                for record in (r for batch in polled.values() for r in batch):
                    tp = TopicPartition(record.topic, record.partition)
                    if tp in delayed or self._delay(record):
                        delayed.add(tp)
                        continue
                    self._consumed(record)
                    flight.start(
                        tp, record.offset, record.key, functools.partial(self._one, record)
                    )
                await self._commit_finished(flight)
                self.health.handling(len(flight.running))
        finally:  # graceful stop: finish what is in hand (bounded), commit, leave
            self._hold(True)
            if not await flight.drain(None, self.revoke_wait_s):
                log.warning("stopping with records still running; they will be redone")
            await flight.cancel()
            await self._commit_finished(flight)

    async def _one(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """Per-record mode: decode and hand over one record, outages waited out in place."""
        self.metrics.picked_up((record,))
        try:
            event = codec.decode(record.value)
        except codec.EventDecodeError as error:
            await self.isolation.persist(functools.partial(self.poison.handle, record, error), True)
            return
        retries = header_retries(record)
        delivery = Delivery(record.topic, record.partition, record.offset, event, retries)
        await self.isolation.settle(delivery, wait_out_outages=True)

    async def hand_back(self, revoked: list[TopicPartition]) -> None:
        """Per-record mode, on revocation: let their records finish (bounded), then commit."""
        assert self.in_flight is not None  # noqa: S101 - only called in per-record mode
        assigned = self.client.assignment()
        self.client.pause(*(tp for tp in revoked if tp in assigned))
        if not await self.in_flight.drain(revoked, self.revoke_wait_s):
            log.warning(
                "rebalance: records still running after %.0fs; they will be redone",
                self.revoke_wait_s,
            )
        await self._commit_finished(self.in_flight, revoked)
        self.in_flight.forget(revoked)

    async def _commit_finished(
        self, flight: InFlight, tps: Sequence[TopicPartition] | None = None
    ) -> None:
        offsets = flight.marks.committable(tps)
        try:
            if offsets and await self._commit(offsets):
                flight.marks.committed(offsets)
        except KafkaError as error:  # an outage: the next round commits again
            self._commit_error()
            log.warning("commit failed (%s); will commit again", error)

    def _commit_error(self) -> None:
        self.health.consecutive_errors += 1

    def _hold(self, full: bool) -> None:
        """Pause every partition while no record may start; resume the ones not delayed."""
        assigned = self.client.assignment()
        if full or self.gate.closed:
            self.client.pause(*assigned)
        elif self._held:
            self.client.resume(*(tp for tp in assigned if tp not in self._resume_handles))
        self._held = full or self.gate.closed

    def _release(self) -> None:
        """The gate opened: resume every partition not otherwise paused."""
        if self.in_flight is not None and self.in_flight.full:
            return  # `_hold` resumes them when there is room
        self._held = False
        assigned = self.client.assignment()
        self.client.resume(*(tp for tp in assigned if tp not in self._resume_handles))

    def _consumed(self, record: ConsumerRecord[bytes, bytes]) -> None:
        self.metrics.consumed(record)
        self._seen[TopicPartition(record.topic, record.partition)] = record.offset + 1

    def _delay(self, record: ConsumerRecord[bytes, bytes]) -> bool:
        """Pause the partition if this retry record is not due yet; True if it was."""
        due = number(header(record, RETRY_NOT_BEFORE))
        if due is None:
            return False
        wait_s = min((due - time.time() * 1000) / 1000, MAX_WAIT_S)
        if wait_s <= 0:
            return False
        tp = TopicPartition(record.topic, record.partition)
        self.client.seek(tp, record.offset)
        self.client.pause(tp)
        event_loop = asyncio.get_running_loop()
        old = self._resume_handles.pop(tp, None)
        if old is not None:
            old.cancel()
        self._resume_handles[tp] = event_loop.call_later(wait_s, self._resume, tp)
        return True

    def _resume(self, tp: TopicPartition) -> None:
        self._resume_handles.pop(tp, None)
        if tp in self.client.assignment() and not self._held and not self.gate.closed:
            self.client.resume(tp)

    async def _commit(self, positions: dict[TopicPartition, int]) -> bool:
        """Commit the positions of partitions still assigned; False if the group refused."""
        assigned = self.client.assignment()
        offsets = {tp: offset for tp, offset in positions.items() if tp in assigned}
        if not offsets:
            return False
        try:
            await self.client.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:
            # The group rebalanced while we worked (e.g. work outlived max_poll_interval_ms):
            # the new owner re-reads these records, and every effect is idempotent.
            self.metrics.commit_failed("rebalance")
            log.warning(
                "commit rejected after a rebalance (%s); records will be redelivered", error
            )
            return False
        except KafkaError:
            self.metrics.commit_failed("kafka")
            raise
        self.health.last_progress = time.monotonic()
        return True

    def _update_lag(self) -> None:
        """Records behind the partition ends, for partitions this loop has read from."""
        behind: dict[TopicPartition, int] = {}
        for tp in self.client.assignment():
            high = self.client.highwater(tp)
            seen = self._seen.get(tp)
            if high is not None and seen is not None:
                behind[tp] = max(0, high - seen)
        self.health.lag = sum(behind.values())
        self.metrics.lag(behind)

    def _rewind(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        first: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            first[tp] = min(first.get(tp, record.offset), record.offset)
        for tp, offset in first.items():
            if tp in self.client.assignment():
                self.client.seek(tp, offset)
