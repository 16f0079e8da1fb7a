"""The DOCX walk reads the text where Word shows it: inside content controls, nested tables,
text boxes, fields and tracked insertions, once each; not deleted or moved-away text, not the
copy of a shape kept for old readers, not ruby's reading aid. python-docx's own walk lost all
of these (a form in nested tables came out as no text at all) and repeated a merged cell once
per column it spans. Macro-enabled documents and templates read like documents."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from email.message import EmailMessage
from typing import NamedTuple

import docx
import openpyxl
import pptx
import pytest

from services.common.media import XLSX, sniff_media_type
from services.parser.core.errors import ParseError
from services.parser.core.extract import extract
from tests.fixtures.documents import rezipped

pytestmark = pytest.mark.unit

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
M = "http://schemas.openxmlformats.org/officeDocument/2006/math"
NAMESPACES = (
    f'xmlns:w="{W}" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'
    ' xmlns:v="urn:schemas-microsoft-com:vml"'
)


def run(text: str) -> str:
    return f'<w:r><w:t xml:space="preserve">{text}</w:t></w:r>'


def para(*content: str, style: str | None = None) -> str:
    properties = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    return f"<w:p>{properties}{''.join(content)}</w:p>"


def table(*rows: str) -> str:
    return f"<w:tbl>{''.join(rows)}</w:tbl>"


def row(*cells: str) -> str:
    return f"<w:tr>{''.join(cells)}</w:tr>"


def cell(*blocks: str, span: int = 1) -> str:
    properties = f'<w:tcPr><w:gridSpan w:val="{span}"/></w:tcPr>' if span > 1 else ""
    return f"<w:tc>{properties}{''.join(blocks)}</w:tc>"


def control(*content: str) -> str:
    """A content control (`w:sdt`) whose placeholder text lies in its properties."""
    placeholder = '<w:sdtPr><w:alias w:val="Name"/><w:tag w:val="placeholder text"/></w:sdtPr>'
    return f"<w:sdt>{placeholder}<w:sdtContent>{''.join(content)}</w:sdtContent></w:sdt>"


def text_box(*blocks: str) -> str:
    """A run anchoring a text box, as Word writes it: the shape, and a VML copy for readers
    that know no shapes (the same text again)."""
    content = "".join(blocks)
    return (
        "<w:r><mc:AlternateContent>"
        f'<mc:Choice Requires="wps"><w:drawing><w:txbxContent>{content}</w:txbxContent>'
        "</w:drawing></mc:Choice>"
        f"<mc:Fallback><w:pict><v:textbox><w:txbxContent>{content}</w:txbxContent></v:textbox>"
        "</w:pict></mc:Fallback>"
        "</mc:AlternateContent></w:r>"
    )


class Related(NamedTuple):
    """A part the document relates to: `word/{name}` of `content_type`, related by
    `relationship` (the last segment of its type) under the id `rid`."""

    rid: str
    name: str
    content_type: str
    relationship: str
    data: bytes


def notes_part(kind: str, xml: str) -> Related:
    """A `footnotes` or `endnotes` part holding `xml`, its notes written `<note ...>`."""
    tag = kind.removesuffix("s")
    content = (
        (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f"<w:{kind} {NAMESPACES}>{xml}</w:{kind}>"
        )
        .replace("<note", f"<w:{tag}")
        .replace("</note>", f"</w:{tag}>")
    )
    content_type = f"application/vnd.openxmlformats-officedocument.wordprocessingml.{kind}+xml"
    return Related(f"rId{kind}", f"{kind}.xml", content_type, kind, content.encode())


def with_body(
    body: str, *, content_type: str | None = None, related: tuple[Related, ...] = ()
) -> bytes:
    """A python-docx document whose body is `body` (and whose main part has `content_type`;
    relating to the `related` parts)."""
    buffer = io.BytesIO()
    docx.Document().save(buffer)
    entries = {}
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source:
        for name in source.namelist():
            entries[name] = source.read(name)
    entries["word/document.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f"<w:document {NAMESPACES}><w:body>{body}</w:body></w:document>"
    ).encode()
    for part in related:
        entries[f"word/{part.name}"] = part.data
        override = (
            f'<Override PartName="/word/{part.name}" ContentType="{part.content_type}"/></Types>'
        )
        types = entries["[Content_Types].xml"].decode()
        entries["[Content_Types].xml"] = types.replace("</Types>", override).encode()
        relationship = (
            f'<Relationship Id="{part.rid}" Target="{part.name}" Type="http://schemas.'
            "openxmlformats.org/officeDocument/2006/relationships/"
            f'{part.relationship}"/></Relationships>'
        )
        rels = entries["word/_rels/document.xml.rels"].decode()
        entries["word/_rels/document.xml.rels"] = rels.replace(
            "</Relationships>", relationship
        ).encode()
    if content_type is not None:
        types = entries["[Content_Types].xml"].decode()
        main = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
        assert main in types
        entries["[Content_Types].xml"] = types.replace(main, content_type).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name, data in entries.items():
            target.writestr(name, data)
    return out.getvalue()


def text_of(body: str) -> str:
    return extract(with_body(body), DOCX).text


BODIES = {
    "content controls around blocks and runs": (
        control(para(run("Ada Lovelace"))) + para(run("Born "), control(run("1815")), run(".")),
        "Ada Lovelace\n\nBorn 1815.",
    ),
    "a table nested in a cell": (
        table(
            row(
                cell(
                    para(run("Outer")),
                    table(row(cell(para(run("inner one"))), cell(para(run("inner two"))))),
                ),
                cell(para(run("Right"))),
            )
        ),
        "Outer inner one inner two\tRight",
    ),
    "rows and cells inside content controls": (
        table(control(row(control(cell(para(run("a")))), cell(para(run("b")))))),
        "a\tb",
    ),
    "a merged cell once, not once per column": (
        table(
            row(cell(para(run("Full name")), span=3)),
            row(cell(para(run("x"))), cell(para(run("y"))), cell(para(run("z")))),
        ),
        "Full name\nx\ty\tz",
    ),
    "a text box once, after its paragraph": (
        para(run("Before the box."), text_box(para(run("Boxed words.")))) + para(run("After.")),
        "Before the box.\n\nBoxed words.\n\nAfter.",
    ),
    "simple fields, smart tags and hyperlinks": (
        para(
            run("Page "),
            '<w:fldSimple w:instr="PAGE">' + run("7") + "</w:fldSimple>",
            run(" of the "),
            "<w:smartTag>" + run("Thames") + "</w:smartTag>",
            ' <w:hyperlink r:id="" xmlns:r="x">' + run(" guide") + "</w:hyperlink>",
        ),
        "Page 7 of the Thames guide",
    ),
    "tracked changes as accepted": (
        para(
            run("The river is "),
            "<w:del><w:r><w:delText>very </w:delText></w:r></w:del>",
            "<w:ins>" + run("quite ") + "</w:ins>",
            "<w:moveFrom>" + run("long and ") + "</w:moveFrom>",
            run("wide"),
            "<w:moveTo>" + run(" and long") + "</w:moveTo>",
            run("."),
        ),
        "The river is quite wide and long.",
    ),
    "ruby: the base text, not its reading aid": (
        para(
            "<w:r><w:ruby><w:rt>" + run("たんとうしゃ") + "</w:rt>"
            "<w:rubyBase>" + run("担当者") + "</w:rubyBase></w:ruby></w:r>",
            run("氏名"),
        ),
        "担当者氏名",
    ),
    "an equation's pieces apart, without invisible operators": (
        para(
            run("Then "),
            f'<m:oMath xmlns:m="{M}"><m:sSup><m:e><m:r><m:t>x+a</m:t></m:r></m:e><m:sup><m:r>'
            "<m:t>n</m:t></m:r></m:sup></m:sSup><m:r><m:t>=cos\u2061</m:t></m:r><m:r><m:t>"
            "\u03b1</m:t></m:r></m:oMath>",
            run(" holds."),
        ),
        "Then x+a n =cos \u03b1 holds.",
    ),
    "tabs and line breaks, not page breaks": (
        para(
            run("a"),
            "<w:r><w:tab/></w:r>",
            run("b"),
            "<w:r><w:br/></w:r>",
            run("c"),
            '<w:r><w:br w:type="page"/></w:r>',
            run("d"),
        ),
        "a\tb\ncd",
    ),
}


@pytest.mark.parametrize(("body", "expected"), BODIES.values(), ids=BODIES.keys())
def test_the_text_where_word_shows_it(body: str, expected: str) -> None:
    assert text_of(body) == expected


def test_a_heading_inside_a_content_control_is_a_heading() -> None:
    parsed = extract(
        with_body(control(para(run("Rivers"), style="Heading1")) + para(run("Water."))), DOCX
    )
    assert parsed.text == "Rivers\n\nWater."
    assert [(h.level, h.title) for h in parsed.headings] == [(1, "Rivers")]


def test_footnotes_and_endnotes_follow_the_body_without_their_separators() -> None:
    notice = '<note w:type="continuationNotice" w:id="0">' + para(run("(continued)")) + "</note>"
    footnote = '<note w:id="1">' + para(run("See Smith, 1999.")) + "</note>"
    endnote = '<note w:id="1">' + para(run("Printed in Leeds.")) + "</note>"
    body = para(run("The claim."), '<w:r><w:footnoteReference w:id="1"/></w:r>')
    notes = (notes_part("footnotes", notice + footnote), notes_part("endnotes", endnote))
    data = with_body(body, related=notes)
    assert extract(data, DOCX).text == "The claim.\n\nSee Smith, 1999.\n\nPrinted in Leeds."


def chunk(rid: str, name: str, content_type: str, data: bytes) -> Related:
    return Related(rid, name, content_type, "aFChunk", data)


def test_a_notes_chunk_is_found_through_the_notes_own_relationships() -> None:
    # The note part relates `rIdOwn` to its chunk; the body relates the same id to another.
    relationships = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://'
        'schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rIdOwn" '
        'Target="note.txt" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/aFChunk"/></Relationships>'
    )
    footnote = (
        '<note w:id="1"><w:altChunk r:id="rIdOwn" xmlns:r="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships"/></note>'
    )
    related = (
        notes_part("footnotes", footnote),
        chunk("rIdOwn", "body.txt", "text/plain", b"From the body's part."),
    )
    override = b'<Override PartName="/word/note.txt" ContentType="text/plain"/></Types>'
    data = rezipped(
        with_body(para(run("The claim.")), related=related),
        lambda name, part: (
            part.replace(b"</Types>", override) if name == "[Content_Types].xml" else part
        ),
        {
            "word/_rels/footnotes.xml.rels": relationships.encode(),
            "word/note.txt": b"From the note's own part.",
        },
    )
    assert extract(data, DOCX).text == "The claim.\n\nFrom the note's own part."


def test_imported_html_and_text_chunks_read_in_their_place() -> None:
    html = b"<html><body><h2>Imported</h2><p>From a <b>web</b> page.</p><script>x()</script>"
    chunks = (
        chunk("rIdHtml", "page.html", "text/html", html),
        chunk("rIdText", "notes.txt", "text/plain", "Plain caf\u00e9.".encode("utf-16")),
        chunk("rIdRtf", "old.rtf", "application/rtf", b"{\\rtf1 not read}"),
    )
    body = (
        para(run("Before."))
        + '<w:altChunk r:id="rIdHtml" xmlns:r="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships"/>'
        + '<w:altChunk r:id="rIdText" xmlns:r="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships"/>'
        + '<w:altChunk r:id="rIdRtf" xmlns:r="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships"/>'
        + '<w:altChunk r:id="rIdMissing" xmlns:r="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships"/>' + para(run("After."))
    )
    parsed = extract(with_body(body, related=chunks), DOCX)
    assert parsed.text == "Before.\n\nImported\n\nFrom a web page.\n\nPlain café.\n\nAfter."
    assert [(h.level, h.title) for h in parsed.headings] == [(2, "Imported")]


def test_an_imported_web_archive_reads_as_its_html_body_without_its_headers() -> None:
    archive = EmailMessage()
    archive["Subject"] = "HTML import"  # a header of the archive, not text of the document
    archive.set_content("<html><body><p>From a saved <i>web</i> page.</p></body></html>", "html")
    chunks = (chunk("rIdMht", "page.mht", "message/rfc822", archive.as_bytes()),)
    body = (
        para(run("Before."))
        + '<w:altChunk r:id="rIdMht" xmlns:r="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships"/>' + para(run("After."))
    )
    parsed = extract(with_body(body, related=chunks), DOCX)
    assert parsed.text == "Before.\n\nFrom a saved web page.\n\nAfter."


def test_an_imported_web_archive_nested_past_reading_costs_only_itself() -> None:
    archive = EmailMessage()
    archive.set_content("<div>" * 3000 + "deep" + "</div>" * 3000, "html")
    chunks = (chunk("rIdMht", "page.mht", "message/rfc822", archive.as_bytes()),)
    body = (
        para(run("Before."))
        + '<w:altChunk r:id="rIdMht" xmlns:r="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships"/>' + para(run("After."))
    )
    text = extract(with_body(body, related=chunks), DOCX).text
    assert text.startswith("Before.") and text.endswith("After.")


def nested(levels: int, inner: str) -> str:
    for _ in range(levels):
        inner = control(inner)
    return inner


def test_the_walk_follows_nesting_to_a_bound_and_ends() -> None:
    assert text_of(nested(20, para(run("deep")))) == "deep"  # 40 elements deep
    # Deeper than the walk follows (libxml2 itself refuses XML over 256 deep): what lies
    # beyond is left out, what lies before is read, and the document ends in text.
    assert text_of(para(run("first")) + nested(40, para(run("too deep")))) == "first"


WORD_TYPES = {
    "macro-enabled document (.docm)": "application/vnd.ms-word.document.macroEnabled.main+xml",
    "template (.dotx)": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml"
    ),
    "macro-enabled template (.dotm)": (
        "application/vnd.ms-word.template.macroEnabledTemplate.main+xml"
    ),
}


@pytest.mark.parametrize("content_type", WORD_TYPES.values(), ids=WORD_TYPES.keys())
def test_macro_enabled_documents_and_templates_read_like_documents(content_type: str) -> None:
    data = with_body(para(run("Template text.")), content_type=content_type)
    assert extract(data, DOCX).text == "Template text."


def test_a_package_whose_main_part_is_not_a_document_is_a_corrupt_file() -> None:
    data = with_body(para(run("x")), content_type="application/xml")
    with pytest.raises(ParseError) as raised:
        extract(data, DOCX)
    assert raised.value.code == "corrupt_file"
    assert "not a Word document (its main part is application/xml)" in raised.value.message
    assert "BytesIO" not in raised.value.message


PRESENTATION_TYPES = {
    "template (.potx)": (
        "application/vnd.openxmlformats-officedocument.presentationml.template.main+xml"
    ),
    "show (.ppsx)": (
        "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml"
    ),
    "macro-enabled (.pptm)": "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml",
    # python-pptx knows neither: POI's testPPT.ppsm ended corrupt_file "not a presentation"
    "macro-enabled show (.ppsm)": "application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml",
    "macro-enabled template (.potm)": (
        "application/vnd.ms-powerpoint.template.macroEnabled.main+xml"
    ),
}


@pytest.mark.parametrize("content_type", PRESENTATION_TYPES.values(), ids=PRESENTATION_TYPES.keys())
def test_templates_and_shows_read_like_presentations(content_type: str) -> None:
    deck = pptx.Presentation()
    deck.slides.add_slide(deck.slide_layouts[0]).shapes.title.text = "Template slide"
    buffer = io.BytesIO()
    deck.save(buffer)
    main = b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"

    def retyped(name: str, part: bytes) -> bytes:
        if name != "[Content_Types].xml":
            return part
        assert main in part
        return part.replace(main, content_type.encode())

    assert extract(rezipped(buffer.getvalue(), retyped), PPTX).text == "Template slide"


def strict(data: bytes) -> bytes:
    """The package with its Transitional names written as ISO Strict names them."""
    transitional = re.compile(
        rb"http://schemas\.openxmlformats\.org/(\w+)/2006/(main|relationships)"
    )

    def renamed(name: str, part: bytes) -> bytes:
        if not name.endswith((".xml", ".rels")):
            return part
        return transitional.sub(rb"http://purl.oclc.org/ooxml/\1/\2", part)

    return rezipped(data, renamed)


def test_a_strict_ooxml_document_reads_like_a_transitional_one() -> None:
    transitional = with_body(para(run("Strict words.")))
    assert b"purl.oclc.org" in zipfile.ZipFile(io.BytesIO(strict(transitional))).read("_rels/.rels")
    assert extract(strict(transitional), DOCX).text == "Strict words."


def edited(data: bytes, **parts: bytes | None) -> bytes:
    """The package with the named parts replaced (None: removed)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        names = source.namelist()
        for name in names:
            key = name.replace("/", "__").replace(".", "_").replace("[", "").replace("]", "")
            part = parts.get(key, source.read(name))
            if part is not None:
                target.writestr(name, part)
    return out.getvalue()


