"""Rich Text Format to text (services/parser/core/rtf.py): code pages, Unicode escapes,
pictures left out. Real files from Apache Tika's tests are in the corpus."""

from __future__ import annotations

import pytest

from services.common.media import RTF, sniff_media_type
from services.parser.core.extract import extract
from tests.fixtures.corpus import corpus_file

pytestmark = pytest.mark.unit


def read(rtf: bytes) -> str:
    return extract(rtf, RTF).text


def test_paragraphs_come_out_on_their_own_lines() -> None:
    assert read(rb"{\rtf1\ansi{\fonttbl{\f0 Arial;}}\f0 First line.\par Second line.\par}") == (
        "First line.\nSecond line."
    )


def test_headers_footers_and_footnotes_are_read_where_they_stand() -> None:
    rtf = (
        rb"{\rtf1\ansi\headery720{\header\pard Weir Trust\par}{\footerl\pard Page 2\par}"
        rb"\pard The gates close at dawn{\super\chftn{\footnote\pard Gates 3 and 4.}}.\par}"
    )
    assert read(rtf) == "Weir Trust\n\nPage 2\nThe gates close at dawn\nGates 3 and 4.."


def test_a_star_that_does_not_open_its_group_hides_nothing() -> None:
    # OpenOffice wrote `\*\cs7` inside a run: striprtf skipped the run, words and all.
    rtf = rb"{\rtf1\ansi{\*\generator Writer;}{\loch\i0\*\cs7 The quick brown fox}\par}"
    assert read(rtf) == "The quick brown fox"


def test_hex_escapes_are_read_in_the_code_page_the_header_names() -> None:
    word = "Привет".encode("cp1251")
    escaped = "".join(f"\\'{byte:02x}" for byte in word).encode()
    assert read(rb"{\rtf1\ansi\ansicpg1251 " + escaped + rb"\par}") == "Привет"


def test_raw_8bit_bytes_are_read_in_that_code_page_too() -> None:
    assert read(rb"{\rtf1\ansi\ansicpg1250 " + "Łódź".encode("cp1250") + rb"\par}") == "Łódź"


@pytest.mark.parametrize(
    ("code_page", "charset", "text", "codec"),
    [
        (10001, 78, "お読みください", "shift_jis"),
        (10003, 80, "읽어 보세요", "euc_kr"),
        (10008, 85, "请阅读", "gb2312"),
        (10002, 79, "請閱讀", "big5"),
    ],
    ids=["japanese", "korean", "simplified chinese", "traditional chinese"],
)
def test_a_mac_documents_cjk_fonts_are_read_in_their_script(
    code_page: int, charset: int, text: str, codec: str
) -> None:
    # TextEdit's RTF (rtfparserkit's test10001Encoding.rtf): striprtf names codecs Python
    # lacks for the Mac's CJK font charsets ("mac_japanese"), and the document failed whole.
    escaped = "".join(f"\\'{byte:02x}" for byte in text.encode(codec)).encode()
    rtf = (
        b"{\\rtf1\\mac\\ansicpg%d{\\fonttbl\\f0\\fnil\\fcharset%d HiraKakuPro-W6;}"
        b"\\f0 %s\\par}" % (code_page, charset, escaped)
    )
    assert read(rtf) == text


def test_an_unknown_code_page_falls_back_to_windows_1252() -> None:
    assert read(rb"{\rtf1\ansi\ansicpg99999 caf\'e9\par}") == "café"


def test_unicode_escapes_replace_their_fallback_characters() -> None:
    assert read(rb"{\rtf1\ansi\uc1 Price: 5\u8364?\par}") == "Price: 5€"


def test_pictures_and_embedded_objects_are_left_out() -> None:
    picture = rb"{\pict\pngblip " + b"89504e47" * 500 + b"}"
    text = read(rb"{\rtf1\ansi Before " + picture + rb" after.\par}")
    assert text == "Before  after."


def test_a_picture_whose_bin_has_no_length_is_left_out_not_a_failure() -> None:
    # `\bin` without its byte count, hex after it (pandoc's rtf/image.rtf): striprtf raised
    # "invalid literal for int()" and the file ended corrupt_file with that message.
    picture = rb"{\pict\jpegblip\picw250 \bin ffd8ffe000104a46494600010101}"
    assert read(rb"{\rtf1\ansi Before " + picture + rb" after.\par}") == "Before  after."


def test_the_title_comes_from_the_info_group() -> None:
    rtf = (
        rb"{\rtf1\ansi\ansicpg1252{\info{\title Caf\'e9 \u8364?5 menu}{\author Ana}}"
        rb"\pard Soup of the day.\par}"
    )
    parsed = extract(rtf, RTF)
    assert parsed.title == "Café €5 menu"
    assert parsed.text == "Soup of the day."
    # Tika's testRTFJapanese.rtf: question marks for a code page's missing characters first
    japanese = extract(corpus_file("tika/testRTFJapanese.rtf").read(), RTF)
    assert japanese.title is not None and japanese.title.startswith("\u30be\u30eb\u30b2")


@pytest.mark.parametrize(
    "data",
    [
        rb"{\rtf1\ansi Hello}",
        b"\r\n  {\\rtf1 Hello}",
        rb"{\rtf Hello}",
        # filetype names RTF too: with a NUL in it, it was refused as a binary format.
        rb"{\rtf1\ansi " + b"Hello there. " * 40 + b"\x00}",
    ],
    ids=range(4),
)
def test_an_rtf_file_is_recognised_from_its_opening(data: bytes) -> None:
    assert sniff_media_type(data, "upload.txt") == RTF


def test_a_picture_kept_as_raw_bytes_neither_hides_the_file_nor_its_text() -> None:
    # `\binN` then N bytes of the picture itself (rtf.js's simplepngbin.rtf): the head was
    # binary, not text, and the upload was refused as an unsupported type (415).
    picture = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    data = (
        rb"{\rtf1\ansi{\pict\pngblip\bin"
        + str(len(picture)).encode()
        + b" "
        + picture
        + rb"}\par The caption under it.}"
    )
    assert sniff_media_type(data, "upload.rtf") == RTF
    assert read(data) == "The caption under it."
