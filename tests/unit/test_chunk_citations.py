"""Unit tests of citations: the page a chunk starts on and the heading above it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import msgspec
import pytest

from schemas import topics
from schemas.events import BlobRef
from schemas.layout import MEDIA_TYPE, Heading, Layout, encode_layout
from services.common.embedding.tokenizing import WhitespaceTokenizer
from services.common.kafka.records import Delivery
from services.embedder.core.chunking import Chunk, chunk_text
from services.embedder.core.citations import MAX_HEADING_CHARS, Locator, cite, heading_title
from tests.unit.test_embed_stage import Harness, harness

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class Case:
    description: str
    given: tuple[int, int]  # a chunk's (start, end)
    expected: int | None


# Pages start at 0, 100, 100 (page 2 is empty), 250; the text is 300 characters long.
PAGES = Layout(pages=[0, 100, 100, 250])
PAGE_CASES = [
    Case("first character of the text", (0, 10), 1),
    Case("inside page 1", (42, 120), 1),
    Case("last character of page 1", (99, 130), 1),
    Case("on a page start, after an empty page: the page with text", (100, 140), 3),
    Case("inside page 3", (180, 260), 3),
    Case("last page", (260, 300), 4),
    Case("offsets past the end of the text: the last page", (900, 950), 4),
]


@pytest.mark.parametrize("case", PAGE_CASES, ids=[c.description for c in PAGE_CASES])
def test_page_is_the_last_page_starting_at_or_before_the_chunk(case: Case) -> None:
    assert Locator(PAGES).page(*case.given) == case.expected


LATE_FIRST_PAGE = Layout(pages=[20, 60])  # the parser put a 20-character preamble first
LATE_CASES = [
    Case("a chunk inside the preamble cites no page", (0, 15), None),
    Case("a chunk ending exactly where page 1 starts cites no page", (0, 20), None),
    Case("a chunk running from the preamble into page 1 cites page 1", (5, 40), 1),
    Case("a chunk on page 2", (60, 80), 2),
]


@pytest.mark.parametrize("case", LATE_CASES, ids=[c.description for c in LATE_CASES])
def test_text_before_the_first_page(case: Case) -> None:
    assert Locator(LATE_FIRST_PAGE).page(*case.given) == case.expected


def test_no_pages_no_page() -> None:
    locator = Locator(Layout(headings=[Heading(0, 1, "Intro")]))
    assert locator.page(0, 10) is None
    assert locator.page(10_000, 10_010) is None


def test_pages_out_of_order_are_sorted_first() -> None:
    assert Locator(Layout(pages=[200, 0, 100])).page(150, 160) == 2


HEADINGS = Layout(
    headings=[
        Heading(10, 1, "Photosynthesis"),
        Heading(80, 2, "Light reactions"),
        Heading(200, 2, "Calvin cycle"),
    ]
)
HEADING_CASES = [
    ("a chunk before the first heading has none", 0, None),
    ("a chunk starting on a heading cites it", 10, "Photosynthesis"),
    ("inside the first section", 50, "Photosynthesis"),
    ("the nearest heading above wins", 120, "Light reactions"),
    ("just before the next heading", 199, "Light reactions"),
    ("after the last heading", 5_000, "Calvin cycle"),
]


@pytest.mark.parametrize(
    ("description", "start", "expected"), HEADING_CASES, ids=[c[0] for c in HEADING_CASES]
)
def test_heading_is_the_last_one_starting_at_or_before_the_chunk(
    description: str, start: int, expected: str | None
) -> None:
    assert Locator(HEADINGS).heading(start) == expected


def test_headings_out_of_order_are_sorted_by_start() -> None:
    layout = Layout(headings=[Heading(50, 2, "B"), Heading(0, 1, "A")])
    assert [Locator(layout).heading(s) for s in (0, 49, 50)] == ["A", "A", "B"]


TITLES = [
    ("spaces and line breaks collapse", "  Light\n  reactions\t ", "Light reactions"),
    ("control characters go", "Calvin\x00cycle\x07", "Calvin cycle"),
    ("a blank title is no title", " \n\x00 ", None),
    ("unicode stays", "Ünïcödé — 光合成", "Ünïcödé — 光合成"),
]


@pytest.mark.parametrize(("description", "title", "expected"), TITLES, ids=[t[0] for t in TITLES])
def test_heading_titles_are_one_printable_line(
    description: str, title: str, expected: str | None
) -> None:
    assert heading_title(Heading(0, 1, title)) == expected


def test_a_runaway_heading_title_is_cut() -> None:
    title = heading_title(Heading(0, 1, "word " * 1000))
    assert title is not None
    assert len(title) == MAX_HEADING_CHARS
    assert title.endswith("\u2026")


def test_a_blank_heading_ends_the_section_above_it() -> None:
    layout = Layout(headings=[Heading(0, 1, "Intro"), Heading(40, 2, "   ")])
    assert Locator(layout).heading(50) is None


TEXT = (
    "Preface words here.\n\n"  # 0..19
    "# Intro\n\nFirst page words that go on.\n\n"
    "# Methods\n\nSecond page words, more of them.\n"
)


def _layout() -> Layout:
    return Layout(
        pages=[TEXT.index("# Intro"), TEXT.index("# Methods")],
        headings=[
            Heading(TEXT.index("# Intro"), 1, "Intro"),
            Heading(TEXT.index("# Methods"), 1, "Methods"),
        ],
    )


def test_cite_sets_page_and_heading_on_real_chunks_and_keeps_the_rest() -> None:
    chunks = chunk_text(TEXT, WhitespaceTokenizer(), max_tokens=4, overlap_tokens=0)
    cited = cite(chunks, _layout())
    assert [(c.index, c.text, c.start, c.end, c.token_count) for c in cited] == [
        (c.index, c.text, c.start, c.end, c.token_count) for c in chunks
    ]
    for chunk in cited:
        if chunk.start < TEXT.index("# Intro"):
            assert (chunk.page, chunk.heading) == (None, None), chunk
        elif chunk.start < TEXT.index("# Methods"):
            assert (chunk.page, chunk.heading) == (1, "Intro"), chunk
        else:
            assert (chunk.page, chunk.heading) == (2, "Methods"), chunk
    assert {c.heading for c in cited} == {None, "Intro", "Methods"}


@pytest.mark.parametrize("layout", [None, Layout()], ids=["no layout", "an empty layout"])
def test_without_a_layout_chunks_cite_nothing(layout: Layout | None) -> None:
    chunks = [Chunk(0, "a b", 0, 3, 2), Chunk(1, "c d", 4, 7, 2)]
    assert cite(chunks, layout) == chunks
    assert all(c.page is None and c.heading is None for c in cite(chunks, layout))


def test_cite_of_no_chunks_is_no_chunks() -> None:
    assert cite([], _layout()) == []


# --- the embed stage reads the layout blob ---------------------------------------------------


def _with_layout(run: Harness, delivery: Delivery, blob: bytes | None) -> Delivery:
    """`delivery` with a layout reference; `blob` is stored under it (None: left missing)."""
    if blob is None:
        ref = BlobRef(sha256=uuid.uuid4().hex * 2, size=0, media_type=MEDIA_TYPE)
    else:
        ref = run.blobs.add(blob, MEDIA_TYPE)
    event = msgspec.structs.replace(delivery.event, layout=ref)
    return msgspec.structs.replace(delivery, event=event)


def _stored(run: Harness, delivery: Delivery) -> list[Chunk]:
    (document,) = [d for d in run.chunks.stored if d.document_id == delivery.event.document_id]
    return document.chunks


async def test_the_stage_stores_each_chunks_page_and_heading() -> None:
    run = harness()
    body = [f"w{i}" for i in range(24)]  # 8 words per chunk: three chunks
    text = " ".join(body)
    layout = Layout(
        pages=[0, text.index("w8 ")],
        headings=[Heading(text.index("w16"), 1, "Results")],
    )
    delivery = _with_layout(run, run.parsed(text), encode_layout(layout))

    await run.stage([delivery], {})

    chunks = _stored(run, delivery)
    assert [(c.start, c.end) for c in chunks] == [
        (text.index(f"w{i} "), text.index(f"w{i + 7}") + len(f"w{i + 7}")) for i in (0, 8, 16)
    ]
    assert [(c.page, c.heading) for c in chunks] == [(1, None), (2, None), (2, "Results")]
    assert len(run.events(topics.DOCUMENTS_INDEXED)) == 1


LAYOUT_TROUBLE = [
    ("the layout blob is missing", None),
    ("the layout blob is not JSON", b"\x89PNG not a layout"),
    ("the layout blob has the wrong shape", b'{"pages": "1-3"}'),
]


@pytest.mark.parametrize(
    ("description", "blob"), LAYOUT_TROUBLE, ids=[t[0] for t in LAYOUT_TROUBLE]
)
async def test_an_unusable_layout_costs_citations_not_the_job(
    description: str, blob: bytes | None
) -> None:
    run = harness()
    good = _with_layout(run, run.parsed("alpha beta gamma"), encode_layout(Layout(pages=[0])))
    bad = _with_layout(run, run.parsed("delta epsilon zeta"), blob)
    plain = run.parsed("eta theta iota")  # a v1-style event: no layout at all

    await run.stage([good, bad, plain], {})

    assert [(c.page, c.heading) for c in _stored(run, good)] == [(1, None)]
    assert [(c.page, c.heading) for c in _stored(run, bad)] == [(None, None)]
    assert [(c.page, c.heading) for c in _stored(run, plain)] == [(None, None)]
    indexed = {e.document_id for e in run.events(topics.DOCUMENTS_INDEXED)}
    assert indexed == {d.event.document_id for d in (good, bad, plain)}
    assert not run.events(topics.DOCUMENTS_FAILED)
    assert not run.events(topics.dlq(topics.DOCUMENTS_PARSED))
