"""Unit tests for text extraction from every supported media type."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from services.common.archive import MAX_ENTRIES
from services.common.media import DOCX, HTML, MARKDOWN, PDF, PLAIN, PPTX, XLSX
from services.parser.core.errors import ERROR_CODES, ParseError
from services.parser.core.extract import MAX_TEXT_CHARS, ParsedText, extract
from services.parser.core.text import normalize_text, title_of
from tests.fixtures.cases import Case
from tests.fixtures.documents import (
    EXAMPLES,
    docx_with_headings,
    many_entries_bomb,
    pptx_deck,
    ratio_bomb,
    xlsx_workbook,
    zip_bytes,
)


@dataclass(frozen=True)
class Doc:
    """A document handed to extract()."""

    data: bytes
    media_type: str


@dataclass(frozen=True)
class Text:
    """What the extracted text must (and must not) contain, plus exact metadata."""

    contains: tuple[str, ...]
    absent: tuple[str, ...] = ()
    title: str | None = None
    page_count: int | None = None
    sections: list[str] = field(default_factory=list)


def _example(name: str) -> bytes:
    """Return the bytes of an example file."""
    return (EXAMPLES / name).read_bytes()


# The example files' media types, by extension.
EXAMPLE_TYPES = {".txt": PLAIN, ".md": MARKDOWN, ".html": HTML, ".pdf": PDF, ".docx": DOCX}


def _example_case(name: str, expected: Text) -> Case[Doc, Text]:
    """What extracting the example file `name` (its media type told by its extension) gives."""
    return Case(f"example {name}", Doc(_example(name), EXAMPLE_TYPES[Path(name).suffix]), expected)


def _pdf_writer() -> PdfWriter:
    """Return a writer holding a copy of the example PDF."""
    return PdfWriter(clone_from=PdfReader(io.BytesIO(_example("photosynthesis.pdf"))))


def _encrypted_pdf(user_password: str) -> bytes:
    """Return the example PDF encrypted with RC4 (no extra crypto library needed)."""
    writer = _pdf_writer()
    writer.encrypt(user_password, "owner-secret", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _blank_pdf() -> bytes:
    """Return a one-page PDF with no text at all."""
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _zip(entries: dict[str, bytes]) -> bytes:
    """Return a stored (uncompressed) zip archive holding the given entries."""
    return zip_bytes(entries, zipfile.ZIP_STORED)


def _docx_without_styles_type() -> bytes:
    """The example DOCX with its styles part's content type taken out of [Content_Types].xml
    (a mutation fuzzing found): python-docx opens it, and fails only when a paragraph's style
    is read."""
    with zipfile.ZipFile(io.BytesIO(_example("tea.docx"))) as source:
        entries = {name: source.read(name) for name in source.namelist()}
    types = entries["[Content_Types].xml"].decode()
    override = '<Override PartName="/word/styles.xml" ContentType="application/vnd.'
    start = types.index(override)
    entries["[Content_Types].xml"] = (
        types[:start] + types[types.index("/>", start) + 2 :]
    ).encode()
    return _zip(entries)


SUCCESS_CASES: list[Case[Doc, Text]] = [
    Case(
        "plain utf-8",
        Doc(b"Hello, world.\nSecond line.\n", PLAIN),
        Text(("Hello, world.\nSecond line.",)),
    ),
    Case(
        "plain with charset parameter and upper case",
        Doc(b"Parameters are ignored.", "Text/Plain; charset=utf-8"),
        Text(("Parameters are ignored.",)),
    ),
    Case(
        "windows-1252 after 300 KiB of ASCII",
        Doc(
            b"plain ascii line\n" * 20_000 + "\u2018late\u2019 \u00e9t\u00e9".encode("cp1252"),
            PLAIN,
        ),
        Text(("\u2018late\u2019 \u00e9t\u00e9",)),
    ),
    Case(
        "iso-2022-jp (7-bit: its escapes were read as control characters)",
        Doc("\u65e5\u672c\u8a9e\u306e\u6587\u7ae0\u3067\u3059\u3002\n".encode("iso2022_jp"), PLAIN),
        Text(("\u65e5\u672c\u8a9e\u306e\u6587\u7ae0\u3067\u3059\u3002",), absent=("\x1b",)),
    ),
    Case(
        "a terminal's colours and links are left out",
        Doc(
            b"\x1b[1m\x1b[32mPASS\x1b[0m tests/a.py\n"
            b"\x1b]8;;http://x.y/z\x1b\\the report\x1b]8;;\x1b\\ is ready\n" * 10,
            PLAIN,
        ),
        Text(("PASS tests/a.py\nthe report is ready\n",), absent=("[0m", "[32m", "8;;", "x.y")),
    ),
    Case(
        "windows-1252 markdown",
        Doc("# Caf\u00e9 Men\u00fc\n\n\u201cSoup\u201d of the day.\n".encode("cp1252"), MARKDOWN),
        Text(
            ("Caf\u00e9 Men\u00fc", "\u201cSoup\u201d of the day."),
            title="Caf\u00e9 Men\u00fc",
            sections=["Caf\u00e9 Men\u00fc"],
        ),
    ),
    Case(
        "pptx slides, table and notes",
        Doc(pptx_deck(), PPTX),
        Text(
            (
                "Quarterly Review\n\nPrepared by the river team",
                "Spring floods peaked in April\nSummer was dry",
                "Mention the new gauges.",
                "Station\tMetres\nWeir\t3.2",
            ),
            title="Quarterly Review",
            page_count=3,
            sections=["Quarterly Review", "Water Levels"],
        ),
    ),
    Case(
        "xlsx sheets as tables",
        Doc(xlsx_workbook(), XLSX),
        Text(
            (
                "Prices\n\nItem\tPrice\tSince\nTea\t3.5\t2024-01-02\nCoffee\t4",
                "Notes\n\nTea is cheaper than coffee",
            ),
            absent=("None", "\t\n", "Coffee\t4\t"),
            sections=["Prices", "Notes"],
        ),
    ),
    Case(
        "docx headings on two levels",
        Doc(docx_with_headings(), DOCX),
        Text(
            ("Field Guide\n\nA short guide", "Name\tColour\nPoppy\tRed"),
            title="Field Guide",
            sections=["Flowers", "Wild Orchids", "Grasses"],
        ),
    ),
    Case(
        "blank lines collapsed and trailing spaces stripped",
        Doc(b"one   \r\n\r\n\r\n\r\n\r\ntwo\t\n\n\n\nthree", PLAIN),
        Text(("one\n\ntwo\n\nthree",), absent=("one ", "\n\n\n", "\r", "two\t")),
    ),
    Case(
        "markdown headings, links and images",
        Doc(
            b"# Main Title\n\nSee [the docs](https://example.com/docs) now.\n\n"
            b"![a diagram](https://example.com/d.png)\n\n## Part Two\n\n**Bold** and `code`.\n"
            b"```\n# not a heading\n```\n",
            MARKDOWN,
        ),
        Text(
            ("Main Title", "See the docs now.", "a diagram", "Bold and code.", "# not a heading"),
            absent=("https://", "](", "**", "`", "![", "## "),
            title="Main Title",
            sections=["Main Title", "Part Two"],
        ),
    ),
    Case(
        "markdown nested past markdown-it's limit keeps every word",
        Doc(
            b"# Top\n\n"
            + b"".join(b"  " * i + b"- item%d\n" % i for i in range(30))
            + b"\n"
            + b"> " * 40
            + b"deep quote\n\nafter",
            MARKDOWN,
        ),
        Text(("item0", "item29", "deep quote", "after"), title="Top", sections=["Top"]),
    ),
    Case(
        "markdown setext heading and no h1",
        Doc(b"Intro text.\n\nSubtitle\n--\n\nBody.\n", MARKDOWN),
        Text(("Intro text.", "Subtitle", "Body."), absent=("--",), sections=["Subtitle"]),
    ),
    Case(
        "html script, style, noscript and template dropped",
        Doc(
            b"<html><head><title>Page  Title</title><style>p{color:red}</style>"
            b"<script>var leak = '<p>LEAK</p>';</script></head><body>"
            b"<h1>Big</h1><p>First&nbsp;para &amp; more.</p><noscript>NOSCRIPT</noscript>"
            b"<template><p>TEMPLATE</p></template><div>Second\n   block</div>"
            b"<ul><li>one</li><li>two</li></ul><h2>Small <em>print</em></h2></body></html>",
            HTML,
        ),
        Text(
            ("Big\n\nFirst\u00a0para & more.", "Second block", "one\n", "two", "Small print"),
            absent=("LEAK", "color", "NOSCRIPT", "TEMPLATE", "var ", "<", "Page  Title"),
            title="Page Title",
            sections=["Big", "Small print"],
        ),
    ),
    Case(
        "html nested 300 levels deep",
        Doc(b"<p>before</p>" + b"<b>" * 300 + b"deep text" + b"<p>after</p>", HTML),
        Text(("before", "deep text", "after")),
    ),
    Case(
        # MathML was skipped whole ("Let  be"); read as DOCX equations are, a piece a space
        # apart, without invisible operators or the TeX a page keeps beside it (Wikipedia).
        "html mathml read as its pieces",
        Doc(
            b"<p>Let <math><semantics><mrow><mn>2</mn><mo>&#x2061;</mo><mi>x</mi><mo>+</mo>"
            b"<msup><mi>y</mi><mn>2</mn></msup></mrow><annotation encoding='application/x-tex'>"
            b"2x+y^2</annotation></semantics></math> be positive.</p>",
            HTML,
        ),
        Text(("Let 2 x + y 2 be positive.",), absent=("2x+y^2", "\u2061")),
    ),
    Case(
        # What a browser does not show was indexed: a mail's hidden "preheader", Wikipedia's
        # hidden short description and maintenance tags ("As of 2015[update]").
        "html hidden elements are left out",
        Doc(
            b"<p>As of 2015<sup style='display: none'>[update]</sup>, it leads.</p>"
            b"<div style='DISPLAY:none;max-height:0'>Preheader: 50% off today</div>"
            b"<p hidden>Kept for later</p><span style='visibility:hidden'>Spacer</span>"
            b"<p hidden='until-found'>Found by a page search</p><p style='color:red'>Red</p>",
            HTML,
        ),
        Text(
            ("As of 2015, it leads.", "Found by a page search", "Red"),
            absent=("[update]", "Preheader", "Kept for later", "Spacer"),
        ),
    ),
    Case(
        # An EPUB's title page (PyMuPDF's Bezier.epub): the line break parted no words, so
        # the heading and the title read "Circlesand other shapes".
        "html line breaks in a heading part its words",
        Doc(b"<h1>Circles<br/>and other shapes</h1><h2><div>One</div><div>Two</div></h2>", HTML),
        Text(
            ("Circles and other shapes", "One Two"),
            absent=("Circlesand", "OneTwo"),
            title="Circles and other shapes",
            sections=["Circles and other shapes", "One Two"],
        ),
    ),
    Case(
        # An SVG picture was skipped whole; what it draws as words is read (a chart's labels,
        # a fixed-layout page's text), not its title, styles or definitions.
        "html svg text read, svg title, style and definitions not",
        Doc(
            b"<p>Before</p><svg viewBox='0 0 9 9'><title>Tooltip</title><desc>About</desc>"
            b"<style>.bar { fill: red }</style><defs><text id='d'>Defined</text></defs>"
            b"<g><text x='1' y='5'>Rainfall (mm)</text><rect class='bar'/><text><tspan y='0'>"
            b"Two</tspan><tspan y='9'>lines</tspan><tspan dy='1em'>three</tspan></text>"
            b"<foreignObject><p>Foreign words</p></foreignObject><text display='none'>Off</text>"
            b"<text><tspan visibility='hidden'>Unseen</tspan></text></g></svg><p>After</p>"
            b"<p display='none'>HTML has no display attribute</p>",
            HTML,
        ),
        Text(
            (
                "Before\n\nRainfall (mm)\nTwo lines three\n\nForeign words\n\nAfter",
                "HTML has no display attribute",
            ),
            absent=("Tooltip", "About", "fill", "Defined", "Off", "Unseen"),
        ),
    ),
    Case(
        # White space collapsed within each piece of text only: "a <b> b</b>" kept two
        # spaces (resvg's nested tspans, pages formatted across lines).
        "html white space collapses across elements",
        Doc(b"<p>a <b> b</b> c <i> </i>\n d</p><pre>x  <b> y</b></pre>", HTML),
        Text(("a b c d\n\nx   y",)),
    ),
    Case(
        # W3C's epub-tests pub-xml-external-id: the HTML parser ended the document type at
        # its first `>`, so "]>" was the page's first words; the entity naming a file is not
        # read.
        "html document type's internal subset is no text, its entities not expanded",
        Doc(
            b'<?xml version="1.0"?>\n<!DOCTYPE html [\n <!ENTITY xxe SYSTEM "/etc/passwd">\n'
            b' <!ENTITY odd "a]>b">\n]>\n<html><body><p>Test passes.</p><p>&xxe;</p></body></html>',
            HTML,
        ),
        Text(("Test passes.\n\n&xxe;",), absent=("]>", "root:")),
    ),
    Case(
        # UTF-8 but for one Latin-1 byte (trafilatura's maescot.de page): read in
        # Windows-1252 as a whole, each "\u00fc" became "\u00c3\u00bc"
        "html in utf-8 with a stray latin-1 byte stays utf-8",
        Doc(
            "<meta charset='UTF-8'><p>Standardausf\u00fchrung, wei\u00df, gr\u00fcn und "
            "s\u00fc\u00df. \u00dcber M\u00e4scot, das Schaf: gro\u00df, \u00d6l und "
            "\u00c4pfel.</p>".encode()
            + "<script>/* M\u00e4scot */</script>".encode("latin-1"),
            HTML,
        ),
        Text(("Standardausf\u00fchrung, wei\u00df, gr\u00fcn und s\u00fc\u00df. \u00dcber M",)),
    ),
    Case(
        # Google's blogs keep each post in a script's template and again in a noscript, what
        # a browser without scripts shows: skipped, the post was lost. A notice stays out.
        "html noscript holding the content is read, a notice is not",
        Doc(
            b"<script type='text/template'><p>Post in a template.</p></script><noscript>"
            + b"<p>Over the past few years threats have grown.</p>" * 12
            + b"</noscript><noscript><p>Enable JavaScript to see the comments.</p></noscript>"
            + b"<noscript>"
            + b"&lt;img src='//pixel.example/c.gif?long=query'&gt;" * 20
            + b"</noscript>",
            HTML,
        ),
        Text(
            ("Over the past few years threats have grown.\n\nOver the past",),
            absent=("template", "Enable JavaScript", "<img", "pixel"),
        ),
    ),
    Case(
        # IDPF's Kusamakura and NHK's easy-Japanese news: the reading aid above each word
        # was read into the text ("山路やまみちを登りながら")
        "html ruby's reading aid is left out",
        Doc(
            "<p><ruby>山路<rt>やまみち</rt></ruby>を登りながら、<ruby>智<rp>(</rp><rt>ち</rt>"
            "<rp>)</rp></ruby>に働けば</p>".encode(),
            HTML,
        ),
        Text(("山路を登りながら、智に働けば",), absent=("やまみち", "(")),
    ),
    Case(
        "html title falls back to first h1",
        Doc(b"<body><h2>Minor</h2><h1>The Heading</h1><p>text</p></body>", HTML),
        Text(("The Heading", "text"), title="The Heading", sections=["Minor", "The Heading"]),
    ),
    Case(
        "html whose only words are its title has it as its text",
        Doc(
            b"<html><head><title>Moved to /weirs\n</title><script>go()</script></head></html>", HTML
        ),
        Text(("Moved to /weirs",), title="Moved to /weirs"),
    ),
    Case(
        "pdf encrypted with empty user password opens",
        Doc(_encrypted_pdf(""), PDF),
        Text(
            ("chlorophyll molecules capture sunlight",),
            page_count=2,
            title="Photosynthesis in Plants",
        ),
    ),
    _example_case(
        "kafka-basics.txt",
        Text(("Kafka Basics: Partitions and Consumer Groups", "card dealer reshuffling the deck")),
    ),
    _example_case(
        "sourdough.md",
        Text(
            ("a bubbly starter that doubles in four to six hours", "100 g active sourdough"),
            absent=("https://", "**", "```"),
            title="Country Sourdough Bread",
            sections=[
                "Country Sourdough Bread",
                "Ingredients",
                "Feeding the Starter",
                "Mixing and Bulk Fermentation",
                "Shaping and Cold Retard",
                "Baking",
                "Troubleshooting",
            ],
        ),
    ),
    _example_case(
        "lighthouses.html",
        Text(
            ("more than twenty nautical miles across the dark sea", "Pharos of Alexandria"),
            absent=("SCRIPT_SHOULD_NOT_LEAK", "NOSCRIPT_SHOULD_NOT_LEAK", "font-family", "<"),
            title="A Short History of Lighthouses",
            sections=[
                "A Short History of Lighthouses",
                "Candles, Coal and Oil",
                "The Fresnel Lens",
                "Keepers and Automation",
            ],
        ),
    ),
    _example_case(
        "photosynthesis.pdf",
        Text(
            ("chlorophyll molecules capture sunlight", "the Calvin cycle fixes carbon dioxide"),
            title="Photosynthesis in Plants",
            page_count=2,
        ),
    ),
    _example_case(
        "tea.docx",
        Text(
            ("misty hillside tea gardens in Darjeeling", "Green tea\tnot oxidised"),
            title="Tea Cultivation",
            sections=["Where Tea Grows", "Plucking and Processing"],
        ),
    ),
] + [
    # Plain text in other encodings, kept as data: one row per encoding (encoded_texts.json).
    Case(
        row["description"],
        Doc(row["text"].encode(row["codec"]), PLAIN),
        Text(tuple(row["contains"]), absent=tuple(row["absent"])),
    )
    for row in json.loads((Path(__file__).parent / "encoded_texts.json").read_text())
]


@pytest.mark.unit
@pytest.mark.parametrize("case", SUCCESS_CASES, ids=[c.description for c in SUCCESS_CASES])
def test_extract(case: Case[Doc, Text]) -> None:
    parsed = extract(case.given.data, case.given.media_type)
    assert isinstance(parsed, ParsedText)
    for phrase in case.expected.contains:
        assert phrase in parsed.text
    for phrase in case.expected.absent:
        assert phrase not in parsed.text
    assert parsed.title == case.expected.title
    assert parsed.page_count == case.expected.page_count
    assert parsed.sections == case.expected.sections
    assert parsed.text == parsed.text.strip()
    assert "\n\n\n" not in parsed.text


@pytest.mark.unit
def test_pdf_pages_are_separated_by_a_blank_line() -> None:
    parsed = extract(_example("photosynthesis.pdf"), PDF)
    assert "at the end of the chain.\n\nThe Calvin Cycle" in parsed.text


@pytest.mark.unit
def test_text_is_truncated_at_the_cap() -> None:
    parsed = extract(b"x" * (MAX_TEXT_CHARS + 10), PLAIN)
    assert len(parsed.text) == MAX_TEXT_CHARS


ERROR_CASES: list[Case[Doc, str]] = [
    Case("unsupported media type", Doc(b"\x89PNG\r\n", "image/png"), "unsupported_media_type"),
    Case("empty media type", Doc(b"hello", ""), "unsupported_media_type"),
    Case("corrupt pdf example", Doc(_example("bad/corrupt.pdf"), PDF), "corrupt_file"),
    Case("truncated pdf", Doc(_example("photosynthesis.pdf")[:400], PDF), "corrupt_file"),
    Case("random bytes as pdf", Doc(_example("bad/random.bin"), PDF), "corrupt_file"),
    Case("random bytes as docx", Doc(_example("bad/random.bin"), DOCX), "corrupt_file"),
    Case("broken docx zip", Doc(b"PK\x03\x04 not a zip", DOCX), "corrupt_file"),
    Case("zip without word parts", Doc(_zip({"a.txt": b"hi"}), DOCX), "corrupt_file"),
    Case("truncated docx", Doc(_example("tea.docx")[:1000], DOCX), "corrupt_file"),
    Case("docx styles part of no type", Doc(_docx_without_styles_type(), DOCX), "corrupt_file"),
    Case("encrypted pdf", Doc(_encrypted_pdf("s3cret"), PDF), "encrypted_pdf"),
    Case("pdf without text", Doc(_blank_pdf(), PDF), "no_text"),
    Case("empty text", Doc(b"", PLAIN), "no_text"),
    Case("whitespace only text", Doc(b" \n\t\r\n ", PLAIN), "no_text"),
    Case("html with only script", Doc(b"<html><script>x=1</script></html>", HTML), "no_text"),
    Case("markdown with only an image", Doc(b"![](https://e.com/a.png)\n", MARKDOWN), "no_text"),
    Case("odd-length utf-16", Doc(b"\xff\xfeA\x00B", PLAIN), "decode_error"),
    Case("binary as plain text", Doc(_example("bad/random.bin"), PLAIN), "decode_error"),
    Case("nul-ridden binary", Doc(b"\x00\x01\x02\x03ab" * 200, PLAIN), "decode_error"),
    Case("utf-32 bom, broken", Doc(b"\xff\xfe\x00\x00A\x00\x00", PLAIN), "decode_error"),
    Case("docx bomb", Doc(ratio_bomb("word/document.xml"), DOCX), "archive_too_large"),
    Case("pptx bomb", Doc(ratio_bomb("ppt/presentation.xml"), PPTX), "archive_too_large"),
    Case(
        "xlsx with too many parts",
        Doc(many_entries_bomb(MAX_ENTRIES + 1, "xl/workbook.xml"), XLSX),
        "archive_too_large",
    ),
    Case("broken pptx", Doc(b"PK\x03\x04 not a zip", PPTX), "corrupt_file"),
    Case(
        "html nested past 2,048 levels",
        Doc(b"<p>before</p>" + b"<b>" * 3000 + b"deep" + b"<p>after</p>", HTML),
        "corrupt_file",
    ),
    Case("zip without workbook", Doc(_zip({"a.txt": b"hi"}), XLSX), "corrupt_file"),
    Case("truncated xlsx", Doc(xlsx_workbook()[:2000], XLSX), "corrupt_file"),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", ERROR_CASES, ids=[c.description for c in ERROR_CASES])
def test_extract_errors(case: Case[Doc, str]) -> None:
    with pytest.raises(ParseError) as caught:
        extract(case.given.data, case.given.media_type)
    error = caught.value
    assert error.code == case.expected
    assert error.code in ERROR_CODES
    assert error.retryable is False
    assert "upload" in error.message
    assert error.message in str(error)


@pytest.mark.unit
def test_every_error_code_is_covered() -> None:
    assert {c.expected for c in ERROR_CASES} == set(ERROR_CODES)


@pytest.mark.unit
def test_corrupt_pdf_message_is_actionable() -> None:
    with pytest.raises(ParseError) as caught:
        extract(_example("bad/corrupt.pdf"), PDF)
    assert caught.value.message.startswith("the PDF could not be read: ")
    assert caught.value.message.endswith("re-export it and upload again")


@pytest.mark.unit
def test_soft_hyphens_are_no_part_of_the_words() -> None:
    # A German page hyphenates its words for narrow screens ("Wäh&shy;rend Sie über den Markt
    # schlen&shy;dern", trafilatura's wehranlage-horka page): kept, no search found them.
    page = "<p>W\u00e4h&shy;rend Sie \u00fcber den Markt schlen\u00adder\u00adn</p>".encode()
    assert extract(page, HTML).text == "W\u00e4hrend Sie \u00fcber den Markt schlendern"


@pytest.mark.unit
def test_lone_surrogates_from_a_pdf_become_replacement_characters() -> None:
    # pypdf decodes some PDFs' text into lone UTF-16 surrogates (tika testPDFVarious.pdf);
    # no UTF-8 encoder takes them, so the whole document used to be lost.
    text = normalize_text("pair \ud83d\ude00 lone \ud800 end \udc80")

    assert text == "pair \U0001f600 lone \ufffd end \ufffd"
    assert text.encode("utf-8")


@pytest.mark.parametrize(
    ("value", "title"),
    [
        ("  River\n levels ", "River levels"),
        (" \t", None),
        (None, None),
        (b"bytes", None),
        # a damaged summary's title (POI's bug45908.ppt): noncharacters, kilobytes of them
        ("PowerPoint Presentation" + "\uffff" * 20_000, "PowerPoint Presentation"),
        ("\ufffe\uffff", None),
        ("Levels " * 200, ("Levels " * 200)[:500]),
    ],
)
def test_a_title_from_metadata_is_one_line_or_none(value: object, title: str | None) -> None:
    assert title_of(value) == title