def root_relationships(*extra: str) -> bytes:
    document = (
        '<Relationship Id="rId1" Target="word/document.xml" Type="http://schemas.'
        'openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http:'
        f'//schemas.openxmlformats.org/package/2006/relationships">{document}{"".join(extra)}'
        "</Relationships>"
    ).encode()


THUMBNAIL = (
    '<Relationship Id="rId9" Target="docProps/thumbnail.jpeg" Type="http://schemas.'
    'openxmlformats.org/package/2006/relationships/metadata/thumbnail"/>'
)


def test_a_relationship_to_a_part_the_archive_lacks_is_left_out() -> None:
    # Word's own templates, their thumbnail stripped: python-docx gave up on the whole file.
    data = edited(
        with_body(para(run("Fax cover."))),
        _rels___rels=root_relationships(THUMBNAIL),
        docProps__thumbnail_jpeg=None,
    )
    assert extract(data, DOCX).text == "Fax cover."


def test_a_part_named_in_other_capitals_is_found() -> None:
    # Word's templates name docProps/Thumbnail.jpeg docProps/thumbnail.jpeg.
    with zipfile.ZipFile(io.BytesIO(with_body(para(run("Letter."))))) as source:
        entries = {name: source.read(name) for name in source.namelist()}
    entries["_rels/.rels"] = root_relationships(THUMBNAIL)
    entries["docProps/Thumbnail.jpeg"] = entries.pop("docProps/thumbnail.jpeg")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name, part in entries.items():
            target.writestr(name, part)
    assert extract(out.getvalue(), DOCX).text == "Letter."


