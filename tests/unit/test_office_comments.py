"""Reviewers' comments in DOCX, PPTX and XLSX are read after the text they are on
(services/parser/core/office.py `comment_lines`, and the DOCX walk): the libraries read none.
Written with python-docx and openpyxl; a slide's comments part is added to a python-pptx
deck by hand (python-pptx writes none). Tika's commented files are in the corpus."""

from __future__ import annotations

import io
import zipfile

import docx
import openpyxl
import pptx
import pytest
from openpyxl.comments import Comment

from services.common.media import DOCX, PPTX, XLSX
from services.parser.core.extract import extract
from services.parser.core.office import comment_lines

pytestmark = pytest.mark.unit

SLIDE_COMMENTS = (
    '<p:cmLst xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main">'
    '<p:cm authorId="0" idx="1"><p:pos x="10" y="10"/><p:text>Add the 2025 levels.</p:text>'
    "</p:cm></p:cmLst>"
)
THREADED = (
    '<p188:cmLst xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:p188='
    '"http://schemas.microsoft.com/office/powerpoint/2018/8/main"><p188:cm id="{1}">'
    '<p188:replyLst><p188:reply id="{2}"><p188:txBody><a:p><a:r><a:t>Done.</a:t></a:r></a:p>'
    "</p188:txBody></p188:reply></p188:replyLst><p188:txBody><a:p><a:r><a:t>Which year?</a:t>"
    "</a:r></a:p></p188:txBody></p188:cm></p188:cmLst>"
)


def test_a_word_documents_comments_follow_its_text() -> None:
    document = docx.Document()
    paragraph = document.add_paragraph("Levels rose 3 m.")
    document.add_comment(paragraph.runs, text="Check this against the gauge.", author="Ana")
    buffer = io.BytesIO()
    document.save(buffer)
    assert extract(buffer.getvalue(), DOCX).text == (
        "Levels rose 3 m.\n\nCheck this against the gauge."
    )


def test_a_slides_comments_follow_its_notes() -> None:
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Levels"
    buffer = io.BytesIO()
    deck.save(buffer)
    with zipfile.ZipFile(buffer) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    rels = "ppt/slides/_rels/slide1.xml.rels"
    parts[rels] = parts[rels].replace(
        b"</Relationships>",
        b'<Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/comments" Target="../comments/comment1.xml"/></Relationships>',
    )
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>",
        b'<Override PartName="/ppt/comments/comment1.xml" ContentType="application/vnd.'
        b'openxmlformats-officedocument.presentationml.comments+xml"/></Types>',
    )
    parts["ppt/comments/comment1.xml"] = SLIDE_COMMENTS.encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name, part in parts.items():
            target.writestr(name, part)
    assert extract(out.getvalue(), PPTX).text == "Levels\n\nAdd the 2025 levels."


def test_threaded_comments_and_their_replies_each_once() -> None:
    assert comment_lines(THREADED.encode()) == ["Which year?", "Done."]


def test_a_workbooks_cell_notes_follow_its_sheets() -> None:
    workbook = openpyxl.Workbook()
    workbook.active["A1"] = "Level"
    workbook.active["A1"].comment = Comment("Measured at dawn.", "Ana")
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert extract(buffer.getvalue(), XLSX).text == "Sheet\n\nLevel\n\nMeasured at dawn."


def test_a_comments_part_that_is_not_xml_gives_nothing() -> None:
    assert comment_lines(b"<p:cmLst") == []
