"""Legacy binary Office files (OLE2 compound files): Excel 97-2003 and 5/95 workbooks are read
with their cell notes (services/parser/core/xls.py, xlrd), Word documents, PowerPoint decks
and Outlook messages too (test_legacy_word.py, test_legacy_slides.py, test_outlook.py);
password-protected OOXML and compound files of other kinds are refused at upload saying so
(services/common/media.py). Real files from Apache Tika's and Apache POI's tests are in the
corpus; here they are sniffed and read, and edited to show what the sniffing keys on."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest
from xlrd import XL_CELL_BOOLEAN, XL_CELL_DATE, XL_CELL_EMPTY, XL_CELL_ERROR, XL_CELL_NUMBER
from xlrd.sheet import Cell

from services.common.media import DOC, XLS, sniff_media_type, unsupported_reason
from services.parser.core import xls
from services.parser.core.errors import ParseError
from services.parser.core.extract import extract
from services.parser.core.sheets import cell_text
from services.parser.core.xls import _value
from tests.fixtures.corpus import CORPUS_DIR, corpus_file
from tests.fixtures.scaling import LINEAR_GROWTH_BOUND, growth

pytestmark = pytest.mark.unit

OLE2 = bytes.fromhex("d0cf11e0a1b11ae1")


def test_an_excel_97_workbook_reads_like_an_xlsx() -> None:
    data = corpus_file("tika/testEXCEL.xls").read()
    assert sniff_media_type(data) == XLS
    text = extract(data, XLS).text
    assert text.startswith("Feuil1\n\nSample Excel Worksheet - Numbers and their Squares\n")
    assert "\tNumber\tSquare\n\t1\t1\n\t2\t4" in text


def test_a_sheets_cell_notes_follow_its_rows() -> None:
    text = extract(corpus_file("poi/SimpleWithComments.xls").read(), XLS).text
    assert text.startswith(
        "Sheet1\n\n1\tone\n2\ttwo\n3\tthree\n\n"
        "Yegor Kozlov:\nfirst cell\nYegor Kozlov:\nsecond cell\nYegor Kozlov:\nthird cell\n\n"
        "Sheet2"
    )


def with_sst_count(data: bytes, more: int) -> bytes:
    """The workbook with its shared-string table (SST record, 0x00FC) counting `more` unique
    strings than it holds, as calamine's gh548_incorrect_sst_unique_count.xls does (an NHS
    statistics workbook, which Excel opens)."""
    at = data.find(b"\xfc\x00")
    while at >= 0:
        length, total, unique = struct.unpack_from("<HII", data, at + 2)
        if 0 < unique <= total < 100_000 and length < 8_300:
            edited = bytearray(data)
            struct.pack_into("<I", edited, at + 8, unique + more)
            return bytes(edited)
        at = data.find(b"\xfc\x00", at + 1)
    raise AssertionError("no SST record")


@pytest.mark.parametrize("more", [1, 7, 1_000])
def test_a_shared_string_count_larger_than_the_strings_is_read_as_written(more: int) -> None:
    data = corpus_file("tika/testEXCEL.xls").read()
    assert extract(with_sst_count(data, more), XLS).text == extract(data, XLS).text


def with_short_note_authors(data: bytes, by: int) -> bytes:
    """The workbook with each cell note's (NOTE record, 0x001C) author name counted `by`
    characters short, so that bytes follow it past xlrd's one undefined byte, as in Apache
    POI's 47251_1.xls."""
    edited = bytearray(data)
    at = data.find(b"\x1c\x00")
    while at >= 0:
        length = struct.unpack_from("<H", data, at + 2)[0]
        author = struct.unpack_from("<H", data, at + 12)[0]  # after row, column, flags, id
        if length == 12 + author and author > by:  # a note whose author (and a byte) ends it
            struct.pack_into("<H", edited, at + 12, author - by)
        at = data.find(b"\x1c\x00", at + 1)
    assert edited != data, "no NOTE record"
    return bytes(edited)


def test_a_note_with_bytes_after_its_authors_name_is_read() -> None:
    data = corpus_file("poi/SimpleWithComments.xls").read()
    # The notes' words come from their text objects, so the workbook reads the same
    assert extract(with_short_note_authors(data, 2), XLS).text == extract(data, XLS).text


