"""Word 97-2003 documents (`.doc`) to text (services/parser/core/legacy_word.py, headings from
legacy_word_styles.py): the body, notes, text boxes and headers in Word's binary format, fields
showing their results, not their instructions, headings from the styles. The files are Apache
Tika's and Apache POI's test documents from the corpus; the special characters and the
properties are checked on their own."""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import olefile
import pytest

from services.common.media import DOC, DOCX, sniff_media_type
from services.parser.core.errors import ParseError
from services.parser.core.extract import extract
from services.parser.core.legacy_word import (
    _blocks,
    _characters,
    _Fib,
    _marked,
    _old_characters,
    _paragraph_marks,
    _without_field_codes,
)
from services.parser.core.legacy_word_styles import (
    _paragraph_sprms,
    _property_runs,
    _Style,
    _style_level,
)
from tests.fixtures.corpus import corpus_file
from tests.fixtures.scaling import LINEAR_GROWTH_BOUND, growth

pytestmark = pytest.mark.unit


def test_a_document_reads_its_body_then_its_header_and_footer_with_its_title() -> None:
    data = corpus_file("tika/testWORD.doc").read()
    assert sniff_media_type(data) == DOC
    parsed = extract(data, DOC)
    assert parsed.title == "Sample Word Document"
    assert parsed.text.startswith("Sample Word Document Title\n\nAnd now for a subtitle\n\n")
    # a hyperlink field: its result, not `HYPERLINK "http://tika.apache.org/"`
    assert "Apache Tika: http://tika.apache.org/ Tika" in parsed.text
    assert "HYPERLINK" not in parsed.text
    assert parsed.text.endswith(
        "This is the header for our document\n\nThis is the footer for our document"
    )


def test_notes_text_boxes_tables_and_characters_beyond_the_bmp() -> None:
    text = extract(corpus_file("tika/testWORD_various.doc").read(), DOC).text
    # Gothic letters are two UTF-16 units each: the parts after them start where they do
    assert "\U00010332\U0001033f\U00010344\U00010339\U00010343\U0001033a" in text
    assert "Row 1 Col 1\tRow 1 Col 2\tRow 1 Col 3\nRow 2 Col 1\tRow 2 Col 2\tRow 2 Col 3" in text
    assert text.endswith(
        "This is a footnote.\n\nHere is a text box\n\nThis is the header text.\n\n"
        "This is the footer text."
    )


def test_a_password_protected_document_fails_saying_so() -> None:
    with pytest.raises(ParseError) as caught:
        extract(corpus_file("tika/testWORD_protected_passtika.doc").read(), DOC)
    assert caught.value.code == "corrupt_file"
    assert "the document is password-protected" in str(caught.value)


@pytest.mark.parametrize(
    ("path", "start"),
    [
        ("poi/Word95.doc", "The quick brown fox jumps over the lazy dog\n\nParagraph 2\n\n"),
        # saved in steps (its piece table in the main stream); Windows-1251, as its summary says
        ("poi/Bug50955.doc", 'ОПЕРАЦИЯ "ХАОС"\n\nПол АНДЕРСОН\n\n'),  # noqa: RUF001
        # no code page in its summary: the one its bytes look like
        ("poi/Bug60942b.doc", "Четыре балла и семь лет"),
    ],
)
def test_word_6_and_95_documents_read_in_their_code_page(path: str, start: str) -> None:
    assert extract(corpus_file(path).read(), DOC).text.startswith(start)


def test_a_damaged_document_fails_with_the_readers_reason() -> None:
    with pytest.raises(ParseError) as caught:
        extract(corpus_file("tika/testWORD.doc").read()[:5000], DOC)
    assert caught.value.code == "corrupt_file"


@pytest.mark.parametrize(
    ("characters", "shown"),
    [
        ('See \x13 HYPERLINK "http://x" \x14the site\x15.', "See the site."),
        ("Page \x13 PAGE \x147\x15 of \x13 NUMPAGES \x149\x15", "Page 7 of 9"),
        ("a\x13 IF \x13 PAGE \x141\x15 = 1 \x14yes\x15b", "ayesb"),  # nested in the code
        ("a\x13 TOC \\o \x15b", "ab"),  # no result
        # a phonetic guide (Tika's testWORD_phonetic.doc): its base text, not the reading
        (
            '\x13EQ \\* jc2 \\* "Font:MS Mincho" \\o\\ad(\\s\\up 10(とうきょう),東京)\x15へ',
            "東京へ",
        ),
        ("a\x13 REF x \x13EQ \\o(\\s\\up 9(y),Y)\x15\x14r\x15b", "arb"),  # in a code
        ("no fields", "no fields"),
    ],
)
def test_fields_show_their_results_not_their_instructions(characters: str, shown: str) -> None:
    assert _without_field_codes(characters) == shown


