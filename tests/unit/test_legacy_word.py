"""Word 97-2003 documents (`.doc`) to text (services/parser/core/legacy_word.py): the body,
notes, text boxes and headers in Word's binary format, fields showing their results, not
their instructions. The files are Apache Tika's and Apache POI's test documents from the
corpus; the special characters are checked on their own."""

from __future__ import annotations

import struct
import tracemalloc

import pytest

from services.common.media import DOC, sniff_media_type
from services.parser.core.errors import ParseError
from services.parser.core.extract import extract
from services.parser.core.legacy_word import (
    _blocks,
    _characters,
    _Fib,
    _old_characters,
    _without_field_codes,
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
        ("Title", False),
        ("Picture caption", False),
        ("line\nbreak", False),
        ("non-breaking optional", False),
        ("a\tb", False),
        ("c\td", True),
        ("after", False),
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
