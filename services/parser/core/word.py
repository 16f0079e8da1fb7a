"""DOCX text extraction with python-docx; headings come from the "Heading N" styles.

The body's text (with the HTML or plain text chunks it imports), then the footnotes' and the
endnotes'. Headers, footers and comments are left out: the first two repeat on every page, the
last are remarks about the text, not the text.

python-docx opens the package and resolves the styles; the body is walked here, on its XML.
Its own walk (`iter_inner_content`, `Paragraph.text`, `_Cell.text`) reads only paragraphs and
tables straight under the body, runs straight under a paragraph, and a cell's own paragraphs:
the text inside content controls (`w:sdt`, the fields of every form and template), nested
tables, text boxes, simple fields and tracked insertions was lost (a resume template of 1,800
characters came out as 84, a form of 4,400 in nested tables as nothing at all).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.part import Part, PartFactory
from docx.oxml.parser import parse_xml
from docx.package import Package
from docx.parts.document import DocumentPart
from docx.styles import BabelFish
from lxml import etree

from services.parser.core.builder import TextBuilder
from services.parser.core.errors import ParseError
from services.parser.core.html import feed_html
from services.parser.core.mail import feed_mime_body
from services.parser.core.numbering import Numbering
from services.parser.core.office import (
    CHART,
    alt_text,
    chart_lines,
    core_title,
    main_part,
    open_package,
)
from services.parser.core.parsed import ParsedText
from services.parser.core.text import decode_text, one_line

# Macro-enabled documents and templates (.docm, .dotx, .dotm) are the same WordprocessingML
# under another content type; python-docx reads them alike but `docx.Document` refuses them.
# (python-docx's constants name none of these content types.)
_MAIN_PARTS = (
    "application/vnd.ms-word.document.macroEnabled.main+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml",
)
for _content_type in _MAIN_PARTS:
    PartFactory.part_type_for.setdefault(_content_type, DocumentPart)

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_P, _TBL, _TR, _TC = f"{_W}p", f"{_W}tbl", f"{_W}tr", f"{_W}tc"
_TEXT_BOX = f"{_W}txbxContent"
# A drawing's non-visual properties: its alternative text (a picture's, a chart's)
_DRAWING_PROPERTIES = (
    "{http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing}docPr"
)
_ALT_CHUNK = f"{_W}altChunk"
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_CHUNK_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain", "message/rfc822"})
# Elements whose blocks, rows or cells count as if they stood in their place: content
# controls, custom XML, tracked insertions and moves, smart tags, simple fields. (Inside a
# paragraph every element's runs count, hyperlinks included.)
_TRANSPARENT = frozenset(
    f"{_W}{name}"
    for name in ("sdt", "sdtContent", "customXml", "ins", "moveTo", "smartTag", "fldSimple")
)
# Subtrees that hold no text of the document as it reads: the duplicate of a shape for old
# readers (`mc:Fallback`), text moved away or deleted, the properties of content controls
# (their placeholder settings) and ruby's reading aid above the base text (`w:rt`).
_SKIPPED = frozenset({f"{_MC}Fallback", f"{_W}moveFrom", f"{_W}del", f"{_W}sdtPr", f"{_W}rt"})
# Office Math (OMML): its text runs, read apart with a space between (a superscript "n" after
# "x+a" is not the word "x+an"), without the invisible operators (function application).
_MATH_TEXT = "{http://schemas.openxmlformats.org/officeDocument/2006/math}t"
_INVISIBLE_OPERATORS = str.maketrans("", "", "\u2061\u2062\u2063\u2064")
_BREAK, _TAB = f"{_W}br", frozenset({f"{_W}tab", f"{_W}ptab"})
_CHARACTERS = {f"{_W}t": None, f"{_W}cr": "\n", f"{_W}noBreakHyphen": "-"}
# Content controls, tables and text boxes followed inside each other at most this deep (each
# `w:sdt` and its `w:sdtContent` count one; libxml2 refuses XML deeper than 256 anyway).
MAX_DEPTH = 64


def extract_docx(data: bytes) -> ParsedText:
    """Extract paragraphs and tables in order, headings with their level."""
    builder = TextBuilder()
    # The walk stays inside: python-docx reads parts (styles) lazily, so a broken part
    # surfaces while walking, not while opening.
    with open_package(data, "DOCX", "save it again from your word processor") as package:
        part = main_part(
            Package, package, DocumentPart, "a Word document", "save it again as .docx"
        )
        document = part.document
        style_names = _style_names(document.styles.element)
        numbering = next((xml for _, xml in _related_xml(part, (RT.NUMBERING,))), None)
        body = _Walk(builder, style_names, part, Numbering(numbering, document.styles.element))
        body.blocks(document.element.body, 0)
        _add_notes(builder, style_names, part, (RT.FOOTNOTES, RT.ENDNOTES))  # after the body
        _add_headers_and_footers(builder, style_names, part)
        _add_notes(builder, style_names, part, (RT.COMMENTS,))  # reviewers' comments, last
        title = core_title(document) or body.style_title
    return builder.build(title=title)


class _Walk:
    """Adds a body's blocks to the builder, in reading order."""

    def __init__(
        self,
        builder: TextBuilder,
        style_names: dict[str, str],
        part: Part,
        numbering: Numbering | None = None,
    ) -> None:
        self.builder = builder
        self.style_names = style_names
        self.part = part
        # The body's list numbers; notes, headers and footers are read without theirs
        self.numbering = numbering
        self.style_title: str | None = None

    def blocks(self, container: Any, depth: int) -> None:
        """Add the paragraphs and tables of `container` (a body, cell, text box or control)."""
        for child in container:
            if self.builder.full:
                return
            if child.tag == _P:
                self.paragraph(child, depth)
            elif child.tag == _TBL:
                for number, row in enumerate(_children(child, _TR, depth)):
                    cells = (
                        _cell_text(cell, self.numbering) for cell in _children(row, _TC, depth)
                    )
                    self.builder.add("\t".join(cells), tight=number > 0)
            elif child.tag in _TRANSPARENT and depth < MAX_DEPTH:
                self.blocks(child, depth + 1)
            elif child.tag == _ALT_CHUNK:
                self.chunk(child)

    def chunk(self, element: Any) -> None:
        """Add an imported chunk (`w:altChunk`): HTML or plain text kept in a part of its own
        and shown in its place, as documents generated from web pages often are, or a web
        archive (MHT, a MIME message: its HTML body). A chunk of another kind (RTF, another
        document) or one that cannot be read is left out."""
        relationship = self.part.rels.get(element.get(_R_ID, ""))
        if relationship is None or relationship.is_external:
            return
        chunk = relationship.target_part
        kind = chunk.content_type.split(";")[0].strip().lower()
        if kind not in _CHUNK_TYPES:
            return
        if kind == "message/rfc822":
            feed_mime_body(chunk.blob, self.builder)
            return
        try:
            text = decode_text(chunk.blob)
            if kind == "text/plain":
                self.builder.add(text)
            else:
                feed_html(text, self.builder)
        except ParseError:  # binary, or HTML libxml2 stops reading: the rest still counts
            return

    def paragraph(self, paragraph: Any, depth: int) -> None:
        """Add one paragraph (a heading by its style), then the alternative text of the
        pictures drawn in it, the text boxes anchored in it and the titles and labels of
        its charts."""
        text, boxes = _read_paragraph(paragraph)
        text = _with_number(self.numbering, paragraph, text)
        style = self.style_names.get(paragraph.style or "", "")
        level = _heading_level(style)
        if level is not None and text.strip():
            heading = self.builder.heading(text, level)
            if heading is not None and self.style_title is None and level == 1:
                self.style_title = heading.title
        elif style == "Title" and text.strip():
            self.style_title = one_line(text)
            self.builder.add(self.style_title)
        else:
            self.builder.add(text)
        for properties in _without_skipped(paragraph, _DRAWING_PROPERTIES, stop=_TEXT_BOX):
            self.builder.add(alt_text(properties))
        if depth < MAX_DEPTH:
            for box in boxes:
                self.blocks(box, depth + 1)
        for chart in paragraph.iter(f"{CHART}chart"):  # a chart drawn in the paragraph
            relationship = self.part.rels.get(chart.get(_R_ID, ""))
            if relationship is not None and not relationship.is_external:
                self.builder.add("\n".join(chart_lines(relationship.target_part.blob, values=True)))


