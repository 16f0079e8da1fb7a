"""Pictures' alternative text in DOCX and PPTX (services/parser/core/office.py `alt_text`):
what the author wrote a picture shows, for those who cannot see it. python-docx and
python-pptx read none of it (markitdown's test deck describes a slide's picture as "The first
page of the AutoGen ArXiv paper" there, and the words were lost). Pictures marked decorative
give none, and Office's own "Description automatically generated" remark is left out."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from typing import Any

import docx
import pptx
import pytest
from lxml import etree
from pptx.util import Inches

from services.common.media import DOCX, PPTX
from services.parser.core.extract import extract

pytestmark = pytest.mark.unit

DECORATIVE = (
    '<a:extLst xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main">'
    '<a:ext uri="{C183D7F6-B498-43B3-948B-1728B52AA6E4}">'
    '<adec:decorative xmlns:adec="http://schemas.microsoft.com/office/drawing/2017/decorative"'
    ' val="1"/></a:ext></a:extLst>'
)


def png() -> bytes:
    """A 1x1 white PNG."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


Build = Callable[[list[tuple[str, bool]]], bytes]


def mark_decorative(properties: Any) -> None:
    """Mark a drawing decorative, as Office's "Mark as decorative" does."""
    properties.append(etree.fromstring(DECORATIVE))


def word_document(pictures: list[tuple[str, bool]]) -> bytes:
    """A document: a paragraph, then each picture (description, decorative) in its own."""
    document = docx.Document()
    document.add_paragraph("Flood report")
    for description, decorative in pictures:
        run = document.add_paragraph().add_run()
        inline = run.add_picture(io.BytesIO(png()))._inline
        inline.docPr.set("descr", description)
        if decorative:
            mark_decorative(inline.docPr)
    document.add_paragraph("End of report")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def deck(pictures: list[tuple[str, bool]]) -> bytes:
    """One slide titled "Gauges" with each picture (description, decorative)."""
    presentation = pptx.Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[5])
    slide.shapes.title.text = "Gauges"
    for description, decorative in pictures:
        picture = slide.shapes.add_picture(io.BytesIO(png()), Inches(1), Inches(2))
        properties = picture._element.nvPicPr.cNvPr
        properties.set("descr", description)
        if decorative:
            mark_decorative(properties)
    buffer = io.BytesIO()
    presentation.save(buffer)
    return buffer.getvalue()


def test_a_word_pictures_description_follows_its_paragraph() -> None:
    data = word_document([("A map of the flooded streets near the weir", False)])
    assert extract(data, DOCX).text == (
        "Flood report\n\nA map of the flooded streets near the weir\n\nEnd of report"
    )


def test_a_slides_pictures_description_is_read() -> None:
    data = deck([("The gauge at the mill race, under water", False)])
    assert extract(data, PPTX).text == "Gauges\n\nThe gauge at the mill race, under water"


@pytest.mark.parametrize(("build", "kind"), [(word_document, DOCX), (deck, PPTX)])
def test_a_decorative_picture_and_an_empty_description_give_nothing(
    build: Build, kind: str
) -> None:
    data = build([("A blue line under the heading", True), ("", False)])
    assert "blue line" not in extract(data, kind).text


@pytest.mark.parametrize(("build", "kind"), [(word_document, DOCX), (deck, PPTX)])
def test_offices_made_up_remark_is_left_out_its_words_kept(build: Build, kind: str) -> None:
    generated = "A picture containing water, river\n\nDescription automatically generated"
    text = extract(build([(generated, False)]), kind).text
    assert "A picture containing water, river" in text
    assert "automatically" not in text


@pytest.mark.parametrize(("build", "kind"), [(word_document, DOCX), (deck, PPTX)])
def test_a_bare_file_name_says_nothing_of_the_picture(build: Build, kind: str) -> None:
    # What PowerPoint and python-pptx write where nobody described the picture (Unstructured's
    # picture.pptx: "python-powered.png"; docling's powerpoint_malformed_pictures.pptx).
    text = extract(build([("python-powered.png", False), ("IMG 0042.JPG", False)]), kind).text
    assert "python-powered" not in text
    assert "IMG 0042.JPG" in text  # words with a space are a description, however poor


def test_the_newer_made_up_remark_is_left_out_too() -> None:
    generated = "A cartoon duck holding a paper AI-generated content may be incorrect."
    assert (
        extract(deck([(generated, False)]), PPTX).text == "Gauges\n\nA cartoon duck holding a paper"
    )
