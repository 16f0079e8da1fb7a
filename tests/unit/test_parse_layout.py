"""Unit tests: the parse stage stores a document's layout beside its text (fakes for I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import topics
from schemas.events import DocumentParsed
from schemas.layout import MEDIA_TYPE, Heading, Layout, decode_layout
from services.parser.core.parsed import ParsedText
from tests.fixtures.fakes import MemoryBlobStore
from tests.unit.test_parse_stage import stage

pytestmark = pytest.mark.unit


async def parse(parsed: ParsedText) -> tuple[DocumentParsed, MemoryBlobStore]:
    """Run the stage on one upload whose extraction gives `parsed`; return its event."""
    run = stage()
    run.extractor.parsed = parsed
    await run.stage([run.document()], {})
    (event,) = run.publisher.events(topics.DOCUMENTS_PARSED)
    assert isinstance(event, DocumentParsed)
    return event, run.blobs


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
        "text/plain",  # the upload
        "text/plain; charset=utf-8",  # its text
    }


def _fields(layout: Layout) -> dict[str, Any]:
    return {"pages": layout.pages, "headings": layout.headings}
