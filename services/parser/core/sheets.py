"""XLSX text extraction with openpyxl: each sheet a heading, then one tab-separated line per row."""

from __future__ import annotations

import datetime
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import openpyxl

from services.parser.core.builder import TextBuilder
from services.parser.core.errors import ParseError
from services.parser.core.office import (
    chart_lines,
    comment_lines,
    open_package,
    repacked,
    shape_lines,
)
from services.parser.core.parsed import ParsedText
from services.parser.core.text import title_of

# Excel's own row limit; openpyxl yields an empty row for every gap, however large the gap
# a hostile sheet declares, so counting what it yields bounds the walk.
MAX_ROWS_PER_SHEET = 1_048_576
# Cells looked at in the whole workbook: a row is as wide as its last cell, and one cell far
# to the right makes a wide row out of a few bytes of XML.
MAX_CELLS = 20_000_000
_STYLES = "xl/styles.xml"
# The parts read after the sheets, each kind with its reader. Cell notes, a part a sheet:
# Excel names them xl/commentsN.xml, openpyxl xl/comments/commentN.xml.
_DRAWN_AND_NOTED: tuple[tuple[re.Pattern[str], Callable[[bytes], list[str]]], ...] = (
    (re.compile(r"xl/(?:comments/comment|comments)(\d{1,9})\.xml"), comment_lines),
    (re.compile(r"xl/drawings/drawing(\d{1,9})\.xml"), shape_lines),
    (re.compile(r"xl/charts/chart(\d{1,9})\.xml"), chart_lines),
)
_EXACT_INTEGERS = 2**53  # floats below this that are whole print as integers ("3", not "3.0")


def extract_xlsx(data: bytes) -> ParsedText:
    """Extract every worksheet as a heading (its name) and its rows of cell values."""
    builder = TextBuilder()
    with open_package(data, "XLSX", "save it again from your spreadsheet program") as package:
        workbook = _load(package)
        try:
            title = title_of(workbook.properties.title)
            budget = MAX_CELLS
            for sheet in workbook.worksheets:
                if builder.full or budget <= 0:
                    break
                builder.heading(sheet.title, 1)
                # The stored dimension is often wrong, and openpyxl pads every row to it.
                sheet.reset_dimensions()
                budget = add_rows(builder, sheet.iter_rows(values_only=True), budget)
        finally:
            workbook.close()
        for lines in _drawn_and_noted(package):  # openpyxl's streaming read loads none
            builder.add("\n".join(lines))
    return builder.build(title=title)


def _drawn_and_noted(package: bytes) -> Iterator[list[str]]:
    """The lines of the workbook's cell notes, then of its drawings' shapes (text boxes),
    then of its charts, part by part in their number's order (`xl/charts/chartN.xml`)."""
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        names = archive.namelist()
        for pattern, lines in _DRAWN_AND_NOTED:
            found = (pattern.fullmatch(name) for name in names)
            for match in sorted((m for m in found if m), key=lambda m: int(m[1])):
                yield lines(archive.read(match[0]))


def _load(package: bytes) -> Any:
    """The workbook, streamed (read_only) with formulas' cached values (data_only), without
    its links to other workbooks (keep_links=False: a DDE link without its relationships
    failed the whole workbook, and their cached values are not its text).

    openpyxl validates the stylesheet strictly and refuses the whole workbook over one odd
    style (an attribute another program added, a named style without a name) that Excel
    ignores. The text needs no style: such a workbook is read again without its stylesheet
    (dates then read as the numbers Excel stores them as). If that fails too, the first
    error is the one reported.
    """
    try:
        return _open(package)
    except (MemoryError, ParseError):
        raise
    except Exception as error:  # noqa: BLE001 - whatever the library raised: read once more
        try:
            plain = _without_part(package, _STYLES)
            return _open(plain)
        except Exception:  # noqa: BLE001 - the first error says what is wrong with the file
            raise error from None


def _open(package: bytes) -> Any:
    """openpyxl's workbook of the package, as `_load` reads it."""
    return openpyxl.load_workbook(
        io.BytesIO(package), read_only=True, data_only=True, keep_links=False
    )


def _without_part(package: bytes, name: str) -> bytes:
    """The package without the part `name`."""
    with zipfile.ZipFile(io.BytesIO(package)) as source:
        if name not in source.namelist():
            raise KeyError(name)
        return repacked(source, lambda e: None if e.filename == name else source.read(e))


def add_rows(builder: TextBuilder, rows: Iterable[Sequence[object]], budget: int) -> int:
    """Add a sheet's non-empty rows of cell values (as openpyxl gives them), each a
    tab-separated line, at most MAX_ROWS_PER_SHEET; return the cell budget left."""
    first = True
    for number, row in enumerate(rows):
        budget -= len(row) + 1
        if number >= MAX_ROWS_PER_SHEET or budget <= 0 or builder.full:
            break
        cells = [cell_text(value) for value in row]
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            builder.add("\t".join(cells), tight=not first)
            first = False
    return budget


def cell_text(value: object) -> str:
    """Return a cell's value as one line of text ("" for an empty cell)."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime) and value.time() == datetime.time():
        return value.date().isoformat()  # Excel stores dates as midnight datetimes
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT_INTEGERS:
        return str(int(value))
    return " ".join(str(value).split())