def test_an_excel_5_workbook_is_read_too() -> None:
    data = corpus_file("poi/testEXCEL_5.xls").read()  # its stream is `Book`, not `Workbook`
    assert sniff_media_type(data) == XLS
    assert "Sample Excel Worksheet" in extract(data, XLS).text


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("poi/testEXCEL_3.xls", "Table C-13--Lemons: Utilization of production, by State"),
        ("poi/testEXCEL_4.xls", "Table 10 -- Examination Coverage"),
    ],
)
def test_an_excel_3_or_4_worksheet_is_read_too(path: str, words: str) -> None:
    # A bare BIFF stream, no compound file around it: refused as "not a supported document
    # type" before, though xlrd reads it.
    data = corpus_file(path).read()
    assert sniff_media_type(data) == XLS
    assert extract(data, XLS).text.startswith(f"Sheet 1\n\n{words}")


def test_entry_names_are_found_in_any_case() -> None:
    data = corpus_file("tika/testEXCEL.xls").read()
    shouting = data.replace("Workbook".encode("utf-16-le"), "WORKBOOK".encode("utf-16-le"))
    assert shouting != data
    assert sniff_media_type(shouting) == XLS


def test_a_file_is_what_its_own_main_stream_says_not_what_it_holds() -> None:
    # Each holds a Word document, a workbook and a presentation of its own.
    assert sniff_media_type(corpus_file("tika/testEXCEL_embeded.xls").read()) == XLS
    assert sniff_media_type(corpus_file("tika/testWORD_embeded.doc").read()) == DOC


def test_a_powerpoint_4_deck_is_refused_as_one_not_read_as_the_workbook_it_holds() -> None:
    # Its charts are Excel objects, whose `Book` streams come before its own `PP40` in the
    # directory: only the entries at the root say what the file is.
    data = corpus_file("format-corpus/unc-oxford.ppt").read()
    assert sniff_media_type(data) is None
    assert unsupported_reason(data).startswith("a PowerPoint 4 presentation")


@pytest.mark.parametrize(
    ("head", "named"),
    [
        (b"\xffWPC\x10\x00\x00\x00\x01\x0a", "a WordPerfect document"),
        (b"\xdb\xa5-\x00x@\t\x08\x00\x00", "a Word for Windows 1 or 2 document"),
        (b"\x31\xbe\x00\x00\x00\xab\x00\x00", "a Windows Write or Word for DOS document"),
    ],
)
def test_an_old_word_processors_file_is_refused_by_its_name(head: bytes, named: str) -> None:
    data = head + bytes(range(256)) * 8  # the rest binary, as their text runs are
    assert sniff_media_type(data) is None
    assert unsupported_reason(data).startswith(named + ", a format Sluice does not read")


def test_a_password_protected_ooxml_file_is_refused_saying_so() -> None:
    data = corpus_file("tika/protectedFile.xlsx").read()  # OOXML encrypted into a compound file
    assert sniff_media_type(data) is None
    assert unsupported_reason(data).startswith("a password-protected Office document")


def test_a_name_outside_a_directory_entry_does_not_count() -> None:
    # Word keeps its text in UTF-16LE: "Workbook" in a sentence, not at an entry's place,
    # with no entry's size and kind after it.
    words = "Workbook".encode("utf-16-le") + b"\x00\x00"
    data = OLE2 + b"\x00" * 120 + words + b"\x00" * (128 - len(words)) + b"\x01" * 2048
    assert sniff_media_type(data) is None
    assert unsupported_reason(data).startswith("an OLE2 compound file that is no Office")


def test_a_file_cut_inside_a_directory_entry_is_refused_not_an_error() -> None:
    data = corpus_file("tika/testEXCEL.xls").read()
    entry = data.index("Workbook".encode("utf-16-le") + b"\x00\x00")
    for end in (entry + 20, entry + 65, entry + 66):
        assert sniff_media_type(data[:end]) is None
        assert unsupported_reason(data[:end]).startswith("an OLE2 compound file")


def test_scanning_a_hostile_compound_file_grows_linearly() -> None:
    # Names everywhere, at every alignment, none of them an entry.
    pattern = b"\x00" + "WorkBook".encode("utf-16-le") + b"\x00\x00\x07"
    small = OLE2 + pattern * 20_000
    large = OLE2 + pattern * 80_000
    assert sniff_media_type(large) is None
    assert growth(sniff_media_type, small, large) < LINEAR_GROWTH_BOUND


