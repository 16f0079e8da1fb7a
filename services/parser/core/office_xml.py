"""Office documents saved as one XML file: Word's and PowerPoint's "XML Document" (Flat OPC,
the parts of a DOCX or PPTX package inside one `pkg:package`), Word 2003's WordprocessingML
and Excel 2003's SpreadsheetML.

Read as generic XML they lost their shape: a Flat OPC file was indexed with its relationships
and document properties, its pictures and embedded objects as pages of base64; a Word 2003
paragraph broke into one block per run ("It contains neither macros nor / dde / links"); an
Excel 2003 sheet came out a cell per line, its document properties first.

A Flat OPC package is packed back into the ZIP it stands for and read by the DOCX, PPTX or
XLSX reader, as that file would be. No Python library reads the two 2003 formats (python-docx
and openpyxl read only OOXML; LibreOffice converts them, but is a program, not a library);
their text is a few elements, read here as the DOCX and XLS readers give the same document:
Word's paragraphs with their list numbers, "heading N" styles as headings, tables as rows of
tab-separated cells, text boxes, then notes and comments; Excel's sheets as headings, their
rows as tab-separated lines, then their cell notes.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from typing import Any
from xml.sax.saxutils import quoteattr

from lxml import etree

from services.parser.core.builder import TextBuilder
from services.parser.core.errors import CORRUPT_FILE, ParseError
from services.parser.core.parsed import ParsedText
from services.parser.core.sheets import MAX_CELLS, add_rows, extract_xlsx
from services.parser.core.slides import extract_pptx
from services.parser.core.text import one_line, title_of
from services.parser.core.word import extract_docx

_PKG = "{http://schemas.microsoft.com/office/2006/xmlPackage}"
FLAT_PACKAGE = f"{_PKG}package"
_W = "{http://schemas.microsoft.com/office/word/2003/wordml}"
WORD_2003 = f"{_W}wordDocument"
_WX = "{http://schemas.microsoft.com/office/word/2003/auxHint}"
_AML = "{http://schemas.microsoft.com/aml/2001/core}"
_UNREAD = frozenset({f"{_W}p", f"{_W}pPr", f"{_W}instrText", f"{_W}binData", f"{_W}delText"})
_SS = "{urn:schemas-microsoft-com:office:spreadsheet}"
SPREADSHEET_2003 = f"{_SS}Workbook"
_O = "{urn:schemas-microsoft-com:office:office}"
_OFFICE_DOCUMENT = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
)
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
# The reader of a package's main part, by a word of its content type (`...wordprocessingml.
# document.main+xml`, `application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml`)
_READERS: tuple[tuple[re.Pattern[str], Callable[[bytes], ParsedText]], ...] = (
    (re.compile(r"wordprocessingml|ms-word\."), extract_docx),
    (re.compile(r"presentationml|ms-powerpoint\."), extract_pptx),
    (re.compile(r"spreadsheetml|ms-excel\."), extract_xlsx),
)
_HEADING_STYLE = re.compile(r"heading\s*([1-9])", re.I)  # style names: "heading 1"
_MAX_LEVEL = 6
_MAX_COLUMNS = 16_384  # Excel's; a cell's `ss:Index` names its column, 1-based
_DAY_ZERO = datetime.date(1899, 12, 31)  # the date of a time alone in Excel 2003 XML
_FIX = "save it again from Word or Excel (as .docx, .pptx or .xlsx) and upload again"


def office_xml(root: Any) -> ParsedText | None:
    """The text of an Office document saved as XML, or None when `root` is none of them."""
    if root.tag == FLAT_PACKAGE:
        return _flat_package(root)
    if root.tag == WORD_2003:
        return _word_2003(root)
    if root.tag == SPREADSHEET_2003:
        return _spreadsheet_2003(root)
    return None


def _flat_package(root: Any) -> ParsedText:
    """A Flat OPC package read as the DOCX, PPTX or XLSX it stands for."""
    parts = dict(_parts(root))
    main = _main_part(parts)
    content_type = parts[main][0] if main in parts else ""
    reader = next((read for kind, read in _READERS if kind.search(content_type)), None)
    if reader is None:
        raise ParseError(
            CORRUPT_FILE,
            "the XML is an Office package (pkg:package) with no Word document, presentation"
            f" or workbook in it (its main part is {content_type or 'missing'}); {_FIX}",
        )
    return reader(_zipped(parts))


def _parts(root: Any) -> Iterator[tuple[str, tuple[str, bytes]]]:
    """Each part of the package: its name (without the leading `/`), content type and bytes
    (an XML part as it stands, a binary one decoded from base64)."""
    for part in root.iterchildren(f"{_PKG}part"):
        name = str(part.get(f"{_PKG}name") or "").lstrip("/")
        content_type = str(part.get(f"{_PKG}contentType") or "")
        xml = part.find(f"{_PKG}xmlData")
        binary = part.find(f"{_PKG}binaryData")
        if not name:
            continue
        if xml is not None and len(xml):
            yield name, (content_type, etree.tostring(xml[0], encoding="UTF-8"))
        elif binary is not None:
            try:
                yield name, (content_type, base64.b64decode("".join((binary.text or "").split())))
            except binascii.Error:
                continue  # a damaged picture: the text does not need it


def _main_part(parts: dict[str, tuple[str, bytes]]) -> str:
    """The name of the part the package's relationships call its office document ("")."""
    relationships = parts.get("_rels/.rels")
    if relationships is None:
        return ""
    try:
        root = etree.fromstring(relationships[1])
    except etree.XMLSyntaxError:
        return ""
    for relationship in root.iter(f"{_RELS}Relationship"):
        if relationship.get("Type") == _OFFICE_DOCUMENT:
            return str(relationship.get("Target") or "").lstrip("/")
    return ""