def _related_xml(part: Part, kinds: tuple[str, ...]) -> Iterator[tuple[Part, Any]]:
    """The parts of these relationship kinds, kind by kind, each with its XML: footnotes and
    endnotes, headers and footers (python-docx reads no notes, and headers only section by
    section). A part that is not readable XML is left out: the body still counts."""
    for kind in kinds:
        for relationship in part.rels.values():
            if relationship.reltype == kind and not relationship.is_external:
                try:
                    yield relationship.target_part, parse_xml(relationship.target_part.blob)
                except etree.XMLSyntaxError:
                    continue


def _add_notes(
    builder: TextBuilder, style_names: dict[str, str], part: DocumentPart, kinds: tuple[str, ...]
) -> None:
    """Add each note (footnote, endnote, comment) of the parts of these kinds, not the
    separator lines. Each part is walked bound to itself: the ids of a chart or an imported
    chunk in a note name the note part's own relationships, not the body's."""
    for related, notes in _related_xml(part, kinds):
        walk = _Walk(builder, style_names, related)
        for note in notes:
            if note.get(f"{_W}type", "normal") == "normal":
                walk.blocks(note, 0)


def _add_headers_and_footers(
    builder: TextBuilder, style_names: dict[str, str], part: DocumentPart
) -> None:
    """Add each header's, then each footer's text once, after the notes: a letterhead, a
    document's title or reference, a confidentiality line. A section's first-page and
    even-page variants, or sections repeating one, often say the same: said once."""
    said: set[str] = set()
    for related, xml in _related_xml(part, (RT.HEADER, RT.FOOTER)):
        if builder.full:
            return
        scratch = TextBuilder()
        _Walk(scratch, style_names, related).blocks(xml, 0)
        text = scratch.build().text
        if text and text not in said:
            said.add(text)
            builder.add(text)


