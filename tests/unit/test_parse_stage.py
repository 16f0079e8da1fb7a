"""The parse stage's per-document error paths, with fakes for the blob store and the sandbox."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from schemas import topics
from schemas.events import DocumentFailed, DocumentParsed, Origin, Stage
from services.common.kafka.records import Delivery
from services.common.kafka.retry import Retrier
from services.common.stage import StagePorts
from services.parser.core.errors import (
    CORRUPT_FILE,
    INTERNAL,
    PARSE_TIMEOUT,
    RESOURCE_LIMIT,
    ExtractorFailedError,
    ParseError,
)
from services.parser.core.parsed import ParsedText
from services.parser.core.routing import Router, Routes
from services.parser.stage import ParseStage
from tests.fixtures.fakes import MemoryBlobStore, RecordingPublisher, ScriptedExtractor, upload

pytestmark = pytest.mark.unit

ORIGIN = Origin(service="parser", instance="unit")


@dataclass
class Run:
    """A parse stage over in-memory ports; `document(n)` stores an upload's bytes."""

    stage: ParseStage
    extractor: ScriptedExtractor
    blobs: MemoryBlobStore
    publisher: RecordingPublisher

    def document(self, n: int = 0, retries: int = 0) -> Delivery:
        ref = self.blobs.add(f"document {n}".encode())
        return Delivery(topics.DOCUMENTS_UPLOADED, 0, n, upload(n, blob=ref), retries)

    def outcome(self, delivery: Delivery, outcome: BaseException | float) -> None:
        """What extracting `delivery`'s document does."""
        self.extractor.outcomes[f"document {delivery.offset}".encode()] = outcome


def stage(*, timeout_retries: int = 0) -> Run:
    blobs, publisher, extractor = MemoryBlobStore(), RecordingPublisher(), ScriptedExtractor()
    retrier = Retrier(publisher, ORIGIN, Stage.PARSE, group="sluice-parser")
    parse = ParseStage(
        StagePorts(blobs, publisher, retrier, blobs.deleted),
        parsers=Router(extractor),
        timeout_retries=timeout_retries,
    )
    return Run(parse, extractor, blobs, publisher)


def timeout() -> ParseError:
    return ParseError(PARSE_TIMEOUT, "parsing took longer than 30s")


async def test_a_parse_timeout_is_final_by_default() -> None:
    run = stage()
    record = run.document()
    run.outcome(record, timeout())

    await run.stage([record], {})

    assert run.publisher.to(topics.retry(topics.DOCUMENTS_UPLOADED)) == []
    (failed,) = run.publisher.events(topics.DOCUMENTS_FAILED)
    assert isinstance(failed, DocumentFailed) and failed.code == PARSE_TIMEOUT
    assert run.publisher.to(topics.dlq(topics.DOCUMENTS_UPLOADED)) == [], "the file's fault"


async def test_parse_timeout_retries_when_configured() -> None:
    run = stage(timeout_retries=1)
    first, last = run.document(0), run.document(1, retries=1)
    run.outcome(first, timeout())
    run.outcome(last, timeout())

    await run.stage([first], {})
    await run.stage([last], {})

    retried = run.publisher.to(topics.retry(topics.DOCUMENTS_UPLOADED))
    assert [r.event.event_id for r in retried] == [first.event.event_id]
    assert [e.job_id for e in run.publisher.events(topics.DOCUMENTS_FAILED)] == [last.event.job_id]


async def test_a_resource_limit_is_still_retried() -> None:
    run = stage()
    record = run.document()
    run.outcome(record, ParseError(RESOURCE_LIMIT, "oom"))

    await run.stage([record], {})

    assert len(run.publisher.to(topics.retry(topics.DOCUMENTS_UPLOADED))) == 1
    assert run.publisher.to(topics.DOCUMENTS_FAILED) == []


async def test_a_bad_file_fails_its_job_and_the_batch_goes_on() -> None:
    run = stage()
    bad, good = run.document(0), run.document(1)
    run.outcome(bad, ParseError(CORRUPT_FILE, "not a PDF"))

    await run.stage([bad, good], {})

    assert [e.code for e in run.publisher.events(topics.DOCUMENTS_FAILED)] == [CORRUPT_FILE]
    parsed = run.publisher.events(topics.DOCUMENTS_PARSED)
    assert [p.job_id for p in parsed] == [good.event.job_id]
    assert all(isinstance(p, DocumentParsed) for p in parsed)


async def test_missing_bytes_are_dead_lettered_with_their_cause() -> None:
    run = stage()
    record = run.document()
    run.blobs.missing.add(record.event.blob.sha256)  # type: ignore[union-attr]

    await run.stage([record], {})

    (dead,) = run.publisher.to(topics.dlq(topics.DOCUMENTS_UPLOADED))
    assert dead.headers["sluice.error.code"] == "blob_missing"
    assert dead.headers["sluice.error.type"] == "BlobNotFoundError"
    assert [e.code for e in run.publisher.events(topics.DOCUMENTS_FAILED)] == ["blob_missing"]


