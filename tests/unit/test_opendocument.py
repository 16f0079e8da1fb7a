"""OpenDocument (ODT, ODS, ODP, ODG, as packages, templates or flat XML) to text
(services/parser/core/opendocument.py), the files written with odfdo; real ones from Apache
Tika's tests are in the corpus."""

from __future__ import annotations

import datetime
import io
import re

import pytest
from odfdo import Annotation, Document, DrawPage, Frame, Header, List, Note, Paragraph, Table

from services.common.media import (
    FODS,
    FODT,
    ODG,
    ODP,
    ODS,
    ODT,
    XML,
    sniff_media_type,
    unsupported_reason,
)
from services.parser.core.errors import ParseError
from services.parser.core.extract import extract
from tests.fixtures.corpus import corpus_file
from tests.fixtures.documents import rezipped
from tests.fixtures.scaling import LINEAR_GROWTH_BOUND, growth

pytestmark = pytest.mark.unit


def saved(document: Document) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def text_document() -> bytes:
    document = Document("text")
    body = document.body
    body.clear()
    body.append(Header(1, "Flood plan"))
    paragraph = Paragraph("Close the gates at dawn.")
    paragraph.append(Note(note_id="n1", citation="1", body="Gates 3 and 4 only."))
    paragraph.append(Annotation("Which gates?", creator="Ana"))
    body.append(paragraph)
    body.append(List(["Sandbags", "Pumps"]))
    table = Table("Levels", width=2, height=2)
    for cell, value in {"A1": "Station", "B1": "Metres", "A2": "Weir", "B2": "3.2"}.items():
        table.set_value(cell, value)
    body.append(table)
    document.meta.set_title("River plan")
    return saved(document)


def test_a_text_document_reads_in_order_with_headings_then_notes_and_comments() -> None:
    data = text_document()
    assert sniff_media_type(data) == ODT
    parsed = extract(data, ODT)
    assert parsed.text == (
        "Flood plan\n\nClose the gates at dawn.\n\nSandbags\n\nPumps\n\n"
        "Station\tMetres\nWeir\t3.2\n\nGates 3 and 4 only.\n\nWhich gates?"
    )
    assert parsed.title == "River plan"
    assert [(h.level, h.title) for h in parsed.headings] == [(1, "Flood plan")]