def test_following_a_hostile_compound_files_directory_grows_linearly() -> None:
    # A well-formed file whose directory fills it: the root's children chained through
    # their left siblings, every one visited.
    assert sniff_media_type(_chained_directory(2_000)) is None
    assert growth(sniff_media_type, _chained_directory(2_000), _chained_directory(8_000)) < (
        LINEAR_GROWTH_BOUND
    )


def test_an_encrypted_package_beside_a_word_stream_is_a_password_protected_file() -> None:
    # POI's bug53475-password-is-solrcell.docx: an encrypted OOXML package whose compound
    # file also holds a WordDocument stream was read as a .doc ("no Word document").
    data = _chained_directory(1, names=("WordDocument", "EncryptedPackage"))
    assert sniff_media_type(data) is None
    assert unsupported_reason(data).startswith("a password-protected Office document")
    assert sniff_media_type(_chained_directory(1, names=("WordDocument",))) == DOC


@pytest.mark.parametrize(
    ("names", "named"),
    [
        (("VisioDocument", "VisioInformation"), "a Visio drawing"),  # POI's diagram/*.vsd
        (("Contents", "Quill", "Escher"), "a Publisher document"),  # POI's publisher/*.pub
    ],
)
def test_other_office_programs_files_are_refused_by_name(
    names: tuple[str, ...], named: str
) -> None:
    # Said as "an OLE2 compound file that is no Office document Sluice reads" before
    data = _chained_directory(1, names=names)
    assert sniff_media_type(data) is None
    assert unsupported_reason(data).startswith(named)