def _zipped(parts: dict[str, tuple[str, bytes]]) -> bytes:
    """The ZIP package of the parts, with the `[Content_Types].xml` naming each one's type
    (a Flat OPC file keeps the types on its parts, and has none of its own)."""
    overrides = "".join(
        f"<Override PartName={quoteattr('/' + name)} ContentType={quoteattr(content_type)}/>"
        for name, (content_type, _) in parts.items()
    )
    types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns='
        f'"http://schemas.openxmlformats.org/package/2006/content-types">{overrides}</Types>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("[Content_Types].xml", types)
        for name, (_, content) in parts.items():
            archive.writestr(name, content)
    return out.getvalue()


def _word_2003(root: Any) -> ParsedText:
    """Word 2003 XML: as the DOCX reader gives a document (see _Word2003)."""
    styles = {
        str(style.get(f"{_W}styleId")): str(name.get(f"{_W}val") or "")
        for style in root.iterfind(f"{_W}styles/{_W}style")
        if (name := style.find(f"{_W}name")) is not None
    }
    reader = _Word2003(styles, _title(root, f"{_O}DocumentProperties/{_O}Title"))
    body = root.find(f"{_W}body")
    if body is not None:
        reader.walk(body)
    notes = reader.notes
    while notes and not reader.builder.full:  # a note may hold a note: read them in turn
        reader.notes = []
        for note in notes:
            reader.walk(note)
        notes = reader.notes
    return reader.builder.build(title=reader.title)


class _Word2003:
    """The body's paragraphs in order, each a block (with its list number, as Word drew it),
    those of a "heading N" style headings; a table's rows each a line of its cells apart by
    tabs; a text box's paragraphs after the paragraph it is anchored in; footnotes, endnotes
    and comments after the body. The title is the document properties', else a "Title"
    paragraph's or the first level-1 heading's (as for a DOCX)."""

    def __init__(self, styles: dict[str, str], title: str | None) -> None:
        self.builder = TextBuilder()
        self.styles = styles
        self.title = title
        self.notes: list[Any] = []

    def walk(self, container: Any) -> None:
        """Add the blocks inside `container`, in order (a stack: no recursion limit)."""
        stack = list(reversed(container))
        while stack and not self.builder.full:
            element = stack.pop()
            if element.tag == f"{_W}p":
                later = self.paragraph(element)
            elif element.tag == f"{_W}tbl":
                later = self.table(element)
            elif isinstance(element.tag, str):
                later = list(element)
            else:
                continue
            stack.extend(reversed(later))

    def paragraph(self, paragraph: Any) -> list[Any]:
        """Add one paragraph; return the text boxes' contents to read next."""
        words, boxes = self.words(paragraph)
        named = paragraph.find(f"{_W}pPr/{_W}pStyle")
        style = str(named.get(f"{_W}val") or "") if named is not None else ""
        name = self.styles.get(style, style)
        level = _HEADING_STYLE.fullmatch(name)
        if level and words.strip():
            heading = self.builder.heading(one_line(words), min(int(level[1]), _MAX_LEVEL))
            if heading is not None and level[1] == "1":
                self.title = self.title or heading.title
        else:
            self.builder.add(words)
            if name.lower() == "title" and words.strip():
                self.title = self.title or one_line(words)
        return boxes

    def table(self, table: Any) -> list[Any]:
        """Add a table's rows; return what is to be read after it (its cells' nested tables
        and text boxes)."""
        later: list[Any] = []
        first = True
        for row in table.iterfind(f"{_W}tr"):
            cells: list[str] = []
            for cell in row.iterfind(f"{_W}tc"):
                texts = []
                for paragraph in cell.iterfind(f"{_W}p"):
                    words, boxes = self.words(paragraph)
                    texts.append(one_line(words))
                    later.extend(boxes)
                later.extend(cell.iterfind(f"{_W}tbl"))
                cells.append(" ".join(text for text in texts if text))
            while cells and not cells[-1]:
                cells.pop()
            if cells:
                self.builder.add("\t".join(cells), tight=not first)
                first = False
        return later

    def words(self, paragraph: Any) -> tuple[str, list[Any]]:
        """A paragraph's text (its list number first), and the contents of the text boxes
        anchored in it; its notes and comments are kept for the end. Not read: a field's
        instructions (`w:instrText`), a picture's base64 (`w:binData`), deleted text."""
        parts: list[str] = []
        boxes: list[Any] = []
        number = paragraph.find(f"{_W}pPr/{_W}listPr/{_WX}t")
        if number is not None and (drawn := str(number.get(f"{_WX}val") or "").strip()):
            parts.append(drawn + " ")
        stack = list(reversed(paragraph))
        while stack:
            element = stack.pop()
            tag = element.tag
            if tag == f"{_W}t":
                parts.append(element.text or "")
            elif tag == f"{_W}tab":
                parts.append("\t")
            elif tag in (f"{_W}br", f"{_W}cr"):
                parts.append("\n")
            elif tag == f"{_W}txbxContent":
                boxes.extend(element)
            elif tag in (f"{_W}footnote", f"{_W}endnote") or (
                tag == f"{_AML}annotation" and element.get(f"{_W}type") == "Word.Comment"
            ):
                self.notes.append(element)
            elif isinstance(tag, str) and tag not in _UNREAD:
                stack.extend(reversed(element))
        return "".join(parts), boxes