def test_a_spreadsheet_reads_each_sheet_under_its_name() -> None:
    document = Document("spreadsheet")
    document.body.clear()
    for name, rows in {"Rain": [["Month", "mm"], ["March", 61]], "Notes": [["Wet spring"]]}.items():
        sheet = Table(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                sheet.set_value((c, r), value)
        document.body.append(sheet)
    data = saved(document)
    assert sniff_media_type(data) == ODS
    parsed = extract(data, ODS)
    assert parsed.text == "Rain\n\nMonth\tmm\nMarch\t61\n\nNotes\n\nWet spring"
    assert [h.title for h in parsed.headings] == ["Rain", "Notes"]


def test_a_cell_written_with_its_value_only_gives_its_value() -> None:
    # Some programs write a number, date or boolean cell without the paragraph that shows it.
    document = Document("spreadsheet")
    document.body.clear()
    sheet = Table("Rain")
    for c, value in enumerate(["March", 61, datetime.date(2026, 3, 31), True]):
        sheet.set_value((c, 0), value)
    document.body.append(sheet)
    value = rb'office:(?:value|date-value|boolean-value)="[^"]*"'
    shown = re.compile(rb"(" + value + rb"[^>]*>)<text:p>[^<]*</text:p>")

    def unshown(name: str, part: bytes) -> bytes:
        if name != "content.xml":
            return part
        part, count = shown.subn(rb"\1", part)
        assert count == 3
        return part

    data = rezipped(saved(document), unshown)
    assert extract(data, ODS).text == "Rain\n\nMarch\t61\t2026-03-31\ttrue"


def test_a_presentation_reads_each_slide_as_a_page_its_title_a_heading() -> None:
    document = Document("presentation")
    document.body.clear()
    for number, (title, words) in enumerate([("Levels", "Spring floods"), ("Plan", "Sandbags")]):
        page = DrawPage(f"p{number}", name=f"p{number}")
        page.append(Frame.text_frame(title, size=("9cm", "2cm"), presentation_class="title"))
        page.append(Frame.text_frame(words, size=("9cm", "5cm"), position=("1cm", "4cm")))
        document.body.append(page)
    data = saved(document)
    assert sniff_media_type(data) == ODP
    parsed = extract(data, ODP)
    assert parsed.text == "Levels\n\nSpring floods\n\nPlan\n\nSandbags"
    assert parsed.page_count == 2
    assert parsed.pages == [0, parsed.text.index("Plan")]
    assert [h.title for h in parsed.headings] == ["Levels", "Plan"]


def test_a_password_protected_document_is_refused_saying_so() -> None:
    # Apache Tika's testODTEncrypted.odt: its parts are encrypted, the manifest says so.
    encrypted = (
        b'<manifest:file-entry manifest:full-path="content.xml"><manifest:encryption-data/>'
        b"</manifest:file-entry></manifest:manifest>"
    )
    locked = rezipped(
        text_document(),
        lambda name, part: (
            part.replace(b"</manifest:manifest>", encrypted)
            if name == "META-INF/manifest.xml"
            else part
        ),
    )
    assert sniff_media_type(locked) is None
    assert "password-protected OpenDocument" in unsupported_reason(locked)


def test_a_flat_text_document_is_read_not_indexed_as_its_xml() -> None:
    # Read as plain text, LibreOffice's .fodt was indexed as namespaces, styles and macros.
    data = corpus_file("tika/testODTMacro.fodt").read()
    assert sniff_media_type(data) == FODT
    text = extract(data, FODT).text
    assert text == "Hello dear user,\n\nClick the smiley\n\nJust one little click…\n\n- hacker"


def test_a_flat_spreadsheet_reads_each_sheet_under_its_name() -> None:
    data = corpus_file("tika/testFODS_embeddedChart.fods").read()
    assert sniff_media_type(data) == FODS
    parsed = extract(data, FODS)
    assert parsed.text == "Sheet2\n\nSheet1\n\nA\n1"
    assert [h.title for h in parsed.headings] == ["Sheet2", "Sheet1"]


def test_a_flat_document_cut_short_fails_saying_why() -> None:
    data = corpus_file("tika/testODTMacro.fodt").read()
    with pytest.raises(ParseError) as caught:
        extract(data[: len(data) // 2], FODT)
    assert caught.value.code == "corrupt_file"
    assert "the OpenDocument XML could not be read" in str(caught.value)


def test_only_an_office_document_root_naming_its_type_makes_xml_a_flat_document() -> None:
    head = b'<?xml version="1.0"?>\n'
    content = head + b'<office:document-content office:version="1.3"><office:body/>'
    unnamed = head + b'<office:document office:version="1.3"><office:body/>'
    assert sniff_media_type(content + b"</office:document-content>") == XML  # XML, not ODF
    assert sniff_media_type(unnamed + b"</office:document>") == XML
    template = (
        b'<office:document office:mimetype="application/vnd.oasis.opendocument.text-template">'
    )
    assert sniff_media_type(head + template + b"</office:document>") == FODT


def test_sniffing_xml_that_never_closes_its_root_grows_linearly() -> None:
    def opened(count: int) -> bytes:
        return b'<?xml version="1.0"?>' + b"<office:document office:version " * count

    assert sniff_media_type(opened(1_900)) == XML
    assert growth(sniff_media_type, opened(500), opened(1_900)) < LINEAR_GROWTH_BOUND


def test_a_drawing_is_read_page_by_page_with_the_words_of_its_shapes() -> None:
    # LibreOffice Draw's file from Tika's tests: one page, one path with an empty paragraph.
    data = corpus_file("tika/LibreOfficeDraw_odg_1.3.odg").read()
    assert sniff_media_type(data) == ODG
    with pytest.raises(ParseError, match="no readable text"):
        extract(data, ODG)
    worded = rezipped(
        data,
        lambda name, part: (
            part.replace(b"<text:p/></draw:path>", b"<text:p>Weir 3</text:p></draw:path>")
            if name == "content.xml"
            else part
        ),
    )
    parsed = extract(worded, ODG)
    assert (parsed.text, parsed.page_count, parsed.pages) == ("Weir 3", 1, [0])


def test_a_template_is_read_as_a_document_of_its_kind() -> None:
    template = rezipped(
        text_document(),
        lambda name, part: part + b"-template" if name == "mimetype" else part,
    )
    assert sniff_media_type(template) == ODT
    assert extract(template, ODT).text.startswith("Flood plan")
