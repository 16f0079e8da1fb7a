"""The parse stage: DocumentUploaded in, DocumentParsed or DocumentFailed out."""

from __future__ import annotations

import asyncio
import logging
import time

from schemas import topics
from schemas.events import (
    DocumentFailed,
    DocumentParsed,
    DocumentUploaded,
    Origin,
    Stage,
    StageStarted,
    caused_by,
)
from schemas.layout import MEDIA_TYPE as LAYOUT_MEDIA_TYPE
from schemas.layout import Layout, encode_layout
from services.common import metrics
from services.common.blobstore import PostgresBlobStore
from services.common.errors import BlobNotFoundError
from services.common.kafka.records import Delivery, Position
from services.common.kafka.retry import Retrier
from services.common.logs import ctx
from services.common.ports import EventPublisher
from services.parser.adapters.sandbox import INTERNAL, RESOURCES, TIMEOUT, ParserSandbox
from services.parser.core.errors import ParseError

log = logging.getLogger(__name__)
TEXT_MEDIA_TYPE = "text/plain; charset=utf-8"
RESOURCE_RETRIES = 2  # resource_limit may pass on a less loaded worker


class ExtractorFailedError(Exception):
    """An extractor raised something other than a ParseError on this document (a bug)."""


class ParseStage:
    """Handler for the parser's consumer loop (per-record mode: a batch of one).

    `parse_timeout` is final unless `timeout_retries` > 0: a file that hangs the parser once
    would only hang it again, and each retry costs a worker the whole time limit.
    """

    def __init__(
        self,
        *,
        blobs: PostgresBlobStore,
        publisher: EventPublisher,
        sandbox: ParserSandbox,
        origin: Origin,
        retrier: Retrier,
        timeout_retries: int = 0,
    ) -> None:
        self.retrier = retrier
        self.retries_for = {TIMEOUT: timeout_retries, RESOURCES: RESOURCE_RETRIES}
        self.blobs = blobs
        self.publisher = publisher
        self.sandbox = sandbox
        self.origin = origin

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
        """Parse one document and announce the outcome (or schedule a retry)."""
        upload = delivery.event
        assert isinstance(upload, DocumentUploaded)  # noqa: S101 - filtered by the caller
        started = time.perf_counter()
        await self.publisher.publish(
            topics.JOBS_PROGRESS,
            StageStarted(stage=Stage.PARSE, **caused_by(upload, "parse-started", self.origin)),
        )
        try:
            data = await self.blobs.get(upload.blob)
            parsed = await self.sandbox.extract(data, upload.blob.media_type)
        except ParseError as error:
            if error.code == INTERNAL:
                # A bug in an extractor that this file triggers: the consumer loop's isolation
                # retries it a bounded number of times, then dead-letters it (internal_error).
                raise ExtractorFailedError(error.message) from error
            if delivery.retries < self.retries_for.get(error.code, 0):
                await self.retrier.retry_later(delivery, error.code, error.message)
                return
            await self._fail(upload, error.code, error.message)
            metrics.STAGE_SECONDS.labels("parse", "failed").observe(time.perf_counter() - started)
            return
        except BlobNotFoundError:
            message = "the uploaded bytes are no longer in the blob store; upload the file again"
            await self.retrier.dead_letter(
                delivery,
                "blob_missing",
                message,
                kind="parse-failed",
                error_type=BlobNotFoundError.__name__,
            )
            metrics.STAGE_SECONDS.labels("parse", "failed").observe(time.perf_counter() - started)
            return
        text = parsed.text.encode()
        ref = await self.blobs.put(text, TEXT_MEDIA_TYPE)
        layout = None  # pages and headings, for citations; None when the format has neither
        if parsed.pages or parsed.headings:
            layout = await self.blobs.put(
                encode_layout(Layout(pages=parsed.pages, headings=parsed.headings)),
                LAYOUT_MEDIA_TYPE,
            )
        await self.publisher.publish(
            topics.DOCUMENTS_PARSED,
            DocumentParsed(
                text=ref,
                title=parsed.title,
                page_count=parsed.page_count,
                char_count=len(parsed.text),
                source=upload.blob,
                metadata=upload.metadata,
                layout=layout,
                **caused_by(upload, "parsed", self.origin),
            ),
        )
        metrics.STAGE_SECONDS.labels("parse", "ok").observe(time.perf_counter() - started)
        log.info(
            "parsed %d chars",
            len(parsed.text),
            extra=ctx(job_id=upload.job_id, document_id=upload.document_id, stage="parse"),
        )

    async def _fail(self, upload: DocumentUploaded, code: str, message: str) -> None:
        failed = DocumentFailed(
            stage=Stage.PARSE,
            code=code,
            message=message,
            **caused_by(upload, "parse-failed", self.origin),
        )
        await self.publisher.publish(topics.DOCUMENTS_FAILED, failed)
        metrics.JOBS_FAILED.labels("parse", code).inc()
        log.warning(
            "parse failed: %s",
            code,
            extra=ctx(job_id=upload.job_id, document_id=upload.document_id, stage="parse"),
        )
