"""Office documents saved as one XML file (Flat OPC, Word 2003 XML, Excel 2003 XML) read as the
documents they are, and base64 files inside other XML left out of the text."""

from __future__ import annotations

import base64
import io
import zipfile

import pytest
from lxml import etree

from services.common.media import XML, sniff_media_type
from services.parser.core.errors import ParseError
from services.parser.core.extract import extract
from tests.fixtures.corpus import corpus_file

pytestmark = pytest.mark.unit

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PKG = "http://schemas.microsoft.com/office/2006/xmlPackage"
W2003 = "http://schemas.microsoft.com/office/word/2003/wordml"
SS = "urn:schemas-microsoft-com:office:spreadsheet"


def _read(path: str) -> bytes:
    return corpus_file(path).read()


def _flat(package: bytes) -> bytes:
    """`package` written as Flat OPC, as Word's "Save as XML Document" writes one: each part
    in a `pkg:part`, an XML part as its element, any other as base64; no content-types
    part (each part carries its type)."""
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        types = etree.fromstring(archive.read("[Content_Types].xml"))
        ns = "{http://schemas.openxmlformats.org/package/2006/content-types}"
        overrides = {o.get("PartName"): o.get("ContentType") for o in types.iter(f"{ns}Override")}
        defaults = {d.get("Extension"): d.get("ContentType") for d in types.iter(f"{ns}Default")}
        root = etree.Element(f"{{{PKG}}}package", nsmap={"pkg": PKG})
        for name in archive.namelist():
            if name == "[Content_Types].xml" or name.endswith("/"):
                continue
            kind = overrides.get(f"/{name}") or defaults.get(name.rsplit(".", 1)[-1], "")
            part = etree.SubElement(root, f"{{{PKG}}}part")
            part.set(f"{{{PKG}}}name", f"/{name}")
            part.set(f"{{{PKG}}}contentType", kind)
            content = archive.read(name)
            if kind.endswith("xml"):
                holder = etree.SubElement(part, f"{{{PKG}}}xmlData")
                holder.append(etree.fromstring(content))
            else:
                holder = etree.SubElement(part, f"{{{PKG}}}binaryData")
                holder.text = base64.encodebytes(content).decode()
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True))


@pytest.mark.parametrize(
    ("xml_path", "twin_path"),
    [
        # Word's own Flat OPC and Word 2003 XML of one document, beside its DOCX
        ("oletools/harmless-clean.xml", "oletools/harmless-clean.docx"),
        ("oletools/harmless-clean-2003.xml", "oletools/harmless-clean.docx"),
    ],
)
def test_a_word_document_saved_as_xml_reads_as_its_docx(xml_path: str, twin_path: str) -> None:
    data = _read(xml_path)
    assert sniff_media_type(data) == XML
    as_xml, as_docx = extract(data, XML), extract(_read(twin_path), DOCX)
    assert as_xml.text == as_docx.text
    assert "It contains neither macros nor dde links nor" in as_xml.text  # one paragraph
    assert (as_xml.title, as_xml.headings) == (as_docx.title, as_docx.headings) != (None, [])


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("tika/testWORD_embedded_pics.docx", DOCX),  # pictures: binary parts
        ("poi/form_footnotes.docx", DOCX),
        ("python-pptx/test_slides.pptx", PPTX),
        ("tika/testEXCEL.xlsx", XLSX),
    ],
)
def test_any_package_written_flat_reads_as_the_package(path: str, media_type: str) -> None:
    package = _read(path)
    flat = _flat(package)
    assert sniff_media_type(flat) == XML
    assert extract(flat, XML).text == extract(package, media_type).text


def test_a_word_2003_document_reads_tables_numbers_boxes_and_notes_as_its_docx() -> None:
    # Tika's test document, saved by Word as 2003 XML and as DOCX
    as_xml = extract(_read("tika/testWORD_2003ml.xml"), XML).text
    as_docx = extract(_read("tika/testWORD_2006ml.docx"), DOCX).text
    for line in (
        "1. this is a basic list 1.",  # the number Word drew
        "R1c1\tR1c2\tR1c3",  # a table row
        "R4c1\tR3c2",
        "This is text within a shape",  # a text box
        "This is a comment",
        " And this is the footnote",
    ):
        assert line in as_xml.split("\n") and line in as_docx.split("\n"), line
    notes = as_xml.split("This should point to an endnote")[1]
    assert "And this is the footnote" in notes and "This is a comment" in notes
    assert "frog" not in as_xml  # deleted in tracked changes


def test_a_flat_package_keeps_its_pictures_and_properties_out_of_the_text() -> None:
    flat = _flat(_read("tika/testWORD_embedded_pics.docx"))
    pictures = etree.fromstring(flat).iter(f"{{{PKG}}}binaryData")
    some_base64 = [picture.text.split()[1] for picture in pictures if picture.text]
    text = extract(flat, XML).text
    assert some_base64 and not any(line in text for line in some_base64)
    assert "relationships" not in text and "docProps" not in text


def test_a_flat_package_with_no_document_in_it_fails_saying_so() -> None:
    flat = (
        f'<?xml version="1.0"?><pkg:package xmlns:pkg="{PKG}">'
        '<pkg:part pkg:name="/docProps/app.xml" pkg:contentType="application/xml">'
        "<pkg:xmlData><Properties><Company>Acme</Company></Properties></pkg:xmlData>"
        "</pkg:part></pkg:package>"
    ).encode()
    with pytest.raises(ParseError) as failure:
        extract(flat, XML)
    assert failure.value.code == "corrupt_file"
    assert "pkg:package" in failure.value.message and "missing" in failure.value.message