def _style_names(styles: Any) -> dict[str, str]:
    """Each style's name by its id, as Word shows it ("Heading 1", stored "heading 1")."""
    names = {}
    for style in styles.style_lst:  # the XML: python-docx's objects refuse a typeless style
        if style.styleId is not None:
            names[style.styleId] = BabelFish.internal2ui(style.name_val or "")
    return names


def _children(element: Any, tag: str, depth: int) -> Iterator[Any]:
    """The children of `element` with `tag`, those inside content controls included."""
    for child in element:
        if child.tag == tag:
            yield child
        elif child.tag in _TRANSPARENT and depth < MAX_DEPTH:
            yield from _children(child, tag, depth + 1)


def _cell_text(cell: Any, numbering: Numbering | None) -> str:
    """A cell's text on one line: its paragraphs (with their list numbers), nested tables and
    text boxes included."""
    words = []
    for paragraph in _without_skipped(cell, _P):
        words.extend(_with_number(numbering, paragraph, _read_paragraph(paragraph)[0]).split())
    return " ".join(words)


def _with_number(numbering: Numbering | None, paragraph: Any, text: str) -> str:
    """A paragraph's text after the number Word draws before it, if any. Every numbered
    paragraph counts, an empty one too (Word shows its number)."""
    label = None if numbering is None else numbering.label(paragraph, paragraph.style)
    return f"{label} {text.lstrip()}" if label is not None and text.strip() else text


def _read_paragraph(paragraph: Any) -> tuple[str, list[Any]]:
    """The text of one paragraph as it reads: its runs wherever they stand (fields, content
    controls, hyperlinks, insertions, equations); and, apart, the text boxes anchored in it
    (each once: not the copy for old readers), whose paragraphs are not its text."""
    parts: list[str] = []
    boxes: list[Any] = []
    after_math = False  # the last text added was a piece of an equation
    for element in _without_skipped(paragraph, None, stop=_TEXT_BOX):
        tag = element.tag
        if tag == _MATH_TEXT:
            math = (element.text or "").translate(_INVISIBLE_OPERATORS).strip()
            if math:
                parts.append(f" {math}" if after_math else math)
                after_math = True
            continue
        if tag in _CHARACTERS:
            parts.append(_CHARACTERS[tag] or element.text or "")
        elif tag in _TAB:
            parts.append("\t")
        elif tag == _BREAK and element.get(f"{_W}type") in (None, "textWrapping"):
            parts.append("\n")
        elif tag == _TEXT_BOX:
            boxes.append(element)
        else:
            continue
        after_math = False
    return "".join(parts), boxes


def _without_skipped(root: Any, tag: str | None, *, stop: str | None = None) -> Iterator[Any]:
    """The elements below `root` in document order (those with `tag` only, when given),
    leaving out the _SKIPPED subtrees and not descending below a `stop` element."""
    stack = [iter(root)]
    while stack:
        element = next(stack[-1], None)
        if element is None:
            stack.pop()
            continue
        if not isinstance(element.tag, str) or element.tag in _SKIPPED:
            continue  # comments and processing instructions have no string tag
        if tag is None or element.tag == tag:
            yield element
        if element.tag != stop:
            stack.append(iter(element))


def _heading_level(style: str) -> int | None:
    """Return the level of a "Heading N" style ("Heading" alone is 1), else None."""
    if not style.startswith("Heading"):
        return None
    number = style.removeprefix("Heading").strip()
    if not number:
        return 1
    # One decimal digit, 1-9: `isdigit` took "²" (int() refuses it) and 5,000 digits (past
    # Python's int limit), and the whole document failed on its style's name.
    return int(number) if len(number) == 1 and number.isdecimal() and number != "0" else None
