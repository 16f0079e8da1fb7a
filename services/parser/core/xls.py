"""Excel 97-2003 and Excel 5/95 workbooks (`.xls`, BIFF in an OLE2 compound file) to text
with xlrd: each sheet a heading, then one tab-separated line per row, as an XLSX reads, then
the sheet's cell notes."""

from __future__ import annotations

import struct
from typing import Any

import xlrd
from xlrd.biffh import XLRDError, unpack_unicode_update_pos
from xlrd.compdoc import CompDoc, CompDocError
from xlrd.sheet import Sheet

from services.parser.core.builder import TextBuilder
from services.parser.core.errors import CORRUPT_FILE, ParseError, unreadable
from services.parser.core.parsed import ParsedText
from services.parser.core.sheets import MAX_CELLS, add_rows
from services.parser.core.xlsb import FIX, calamine_text


class _Chain:
    """A compound file's sector allocation table that refuses to be followed further than it
    is long: past that, the chain of sectors has come back on itself.

    xlrd 2.0.2 (its last release) checks the chains it follows for loops, except that of a
    stream under 4 KiB (`CompDoc._get_stream` without `seen_id`): there a table that leads
    back to a sector read before (a zeroed run of a damaged file makes one) was followed
    forever, and the worker spent its whole time limit on a 6 KiB file. Wrapping the table
    the method reads is the smallest change that bounds it; the method is otherwise xlrd's.
    """

    def __init__(self, table: Any) -> None:
        self._table = table
        self._left = len(table) + 1

    def __getitem__(self, index: int) -> Any:
        self._left -= 1
        if self._left < 0:
            raise CompDocError("a sector chain comes back on itself")
        return self._table[index]

    def __len__(self) -> int:
        return len(self._table)


_get_stream = CompDoc._get_stream


def _bounded_get_stream(self: Any, mem: Any, base: Any, sat: Any, *args: Any, **kw: Any) -> Any:
    return _get_stream(self, mem, base, _Chain(sat), *args, **kw)


CompDoc._get_stream = _bounded_get_stream

_unpack_sst = xlrd.book.unpack_SST_table


def _sst_as_written(datatab: Any, nstrings: int) -> Any:
    """xlrd's reading of the shared strings, taking as many as the workbook holds where its
    header promises more. Some writers count more unique strings than they write (calamine's
    gh548_incorrect_sst_unique_count.xls, which Excel opens); xlrd asserted when they ran
    out, and the whole workbook was lost. The count that reads is found by halving: xlrd
    reads any count up to the strings there and fails past them."""
    try:
        return _unpack_sst(datatab, nstrings)
    except (AssertionError, IndexError, struct.error):
        pass
    readable, failing = 0, nstrings  # reads / fails
    while failing - readable > 1:
        middle = (readable + failing) // 2
        try:
            _unpack_sst(datatab, middle)
        except (AssertionError, IndexError, struct.error):
            failing = middle
        else:
            readable = middle
    return _unpack_sst(datatab, readable)


xlrd.book.unpack_SST_table = _sst_as_written

_handle_note = Sheet.handle_note


def _note_as_written(self: Any, data: bytes, txos: Any) -> Any:
    """xlrd's reading of a cell note (NOTE record), with the bytes after its author's name
    cut off where there are more than xlrd's one undefined byte (Apache POI's
    47251_1.xls): xlrd asserted, and the whole workbook was lost for a note's padding."""
    try:
        return _handle_note(self, data, txos)
    except AssertionError:
        _, end = unpack_unicode_update_pos(data, 8, lenlen=2)  # where xlrd's check looks
        return _handle_note(self, data[:end], txos)


Sheet.handle_note = _note_as_written


class _Discard:
    """Where xlrd writes its warnings (a file-like object): nowhere."""

    def write(self, text: str) -> int:
        return len(text)


def extract_xls(data: bytes) -> ParsedText:
    """Extract every worksheet as a heading (its name), its rows of cell values (cached
    formula results; dates as ISO dates; error cells left empty), then its cell notes."""
    builder = TextBuilder()
    try:
        book = xlrd.open_workbook(
            file_contents=data, logfile=_Discard(), on_demand=True, ragged_rows=True
        )
        budget = MAX_CELLS
        for index in range(book.nsheets):
            if builder.full or budget <= 0:
                break
            sheet = book.sheet_by_index(index)
            builder.heading(str(sheet.name), 1)
            rows = (
                [_value(cell, book.datemode) for cell in sheet.row(n)] for n in range(sheet.nrows)
            )
            budget = add_rows(builder, rows, budget)
            builder.add("\n".join(_notes(sheet)))
            book.unload_sheet(index)
    except (ParseError, MemoryError):
        raise
    except XLRDError as exc:
        if "encrypted" in str(exc).lower():
            raise ParseError(
                CORRUPT_FILE,
                "the workbook is password-protected; save it without a password and upload again",
            ) from exc
        return _second_reading(data, exc)
    # xlrd on a broken file: struct, index, compdoc errors and more; calamine tries it next
    except Exception as exc:  # noqa: BLE001
        return _second_reading(data, exc)
    return builder.build()


def _second_reading(data: bytes, failure: Exception) -> ParsedText:
    """The workbook as calamine reads it, where xlrd gave up (a formula token it does not
    know in a defined name, a sector table it takes for corrupt: Apache POI's 41139.xls and
    45290.xls, which Excel opens). Where calamine cannot read it either (POI's 64130.xls),
    xlrd's reason is the one given. Cell notes are xlrd's alone."""
    try:
        return calamine_text(data, "the XLS file")
    except ParseError:
        raise unreadable("the XLS file", failure, FIX) from failure


def _notes(sheet: Any) -> list[str]:
    """The sheet's cell notes (comments), by row then column, each as Excel shows it (most
    begin with their author's name). xlrd reads them with the cells; the text was lost."""
    notes = (note.text.strip() for _, note in sorted(sheet.cell_note_map.items()))
    return [note for note in notes if note]


def _value(cell: Any, datemode: int) -> object:
    """A cell's value as openpyxl gives an XLSX cell's: text, a number, a bool, a datetime
    (a date cell; its number where it is out of the calendar's range), None for an empty or
    error cell."""
    kind = cell.ctype
    if kind == xlrd.XL_CELL_DATE and cell.value >= 0:
        try:
            moment = xlrd.xldate_as_datetime(cell.value, datemode)
        except (ValueError, OverflowError, xlrd.xldate.XLDateError):
            return cell.value
        return moment.time() if cell.value < 1 else moment  # a time of day alone
    if kind == xlrd.XL_CELL_BOOLEAN:
        return bool(cell.value)
    if kind in (xlrd.XL_CELL_TEXT, xlrd.XL_CELL_NUMBER, xlrd.XL_CELL_DATE):
        return cell.value
    return None
