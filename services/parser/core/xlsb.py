"""Excel binary workbooks (`.xlsb`: OOXML packaging, BIFF12 records in its parts) to text with
calamine (python-calamine, MIT), as an XLSX reads: each worksheet a heading (its name), then
one tab-separated line per row of cached values. openpyxl and xlrd read no BIFF12; calamine
is the maintained reader of it. Cell notes, text boxes and charts are not read.
"""

from __future__ import annotations

import io

import python_calamine

from services.parser.core.builder import TextBuilder
from services.parser.core.errors import ParseError, unreadable
from services.parser.core.office import open_package
from services.parser.core.parsed import ParsedText
from services.parser.core.sheets import MAX_CELLS, add_rows

FIX = "save it again from your spreadsheet program (as .xlsx) and upload again"
# Besides its errors, a panic in the library's Rust code reaches Python as pyo3's
# PanicException, which derives from BaseException (damaged files make them: calamine's own
# fuzzing found some); it is caught by its name, nothing else that is not an Exception.
_PANIC = "PanicException"


def extract_xlsb(data: bytes) -> ParsedText:
    """Extract every worksheet as a heading (its name) and its rows of cell values."""
    with open_package(data, "XLSB", FIX) as package:  # the archive's limits first
        return calamine_text(package, "the XLSB file")


def calamine_text(data: bytes, what: str) -> ParsedText:
    """Every worksheet of a workbook calamine reads (XLSB, and the XLS xlrd gives up on) as a
    heading and its rows; a workbook it cannot read ends corrupt_file naming `what`."""
    builder = TextBuilder()
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        budget = MAX_CELLS
        for sheet in workbook.sheets_metadata:
            if builder.full or budget <= 0:
                break
            if sheet.typ != python_calamine.SheetTypeEnum.WorkSheet:
                continue  # a chart sheet or a dialog: no cells
            builder.heading(sheet.name, 1)
            rows = workbook.get_sheet_by_name(sheet.name).iter_rows()
            budget = add_rows(builder, rows, budget)  # at most Excel's rows, the budget
    except ParseError:
        raise
    except Exception as exc:  # the library's errors on a damaged workbook
        raise unreadable(what, exc, FIX) from exc
    except BaseException as exc:
        if type(exc).__name__ != _PANIC:
            raise
        raise unreadable(what, exc, FIX) from None
    return builder.build()