def test_a_word_2003_document_reads_paragraphs_headings_and_no_field_code_or_picture() -> None:
    picture = base64.b64encode(bytes(range(256)) * 8).decode()
    xml = f"""<?xml version="1.0"?>
<w:wordDocument xmlns:w="{W2003}" xmlns:o="urn:schemas-microsoft-com:office:office">
 <o:DocumentProperties><o:Author>someone</o:Author><o:Title>The Report</o:Title>
 </o:DocumentProperties>
 <w:styles><w:style w:styleId="berschrift2"><w:name w:val="heading 2"/></w:style></w:styles>
 <w:body>
  <w:p><w:pPr><w:pStyle w:val="berschrift2"/></w:pPr><w:r><w:t>Findings</w:t></w:r></w:p>
  <w:p><w:r><w:t>Sales </w:t></w:r><w:r><w:instrText>DDEAUTO c:\\cmd.exe</w:instrText></w:r>
   <w:r><w:t>rose</w:t><w:tab/><w:t>12%</w:t></w:r>
   <w:r><w:pict><w:binData w:name="wordml://1.png">{picture}</w:binData>
    <v:shape xmlns:v="urn:schemas-microsoft-com:vml"><v:textbox><w:txbxContent>
     <w:p><w:r><w:t>A boxed note</w:t></w:r></w:p>
    </w:txbxContent></v:textbox></v:shape></w:pict></w:r></w:p>
 </w:body>
</w:wordDocument>""".encode()
    parsed = extract(xml, XML)
    assert parsed.text == "Findings\n\nSales rose\t12%\n\nA boxed note"
    assert parsed.title == "The Report"
    assert [(h.title, h.level) for h in parsed.headings] == [("Findings", 2)]


def test_an_excel_2003_workbook_reads_sheets_as_headings_and_rows_as_lines() -> None:
    parsed = extract(_read("oletools/dde-in-excel2003.xml"), XML)
    assert parsed.text.startswith("Tabelle1\n\nThis spread sheet has a dde link")
    assert "user" not in parsed.text  # its document properties are not its text
    assert [h.title for h in parsed.headings] == ["Tabelle1", "Tabelle2", "Tabelle3"]


def test_an_excel_2003_row_keeps_columns_types_notes_and_bounds() -> None:
    xml = f"""<?xml version="1.0"?>
<Workbook xmlns="{SS}" xmlns:ss="{SS}" xmlns:html="http://www.w3.org/TR/REC-html40">
 <Worksheet ss:Name="Q1"><Table>
  <Row><Cell ss:MergeAcross="1"><Data ss:Type="String">Region</Data></Cell>
   <Cell ss:Index="4"><Data ss:Type="Number">42.0</Data></Cell>
   <Cell><Data ss:Type="DateTime">2024-03-01T00:00:00.000</Data></Cell>
   <Cell><Data ss:Type="DateTime">1899-12-31T06:09:23.000</Data></Cell>
   <Cell><Data ss:Type="Boolean">1</Data></Cell>
   <Cell><Data ss:Type="Number">n/a</Data><Comment ss:Author="Jo"><ss:Data><html:B>Check&#13;
   </html:B>this   figure</ss:Data></Comment></Cell></Row>
  <Row><Cell><ss:Data ss:Type="String"><html:B>North</html:B> side</ss:Data></Cell>
   <Cell ss:Index="999999999999"><Data ss:Type="String">far</Data></Cell></Row>
 </Table></Worksheet>
</Workbook>""".encode()
    lines = extract(xml, XML).text.split("\n")
    assert lines[:3] == ["Q1", "", "Region\t\t\t42\t2024-03-01\t06:09:23\tTrue\tn/a"]
    far = lines[3].split("\t")
    assert (far[0], far[-1], len(far)) == ("North side", "far", 16_384)
    assert lines[4:] == ["", "Check", "this figure"]  # the sheet's notes after its rows


def test_an_excel_2003_export_that_never_declared_its_prefix_still_reads() -> None:
    # What a script's `echo '<Workbook xmlns="urn:...">'` writes: `ss:` used, not declared
    xml = f"""<?xml version="1.0"?><Workbook xmlns="{SS}"><Worksheet ss:Name="Report">
<Table><Row><Cell><Data ss:Type="Number">3.0</Data></Cell>
<Cell ss:Index="3"><Data ss:Type="String">x</Data></Cell></Row></Table></Worksheet>
</Workbook>""".encode()
    assert extract(xml, XML).text == "Report\n\n3\t\tx"


def test_a_base64_file_inside_xml_is_not_read_as_words() -> None:
    cover = base64.encodebytes(bytes(range(256)) * 4).decode()  # lines of 76
    words = " ".join(["word"] * 80)
    protein = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ" * 5
    xml = f"""<?xml version="1.0"?>
<FictionBook><body><p>{words}</p><p>ISBN 9780306406157</p><p>{protein}</p>
<p>{"x" * 300}</p></body><binary id="cover.jpg">{cover}</binary></FictionBook>""".encode()
    lines = extract(xml, XML).text.split("\n")  # leaves side by side: a line each
    assert lines == [words, "ISBN 9780306406157", protein, "x" * 300]