def _chained_directory(sectors: int, names: tuple[str, ...] = ()) -> bytes:
    """A compound file of 512-byte sectors: the FAT, then `sectors` of directory, in which
    entry n's left sibling is n + 1 (streams named as `names` say, else "x"; the last
    entries unused where `names` are fewer)."""
    fat_sectors = -(-(sectors + 110) // 128)  # holds the FAT's own sectors too
    header = bytearray(512)
    header[:8] = OLE2
    header[30:32] = (9).to_bytes(2, "little")  # 2**9-byte sectors
    header[48:52] = fat_sectors.to_bytes(4, "little")  # the directory's first sector
    header[68:72] = (0xFFFFFFFE).to_bytes(4, "little")  # no DIFAT sectors
    for i in range(109):
        header[76 + 4 * i : 80 + 4 * i] = (i if i < fat_sectors else 0xFFFFFFFF).to_bytes(
            4, "little"
        )
    chain = [0xFFFFFFFD] * fat_sectors + [fat_sectors + i + 1 for i in range(sectors)]
    chain[-1] = 0xFFFFFFFE
    fat = b"".join(n.to_bytes(4, "little") for n in chain).ljust(fat_sectors * 512, b"\xff")
    count = len(names) or sectors * 4 - 1
    entries = [_entry("Root Entry", 5, child=1)] + [
        _entry(names[n - 1] if names else "x", 2, left=n + 1 if n < count else 0xFFFFFFFF)
        for n in range(1, count + 1)
    ]
    entries += [bytes(128)] * (sectors * 4 - len(entries))
    return bytes(header) + fat + b"".join(entries)


def _entry(name: str, kind: int, *, left: int = 0xFFFFFFFF, child: int = 0xFFFFFFFF) -> bytes:
    encoded = (name + "\x00").encode("utf-16-le")
    entry = bytearray(128)
    entry[: len(encoded)] = encoded
    entry[64:66] = len(encoded).to_bytes(2, "little")
    entry[66] = kind
    entry[68:72] = left.to_bytes(4, "little")
    entry[72:76] = (0xFFFFFFFF).to_bytes(4, "little")
    entry[76:80] = child.to_bytes(4, "little")
    return bytes(entry)


def test_a_password_protected_workbook_fails_saying_so() -> None:
    with pytest.raises(ParseError) as caught:
        extract(corpus_file("tika/testEXCEL_protected_passtika.xls").read(), XLS)
    assert caught.value.code == "corrupt_file"
    assert "password-protected" in str(caught.value)


def test_a_damaged_workbook_fails_with_the_readers_reason() -> None:
    data = corpus_file("tika/testEXCEL.xls").read()
    with pytest.raises(ParseError) as caught:
        extract(data[: len(data) // 3], XLS)
    assert caught.value.code == "corrupt_file"
    assert "the XLS file could not be read" in str(caught.value)


def test_a_reason_without_words_says_the_structure_is_damaged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # xlrd fails some of POI's files with a bare AssertionError: "could not be read:
    # AssertionError" told a person nothing.
    def failing(**kwargs: object) -> object:
        raise AssertionError

    monkeypatch.setattr(xls.xlrd, "open_workbook", failing)
    with pytest.raises(ParseError) as caught:
        extract(corpus_file("tika/testEXCEL.xls").read()[:4096], XLS)  # calamine fails too
    assert "could not be read: its structure is damaged (AssertionError); save it" in str(
        caught.value
    )


def test_a_workbook_xlrd_gives_up_on_is_read_by_calamine(monkeypatch: pytest.MonkeyPatch) -> None:
    # xlrd gives up on some workbooks Excel opens (Apache POI's 41139.xls: "Token 0x2d (AreaN)
    # found in NAME formula"; 45290.xls: "Workbook corruption: seen[44] == 3"); calamine
    # reads them. Here xlrd is made to fail on a workbook both read.
    data = corpus_file("tika/testEXCEL.xls").read()

    def failing(**kwargs: object) -> object:
        raise xls.XLRDError("Token 0x2d (AreaN) found in NAME formula")

    monkeypatch.setattr(xls.xlrd, "open_workbook", failing)
    text = extract(data, XLS).text
    assert text.startswith("Feuil1\n\nSample Excel Worksheet - Numbers and their Squares\n")
    assert "\tNumber\tSquare\n\t1\t1\n\t2\t4" in text


def test_where_calamine_fails_too_xlrds_reason_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(**kwargs: object) -> object:
        raise xls.XLRDError("Can't determine file's BIFF version")

    monkeypatch.setattr(xls.xlrd, "open_workbook", failing)
    with pytest.raises(ParseError) as caught:
        extract(corpus_file("tika/testEXCEL.xls").read()[:4096], XLS)
    assert caught.value.message.startswith(
        "the XLS file could not be read: Can't determine file's BIFF version;"
    )


LOOPING = """
import sys
from services.parser.core.errors import ParseError
from services.parser.core.xls import extract_xls
try:
    extract_xls(sys.stdin.buffer.read())
except ParseError as error:
    print(error.code, error)
"""


def test_a_sector_chain_that_comes_back_on_itself_fails_and_does_not_loop() -> None:
    # Zeroing the first sector of the short-stream table makes its first entry point to
    # itself: xlrd followed that chain forever (run apart, to be stopped if it still does).
    data = bytearray(corpus_file("tika/testEXCEL_dateFormats.xls").read())
    data[1536:1600] = bytes(64)
    done = subprocess.run(
        [sys.executable, "-c", LOOPING],
        input=bytes(data),
        capture_output=True,
        timeout=60,
        check=False,
        cwd=CORPUS_DIR.parents[1],  # the repository, where `services` is
    )
    assert done.stdout.decode().startswith("corrupt_file"), done.stderr.decode()[-2000:]
    assert "a sector chain comes back on itself" in done.stdout.decode()


@pytest.mark.parametrize(
    ("cell", "text"),
    [
        (Cell(XL_CELL_DATE, 45382.0), "2024-03-31"),
        (Cell(XL_CELL_DATE, 45382.5), "2024-03-31T12:00:00"),
        (Cell(XL_CELL_DATE, 0.75), "18:00:00"),  # a time of day alone
        (Cell(XL_CELL_DATE, -5.0), "-5"),  # before the calendar: the number
        (Cell(XL_CELL_NUMBER, 3.0), "3"),
        (Cell(XL_CELL_NUMBER, 2.5), "2.5"),
        (Cell(XL_CELL_BOOLEAN, 1), "True"),
        (Cell(XL_CELL_ERROR, 7), ""),  # #DIV/0!
        (Cell(XL_CELL_EMPTY, ""), ""),
    ],
)
def test_cells_read_as_an_xlsx_cell_of_the_same_value_would(cell: Cell, text: str) -> None:
    assert cell_text(_value(cell, 0)) == text
