"""Office documents saved as one XML file: Word's and PowerPoint's "XML Document" (Flat OPC,
the parts of a DOCX or PPTX package inside one `pkg:package`), Word 2003's WordprocessingML
and Excel 2003's SpreadsheetML.

Read as generic XML they lost their shape: a Flat OPC file was indexed with its relationships
and document properties, its pictures and embedded objects as pages of base64; a Word 2003
paragraph broke into one block per run ("It contains neither macros nor / dde / links"); an
Excel 2003 sheet came out a cell per line, its document properties first.

A Flat OPC package is packed back into the ZIP it stands for and read by the DOCX, PPTX or
XLSX reader, as that file would be. No library reads the two 2003 formats (python-docx,
openpyxl and LibreOffice's converters are the only readers around, the last not a library);
their text is a few elements, read here: Word's paragraphs (`w:p`, their runs' `w:t`) with
the "Heading N" styles as headings, Excel's sheets as headings and their rows as
tab-separated lines, as the XLSX reader writes them.
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
    """Word 2003 XML: each paragraph a block, those of a "heading N" style headings; the
    title is the document properties', else a "Title" paragraph's or the first level-1
    heading's (as for a DOCX)."""
    builder = TextBuilder()
    styles = {
        str(style.get(f"{_W}styleId")): str(name.get(f"{_W}val") or "")
        for style in root.iterfind(f"{_W}styles/{_W}style")
        if (name := style.find(f"{_W}name")) is not None
    }
    title = _title(root, f"{_O}DocumentProperties/{_O}Title")
    for paragraph in root.iter(f"{_W}p"):
        if builder.full:
            break
        words = "".join(_runs(paragraph))
        style = paragraph.find(f"{_W}pPr/{_W}pStyle")
        named = str(style.get(f"{_W}val") or "") if style is not None else ""
        name = styles.get(named, named)
        level = _HEADING_STYLE.fullmatch(name)
        if level and words.strip():
            heading = builder.heading(one_line(words), min(int(level[1]), _MAX_LEVEL))
            if heading is not None and level[1] == "1":
                title = title or heading.title
        else:
            builder.add(words)
            if name.lower() == "title" and words.strip():
                title = title or one_line(words)
    return builder.build(title=title)


def _runs(paragraph: Any) -> Iterator[str]:
    """The text of a paragraph's runs in order: `w:t`, tabs and breaks, but not that of a
    paragraph inside it (a text box's: read on its own) nor a field's instructions
    (`w:instrText`, not shown) nor a picture's base64 (`w:binData`)."""
    stack = list(reversed(paragraph))
    while stack:
        element = stack.pop()
        tag = element.tag
        if tag == f"{_W}t":
            yield element.text or ""
        elif tag == f"{_W}tab":
            yield "\t"
        elif tag in (f"{_W}br", f"{_W}cr"):
            yield "\n"
        elif isinstance(tag, str) and tag not in (f"{_W}p", f"{_W}instrText", f"{_W}binData"):
            stack.extend(reversed(element))


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