def test_paragraphs_rows_and_special_characters() -> None:
    characters = (
        "Title\r\x01\x08Picture caption\x02\rline\x0bbreak\rnon\x1ebreaking opt\x1fional\r"
        "a\x07b\x07\x07c\x07d\x07\x07after\r"
    )
    assert list(_blocks(characters)) == [
        ("Title", False, None),
        ("Picture caption", False, None),
        ("line\nbreak", False, None),
        ("non-breaking optional", False, None),
        ("a\tb", False, None),
        ("c\td", True, None),
        ("after", False, None),
    ]


def test_pieces_that_each_claim_the_whole_stream_give_no_more_than_it_holds() -> None:
    word = b"text" * 256
    pieces = [(0, 2**31, 0, True)] * 10_000  # a damaged table: each piece all of it
    assert len(_characters(word, pieces, needed=2**31)) == 2 * len(word)  # UTF-16 units


def test_reading_fields_nested_deep_grows_linearly() -> None:
    # Each piece of text looked at every open field: fields nested in each other's results
    # (each past its separator) took quadratic time.
    def nested(count: int) -> str:
        return "\x13 PAGE \x14r" * count + "\x15" * count

    assert _without_field_codes(nested(3)) == "rrr"
    assert growth(_without_field_codes, nested(20_000), nested(80_000)) < LINEAR_GROWTH_BOUND


def test_a_word_95_piece_table_claiming_more_than_the_stream_gives_no_more() -> None:
    pieces = 2_000  # each claims 65,536 characters from the start of a 64 KiB stream
    bounds = struct.pack(f"<{pieces + 1}I", *(i * 65_536 for i in range(pieces + 1)))
    table = bounds + struct.pack("<HIH", 0, 0, 0) * pieces
    clx = b"\x02" + struct.pack("<I", len(table)) + table
    word = bytearray(65_536)
    struct.pack_into("<HHHH", word, 0, 0xA5DC, 104, 0, 0)
    struct.pack_into("<H", word, 0x0A, 0x0004)  # complex: the piece table says where
    struct.pack_into("<II", word, 0x160, 0x400, len(clx))
    word[0x400 : 0x400 + len(clx)] = clx
    fib = _Fib.read(bytes(word))
    tracemalloc.start()
    try:
        characters = _old_characters(bytes(word), fib, "cp1252")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(characters) <= 2 * len(word)
    assert peak < 16 * len(word)  # not the 128 MiB of every piece's claim


# testWORD.doc's headings (its .docx twin has the same): "Main Heading" is in OpenOffice's
# style "Heading" (level 1, as the DOCX reader takes it), the others in Word's "heading N".
_HEADINGS = [
    (1, "Main Heading"),
    (1, "Heading Level 1"),
    (2, "Heading Level 2"),
    (3, "Heading Level 3"),
]
_Edit = Callable[[bytes, bytes], tuple[bytes, bytes]]
# Where the FIB says the style sheet and the paragraphs' bin table are (offset, then length)
_STYLES_AT, _BIN_TABLE_AT = 0x00A2, 0x0102


def _levels_and_titles(path: str, media_type: str) -> list[tuple[int, str]]:
    parsed = extract(corpus_file(path).read(), media_type)
    return [(heading.level, heading.title) for heading in parsed.headings]


def _edited(data: bytes, folder: Path, edit: _Edit) -> bytes:
    """The document with its WordDocument and table streams edited in place (each keeping
    its size), as a damaged or differently styled file would have them."""
    path = folder / "edited.doc"
    path.write_bytes(data)
    with olefile.OleFileIO(str(path), write_mode=True) as ole:
        word = ole.openstream("WordDocument").read()
        table_name = "1Table" if _Fib.read(word).flags & 0x0200 else "0Table"
        new_word, new_table = edit(word, ole.openstream(table_name).read())
        ole.write_stream("WordDocument", new_word)
        ole.write_stream(table_name, new_table)
    return path.read_bytes()


