"""Nothing lost at the door: every stored upload's `DocumentUploaded` is sent until Kafka has it.

`Deliveries` holds the sends this process started, by a request or by the relay, one per
upload at a time, and marks the upload published when Kafka acknowledges it. A request waits
for that at most `publish_timeout_s`; past it the client gets 503 while the send goes on (the
idempotent producer retries until the broker answers, without duplicating the record).

`Relay` is the outbox's relay: every ingest process runs one. It takes the uploads whose event
is unacknowledged and that no live process is sending (their process died, their send failed,
their published mark was lost), locked with `FOR UPDATE SKIP LOCKED` so that replicas share
them, and hands them to its `Deliveries`. Whoever sends it, the event is the same (same
`event_id`), and every effect downstream is idempotent by `event_id`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from schemas import topics
from schemas.events import Origin
from services.common import metrics
from services.common.logs import ctx
from services.common.periodic import every
from services.common.ports import EventPublisher
from services.ingest.core.ports import UploadRecord, UploadsStore
from services.ingest.core.uploads import uploaded_event

log = logging.getLogger(__name__)


class Deliveries:
    """The `DocumentUploaded` sends this process has started and Kafka not yet acknowledged."""

    def __init__(self, *, uploads: UploadsStore, publisher: EventPublisher, origin: Origin) -> None:
        self.uploads = uploads
        self.publisher = publisher
        self.origin = origin
        self._pending: dict[str, asyncio.Future[None]] = {}  # job_id -> acknowledged
        self._tasks: set[asyncio.Task[None]] = set()

    def pending(self) -> frozenset[str]:
        """The job ids whose event this process is sending (or marking published)."""
        return frozenset(self._pending)

    def __len__(self) -> int:
        return len(self._pending)

    def send(self, record: UploadRecord) -> asyncio.Future[None]:
        """Send the upload's event unless this process is sending it already; the future is
        done when Kafka acknowledged it (or holds the error that ended the send)."""
        acked = self._pending.get(record.job_id)
        if acked is None:
            acked = asyncio.get_running_loop().create_future()
            acked.add_done_callback(_retrieved)
            self._pending[record.job_id] = acked
            task = asyncio.create_task(self._deliver(record, acked))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return acked

    async def wait(self, record: UploadRecord, timeout_s: float) -> None:
        """Send the upload's event and wait up to `timeout_s` for the acknowledgement.

        TimeoutError when Kafka has not answered by then: the send goes on.
        """
        await asyncio.wait_for(asyncio.shield(self.send(record)), timeout_s)

    async def _deliver(self, record: UploadRecord, acked: asyncio.Future[None]) -> None:
        try:
            try:
                await self.publisher.publish(
                    topics.DOCUMENTS_UPLOADED, uploaded_event(record, self.origin)
                )
            except Exception as error:  # noqa: BLE001 - handed to whoever waits for it
                log.warning(
                    "DocumentUploaded not sent; the relay will send it: %s",
                    error,
                    extra=ctx(job_id=record.job_id, document_id=record.document_id),
                )
                acked.set_exception(error)
                await _quietly(self.uploads.release, record.job_id)
                return
            acked.set_result(None)
            await _quietly(self.uploads.mark_published, record.job_id)
        finally:
            self._pending.pop(record.job_id, None)
            if not acked.done():
                acked.cancel()

    async def drain(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for the sends still pending (at shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)


def _retrieved(future: asyncio.Future[None]) -> None:
    """Retrieve a send's outcome, so that one nobody awaited is not reported as lost."""
    if not future.cancelled():
        future.exception()


async def _quietly(action: Callable[[str], Awaitable[None]], job_id: str) -> None:
    """Run a bookkeeping update of the upload; when it fails, the relay repairs the outcome
    (an unmarked, published upload is sent again: the same event, harmless)."""
    try:
        await action(job_id)
    except Exception:  # logged; see above
        log.warning(
            "could not update the upload's publish state", exc_info=True, extra=ctx(job_id=job_id)
        )


class Relay:
    """Finds the uploads no live process is sending, and sends them."""

    def __init__(
        self,
        *,
        uploads: UploadsStore,
        deliveries: Deliveries,
        holder: str,
        interval_s: float,
        min_age_s: float,
        batch: int,
        max_pending: int = 1000,
    ) -> None:
        self.uploads = uploads
        self.deliveries = deliveries
        self.holder = holder
        self.interval_s = interval_s
        self.min_age_s = min_age_s
        self.batch = batch
        self.max_pending = max_pending  # sends held in memory at most (during an outage)

    async def relay_once(self) -> int:
        """Claim a batch of unpublished uploads and start sending them; return how many."""
        room = min(self.batch, self.max_pending - len(self.deliveries))
        if room <= 0:
            return 0
        claimed = await self.uploads.claim_unpublished(
            self.holder,
            pending=self.deliveries.pending(),
            limit=room,
            min_age_s=self.min_age_s,
        )
        for record in claimed:
            log.info(
                "relaying an unpublished upload",
                extra=ctx(
                    job_id=record.job_id, event_id=record.event_id, tenant_id=record.tenant_id
                ),
            )
            self.deliveries.send(record)
        metrics.UPLOADS_RELAYED.inc(len(claimed))
        return len(claimed)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay every `interval_s` until `stop` is set; an error (the database is down) is
        logged and the next round tries again."""
        await every(self.interval_s, stop, self.relay_once, log, "relay round failed; trying again")