def renamed(data: bytes, rename: Callable[[str], str]) -> bytes:
    """The archive with every entry under the name `rename` gives it."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        entries = {rename(name): source.read(name) for name in source.namelist()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name, part in entries.items():
            target.writestr(name, part)
    return out.getvalue()


def test_parts_named_with_backslashes_and_in_lower_case_are_read() -> None:
    # Apache POI's 49609.xlsx: every name in lower case with backslashes between folders
    # ("xl\\sharedstrings.xml", "[content_types].xml"); refused at upload as "a ZIP that is
    # no DOCX, PPTX or XLSX", and the libraries find none of the parts.
    workbook = openpyxl.Workbook()
    workbook.active.append(["Cycle", "A1"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    data = renamed(buffer.getvalue(), lambda name: name.lower().replace("/", "\\"))
    assert sniff_media_type(data) == XLSX
    assert extract(data, XLSX).text == "Sheet\n\nCycle\tA1"
    document = renamed(with_body(para(run("Letter."))), lambda name: name.replace("/", "\\"))
    assert sniff_media_type(document) == DOCX
    assert extract(document, DOCX).text == "Letter."


def test_a_core_properties_part_of_another_type_gives_no_title_not_a_failure() -> None:
    data = with_body(para(run("Untitled.")))
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        types = source.read("[Content_Types].xml").decode()
    core = "application/vnd.openxmlformats-package.core-properties+xml"
    assert core in types
    data = edited(data, Content_Types_xml=types.replace(core, "application/xml").encode())
    parsed = extract(data, DOCX)
    assert (parsed.text, parsed.title) == ("Untitled.", None)


def test_headers_and_footers_follow_the_notes_each_said_once() -> None:
    document = docx.Document()
    document.add_paragraph("The body.")
    section = document.sections[0]
    section.header.paragraphs[0].text = "Acme Water Board - Confidential"
    section.different_first_page_header_footer = True
    section.first_page_header.paragraphs[0].text = "Acme Water Board - Confidential"
    section.footer.paragraphs[0].text = "Ref. AWB-2026-114"
    buffer = io.BytesIO()
    document.save(buffer)
    text = extract(buffer.getvalue(), DOCX).text
    assert text == "The body.\n\nAcme Water Board - Confidential\n\nRef. AWB-2026-114"


def test_a_document_with_text_only_in_its_header_has_text() -> None:
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "Minutes, 1 December"
    buffer = io.BytesIO()
    document.save(buffer)
    assert extract(buffer.getvalue(), DOCX).text == "Minutes, 1 December"


@pytest.mark.parametrize("name", ["Heading \u00b2", "Heading " + "1" * 5_000, "Heading 0"])
def test_a_style_named_like_a_heading_without_a_level_is_body_text(name: str) -> None:
    # "²" passed str.isdigit and int() refused it; 5,000 digits are past Python's int limit:
    # the whole document failed on a style's name.
    document = docx.Document()
    document.styles.add_style(name, docx.enum.style.WD_STYLE_TYPE.PARAGRAPH)
    document.add_heading("Levels", 1)
    document.add_paragraph("Readings at the weir.", style=name)
    buffer = io.BytesIO()
    document.save(buffer)
    parsed = extract(buffer.getvalue(), DOCX)
    assert parsed.text == "Levels\n\nReadings at the weir."
    assert [h.title for h in parsed.headings] == ["Levels"]