def _where(word: bytes, at: int) -> tuple[int, int]:
    """The offset and length the FIB gives at `at`."""
    offset, length = struct.unpack_from("<II", word, at)
    return offset, length


def _style_at(word: bytes, table: bytes, istd: int) -> int:
    """Where style `istd`'s STD starts in the table stream: past the style sheet's header
    (its size first) and each style before it (its size first)."""
    at: int = _where(word, _STYLES_AT)[0]
    at += 2 + struct.unpack_from("<H", table, at)[0]
    for _ in range(istd):
        at += 2 + struct.unpack_from("<H", table, at)[0]
    return at + 2


def test_headings_come_with_their_levels_as_from_the_docx_twin() -> None:
    parsed = extract(corpus_file("tika/testWORD.doc").read(), DOC)
    assert [(heading.level, heading.title) for heading in parsed.headings] == _HEADINGS
    assert _levels_and_titles("tika/testWORD.docx", DOCX) == _HEADINGS
    assert all(parsed.text.startswith(h.title, h.start) for h in parsed.headings)
    assert parsed.sections == [title for _, title in _HEADINGS]
    # the title's and subtitle's styles are no headings; the text reads as it did
    assert parsed.text.startswith(
        "Sample Word Document Title\n\nAnd now for a subtitle\n\nMain Heading\n\n"
        "Heading Level 1\n\nHeading Level 2\n\nHeading Level 3\n\nThis is a sample"
    )


def test_an_outline_level_set_on_a_paragraph_makes_it_a_heading() -> None:
    # POI's file for its bug 49820: Word's nine heading styles, then three body paragraphs,
    # two of them given an outline level of their own (POI's test asserts the same levels).
    headings = _levels_and_titles("poi/Bug49820.doc", DOC)
    assert headings == [
        *((level, f"Heading {level}") for level in range(1, 10)),
        (1, "Body text with outline level changed to Level 1"),
        (5, "Body text with outline level changed to Level 5"),
    ]


def test_a_table_of_contents_entry_is_no_heading_even_with_an_outline_level(
    tmp_path: Path,
) -> None:
    # No .doc in the corpus has a table of contents: here "heading 1" is made "toc 1" (its
    # built-in id 19) and keeps the outline level 1 of its properties, as a "toc 1" based
    # on a heading would inherit it.
    def toc_1(word: bytes, table: bytes) -> tuple[bytes, bytes]:
        edited = bytearray(table)
        at = _style_at(word, table, istd=1)
        (sti,) = struct.unpack_from("<H", edited, at)
        assert sti & 0x0FFF == 1  # heading 1
        struct.pack_into("<H", edited, at, sti & 0xF000 | 19)
        return word, bytes(edited)

    data = _edited(corpus_file("tika/testWORD.doc").read(), tmp_path, toc_1)
    parsed = extract(data, DOC)
    assert [(heading.level, heading.title) for heading in parsed.headings] == [
        heading for heading in _HEADINGS if heading[1] != "Heading Level 1"
    ]
    assert "\n\nHeading Level 1\n\n" in parsed.text


def _styles_all_ff(word: bytes, table: bytes) -> tuple[bytes, bytes]:
    offset, length = _where(word, _STYLES_AT)
    return word, table[:offset] + b"\xff" * length + table[offset + length :]


def _style_sheet_cut_short(word: bytes, table: bytes) -> tuple[bytes, bytes]:
    edited = bytearray(word)
    struct.pack_into("<I", edited, _STYLES_AT + 4, 1)  # one byte, short of its header
    return bytes(edited), table


def _pages_all_ff(word: bytes, table: bytes) -> tuple[bytes, bytes]:
    offset, length = _where(word, _BIN_TABLE_AT)
    count = (length - 4) // 8
    edited = bytearray(word)
    for (number,) in struct.iter_unpack("<I", table[offset + 4 * (count + 1) : offset + length]):
        page = (number & 0x3FFFFF) * 512  # each page claims 255 runs: more than fit
        edited[page : page + 512] = b"\xff" * 512
    return bytes(edited), table


