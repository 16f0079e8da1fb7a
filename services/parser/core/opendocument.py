"""OpenDocument (ODT, ODS, ODP, ODG: LibreOffice's and OpenOffice's formats, as a package or as
one "flat" XML file) to text.

All the text is in one part, `content.xml` (in a flat file, the one document's body), in a
small model: headings (`text:h`, with their outline level), paragraphs, lists, sections,
tables, text boxes in frames, notes, slides (`draw:page`). This walk reads it with lxml, as the
DOCX walk reads Word's XML. Not odfdo's `get_formatted_text`: it writes images and notes into
the text as Markdown-like markers ("[Image Pictures/1000...png]", "[*]") and runs some headings
into the paragraph after them.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from lxml import etree

from services.parser.core.builder import TextBuilder
from services.parser.core.errors import CORRUPT_FILE, ParseError, unreadable
from services.parser.core.odf_numbering import OdfNumbering
from services.parser.core.office import open_package
from services.parser.core.parsed import ParsedText
from services.parser.core.text import title_of

MAX_DEPTH = 64  # elements inside elements the walk follows (lists in lists, frames in cells)
_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_DRAW = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_PRESENTATION = "{urn:oasis:names:tc:opendocument:xmlns:presentation:1.0}"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
_ENCRYPTED = b"encryption-data"  # in META-INF/manifest.xml, for each encrypted part
_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)

# Elements whose children are blocks, read as if they stood in their place.
_CONTAINERS = frozenset(
    {
        f"{_OFFICE}text", f"{_OFFICE}spreadsheet", f"{_OFFICE}presentation",
        f"{_OFFICE}drawing", f"{_TEXT}list", f"{_TEXT}list-item", f"{_TEXT}list-header",
        f"{_TEXT}section", f"{_TEXT}index-body", f"{_TEXT}table-of-content",
        f"{_TEXT}alphabetical-index", f"{_TEXT}illustration-index", f"{_TEXT}table-index",
        f"{_TEXT}bibliography", f"{_TEXT}user-index", f"{_TEXT}object-index",
        f"{_TEXT}index-title", f"{_DRAW}frame", f"{_DRAW}text-box", f"{_DRAW}g",
        f"{_DRAW}custom-shape", f"{_DRAW}rect", f"{_DRAW}ellipse", f"{_DRAW}circle",
        f"{_DRAW}path", f"{_DRAW}polygon", f"{_DRAW}polyline", f"{_DRAW}regular-polygon",
        f"{_DRAW}line", f"{_DRAW}connector", f"{_DRAW}caption", f"{_DRAW}measure",
        f"{_TABLE}table-header-rows",
        f"{_TABLE}table-rows", f"{_TABLE}table-row-group", f"{_TABLE}table-header-columns",
        f"{_PRESENTATION}notes",
    }
)  # fmt: skip
_LISTED = frozenset({f"{_TEXT}list", f"{_TEXT}list-item"})
# Inside a paragraph: read elsewhere (notes, frames) or not text of the document at all.
_NOT_INLINE = frozenset(
    {f"{_TEXT}note", f"{_OFFICE}annotation", f"{_DRAW}frame", f"{_TEXT}ruby-text"}
)
# A cell's value attributes (by its value type), read where it shows no paragraph.
_VALUES = ("string-value", "value", "date-value", "time-value", "boolean-value")
_ROWS = (f"{_TABLE}table-row",)
_CELLS = (f"{_TABLE}table-cell",)  # not table:covered-table-cell: a merged cell once


def extract_opendocument(data: bytes) -> ParsedText:
    """Headings, paragraphs, lists and tables in order; a spreadsheet's sheets each under
    its name, a presentation's slides and a drawing's pages each a page; then the notes
    (footnotes, endnotes) and the comments, in the order they stand."""
    fix = "save it again from your office program"
    with (
        open_package(data, "OpenDocument", fix) as package,
        zipfile.ZipFile(io.BytesIO(package)) as archive,
    ):
        if _ENCRYPTED in _read(archive, "META-INF/manifest.xml"):
            raise ParseError(
                CORRUPT_FILE,
                "the document is password-protected; save it without a password and upload again",
            )
        content = etree.fromstring(archive.read("content.xml"), _XML)
        title = _title(_meta_root(_read(archive, "meta.xml")))
        styles = _meta_root(_read(archive, "styles.xml"))  # named list styles, the outline
    return _read_body(content, title, styles)


def extract_flat_opendocument(data: bytes) -> ParsedText:
    """A flat OpenDocument (.fodt, .fods, .fodp, .fodg: the parts of the package as one
    XML document, `office:document`) read as extract_opendocument reads the package."""
    try:
        root = etree.fromstring(data, _XML)
    except etree.XMLSyntaxError as error:
        fix = "save it again from your office program and upload again"
        raise unreadable("the OpenDocument XML", error, fix) from None
    return _read_body(root, _title(root), None)


def _read_body(root: Any, title: str | None, styles: Any) -> ParsedText:
    """The text of the `office:body` under `root` (content.xml's, or a flat document's),
    numbered by the list and outline styles of `root` and `styles` (styles.xml's root)."""
    builder = TextBuilder()
    walk = _Walk(builder, OdfNumbering(root, styles))
    body = root.find(f"{_OFFICE}body")
    if body is not None:
        walk.blocks(body, 0)
        for note in body.iter(f"{_TEXT}note-body", f"{_OFFICE}annotation"):
            if builder.full:  # footnotes, endnotes and reviewers' comments, last
                break
            walk.blocks(note, 0)
    return builder.build(title=title, page_count=walk.pages or None)


class _Walk:
    """Adds a body's blocks to the builder, in reading order."""

    def __init__(self, builder: TextBuilder, numbering: OdfNumbering | None = None) -> None:
        self.builder = builder
        self.pages = 0
        self.numbering = numbering or OdfNumbering()
        self.label: str | None = None  # a list item's, for its first paragraph

    def blocks(self, container: Any, depth: int) -> None:
        """Add the headings, paragraphs, tables and slides of `container`."""
        for child in container:
            if self.builder.full:
                return
            tag = child.tag
            if tag == f"{_TEXT}h":
                self.heading(child)
            elif tag == f"{_TEXT}p":
                self.builder.add(_numbered(self.label, _inline(child, 0)))
                self.label = None
                if depth < MAX_DEPTH:  # text boxes anchored in the paragraph
                    for frame in _frames(child, depth):
                        self.blocks(frame, depth + 1)
            elif tag == f"{_TABLE}table":
                self.table(child, depth)
            elif tag == f"{_DRAW}frame" and child.get(f"{_PRESENTATION}class") == "title":
                words = " ".join(_inline(p, 0) for p in child.iter(f"{_TEXT}p"))
                self.builder.heading(words, 1)  # a slide's title
            elif tag == f"{_DRAW}page":
                self.pages += 1
                self.builder.new_page()
                self.blocks(child, depth + 1)
            elif tag in _LISTED and depth < MAX_DEPTH:
                self.listed(child, depth)
            elif tag in _CONTAINERS and depth < MAX_DEPTH:
                self.blocks(child, depth + 1)

    def heading(self, heading: Any) -> None:
        """A heading, after its list item's number or its outline number."""
        outline = _count(heading.get(f"{_TEXT}outline-level"))
        label = self.label or self.numbering.heading(heading, outline)
        self.builder.heading(_numbered(label, _inline(heading, 0)), _level(str(outline)))
        self.label = None

    def listed(self, element: Any, depth: int) -> None:
        """A list, counted in its style, or one of its items, whose number goes before its
        first paragraph."""
        if element.tag == f"{_TEXT}list":
            with self.numbering.within_list(element):
                self.blocks(element, depth + 1)
            return
        self.label = self.numbering.item(element)
        self.blocks(element, depth + 1)
        self.label = None

    def table(self, table: Any, depth: int) -> None:
        """A table's rows as tab-separated lines (a spreadsheet's sheet under its name)."""
        if table.getparent() is not None and table.getparent().tag == f"{_OFFICE}spreadsheet":
            self.builder.heading(table.get(f"{_TABLE}name", ""), 1)
        number = 0
        for row in _descendants(table, _ROWS, depth):
            cells = [_cell_text(cell) for cell in _descendants(row, _CELLS, depth)]
            line = "\t".join(cells).rstrip("\t")
            if line.strip() and self.builder.add(line, tight=number > 0) is not None:
                number += 1
            if self.builder.full:
                return


def _cell_text(cell: Any) -> str:
    """A cell's text on one line: its paragraphs as shown, else its stored value (some
    programs write a number, date or boolean cell with its value only, no paragraph)."""
    shown = " ".join(_inline(p, 0) for p in cell.iter(f"{_TEXT}p", f"{_TEXT}h"))
    words = " ".join(shown.split())
    if words:
        return words
    stored = (cell.get(f"{_OFFICE}{name}") for name in _VALUES)
    return next((" ".join(value.split()) for value in stored if value), "")


def _descendants(element: Any, tags: tuple[str, ...], depth: int) -> Any:
    """The children of `element` with one of `tags`, those inside row or column groups too
    (not those of a table nested in a cell)."""
    for child in element:
        if child.tag in tags:
            yield child
        elif child.tag in _CONTAINERS and depth < MAX_DEPTH:
            yield from _descendants(child, tags, depth + 1)


def _frames(element: Any, depth: int) -> Any:
    """The frames inside a paragraph, outermost only (a frame's own are read with it)."""
    for child in element:
        if child.tag == f"{_DRAW}frame":
            yield child
        elif isinstance(child.tag, str) and depth < MAX_DEPTH:
            yield from _frames(child, depth + 1)


def _inline(element: Any, depth: int) -> str:
    """A paragraph's text: spaces (`text:s`), tabs and line breaks as they show; notes,
    comments and frames left out (read elsewhere, or not text of the document)."""
    parts = [element.text or ""]
    for child in element:
        tag = child.tag
        if tag == f"{_TEXT}s":
            parts.append(" " * min(_count(child.get(f"{_TEXT}c")), 1000))
        elif tag == f"{_TEXT}tab":
            parts.append("\t")
        elif tag == f"{_TEXT}line-break":
            parts.append("\n")
        elif tag not in _NOT_INLINE and isinstance(tag, str) and depth < MAX_DEPTH:
            parts.append(_inline(child, depth + 1))
        parts.append(child.tail or "")
    return "".join(parts)


def _numbered(label: str | None, text: str) -> str:
    """A paragraph's text after its list or outline number, if it has one and words."""
    return f"{label} {text.lstrip()}" if label is not None and text.strip() else text


def _level(value: str | None) -> int:
    """A heading's outline level, 1 to 6 (ODF allows 1 to 10; a missing or bad one is 1)."""
    return min(max(_count(value), 1), 6)


def _count(value: str | None) -> int:
    """An attribute's whole number (1 when missing or not a number)."""
    try:
        return int(value or "1")
    except ValueError:
        return 1


def _read(archive: zipfile.ZipFile, name: str) -> bytes:
    """A part's bytes, or b"" when the archive lacks it."""
    try:
        return archive.read(name)
    except KeyError:
        return b""


def _meta_root(meta: bytes) -> Any:
    """meta.xml's root element, or None when the package has none or it is not XML (the
    title is optional; a broken meta.xml does not fail the document)."""
    try:
        return etree.fromstring(meta, _XML) if meta else None
    except etree.XMLSyntaxError:
        return None


def _title(root: Any) -> str | None:
    """The title in the `office:meta` under `root` (meta.xml's, or a flat document's)."""
    found = root.find(f"{_OFFICE}meta/{_DC_TITLE}") if root is not None else None
    return title_of(found.text) if found is not None else None
