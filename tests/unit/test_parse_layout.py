"""Unit tests: the parse stage stores a document's layout beside its text (fakes for I/O)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from schemas import topics
from schemas.events import BlobRef, DocumentParsed, DocumentUploaded, Origin, Stage, now
from schemas.layout import MEDIA_TYPE, Heading, Layout, decode_layout
from services.common.blobstore import PostgresBlobStore
from services.common.kafka.records import Delivery
from services.common.kafka.retry import Retrier
from services.parser.adapters.sandbox import ParserSandbox
from services.parser.core.parsed import ParsedText
from services.parser.stage import ParseStage
from tests.fixtures.fakes import RecordingPublisher

pytestmark = pytest.mark.unit

ORIGIN = Origin(service="parser", instance="unit")


@dataclass
class FakeBlobs:
    stored: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    async def get(self, ref: BlobRef) -> bytes:
        return self.stored[ref.sha256][0]

    async def put(self, data: bytes, media_type: str) -> BlobRef:
        sha = hashlib.sha256(data).hexdigest()
        self.stored[sha] = (data, media_type)
        return BlobRef(sha256=sha, size=len(data), media_type=media_type)


@dataclass
class FakeSandbox:
    """Answers every document with `parsed`."""

    parsed: ParsedText

    async def extract(self, data: bytes, media_type: str) -> ParsedText:
        return self.parsed


async def parse(parsed: ParsedText) -> tuple[DocumentParsed, FakeBlobs]:
    """Run the stage on one upload whose extraction gives `parsed`; return its event."""
    blobs, publisher = FakeBlobs(), RecordingPublisher()
    source = await blobs.put(b"%PDF-1.7 ...", "application/pdf")
    stage = ParseStage(
        blobs=cast(PostgresBlobStore, blobs),
        publisher=publisher,
        sandbox=cast(ParserSandbox, FakeSandbox(parsed)),
        origin=ORIGIN,
        retrier=Retrier(publisher, ORIGIN, Stage.PARSE),
    )
    upload = DocumentUploaded(
        event_id=str(uuid.uuid4()),
        occurred_at=now(),
        tenant_id="t",
        job_id=str(uuid.uuid4()),
        document_id=str(uuid.uuid4()),
        blob=source,
        filename="a.pdf",
    )
    await stage([Delivery(topics.DOCUMENTS_UPLOADED, 0, 0, upload)], {})
    (event,) = publisher.events(topics.DOCUMENTS_PARSED)
    assert isinstance(event, DocumentParsed)
    return event, blobs


async def test_pages_and_headings_go_to_a_layout_blob_the_event_points_at() -> None:
    layout = Layout(pages=[0, 12], headings=[Heading(0, 1, "One"), Heading(12, 2, "Two")])
    text = "One\nalpha.\n\nTwo\nbeta."
    event, blobs = await parse(ParsedText(text=text, page_count=2, **_fields(layout)))

    assert event.schema_version == 2
    assert event.layout is not None
    assert event.layout.media_type == MEDIA_TYPE
    data, media_type = blobs.stored[event.layout.sha256]
    assert (media_type, len(data)) == (MEDIA_TYPE, event.layout.size)
    assert decode_layout(data) == layout
    assert blobs.stored[event.text.sha256][0].decode() == text


@pytest.mark.parametrize(
    "layout",
    [Layout(pages=[0, 5]), Layout(headings=[Heading(0, 1, "Only headings")])],
    ids=["pages only", "headings only"],
)
async def test_either_pages_or_headings_make_a_layout(layout: Layout) -> None:
    event, blobs = await parse(ParsedText(text="some words here", **_fields(layout)))
    assert event.layout is not None
    assert decode_layout(blobs.stored[event.layout.sha256][0]) == layout


async def test_a_format_without_pages_or_headings_has_no_layout() -> None:
    event, blobs = await parse(ParsedText(text="plain words"))
    assert event.layout is None
    assert {media for _, media in blobs.stored.values()} == {
        "application/pdf",
        "text/plain; charset=utf-8",
    }


def _fields(layout: Layout) -> dict[str, Any]:
    return {"pages": layout.pages, "headings": layout.headings}