def _spreadsheet_2003(root: Any) -> ParsedText:
    """Excel 2003 XML: each worksheet a heading (its name), its rows of cell values, then
    its cell notes (as the XLS reader gives a sheet's)."""
    builder = TextBuilder()
    budget = MAX_CELLS
    for sheet in root.iterchildren(f"{_SS}Worksheet"):
        if builder.full or budget <= 0:
            break
        builder.heading(one_line(_ss(sheet, "Name")), 1)
        rows = (_row(row) for row in sheet.iterfind(f"{_SS}Table/{_SS}Row"))
        budget = add_rows(builder, rows, budget)
        builder.add("\n".join(_notes(sheet)))
    return builder.build(title=_title(root, f"{_O}DocumentProperties/{_O}Title"))


def _row(row: Any) -> list[object]:
    """A row's cell values, each in its column: `ss:Index` skips the empty ones before a
    cell, `ss:MergeAcross` the ones a merged cell covers after it."""
    values: list[object] = []
    for cell in row.iterchildren(f"{_SS}Cell"):
        index = _count(_ss(cell, "Index"))
        if index is not None and index > len(values):
            values.extend([None] * (index - 1 - len(values)))
        data = cell.find(f"{_SS}Data")
        values.append(None if data is None else _value(data))
        values.extend([None] * (_count(_ss(cell, "MergeAcross")) or 0))
        if len(values) >= _MAX_COLUMNS:
            return values[:_MAX_COLUMNS]
    return values


def _ss(element: Any, name: str) -> str:
    """An `ss:` attribute of the element (""), also where the file never declared the `ss`
    prefix (a script's export: kept as written, `ss:Name`, by the recovering parser)."""
    return str(element.get(f"{_SS}{name}") or element.get(f"ss:{name}") or "")


def _count(number: str) -> int | None:
    """A column number or count of columns, at most Excel's columns; None where there is
    none."""
    if not number.strip().isdigit():
        return None
    return min(int(number), _MAX_COLUMNS)


def _value(data: Any) -> object:
    """A cell's value as the XLSX reader gives it: a number as a float, a boolean as one, a
    date as a datetime (a time alone, on Excel's day zero, as a time), else its words (which
    may be rich text, `html:Font` and `html:B` around them)."""
    words = "".join(data.itertext())
    kind = _ss(data, "Type")
    try:
        if kind == "Number":
            return float(words)
        if kind == "Boolean":
            return bool(float(words))
        if kind == "DateTime":
            value = datetime.datetime.fromisoformat(words.strip())
            return value.time() if value.date() == _DAY_ZERO else value
    except ValueError:
        pass  # a value its type does not fit: its words, as written
    return words


def _notes(sheet: Any) -> Iterator[str]:
    """The lines of a sheet's cell notes (`ss:Comment`), row by row."""
    for note in sheet.iterfind(f"{_SS}Table/{_SS}Row/{_SS}Cell/{_SS}Comment/{_SS}Data"):
        for line in "".join(note.itertext()).splitlines():
            if words := " ".join(line.split()):
                yield words


def _title(root: Any, path: str) -> str | None:
    """The document properties' title, or None."""
    element = root.find(path)
    return title_of(element.text) if element is not None else None
