"""The parse stage: DocumentUploaded in, DocumentParsed or DocumentFailed out."""

from __future__ import annotations

import asyncio
import logging
import time

from schemas import topics
from schemas.events import DocumentParsed, DocumentUploaded, caused_by
from schemas.layout import MEDIA_TYPE as LAYOUT_MEDIA_TYPE
from schemas.layout import Layout, encode_layout
from services.common import metrics
from services.common.errors import BLOB_MISSING, BlobNotFoundError, DocumentDeletedError
from services.common.kafka.records import Delivery, Position
from services.common.logs import ctx
from services.common.stage import StagePorts, skipped_deleted
from services.parser.core.errors import (
    INTERNAL,
    PARSE_TIMEOUT,
    RESOURCE_LIMIT,
    ExtractorFailedError,
    ParseError,
)
from services.parser.core.ports import Parsers

log = logging.getLogger(__name__)
TEXT_MEDIA_TYPE = "text/plain; charset=utf-8"
RESOURCE_RETRIES = 2  # resource_limit may pass on a less loaded worker


class ParseStage:
    """Handler for the parser's consumer loop (per-record mode: a batch of one).

    `parsers` picks the parser of each document (the local sandbox, or LlamaParse by route)
    and names it; the name goes out on `DocumentParsed.parser`. `parse_timeout` is final
    unless `timeout_retries` > 0: a file that hangs the parser once would only hang it
    again, and each retry costs a worker the whole time limit.
    """

    def __init__(self, ports: StagePorts, *, parsers: Parsers, timeout_retries: int = 0) -> None:
        self.ports = ports
        self.parsers = parsers
        self.retries_for = {PARSE_TIMEOUT: timeout_retries, RESOURCE_LIMIT: RESOURCE_RETRIES}

    async def __call__(self, batch: list[Delivery], positions: dict[Position, int]) -> None:
        """Parse every upload in the batch; all results are acknowledged before returning.

        Every document runs to its end before an exception of one is raised, so the loop can
        hand the others over again without two runs of one document at once.
        """
        outcomes = await asyncio.gather(
            *(self.parse(d) for d in batch if isinstance(d.event, DocumentUploaded)),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def parse(self, delivery: Delivery) -> None:
        """Parse one document and announce the outcome (or schedule a retry).

        An upload whose document was deleted is skipped: before the work, when its bytes are
        missing, and when its text would be stored (`DocumentDeletedError`, under the deletion
        barrier), so nothing of it is stored or announced after the deletion.
        """
        upload = delivery.event
        assert isinstance(upload, DocumentUploaded)  # noqa: S101 - filtered by the caller
        if await self.ports.skip_deleted([upload]):
            return
        started = time.perf_counter()
        await self.ports.started(upload)
        try:
            await self._parse(delivery, upload, started)
        except DocumentDeletedError:
            skipped_deleted(self.ports.stage, upload)

    async def _parse(self, delivery: Delivery, upload: DocumentUploaded, started: float) -> None:
        try:
            data = await self.ports.blobs.get(upload.blob)
            result = await self.parsers.parse(
                data, upload.blob.media_type, tenant_id=upload.tenant_id
            )
        except ParseError as error:
            if error.code == INTERNAL:
                # A bug in an extractor that this file triggers: the consumer loop's isolation
                # retries it a bounded number of times, then dead-letters it (internal_error).
                raise ExtractorFailedError(error.message) from error
            if delivery.retries < self.retries_for.get(error.code, 0):
                await self.ports.retrier.retry_later(delivery, error.code, error.message)
                return
            await self.ports.fail(upload, error.code, error.message)
            self.ports.retrier.finished(delivery.retries, succeeded=False)
            metrics.STAGE_SECONDS.labels("parse", "failed").observe(time.perf_counter() - started)
            return
        except BlobNotFoundError:
            if await self.ports.skip_deleted([upload]):
                return
            message = "the uploaded bytes are no longer in the blob store; upload the file again"
            await self.ports.retrier.dead_letter(
                delivery,
                BLOB_MISSING,
                message,
                kind="parse-failed",
                error_type=BlobNotFoundError.__name__,
            )
            metrics.STAGE_SECONDS.labels("parse", "failed").observe(time.perf_counter() - started)
            return
        parsed = result.text
        metrics.DOCUMENTS_PARSED.labels(result.parser).inc()
        if result.failover is not None:
            metrics.PARSER_FAILOVERS.labels(result.failover).inc()
        text = parsed.text.encode()
        ref = await self.ports.blobs.put(text, TEXT_MEDIA_TYPE, owner=upload)
        layout = None  # pages and headings, for citations; None when the format has neither
        if parsed.pages or parsed.headings:
            layout = await self.ports.blobs.put(
                encode_layout(Layout(pages=parsed.pages, headings=parsed.headings)),
                LAYOUT_MEDIA_TYPE,
                owner=upload,
            )
        await self.ports.publisher.publish(
            topics.DOCUMENTS_PARSED,
            DocumentParsed(
                text=ref,
                title=parsed.title,
                page_count=parsed.page_count,
                char_count=len(parsed.text),
                source=upload.blob,
                metadata=upload.metadata,
                layout=layout,
                vector_set=upload.vector_set,  # a reprocess job's target set rides along
                parser=result.parser,
                **caused_by(upload, "parsed", self.ports.origin),
            ),
        )
        metrics.STAGE_SECONDS.labels("parse", "ok").observe(time.perf_counter() - started)
        self.ports.retrier.finished(delivery.retries, succeeded=True)
        log.info(
            "parsed %d chars (%s parser%s)",
            len(parsed.text),
            result.parser,
            f", failed over: {result.failover}" if result.failover else "",
            extra=ctx(job_id=upload.job_id, document_id=upload.document_id, stage="parse"),
        )
