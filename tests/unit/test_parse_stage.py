"""The parse stage's per-document error paths, with fakes for the blob store and the sandbox."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import cast

import pytest

from schemas import topics
from schemas.events import BlobRef, DocumentFailed, DocumentParsed, Origin, Stage
from services.common.blobstore import PostgresBlobStore
from services.common.errors import BlobNotFoundError
from services.common.kafka.records import Delivery
from services.common.kafka.retry import Retrier
from services.parser.adapters.sandbox import INTERNAL, RESOURCES, TIMEOUT, ParserSandbox
from services.parser.core.errors import CORRUPT_FILE, ParseError
from services.parser.core.parsed import ParsedText
from services.parser.stage import ExtractorFailedError, ParseStage
from tests.fixtures.fakes import RecordingPublisher, upload

pytestmark = pytest.mark.unit

ORIGIN = Origin(service="parser", instance="unit")


@dataclass
class FakeBlobs:
    missing: set[str] = field(default_factory=set)
    stored: list[bytes] = field(default_factory=list)

    async def get(self, ref: BlobRef) -> bytes:
        if ref.sha256 in self.missing:
            raise BlobNotFoundError(ref.sha256)
        return b"bytes of " + ref.sha256.encode()

    async def put(self, data: bytes, media_type: str) -> BlobRef:
        self.stored.append(data)
        return BlobRef(sha256=str(len(self.stored)), size=len(data), media_type=media_type)


@dataclass
class FakeSandbox:
    """Per blob sha256: an exception to raise, or seconds to take; else text."""

    outcomes: dict[str, BaseException | float] = field(default_factory=dict)

    async def extract(self, data: bytes, media_type: str) -> ParsedText:
        outcome = self.outcomes.get(data.decode().removeprefix("bytes of "))
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome is not None:
            await asyncio.sleep(outcome)
        return ParsedText(text="some text", title="t")


def stage(
    sandbox: FakeSandbox, blobs: FakeBlobs | None = None, *, timeout_retries: int = 0
) -> tuple[ParseStage, RecordingPublisher]:
    publisher = RecordingPublisher()
    parse = ParseStage(
        blobs=cast(PostgresBlobStore, blobs or FakeBlobs()),
        publisher=publisher,
        sandbox=cast(ParserSandbox, sandbox),
        origin=ORIGIN,
        retrier=Retrier(publisher, ORIGIN, Stage.PARSE, group="sluice-parser"),
        timeout_retries=timeout_retries,
    )
    return parse, publisher


def delivery(n: int = 0, retries: int = 0) -> Delivery:
    return Delivery(topics.DOCUMENTS_UPLOADED, 0, n, upload(n), retries)


def timeout() -> ParseError:
    return ParseError(TIMEOUT, "parsing took longer than 30s")


async def test_a_parse_timeout_is_final_by_default() -> None:
    record = delivery()
    parse, publisher = stage(FakeSandbox({record.event.blob.sha256: timeout()}))  # type: ignore[union-attr]

    await parse([record], {})

    assert publisher.to(topics.retry(topics.DOCUMENTS_UPLOADED)) == []
    (failed,) = publisher.events(topics.DOCUMENTS_FAILED)
    assert isinstance(failed, DocumentFailed) and failed.code == TIMEOUT
    assert publisher.to(topics.dlq(topics.DOCUMENTS_UPLOADED)) == [], "the file's fault: no DLQ"


async def test_parse_timeout_retries_when_configured() -> None:
    first, last = delivery(), delivery()
    outcomes: dict[str, BaseException | float] = {
        d.event.blob.sha256: timeout()  # type: ignore[union-attr]
        for d in (first, last)
    }
    parse, publisher = stage(FakeSandbox(outcomes), timeout_retries=1)

    await parse([first], {})
    await parse([Delivery(last.topic, 0, 1, last.event, retries=1)], {})

    retried = publisher.to(topics.retry(topics.DOCUMENTS_UPLOADED))
    assert [r.event.event_id for r in retried] == [first.event.event_id]
    assert [e.job_id for e in publisher.events(topics.DOCUMENTS_FAILED)] == [last.event.job_id]


async def test_a_resource_limit_is_still_retried() -> None:
    record = delivery()
    parse, publisher = stage(FakeSandbox({record.event.blob.sha256: ParseError(RESOURCES, "oom")}))  # type: ignore[union-attr]

    await parse([record], {})

    assert len(publisher.to(topics.retry(topics.DOCUMENTS_UPLOADED))) == 1
    assert publisher.to(topics.DOCUMENTS_FAILED) == []


async def test_a_bad_file_fails_its_job_and_the_batch_goes_on() -> None:
    bad, good = delivery(0), delivery(1)
    sha = bad.event.blob.sha256  # type: ignore[union-attr]
    parse, publisher = stage(FakeSandbox({sha: ParseError(CORRUPT_FILE, "not a PDF")}))

    await parse([bad, good], {})

    assert [e.code for e in publisher.events(topics.DOCUMENTS_FAILED)] == [CORRUPT_FILE]
    parsed = publisher.events(topics.DOCUMENTS_PARSED)
    assert [p.job_id for p in parsed] == [good.event.job_id]
    assert all(isinstance(p, DocumentParsed) for p in parsed)


async def test_missing_bytes_are_dead_lettered_with_their_cause() -> None:
    record = delivery()
    blobs = FakeBlobs(missing={record.event.blob.sha256})  # type: ignore[union-attr]
    parse, publisher = stage(FakeSandbox(), blobs)

    await parse([record], {})

    (dead,) = publisher.to(topics.dlq(topics.DOCUMENTS_UPLOADED))
    assert dead.headers["sluice.error.code"] == "blob_missing"
    assert dead.headers["sluice.error.type"] == "BlobNotFoundError"
    assert [e.code for e in publisher.events(topics.DOCUMENTS_FAILED)] == ["blob_missing"]


async def test_an_unexpected_error_reaches_the_loop_after_the_others_finished() -> None:
    bad, slow = delivery(0), delivery(1)
    outcomes: dict[str, BaseException | float] = {
        bad.event.blob.sha256: TypeError("Encoding objects of type X is unsupported"),  # type: ignore[union-attr]
        slow.event.blob.sha256: 0.05,  # type: ignore[union-attr]
    }
    parse, publisher = stage(FakeSandbox(outcomes))

    with pytest.raises(TypeError):
        await parse([bad, slow], {})

    # The loop isolates `bad` next: `slow` must not still be running then (two runs at once).
    assert [p.job_id for p in publisher.events(topics.DOCUMENTS_PARSED)] == [slow.event.job_id]
    assert publisher.to(topics.DOCUMENTS_FAILED) == []


async def test_an_extractor_bug_goes_to_the_loops_isolation_not_to_a_plain_failure() -> None:
    record = delivery()
    bug = ParseError(INTERNAL, "TypeError: Encoding objects of type X is unsupported")
    parse, publisher = stage(FakeSandbox({record.event.blob.sha256: bug}))  # type: ignore[union-attr]

    with pytest.raises(ExtractorFailedError, match="TypeError"):
        await parse([record], {})

    # Bounded retries, then DLQ + internal_error, are the loop's (tests/unit/test_isolation.py).
    assert publisher.to(topics.DOCUMENTS_FAILED) == []