async def test_an_unexpected_error_reaches_the_loop_after_the_others_finished() -> None:
    run = stage()
    bad, slow = run.document(0), run.document(1)
    run.outcome(bad, TypeError("Encoding objects of type X is unsupported"))
    run.outcome(slow, 0.05)

    with pytest.raises(TypeError):
        await run.stage([bad, slow], {})

    # The loop isolates `bad` next: `slow` must not still be running then (two runs at once).
    assert [p.job_id for p in run.publisher.events(topics.DOCUMENTS_PARSED)] == [slow.event.job_id]
    assert run.publisher.to(topics.DOCUMENTS_FAILED) == []


async def test_an_extractor_bug_goes_to_the_loops_isolation_not_to_a_plain_failure() -> None:
    run = stage()
    record = run.document()
    bug = ParseError(INTERNAL, "TypeError: Encoding objects of type X is unsupported")
    run.outcome(record, bug)

    with pytest.raises(ExtractorFailedError, match="TypeError"):
        await run.stage([record], {})

    # Bounded retries, then DLQ + internal_error, are the loop's (tests/unit/test_isolation.py).
    assert run.publisher.to(topics.DOCUMENTS_FAILED) == []


async def test_a_parsed_document_is_announced_started_then_parsed_with_its_text_stored() -> None:
    run = stage()
    record = run.document()

    await run.stage([record], {})

    (started,) = run.publisher.events(topics.JOBS_PROGRESS)
    assert (started.stage, started.job_id) == (Stage.PARSE, record.event.job_id)
    (parsed,) = run.publisher.events(topics.DOCUMENTS_PARSED)
    assert run.blobs.data(parsed.text) == b"some text"
    assert parsed.origin == ORIGIN and parsed.causation_id == record.event.event_id
    assert parsed.parser == "local"


async def test_a_document_routed_to_a_remote_parser_is_announced_with_its_name() -> None:
    blobs, publisher = MemoryBlobStore(), RecordingPublisher()
    remote = ScriptedExtractor(parsed=ParsedText(text="from afar", pages=[0]))
    router = Router(ScriptedExtractor(), remote, routes=Routes(media_types=("text/plain",)))
    retrier = Retrier(publisher, ORIGIN, Stage.PARSE, group="sluice-parser")
    parse = ParseStage(StagePorts(blobs, publisher, retrier, blobs.deleted), parsers=router)
    ref = blobs.add(b"document 0")

    await parse([Delivery(topics.DOCUMENTS_UPLOADED, 0, 0, upload(0, blob=ref), 0)], {})

    (parsed,) = publisher.events(topics.DOCUMENTS_PARSED)
    assert isinstance(parsed, DocumentParsed)
    assert (parsed.parser, blobs.data(parsed.text)) == ("llamaparse", b"from afar")


async def test_an_upload_of_a_deleted_document_is_skipped_and_the_batch_goes_on() -> None:
    run = stage()
    deleted, kept = run.document(0), run.document(1)
    run.blobs.deleted.jobs.add(deleted.event.job_id)

    await run.stage([deleted, kept], {})

    assert {s.event.job_id for s in run.publisher.sent} == {kept.event.job_id}, "nothing for it"
    assert [e.job_id for e in run.publisher.events(topics.DOCUMENTS_PARSED)] == [kept.event.job_id]


async def test_a_document_deleted_while_it_is_parsed_stores_and_announces_nothing() -> None:
    run = stage()
    record = run.document()
    run.outcome(record, 0.05)  # the extractor takes a while; the document is deleted meanwhile
    parsing = asyncio.create_task(run.stage([record], {}))
    await asyncio.sleep(0.01)
    run.blobs.deleted.jobs.add(record.event.job_id)

    await parsing

    assert run.publisher.to(topics.DOCUMENTS_PARSED) == []
    assert run.publisher.to(topics.DOCUMENTS_FAILED) == []
    assert run.blobs.refs == set(), "its text was not stored"


async def test_missing_bytes_of_a_deleted_document_are_a_skip_not_a_dead_letter() -> None:
    run = stage()
    record = run.document()
    run.blobs.missing.add(record.event.blob.sha256)  # type: ignore[union-attr]
    run.blobs.deleted.jobs.add(record.event.job_id)

    await run.stage([record], {})

    assert run.publisher.sent == []


async def test_a_parsed_text_records_which_document_refers_to_it() -> None:
    run = stage()
    record = run.document()

    await run.stage([record], {})

    (parsed,) = run.publisher.events(topics.DOCUMENTS_PARSED)
    owner = (record.event.tenant_id, record.event.document_id)
    assert (parsed.text.sha256, *owner) in run.blobs.refs
