"""Unit tests for the layout the parser returns: page and heading offsets in the final text,
plain `str` everywhere, and a ParsedText that msgspec encodes."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import pytest

from schemas.layout import Heading
from services.common.media import DOCX, HTML, MARKDOWN, PDF, PLAIN, PPTX, XLSX
from services.parser.core.extract import (
    MARKDOWN_PAGES,
    MAX_TEXT_CHARS,
    ParsedText,
    ParseError,
    encode_markdown_pages,
    extract,
)
from services.parser.core.text import normalize_text
from tests.fixtures.documents import (
    docx_with_headings,
    example,
    pdf_with_outline,
    pptx_deck,
    xlsx_workbook,
)

pytestmark = pytest.mark.unit

MESSY_MARKDOWN = (
    b"Intro line   \r\n\r\n\r\n\r\n\r\n# Head\x07ing One\t \r\n\r\n"
    b"text\x0c more \x01text\r\n\r\n\r\n"
    b"Setext Two\r\n----------\r\n- tight\r\n- list\r\n\r\n"
    b"```\r\n# not a heading\r\n```\r\n"
    b'<h3 align="center">From  HTML</h3>\r\n\r\n'
    b"| a | b |\r\n|---|---|\r\n| 1 | 2 |\r\n\r\n"
    b"### Third ###\r\n\r\nlast *words*"
)
MESSY_HTML = (
    b"<html><head><title>T</title></head><body>\n\n   <p>Lead   text</p>\r\n\r\n"
    b"<h1>  First\n  Heading </h1><div>a<br>b</div><script>h1()</script>"
    b"<h2>Second <em>one</em></h2><pre>  kept\n  as is  </pre><h6>Deep</h6><p>end</p></body></html>"
)


@dataclass(frozen=True)
class Layout:
    """The document, and the headings (start omitted) and page openings it must yield."""

    data: bytes
    media_type: str
    headings: list[tuple[int, str]]
    page_openings: list[str]


LAYOUTS: dict[str, Layout] = {
    "markdown, CRLF and controls before the headings": Layout(
        MESSY_MARKDOWN,
        MARKDOWN,
        [(1, "Heading One"), (2, "Setext Two"), (3, "From HTML"), (3, "Third")],
        [],
    ),
    "markdown example": Layout(
        example("sourdough.md"),
        MARKDOWN,
        [
            (1, "Country Sourdough Bread"),
            (2, "Ingredients"),
            (2, "Feeding the Starter"),
            (2, "Mixing and Bulk Fermentation"),
            (2, "Shaping and Cold Retard"),
            (2, "Baking"),
            (2, "Troubleshooting"),
        ],
        [],
    ),
    "html with spacing to squeeze": Layout(
        MESSY_HTML,
        HTML,
        [(1, "First Heading"), (2, "Second one"), (6, "Deep")],
        [],
    ),
    "html example": Layout(
        example("lighthouses.html"),
        HTML,
        [
            (1, "A Short History of Lighthouses"),
            (2, "Candles, Coal and Oil"),
            (2, "The Fresnel Lens"),
            (2, "Keepers and Automation"),
        ],
        [],
    ),
    "docx": Layout(
        docx_with_headings(),
        DOCX,
        [(1, "Flowers"), (2, "Wild Orchids"), (1, "Grasses")],
        [],
    ),
    "pptx slides": Layout(
        pptx_deck(),
        PPTX,
        [(1, "Quarterly Review"), (1, "Water Levels")],
        ["Quarterly Review", "Water Levels", "Gauges by station"],
    ),
    "xlsx sheets": Layout(xlsx_workbook(), XLSX, [(1, "Prices"), (1, "Notes")], []),
    "pdf with outline and a blank page": Layout(
        pdf_with_outline(),
        PDF,
        [
            (1, "Photosynthesis in Plants"),
            (2, "Light-dependent stage"),
            (1, "An empty page"),
            (1, "The Calvin Cycle"),
        ],
        ["Photosynthesis in Plants", "The Calvin Cycle", "The Calvin Cycle"],
    ),
    "plain text": Layout(b"one\r\n\r\n\r\ntwo", PLAIN, [], []),
}


def _parsed(name: str) -> ParsedText:
    layout = LAYOUTS[name]
    return extract(layout.data, layout.media_type)


@pytest.mark.parametrize("name", LAYOUTS)
def test_headings_and_pages(name: str) -> None:
    layout = LAYOUTS[name]
    parsed = _parsed(name)
    assert [(h.level, h.title) for h in parsed.headings] == layout.headings
    assert [parsed.text[start:].split("\n", 1)[0] for start in parsed.pages] == (
        layout.page_openings
    )


@pytest.mark.parametrize("name", LAYOUTS)
def test_offsets_point_into_the_final_text(name: str) -> None:
    parsed = _parsed(name)
    text = parsed.text
    assert normalize_text(text) == text  # nothing after the offsets were taken moves text
    assert parsed.pages == sorted(parsed.pages)
    assert all(0 <= offset <= len(text) for offset in parsed.pages)
    assert [h.start for h in parsed.headings] == sorted(h.start for h in parsed.headings)
    for heading in parsed.headings:
        in_text = heading.title in text
        assert text[heading.start :].startswith(heading.title) or not in_text, heading
        assert heading.start == 0 or text[heading.start - 1] == "\n", heading


@pytest.mark.parametrize("name", LAYOUTS)
def test_parsed_text_is_plain_and_encodes(name: str) -> None:
    """Every string is an exact `str` (pypdf's TextStringObject wedged the parse stage:
    msgspec refuses to encode it), and the result round-trips through msgpack and JSON."""
    parsed = _parsed(name)
    strings = [parsed.text, parsed.title, *parsed.sections, *(h.title for h in parsed.headings)]
    assert all(type(value) is str for value in strings if value is not None)
    assert all(type(h) is Heading for h in parsed.headings)
    for codec in (msgspec.msgpack, msgspec.json):
        assert codec.decode(codec.encode(parsed), type=ParsedText) == parsed


def test_pdf_outline_with_bookmarks_is_read() -> None:
    parsed = _parsed("pdf with outline and a blank page")
    calvin = parsed.text.index("The Calvin Cycle")
    assert parsed.title == "Photosynthesis, outlined"
    assert parsed.page_count == 3
    assert parsed.pages == [0, calvin, calvin]  # the blank page starts where page 3 does
    assert parsed.sections == ["Photosynthesis in Plants", "An empty page", "The Calvin Cycle"]
    assert [h.start for h in parsed.headings] == [0, 0, calvin, calvin]


def test_offsets_survive_the_text_limit() -> None:
    """A Markdown document past the limit: the part markdown-it reads, the part that is only
    scanned, and the cut itself leave every kept heading where its title is."""
    section = "## Part {n}\n\n" + ("Words in a paragraph that goes on.  \r\n" * 30) + "\n\n\n"
    source = "".join(section.format(n=n) for n in range(6_000))
    parsed = extract(source.encode(), MARKDOWN)
    assert len(parsed.text) <= MAX_TEXT_CHARS
    assert len(source) > MAX_TEXT_CHARS
    assert 4_000 < len(parsed.headings) < 6_000
    for number, heading in enumerate(parsed.headings):
        assert heading.title == f"Part {number}"
        assert parsed.text[heading.start :].startswith(heading.title)


def test_markdown_pages_from_a_remote_parser_keep_pages_headings_and_the_title() -> None:
    pages = [
        "# Annual Report\n\nIntro *text*.",
        "",  # a page the remote parser could not read: it still counts
        "## Results\n\n| a | b |\n|---|---|\n| 1 | 2 |",
        "plain closing words",
    ]

    parsed = extract(encode_markdown_pages(pages), MARKDOWN_PAGES)

    assert parsed.title == "Annual Report"
    assert parsed.page_count == 4
    starts = [parsed.text[offset:].split("\n", 1)[0] for offset in parsed.pages]
    assert starts == ["Annual Report", "Results", "Results", "plain closing words"]
    assert [
        (h.level, h.title, parsed.text[h.start :].split("\n", 1)[0]) for h in parsed.headings
    ] == [
        (1, "Annual Report", "Annual Report"),
        (2, "Results", "Results"),
    ]
    assert "Intro text." in parsed.text and "*" not in parsed.text


def test_the_internal_markdown_pages_type_is_not_offered_to_uploaders() -> None:
    with pytest.raises(ParseError) as refused:
        extract(b"x", "application/x-unknown")
    assert MARKDOWN_PAGES not in refused.value.message
    with pytest.raises(ParseError) as broken:
        extract(b"not json", MARKDOWN_PAGES)
    assert broken.value.code == "internal_error"
