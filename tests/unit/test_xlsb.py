"""Excel binary workbooks (`.xlsb`) to text with calamine (services/parser/core/xlsb.py), as
an XLSX reads. Real workbooks from calamine's tests are in the corpus; no Python library
writes one."""

from __future__ import annotations

import io
import zipfile

import pytest
import python_calamine

from services.common.media import XLSB, sniff_media_type
from services.parser.core.errors import CORRUPT_FILE, ParseError
from services.parser.core.extract import extract
from tests.fixtures.corpus import corpus_file

pytestmark = pytest.mark.unit


def test_each_worksheet_reads_as_a_heading_and_its_rows() -> None:
    data = corpus_file("calamine/issues.xlsb").read()
    assert sniff_media_type(data, "issues.xlsb") == XLSB
    text = extract(data, XLSB).text
    assert text.startswith("datatypes\n\n1\n1.5\nab\nFalse\ntest\n2016-10-20\n\nissue2\n\n1\ta\n")
    assert "spc_chrs\n\n&\n<\n>\naaa ' aaa\n\"\n☺\n֍\nàâéêèçöï" in text


def test_hidden_sheets_are_read_and_a_chart_sheet_has_no_heading() -> None:
    text = extract(corpus_file("calamine/any_sheets.xlsb").read(), XLSB).text
    assert text.split("\n\n")[0] == "Visible"
    assert "\n\nHidden" in text and "\n\nVeryHidden" in text
    assert "\n\nChart" not in text


class PanicException(BaseException):
    """What a panic in the library's Rust code raises (pyo3's, a BaseException)."""


def test_a_panic_in_the_library_ends_corrupt_file(monkeypatch: pytest.MonkeyPatch) -> None:
    # calamine 0.37 panics on some damaged workbooks ("range end index 131082 out of range
    # for slice of length 36", found by mutating calamine's test files)
    def panics(source: object) -> object:
        raise PanicException("range end index 131082 out of range for slice of length 36")

    monkeypatch.setattr(python_calamine.CalamineWorkbook, "from_filelike", panics)
    with pytest.raises(ParseError) as caught:
        extract(corpus_file("calamine/issues.xlsb").read(), XLSB)
    assert caught.value.code == CORRUPT_FILE
    assert "range end index" in caught.value.message


def test_an_interrupt_is_not_taken_for_a_damaged_file(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(source: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(python_calamine.CalamineWorkbook, "from_filelike", interrupted)
    with pytest.raises(KeyboardInterrupt):
        extract(corpus_file("calamine/issues.xlsb").read(), XLSB)


def test_a_damaged_workbook_part_ends_corrupt_file() -> None:
    original = zipfile.ZipFile(io.BytesIO(corpus_file("calamine/issues.xlsb").read()))
    damaged = io.BytesIO()
    with zipfile.ZipFile(damaged, "w") as archive:
        for entry in original.infolist():
            part = original.read(entry.filename)
            archive.writestr(entry, part[:9] if entry.filename == "xl/workbook.bin" else part)
    with pytest.raises(ParseError) as caught:
        extract(damaged.getvalue(), XLSB)
    assert caught.value.code == CORRUPT_FILE
    assert caught.value.message.startswith("the XLSB file could not be read: ")