def _bin_table_past_the_stream(word: bytes, table: bytes) -> tuple[bytes, bytes]:
    edited = bytearray(word)
    struct.pack_into("<I", edited, _BIN_TABLE_AT, len(table) + 1)
    return bytes(edited), table


@pytest.mark.parametrize(
    "damage",
    [_styles_all_ff, _style_sheet_cut_short, _pages_all_ff, _bin_table_past_the_stream],
)
def test_a_damaged_style_sheet_or_page_of_properties_gives_the_text_without_headings(
    tmp_path: Path, damage: _Edit
) -> None:
    data = corpus_file("tika/testWORD.doc").read()
    whole = extract(data, DOC)
    assert [(heading.level, heading.title) for heading in whole.headings] == _HEADINGS
    damaged = extract(_edited(data, tmp_path, damage), DOC)
    assert damaged.headings == []
    assert damaged.sections == []
    assert damaged.text == whole.text  # its headings were one line each: the same text


def test_heading_marks_pass_fields_page_breaks_tables_and_wide_characters() -> None:
    text = (
        "In\ufdd2tro \U00010332\r"  # a noncharacter in the text is no mark; Gothic: 2 units
        "\x0cChapter\r"  # a page break before the heading
        "a\x07b\x07\x07After the table\r"
        "\x13 HYPERLINK x \x14Linked heading\x15\r"
        "Body\r"
    )
    units = text.encode("utf-16-le")
    marks = _paragraph_marks(units)
    assert marks == [9, 18, 39, 70, 75]  # in UTF-16 units
    levels = {marks[1]: 2, marks[2]: 1, marks[3]: 3}
    assert list(_blocks(_marked(units, levels))) == [
        ("Intro \U00010332", False, None),
        ("Chapter", False, 2),
        ("a\tb", False, None),
        ("After the table", False, 1),
        ("Linked heading", False, 3),
        ("Body", False, None),
    ]


def test_paragraph_properties_of_every_operand_size_are_stepped_over() -> None:
    grpprl = (
        struct.pack("<HH", 0xD608, 5) + bytes(4)  # sprmTDefTable: 16-bit size, 1 more
        + struct.pack("<HBB", 0xC615, 255, 1) + bytes(4) + b"\x02" + bytes(6)  # tabs: 255
        + struct.pack("<HB", 0xC60D, 3) + bytes(3)  # a variable size in a byte
        + struct.pack("<HI", 0x6646, 0)  # 4 bytes
        + struct.pack("<H", 0xE001) + bytes(3)  # 3 bytes
        + struct.pack("<HB", 0x2416, 1)  # in a table
        + struct.pack("<HB", 0x2640, 4)  # outline level 4: heading 5
    )  # fmt: skip
    assert _paragraph_sprms(grpprl) == (4, True)
    assert _paragraph_sprms(grpprl[:-1]) == (None, True)  # the last one does not fit


def test_outline_levels_pass_on_to_styles_based_on_others_names_do_not() -> None:
    none = 0x0FFF
    styles: list[_Style | None] = [
        _Style(sti=0, based_on=none, outline=None, name="Normal"),
        _Style(sti=1, based_on=0, outline=0, name="heading 1"),
        _Style(sti=0x0FFE, based_on=1, outline=None, name="My heading"),
        _Style(sti=0x0FFE, based_on=0, outline=None, name="Heading"),
        _Style(sti=0x0FFE, based_on=3, outline=None, name="Subtitle"),
        _Style(sti=0x0FFE, based_on=5, outline=None, name="Based on itself"),
        _Style(sti=0x0FFE, based_on=1, outline=9, name="Body text in a heading's style"),
        None,
    ]
    levels = [_style_level(styles, istd) for istd in range(len(styles) + 1)]
    assert levels == [None, 1, 1, 1, None, None, None, None, None]


def test_a_bin_table_naming_one_page_over_and_over_reads_it_once() -> None:
    page = bytearray(512)
    struct.pack_into("<II", page, 0, 0, 100)  # one run: file offsets 0 to 100
    page[511] = 1
    word = bytes(512) + bytes(page)
    count = 100_000
    table = bytes(4 * (count + 1)) + struct.pack("<I", 1) * count  # page 1, each time
    assert _property_runs(word, table, 0, len(table)) == [(0, 100, 0)]
